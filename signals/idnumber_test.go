package signals

import (
	"strings"
	"testing"
)

// withCheckDigit completes 17 digits into a resident ID number by GB 11643:
// the weighted sum of the digits mod 11 picks the check character.
func withCheckDigit(first17 string) string {
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(first17[i]-'0') * w
	}
	return first17 + string("10X98765432"[sum%11])
}

// A well-known valid number, used to check the test's own algorithm.
const knownValidID = "11010519491231002X"

func TestWithCheckDigitAgreesWithKnownVector(t *testing.T) {
	if got := withCheckDigit(knownValidID[:17]); got != knownValidID {
		t.Fatalf("the test's GB 11643 algorithm gives %s, want %s", got, knownValidID)
	}
}

// wrongCheckDigit returns id with its check character replaced by another.
func wrongCheckDigit(id string) string {
	for _, c := range "0123456789X" {
		if byte(c) != id[17] {
			return id[:17] + string(c)
		}
	}
	panic("unreachable")
}

func TestCheckIDNumber(t *testing.T) {
	valid := []struct{ name, id string }{
		{"well-known example ending in X", knownValidID},
		{"check character x in lower case", strings.ToLower(knownValidID)},
		{"born 2000-02-29 (leap day)", withCheckDigit("44030420000229123")},
		{"born 1990-01-01", withCheckDigit("32010219900101001")},
		{"born 2026-11-01", withCheckDigit("51010720261101888")},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			if err := checkIDNumber(tc.id); err != nil {
				t.Errorf("checkIDNumber(%s) = %v, want nil", tc.id, err)
			}
		})
	}

	invalid := []struct {
		name, id string
		want     string // a distinctive part of the message
	}{
		{"wrong check digit", wrongCheckDigit(knownValidID), "check digit is wrong"},
		{"wrong check digit (digit instead of X)", knownValidID[:17] + "9", "check digit is wrong"},
		{"check character is a letter other than X", knownValidID[:17] + "Y", "check digit is wrong"},
		{"two digits swapped", "11010519941231002X", "check digit is wrong"},
		{"17 characters", knownValidID[:17], "must be 18 characters"},
		{"19 characters", knownValidID + "0", "must be 18 characters"},
		{"old 15-digit number", "110105491231002", "must be 18 characters"},
		{"empty", "", "must be 18 characters"},
		{"letter among the first 17", "1101051949123100AX", "first 17 characters must be digits"},
		{"space among the first 17", "110105 9491231002X", "first 17 characters must be digits"},
		{"full-width digit (three bytes)", "１" + knownValidID[1:16], "first 17 characters must be digits"},
		{"month 13", withCheckDigit("11010519491331002"), "not a valid birth date"},
		{"day 32", withCheckDigit("11010519491232002"), "not a valid birth date"},
		{"February 30", withCheckDigit("11010519490230002"), "not a valid birth date"},
		{"February 29 in a common year", withCheckDigit("11010520230229002"), "not a valid birth date"},
		{"day 00", withCheckDigit("11010519491200002"), "not a valid birth date"},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			err := checkIDNumber(tc.id)
			if err == nil {
				t.Fatalf("checkIDNumber(%q) = nil, want an error containing %q", tc.id, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkIDNumber(%q) = %q, want it to contain %q", tc.id, err, tc.want)
			}
			if tc.id != "" && strings.Contains(err.Error(), tc.id) {
				t.Errorf("the error %q repeats the number", err)
			}
			if len(tc.id) >= 6 && strings.Contains(err.Error(), tc.id[:6]) {
				t.Errorf("the error %q repeats part of the number", err)
			}
		})
	}
}
