package cases

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// Policy is the case workflow's configuration (案件办理规则): the case types
// and their clocks, the dossier each outcome needs, how long a unit may
// send back a wrong assignment, which cases the engine opens itself, and
// where they are routed.
type Policy struct {
	Types []CaseType `yaml:"case_types"`
	// ReturnWithin is how long after assignment the unit may send it back (退回).
	ReturnWithin Period `yaml:"return_within"`
	// Confirmation is the period for applying for judicial confirmation (司法确认).
	Confirmation Period `yaml:"judicial_confirmation"`
	// Dossier is the checklist (卷宗目录) each outcome must have filed before closing.
	Dossier  map[State][]string `yaml:"dossier"`
	AutoOpen AutoOpen           `yaml:"auto_open"`
	Routes   []Route            `yaml:"routing"`
}

// Period is a number of days, calendar or working, with its legal basis.
type Period struct {
	Days    int    `yaml:"days"`
	Working bool   `yaml:"working_days"`
	Basis   string `yaml:"basis"`
}

// CaseType is a kind of case and its clocks. A case's type is the first
// whose categories include its category; a type with category "*" takes
// every other.
type CaseType struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Categories []string `yaml:"categories"`
	Accept     Period   `yaml:"accept"`
	Sign       Period   `yaml:"sign"`
	Handling   Period   `yaml:"handling"`
	FollowUp   Period   `yaml:"follow_up"`
	// ExtendMax is the most days the handling clock may be extended by, in
	// all; zero forbids extensions (the law fixes the period).
	ExtendMax int `yaml:"extend_max"`
}

// AutoOpen says whether a dispute that rises to a level with no open case
// gets one opened by the engine, routed by the routing table.
type AutoOpen struct {
	Enabled bool       `yaml:"enabled"`
	AtLeast risk.Level `yaml:"at_least"`
}

// Route says who mediates the disputes of a unit's subtree in a category:
// the lead unit is the dispute's ancestor at LeadTier, and Organisation may
// name it as {unit}, e.g. "{unit}人民调解委员会".
type Route struct {
	Unit          string            `yaml:"unit"`
	Category      string            `yaml:"category"` // "" or "*": every category
	LeadTier      jurisdiction.Tier `yaml:"lead_tier"`
	Organisation  string            `yaml:"organisation"`
	MediationType string            `yaml:"mediation_type"`
	Docking       string            `yaml:"docking"`
}

// Units is the jurisdiction as the workflow needs it.
type Units interface {
	Unit(code string) (jurisdiction.Unit, bool)
	Contains(ancestor, code string) bool
	Parent(code string) (jurisdiction.Unit, bool)
	AncestorAt(code string, tier jurisdiction.Tier) (jurisdiction.Unit, bool)
}

// LoadPolicy reads a policy file and checks it against the jurisdiction and
// the dispute categories. Every problem is reported at once.
func LoadPolicy(path string, units Units, categories []string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load case policy: %w", err)
	}
	p, err := ParsePolicy(b, units, categories)
	if err != nil {
		return nil, fmt.Errorf("case policy %s:\n%w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes and checks a policy.
func ParsePolicy(data []byte, units Units, categories []string) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: give case_types, dossier and routing")
		}
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if errs := p.check(units, categories); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &p, nil
}

