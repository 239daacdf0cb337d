package jurisdiction

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// rawFile is the shape of a jurisdiction file as decoded from YAML, before
// validation.
type rawFile struct {
	Version string    `yaml:"version"`
	Units   []rawUnit `yaml:"units"`
}

// rawUnit is one unit as decoded from YAML. Its tier is kept as text so that
// a bad tier is reported with the other problems instead of ending decoding.
type rawUnit struct {
	Code     string    `yaml:"code"`
	Name     string    `yaml:"name"`
	Tier     string    `yaml:"tier"`
	Parent   string    `yaml:"parent"`
	Contacts []Contact `yaml:"contacts"`
}

// Load reads the jurisdiction file at path and returns its tree. If the file
// cannot be read it returns the error from the file system; if its content
// is wrong it returns a *LoadError listing every problem found.
func Load(path string) (*Tree, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load jurisdictions: %w", err)
	}
	return Parse(data, path)
}

// Parse parses the content of a jurisdiction file and returns its tree.
// The filename is used only in error messages. If the content is wrong,
// Parse returns a *LoadError listing every problem found.
func Parse(data []byte, filename string) (*Tree, error) {
	l := &loader{file: filename}
	t := l.load(data)
	if t == nil && len(l.problems) == 0 {
		l.add(0, "", "no units") // unreachable, but a nil tree must never pass as valid
	}
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &LoadError{Problems: l.problems}
	}
	return t, nil
}

// loader collects the problems found while loading one file.
type loader struct {
	file     string
	problems []Problem
	pos      filePos
	badLines map[int]bool // lines where the decoder reported a type error
}

// badValue reports whether decoded unit i has the given key but the decoder
// could not decode its value, a problem already reported.
func (l *loader) badValue(i int, key string) bool {
	k, v := l.pos.fieldLines(i, key)
	return k > 0 && (l.badLines[k] || l.badLines[v])
}

// add records a problem, keeping its message on one line. The message must
// never include contact details.
func (l *loader) add(line int, code, format string, args ...any) {
	l.problems = append(l.problems, Problem{
		File:    l.file,
		Line:    line,
		Code:    code,
		Message: strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(fmt.Sprintf(format, args...)),
	})
}

// load decodes and validates data, returning the tree if there were no
// problems.
func (l *loader) load(data []byte) *Tree {
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&raw)
	var typeErr *yaml.TypeError
	switch {
	case errors.Is(err, io.EOF):
		l.add(0, "", "file holds no YAML document")
		return nil
	case errors.As(err, &typeErr):
		// Reported below, once the units' lines are known.
	case err != nil:
		l.addSyntaxError(err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		l.add(extra.Line, "", "file holds more than one YAML document")
	case !errors.Is(err, io.EOF):
		l.addSyntaxError(err)
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.addSyntaxError(err)
		return nil
	}
	top, ok := l.pos.read(&doc, len(raw.Units), contactCounts(raw.Units))
	if typeErr != nil {
		for _, msg := range typeErr.Errors {
			line, text := splitLine(msg)
			if l.badLines == nil {
				l.badLines = make(map[int]bool)
			}
			l.badLines[line] = true
			code := ""
			i := l.pos.unitAt(line)
			if i >= 0 {
				code = displayCode(raw.Units[i].Code)
			}
			field := ""
			if strings.HasPrefix(text, "cannot unmarshal ") {
				field = l.pos.fieldAt(i, line)
			}
			l.add(line, code, "%s%s", field, describeTypeError(text))
		}
	}
	for _, d := range l.pos.dropped {
		// The decoder drops an empty item without a word; others it reports.
		if l.badLines[d.line] {
			continue
		}
		code := ""
		if i := l.pos.items[d.unit].decoded; i >= 0 {
			code = displayCode(raw.Units[i].Code)
		}
		what := "units: list item is not a unit"
		if d.contact {
			what = "contacts: list item is not a contact"
		}
		l.add(d.line, code, "%s", what)
	}
	if !ok {
		if typeErr == nil {
			l.add(top, "", "file must be a mapping with version and units")
		}
		return nil
	}
	return l.validate(&raw)
}

