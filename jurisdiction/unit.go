package jurisdiction

import "slices"

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
