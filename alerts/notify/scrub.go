package notify

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// The patterns scrub masks. Digits may be ASCII or full-width, as a person
// typing Chinese often writes them.
const digit = `[0-9０-９]`

var (
	// idRun is a run of 15 or more digits, with an optional check character
	// X: an 18-character resident ID number (居民身份证号码), an old
	// 15-digit one, or something as long (a bank card, two numbers run
	// together) that has no business in a group chat either.
	idRun = regexp.MustCompile(digit + `{15,}[XxＸｘ]?`)
	// idSpaced is an ID number written in its 6-8-4 groups.
	idSpaced = regexp.MustCompile(digit + `{6}[- ]` + digit + `{8}[- ]` + digit + `{3}[0-9０-９XxＸｘ]`)
	// phoneLike is a mainland mobile number (手机号), with or without +86
	// and with the usual 3-4-4 grouping.
	phoneLike = regexp.MustCompile(`(?:(?:\+|00)?86[- ]?)?[1１][3-9３-９]` + digit + `[- ]?` + digit + `{4}[- ]?` + digit + `{4}`)
	// hexToken is a keyed-hash reference or digest: a person reference
	// ("P" and 24 hex digits) or a hash in a key or link. Its digits are
	// not a number anyone wrote, and masking a run of them would garble
	// the reference.
	hexToken = regexp.MustCompile(`^[PW]?[0-9a-f]{16,}$`)
	alnumRun = regexp.MustCompile(`[0-9A-Za-z]+`)
)

// The replacements, the same words signals uses when it masks free text.
const (
	idMask    = "[证件号已隐去]"
	phoneMask = "[电话已隐去]"
)

// scrub masks anything in s that looks like a resident ID number or a mobile
// number. It is the last defence, applied to every string an adapter sends:
// upstream code should never put either in a message.
//
// A phone or a grouped ID number must stand apart from other digits, so that
// a 12-digit unit code (Hebei's begin 13…) or a millisecond timestamp is not
// mistaken for one; 15 digits or more in a row are masked wherever they are,
// since no identifier Fengqiao makes is that long. Lower-case hex tokens of
// 16 characters or more (keyed-hash references, digests) are left alone.
func scrub(s string) string {
	if !hasDigit(s) {
		return s
	}
	s = mask(s, idRun, idMask, false)
	s = mask(s, idSpaced, idMask, true)
	return mask(s, phoneLike, phoneMask, true)
}

func hasDigit(s string) bool {
	return strings.ContainsAny(s, "0123456789０１２３４５６７８９")
}

// mask replaces the matches of re in s with repl, skipping those inside a
// hex token and, when standalone is set, those touching another digit.
func mask(s string, re *regexp.Regexp, repl string, standalone bool) string {
	var exempt [][]int
	for _, loc := range alnumRun.FindAllStringIndex(s, -1) {
		if tok := s[loc[0]:loc[1]]; hexToken.MatchString(tok) && strings.ContainsAny(tok, "abcdef") {
			exempt = append(exempt, loc)
		}
	}
	var b strings.Builder
	last, pos := 0, 0
	for pos < len(s) {
		loc := re.FindStringIndex(s[pos:])
		if loc == nil {
			break
		}
		start, end := pos+loc[0], pos+loc[1]
		if overlaps(exempt, start, end) || (standalone && (digitBefore(s, start) || digitAfter(s, end))) {
			// Not this match; one may still begin inside it.
			_, size := utf8.DecodeRuneInString(s[start:])
			pos = start + size
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(repl)
		last, pos = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func overlaps(spans [][]int, start, end int) bool {
	for _, sp := range spans {
		if start < sp[1] && sp[0] < end {
			return true
		}
	}
	return false
}

func isDigit(r rune) bool { return (r >= '0' && r <= '9') || (r >= '０' && r <= '９') }

func digitBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return i > 0 && isDigit(r)
}

func digitAfter(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return i < len(s) && isDigit(r)
}