// addSyntaxError records an error from the YAML parser.
func (l *loader) addSyntaxError(err error) {
	line, text := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
	l.add(line, "", "invalid YAML: %s", text)
}

// contactCounts returns the number of decoded contacts of each unit.
func contactCounts(us []rawUnit) []int {
	n := make([]int, len(us))
	for i, u := range us {
		n[i] = len(u.Contacts)
	}
	return n
}

// entry is a decoded unit together with what validation learned about it.
type entry struct {
	raw    rawUnit
	code   string // the code as shown in messages
	tier   Tier   // zero if the tier is missing or unknown
	codeOK bool   // the code is well formed for its tier
	inTree bool   // the unit has a code that no earlier unit has
	parent int    // index of the parent entry, or -1
}

// validate checks the decoded file against every rule and returns the tree
// if it passes.
func (l *loader) validate(raw *rawFile) *Tree {
	if strings.TrimSpace(raw.Version) == "" {
		l.add(l.pos.keyLine("version"), "", "version is missing")
	}
	if len(raw.Units) == 0 {
		if len(l.pos.items) == 0 {
			l.add(l.pos.keyLine("units"), "", "no units")
		}
		return nil
	}

	entries := make([]entry, len(raw.Units))
	first := make(map[string]int, len(raw.Units)) // code → index of the first unit with it
	for i, ru := range raw.Units {
		e := &entries[i]
		e.raw, e.code, e.parent = ru, displayCode(ru.Code), -1
		l.checkUnit(i, e)
		if ru.Code == "" {
			continue
		}
		if j, dup := first[ru.Code]; dup {
			l.add(l.pos.fieldLine(i, "code"), e.code, "duplicate code: the unit at line %d has it too", l.pos.unitLine(j))
			continue
		}
		first[ru.Code] = i
		e.inTree = true
	}

	l.checkRoot(entries)
	for i := range entries {
		l.checkParent(i, entries, first)
	}
	l.checkCycles(entries)
	if len(l.problems) > 0 {
		return nil
	}

	us := make([]Unit, len(entries))
	for i, e := range entries {
		us[i] = Unit{
			Code:     e.raw.Code,
			Name:     e.raw.Name,
			Tier:     e.tier,
			Parent:   e.raw.Parent,
			Contacts: e.raw.Contacts,
		}
	}
	return newTree(raw.Version, us)
}

// checkUnit checks the rules that concern one unit on its own: its code,
// tier, name and contacts.
func (l *loader) checkUnit(i int, e *entry) {
	ru := e.raw
	if ru.Tier == "" {
		if !l.badValue(i, "tier") {
			l.add(l.pos.unitLine(i), e.code, "tier is missing")
		}
	} else if t, err := ParseTier(ru.Tier); err != nil {
		l.add(l.pos.fieldLine(i, "tier"), e.code, "%v", err)
	} else {
		e.tier = t
	}

	if ru.Code == "" {
		if !l.badValue(i, "code") {
			l.add(l.pos.unitLine(i), "", "unit has no code")
		}
	} else if msg := checkCode(ru.Code, e.tier); msg != "" {
		l.add(l.pos.fieldLine(i, "code"), e.code, "%s", msg)
	} else {
		e.codeOK = true
	}

	if strings.TrimSpace(ru.Name) == "" && !l.badValue(i, "name") {
		l.add(l.pos.unitLine(i), e.code, "name is missing")
	}

	for j, c := range ru.Contacts {
		n := j + 1
		if strings.TrimSpace(c.Name) == "" {
			l.add(l.pos.contactLine(i, j, ""), e.code, "contact %d: name is missing", n)
		}
		if c.Phone == "" && c.Email == "" && c.WeCom == "" && c.DingTalk == "" {
			l.add(l.pos.contactLine(i, j, ""), e.code, "contact %d: has no phone, email, wecom or dingtalk to reach them by", n)
		}
		if c.Phone != "" && !ValidPhone(c.Phone) {
			l.add(l.pos.contactLine(i, j, "phone"), e.code, "contact %d: phone is not an 11-digit mobile number or a landline number with area code", n)
		}
		if c.Email != "" && !ValidEmail(c.Email) {
			l.add(l.pos.contactLine(i, j, "email"), e.code, "contact %d: email is not a valid address", n)
		}
	}
}

