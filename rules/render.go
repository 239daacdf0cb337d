package rules

import (
	"bytes"
	"sort"

	"gopkg.in/yaml.v3"
)

// Render writes a ruleset as one rules file, e.g. the effective ruleset of a
// unit under its overlays, so that committee staff can read what is in force
// there. It loads back as the same ruleset.
func Render(rs *Ruleset) ([]byte, error) {
	type feature struct {
		Label        string `yaml:"label,omitempty"`
		Count        string `yaml:"count,omitempty"`
		DistinctDays string `yaml:"distinct_days,omitempty"`
		Max          string `yaml:"max,omitempty"`
		Window       string `yaml:"window"`
		Category     string `yaml:"category,omitempty"`
		Tag          string `yaml:"tag,omitempty"`
		Keyword      string `yaml:"keyword,omitempty"`
		Flag         string `yaml:"flag,omitempty"`
		CaseEvent    string `yaml:"case_event,omitempty"`
	}
	type rule struct {
		ID          string   `yaml:"id"`
		Name        string   `yaml:"name"`
		AppliesTo   []string `yaml:"applies_to,flow"`
		When        string   `yaml:"when"`
		Score       string   `yaml:"score"`
		AtLeast     string   `yaml:"at_least,omitempty"`
		Tags        []string `yaml:"tags,omitempty,flow"`
		Description string   `yaml:"description,omitempty"`
	}
	type dampening struct {
		Cooldown map[string]string `yaml:"cooldown,omitempty"`
		SignOff  string            `yaml:"signoff,omitempty"`
	}
	type spread struct {
		DisputeToPerson *int `yaml:"dispute_to_person,omitempty"`
	}
	doc := struct {
		Version   string              `yaml:"version"`
		Levels    Thresholds          `yaml:"levels,flow"`
		Dampening *dampening          `yaml:"dampening,omitempty"`
		Spread    *spread             `yaml:"spread,omitempty"`
		Keywords  map[string][]string `yaml:"keywords,omitempty"`
		Features  map[string]feature  `yaml:"features,omitempty"`
		Rules     []rule              `yaml:"rules"`
	}{Version: rs.Version, Levels: rs.Levels, Keywords: rs.Keywords, Features: map[string]feature{}}
	d := dampening{Cooldown: map[string]string{}}
	for l, c := range rs.Dampening.Cooldown {
		if c > 0 {
			d.Cooldown[levelName(l)] = c.String()
		}
	}
	if rs.Dampening.SignOff != nil {
		d.SignOff = rs.Dampening.SignOff.String()
	}
	if len(d.Cooldown) > 0 || d.SignOff != "" {
		doc.Dampening = &d
	}
	if rs.Spread.DisputeToPerson != nil {
		doc.Spread = &spread{rs.Spread.DisputeToPerson}
	}
	for _, f := range rs.Features {
		doc.Features[f.Name] = feature{f.Label, f.Count, f.DistinctDays, f.Max, f.Window.String(), f.Category, f.Tag, f.Keyword, f.Flag, f.CaseEvent}
	}
	for _, r := range rs.Rules {
		out := rule{ID: r.ID, Name: r.Name, When: r.When, Score: r.Score, Tags: r.Tags, Description: r.Description}
		for _, k := range r.AppliesTo {
			out.AppliesTo = append(out.AppliesTo, string(k))
		}
		if r.AtLeast != nil {
			out.AtLeast = r.AtLeast.String()
		}
		doc.Rules = append(doc.Rules, out)
	}
	var b bytes.Buffer
	b.WriteString("# Rendered ruleset " + rs.Version + " (hash " + rs.Hash + ") from:\n")
	files := append([]string(nil), rs.Files...)
	sort.Strings(files)
	for _, f := range files {
		b.WriteString("#   " + f + "\n")
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

func levelName(i int) string {
	return [...]string{"green", "blue", "yellow", "orange", "red"}[i]
}
