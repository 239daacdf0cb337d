package jurisdiction

import (
	"slices"
	"strings"
)

// Contact is a duty contact (值班联系人) of a unit: a person who receives the
// unit's alerts, such as a duty officer (值班员) or the head of the
// comprehensive governance centre (综治中心主任). Phone numbers are personal
// information and are never written to error messages.
type Contact struct {
	Name     string `yaml:"name"`
	Title    string `yaml:"title"`
	Phone    string `yaml:"phone,omitempty"`
	Email    string `yaml:"email,omitempty"`
	WeCom    string `yaml:"wecom,omitempty"`
	DingTalk string `yaml:"dingtalk,omitempty"`
}

// Unit is one unit of the jurisdiction tree: a city, county, township,
// village or grid. Parent is the code of the unit directly above it, and is
// empty for the root.
type Unit struct {
	Code     string    `yaml:"code"`
	Name     string    `yaml:"name"`
	Tier     Tier      `yaml:"tier"`
	Parent   string    `yaml:"parent"`
	Contacts []Contact `yaml:"contacts,omitempty"`
}

// clone returns a copy of u that shares no memory with it.
func (u Unit) clone() Unit {
	u.Contacts = slices.Clone(u.Contacts)
	return u
}

// ValidPhone reports whether s looks like a mainland mobile number (11
// digits starting with 1) or a landline number with its area code
// (starting with 0, 10 to 12 digits, optionally with one hyphen): what a
// duty contact may have, here and in duty rosters.
func ValidPhone(s string) bool {
	digits := strings.Replace(s, "-", "", 1)
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	switch digits[0] {
	case '1':
		return len(digits) == 11 && !strings.Contains(s, "-")
	case '0':
		return len(digits) >= 10 && len(digits) <= 12
	}
	return false
}

// ValidEmail reports whether s has the plain shape local@domain.tld.
func ValidEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.ContainsAny(s, " \t\r\n<>,;\"") && !strings.Contains(domain, "@")
}
