package main

import (
	"strings"
	"testing"
)

func TestRulesRender(t *testing.T) {
	for _, tt := range []struct {
		unit        string
		code        int
		has, hasNot []string
	}{
		{"", 0, []string{"version: 2026.11-2\n", "id: frequent-reports"}, []string{"water-dispute"}},
		{"990103001001", 0, []string{"version: 2026.11-2+990103000000\n", "yellow: 35", `score: "25"`, "id: frequent-reports"}, []string{"water-dispute"}},
		{"990103100001", 0, []string{"version: 2026.11-2+990103000000+990103100000\n", "id: water-dispute", "overlays/990103100000.yaml"}, []string{"id: frequent-reports"}},
		{"990101100201", 0, []string{"version: 2026.11-2\n"}, []string{"water-dispute"}},
		{"990199999999", 1, nil, nil},
	} {
		args := []string{"rules", "render", "-jurisdiction", "../../fixtures/jurisdiction.yaml"}
		if tt.unit != "" {
			args = append(args, "-unit", tt.unit)
		}
		r := riskctl(t, nil, append(args, fixtureRules)...)
		if r.code != tt.code {
			t.Errorf("render %s: exit %d\n%s", tt.unit, r.code, r)
			continue
		}
		for _, h := range tt.has {
			if !strings.Contains(r.out, h) {
				t.Errorf("render %s lacks %q", tt.unit, h)
			}
		}
		for _, h := range tt.hasNot {
			if strings.Contains(r.out, h) {
				t.Errorf("render %s has %q", tt.unit, h)
			}
		}
	}
}
