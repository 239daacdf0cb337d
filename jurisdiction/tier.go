package jurisdiction

import (
	"fmt"
	"strconv"
)

// Tier is the level of a unit in the jurisdiction tree. Smaller values carry
// higher authority: City is the highest tier and Grid the lowest. The zero
// value is not a valid tier.
type Tier int

// The tiers, from the highest authority to the lowest.
const (
	// City is a prefecture-level city (市).
	City Tier = iota + 1
	// County is a county or urban district (县区).
	County
	// Township is a township, town or street (乡镇街道).
	Township
	// Village is an administrative village or urban community (村社区).
	Village
	// Grid is a grid (网格), the smallest unit, kept by a grid worker.
	Grid
)

// tierInfo holds the constant facts about each tier: its English and Chinese
// names, where its own segment of the code starts, and how many leading code
// digits are significant for it.
var tierInfo = [...]struct {
	name, chinese string
	segStart      int // index of the first digit of the tier's own code segment
	sigDigits     int // number of leading digits that identify a unit of this tier
}{
	City:     {"city", "市", 2, 4},
	County:   {"county", "县（区）", 4, 6},
	Township: {"township", "乡镇（街道）", 6, 9},
	Village:  {"village", "村（社区）", 9, 12},
	Grid:     {"grid", "网格", 12, 15},
}

// Valid reports whether t is one of the defined tiers.
func (t Tier) Valid() bool {
	return t >= City && t <= Grid
}

// String returns the English lowercase name of t, such as "township", or
// "Tier(n)" for an undefined tier.
func (t Tier) String() string {
	if !t.Valid() {
		return "Tier(" + strconv.Itoa(int(t)) + ")"
	}
	return tierInfo[t].name
}

// Chinese returns the Chinese name of t, such as "乡镇（街道）", or the same
// text as String for an undefined tier.
func (t Tier) Chinese() string {
	if !t.Valid() {
		return t.String()
	}
	return tierInfo[t].chinese
}

// Above reports whether t carries strictly higher authority than u; for
// example, County.Above(Village) is true.
func (t Tier) Above(u Tier) bool {
	return t.Valid() && u.Valid() && t < u
}

// CodeLen returns the number of digits in the code of a unit of tier t: 15
// for a grid, 12 for any other tier, and 0 for an undefined tier.
func (t Tier) CodeLen() int {
	switch {
	case t == Grid:
		return 15
	case t.Valid():
		return 12
	}
	return 0
}

// MarshalText encodes t as its English name. It fails for an undefined tier.
func (t Tier) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("cannot marshal undefined tier %d", int(t))
	}
	return []byte(tierInfo[t].name), nil
}

// UnmarshalText decodes an English tier name, as accepted by ParseTier.
func (t *Tier) UnmarshalText(text []byte) error {
	v, err := ParseTier(string(text))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTier returns the tier with the given English lowercase name: "city",
// "county", "township", "village" or "grid".
func ParseTier(s string) (Tier, error) {
	for t := City; t <= Grid; t++ {
		if tierInfo[t].name == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tier %q (want city, county, township, village or grid)", s)
}