func (p *Policy) check(units Units, categories []string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	period := func(where string, d Period, required bool) {
		switch {
		case d.Days < 0 || d.Days > 366:
			bad("%s.days: %d is not a period: give 1 to 366 days", where, d.Days)
		case d.Days == 0 && required:
			bad("%s.days is missing: give the days allowed, e.g. days: 15", where)
		}
	}
	if len(p.Types) == 0 {
		bad("case_types: give at least one case type, and one with categories: [\"*\"] for the rest")
	}
	ids, catchAll := map[string]bool{}, false
	for i, t := range p.Types {
		where := fmt.Sprintf("case_types[%d]", i)
		switch {
		case t.ID == "":
			bad("%s.id is missing", where)
		case ids[t.ID]:
			bad("%s.id: %q is used twice", where, t.ID)
		}
		ids[t.ID] = true
		if strings.TrimSpace(t.Name) == "" {
			bad("%s.name is missing: give the type's Chinese name, e.g. 劳动争议", where)
		}
		if len(t.Categories) == 0 {
			bad("%s.categories: give the dispute categories of this type, or \"*\" for every other", where)
		}
		for _, c := range t.Categories {
			if c == "*" {
				catchAll = true
			} else if !slices.Contains(categories, c) {
				bad("%s.categories: %q is not a dispute category: want one of %s", where, c, strings.Join(categories, ", "))
			}
		}
		period(where+".accept", t.Accept, true)
		period(where+".sign", t.Sign, true)
		period(where+".handling", t.Handling, true)
		period(where+".follow_up", t.FollowUp, true)
		if t.ExtendMax < 0 || t.ExtendMax > 366 {
			bad("%s.extend_max: give 0 to 366 days", where)
		}
	}
	if len(p.Types) > 0 && !catchAll {
		bad("case_types: no type has categories: [\"*\"], so a case of another category would have no clocks")
	}
	period("return_within", p.ReturnWithin, true)
	period("judicial_confirmation", p.Confirmation, true)
	for _, o := range []State{Agreed, Failed} {
		if len(p.Dossier[o]) == 0 {
			bad("dossier.%s: list the documents a case %s must have filed before it is closed", o, o.Chinese())
		}
	}
	for o := range p.Dossier {
		if o != Agreed && o != Failed {
			bad("dossier: %q is not an outcome: want agreed or failed", o)
		}
	}
	if p.AutoOpen.Enabled && p.AutoOpen.AtLeast < risk.Yellow {
		bad("auto_open.at_least: give yellow, orange or red: a case for every blue dispute would swamp the centre")
	}
	for i, r := range p.Routes {
		where := fmt.Sprintf("routing[%d]", i)
		if _, ok := units.Unit(r.Unit); !ok {
			bad("%s.unit: %q is not a unit of the jurisdiction", where, r.Unit)
		}
		if r.Category != "" && r.Category != "*" && !slices.Contains(categories, r.Category) {
			bad("%s.category: %q is not a dispute category", where, r.Category)
		}
		if !r.LeadTier.Valid() {
			bad("%s.lead_tier: give the tier of the lead unit: city, county, township or village", where)
		}
		if strings.TrimSpace(r.Organisation) == "" {
			bad("%s.organisation is missing, e.g. {unit}人民调解委员会", where)
		}
		if !slices.Contains(MediationTypes, r.MediationType) {
			bad("%s.mediation_type: want one of %s", where, strings.Join(MediationTypes, ", "))
		}
		if r.Docking != "" && !slices.Contains(DockingTypes, r.Docking) {
			bad("%s.docking: want one of %s", where, strings.Join(DockingTypes, ", "))
		}
	}
	return errs
}

// TypeOf returns the case type for a dispute category.
func (p *Policy) TypeOf(category string) CaseType {
	for _, t := range p.Types {
		if slices.Contains(t.Categories, category) {
			return t
		}
	}
	for _, t := range p.Types {
		if slices.Contains(t.Categories, "*") {
			return t
		}
	}
	return CaseType{ID: "general", Name: "一般纠纷"}
}

// Type returns the case type of that id.
func (p *Policy) Type(id string) (CaseType, bool) {
	for _, t := range p.Types {
		if t.ID == id {
			return t, true
		}
	}
	return CaseType{}, false
}

// Route returns the assignment for a dispute of a unit and category: a
// route naming the category before one for every category, and among
// those, the route of the nearest unit above the dispute (or its own). ok is false when no route covers
// the unit, or the unit has no ancestor at the route's lead tier.
func (p *Policy) Route(units Units, unit, category string) (a Assignment, ok bool) {
	best, bestDepth := -1, -1
	for i, r := range p.Routes {
		if !units.Contains(r.Unit, unit) {
			continue
		}
		u, _ := units.Unit(r.Unit)
		depth := int(u.Tier) // a lower tier is nearer the dispute
		if r.Category == category {
			depth += 100 // a special organisation for the category comes first
		} else if r.Category != "" && r.Category != "*" {
			continue
		}
		if depth > bestDepth {
			best, bestDepth = i, depth
		}
	}
	if best < 0 {
		return Assignment{}, false
	}
	r := p.Routes[best]
	lead, found := units.AncestorAt(unit, r.LeadTier)
	if !found {
		return Assignment{}, false
	}
	return Assignment{
		LeadUnit:      lead.Code,
		Organisation:  strings.ReplaceAll(r.Organisation, "{unit}", lead.Name),
		MediationType: r.MediationType,
		Docking:       r.Docking,
	}, true
}