// checkCode returns what is wrong with the shape of code for a unit of the
// given tier, or "" if nothing is. With an unknown tier it checks only that
// the code is all digits and of a possible length.
func checkCode(code string, tier Tier) string {
	for _, r := range code {
		if r < '0' || r > '9' {
			return "code must contain only the digits 0-9"
		}
	}
	if !tier.Valid() {
		if len(code) != 12 && len(code) != 15 {
			return fmt.Sprintf("code must have 12 digits, or 15 for a grid, not %d", len(code))
		}
		return ""
	}
	if want := tier.CodeLen(); len(code) != want {
		return fmt.Sprintf("a %s code must have %d digits, not %d", tier, want, len(code))
	}
	info := tierInfo[tier]
	if allZero(code[info.segStart:info.sigDigits]) {
		return fmt.Sprintf("a %s code must have a non-zero %s segment in digits %d-%d", tier, tier, info.segStart+1, info.sigDigits)
	}
	if info.sigDigits < 12 && !allZero(code[info.sigDigits:12]) {
		return fmt.Sprintf("a %s code must end in zeros: digits %d-12 belong to lower tiers", tier, info.sigDigits+1)
	}
	return ""
}

func allZero(s string) bool {
	return strings.Trim(s, "0") == ""
}

// checkRoot checks that exactly one unit has no parent and that it holds the
// highest tier present.
func (l *loader) checkRoot(entries []entry) {
	root := -1
	for i, e := range entries {
		if !e.inTree || e.raw.Parent != "" {
			continue
		}
		if root < 0 {
			root = i
			continue
		}
		l.add(l.pos.unitLine(i), e.code, "second root: only one unit may have no parent, and %s at line %d has none", entries[root].code, l.pos.unitLine(root))
	}
	if root < 0 {
		if slices.ContainsFunc(entries, func(e entry) bool { return e.inTree }) {
			l.add(l.pos.keyLine("units"), "", "no root unit: every unit has a parent")
		}
		return
	}
	r := entries[root]
	if !r.tier.Valid() {
		return
	}
	for i, e := range entries {
		if e.inTree && e.tier.Above(r.tier) {
			l.add(l.pos.fieldLine(root, "tier"), r.code, "the root is a %s, but %s at line %d is a %s; the root must hold the highest tier", r.tier, e.code, l.pos.unitLine(i), e.tier)
			return
		}
	}
}

// checkParent checks that the parent of unit i exists, holds a higher tier
// and has a code that the unit's code extends.
func (l *loader) checkParent(i int, entries []entry, first map[string]int) {
	e := &entries[i]
	if !e.inTree || e.raw.Parent == "" {
		return
	}
	line := l.pos.fieldLine(i, "parent")
	if e.raw.Parent == e.raw.Code {
		l.add(line, e.code, "unit is its own parent")
		return
	}
	j, ok := first[e.raw.Parent]
	if !ok {
		l.add(line, e.code, "parent %s does not exist", displayCode(e.raw.Parent))
		return
	}
	e.parent = j
	p := entries[j]
	if !e.tier.Valid() || !p.tier.Valid() {
		return
	}
	if !p.tier.Above(e.tier) {
		l.add(line, e.code, "a %s cannot be under a %s (parent %s): a unit's tier must be below its parent's", e.tier, p.tier, p.code)
		return
	}
	if !e.codeOK || !p.codeOK {
		return
	}
	if n := tierInfo[p.tier].sigDigits; e.raw.Code[:n] != p.raw.Code[:n] {
		l.add(l.pos.fieldLine(i, "code"), e.code, "code must begin with %s, the first %d digits of its parent %s's code", p.raw.Code[:n], n, p.code)
	}
}

// checkCycles reports each cycle of parents once, on the unit in it with the
// smallest code.
func (l *loader) checkCycles(entries []entry) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]uint8, len(entries))
	for i := range entries {
		var path []int
		j := i
		for j >= 0 && state[j] == unseen {
			state[j] = onPath
			path = append(path, j)
			j = entries[j].parent
		}
		if j >= 0 && state[j] == onPath {
			cycle := path[slices.Index(path, j):]
			m := 0
			for k, c := range cycle {
				if entries[c].raw.Code < entries[cycle[m]].raw.Code {
					m = k
				}
			}
			cycle = append(slices.Clone(cycle[m:]), cycle[:m]...)
			chain := make([]string, 0, len(cycle)+1)
			for _, c := range cycle {
				chain = append(chain, entries[c].code)
			}
			chain = append(chain, chain[0])
			if len(chain) > 10 {
				chain = append(chain[:9:9], "...")
			}
			l.add(l.pos.fieldLine(cycle[0], "parent"), entries[cycle[0]].code, "parents form a cycle: %s", strings.Join(chain, " -> "))
		}
		for _, k := range path {
			state[k] = done
		}
	}
}

// displayCode returns code as it should appear in a message: as is if it
// is plain digits of a sensible length, and otherwise quoted and shortened.
func displayCode(code string) string {
	if code != "" && len(code) <= 15 && strings.Trim(code, "0123456789") == "" {
		return code
	}
	if utf8.RuneCountInString(code) > 20 {
		code = string([]rune(code)[:20]) + "..."
	}
	return strconv.Quote(code)
}

// splitLine splits a YAML error message of the form "line N: text" into N
// and text. It returns 0 and the whole message if it has no line.
func splitLine(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return n, strings.TrimSpace(text)
}

// describeTypeError rewrites a message from yaml.TypeError in the file's own
// terms. It drops any value the message quotes, since that value might be a
// phone number.
func describeTypeError(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "field "); ok {
		if field, typ, ok := strings.Cut(rest, " not found in type "); ok {
			return fmt.Sprintf("unknown field %q in %s", field, yamlTypeName(typ))
		}
		if field, typ, ok := strings.Cut(rest, " already set in type "); ok {
			return fmt.Sprintf("field %q is set twice in %s", field, yamlTypeName(typ))
		}
	}
	if rest, ok := strings.CutPrefix(msg, "cannot unmarshal "); ok {
		if from, typ, ok := strings.Cut(rest, " into "); ok {
			tag, _, _ := strings.Cut(from, " ")
			return fmt.Sprintf("expected %s, found %s", yamlTypeName(typ), yamlTagName(tag))
		}
	}
	if rest, ok := strings.CutPrefix(msg, "mapping key "); ok {
		if key, at, ok := strings.Cut(rest, " already defined at "); ok {
			return fmt.Sprintf("key %s is repeated (first at %s)", key, at)
		}
	}
	if i := strings.IndexByte(msg, '`'); i >= 0 {
		msg = msg[:i] + "(value hidden)"
	}
	return msg
}

// yamlTypeName names a Go type from a yaml.v3 message as the file's author
// knows it.
func yamlTypeName(typ string) string {
	switch typ {
	case "jurisdiction.rawFile":
		return "a mapping with version and units"
	case "[]jurisdiction.rawUnit":
		return "a list of units"
	case "jurisdiction.rawUnit":
		return "a unit (a mapping)"
	case "[]jurisdiction.Contact":
		return "a list of contacts"
	case "jurisdiction.Contact":
		return "a contact (a mapping)"
	case "string":
		return "a string"
	}
	return typ
}

// yamlTagName names a YAML tag from a yaml.v3 message in words.
func yamlTagName(tag string) string {
	switch tag {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	}
	return "a value tagged " + strconv.Quote(tag)
}
