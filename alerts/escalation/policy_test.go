package escalation_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"fengqiao/alerts/escalation"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// Each testdata/policy/*.bad.yaml reports exactly the problems its "# want:"
// comments give, each at its line.
func TestPolicyBadFiles(t *testing.T) {
	for _, path := range testdata(t, "policy/*.bad.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src := readFile(t, path)
			want := wantedProblems(t, path, src)
			p, err := escalation.LoadPolicy(path)
			if p != nil {
				t.Error("a policy was returned with the error")
			}
			checkProblems(t, err, want)
			var le *escalation.LoadError
			if !errors.As(err, &le) {
				t.Errorf("error is %T, want *LoadError", err)
			}
		})
	}
}

func TestPolicyGoodFiles(t *testing.T) {
	files := append(testdata(t, "policy/*.good.yaml"), fixturePolicy)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, err := escalation.LoadPolicy(path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Version == "" || len(p.Levels) == 0 {
				t.Errorf("loaded %+v", p)
			}
		})
	}
}

func TestPolicyBrief(t *testing.T) {
	p, err := escalation.LoadPolicy("testdata/policy/brief.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &escalation.Policy{
		Version: "2026.11-1",
		Channels: map[string]escalation.Channel{
			"county-wecom": {Name: "county-wecom", Kind: escalation.WeCom, Settings: map[string]string{"url": "${WECOM_COUNTY_URL}"}},
			"duty-email":   {Name: "duty-email", Kind: escalation.Email, Settings: map[string]string{}},
		},
		Levels: map[risk.Level]escalation.LevelPolicy{
			risk.Yellow: {
				Version: "2026.11-1", Level: risk.Yellow,
				Tiers:     []jurisdiction.Tier{jurisdiction.Township},
				Channels:  []string{"duty-email"},
				AckWithin: escalation.AckDeadline{NextWorkingMorning: true},
				Escalate:  escalation.Escalation{To: "parent", Every: escalation.Duration(2 * time.Hour), Times: 2},
			},
			risk.Orange: {
				Version: "2026.11-1", Level: risk.Orange,
				Tiers:     []jurisdiction.Tier{jurisdiction.Township, jurisdiction.County},
				Channels:  []string{"county-wecom", "duty-email"},
				AckWithin: escalation.AckDeadline{After: escalation.Duration(2 * time.Hour)},
				Escalate:  escalation.Escalation{To: "parent", Every: escalation.Duration(time.Hour), Times: 3},
			},
			risk.Red: {
				Version: "2026.11-1", Level: risk.Red,
				Tiers:     []jurisdiction.Tier{jurisdiction.County, jurisdiction.City},
				Channels:  []string{"county-wecom", "duty-email"},
				AckWithin: escalation.AckDeadline{After: escalation.Duration(30 * time.Minute)},
				Escalate:  escalation.Escalation{To: "parent", Every: escalation.Duration(30 * time.Minute), Times: 3},
			},
		},
		Suppress:   escalation.Duration(12 * time.Hour),
		QuietHours: &escalation.QuietHours{From: 23 * 60, To: 7 * 60, MinLevel: risk.Orange},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestSnapshot(t *testing.T) {
	p, err := escalation.LoadPolicy("testdata/policy/brief.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap := p.Snapshot(risk.Orange)
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"policy_version":"2026.11-1","level":"orange","tiers":["township","county"],"channels":["county-wecom","duty-email"],"ack_within":"2h","escalate":{"to":"parent","every":"1h","times":3}}`
	if string(b) != wantJSON {
		t.Errorf("JSON:\n got %s\nwant %s", b, wantJSON)
	}
	var back escalation.LevelPolicy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, snap) {
		t.Errorf("round trip: got %+v, want %+v", back, snap)
	}

	yellow, _ := json.Marshal(p.Snapshot(risk.Yellow))
	if !json.Valid(yellow) || !slices.Contains([]string{`"next_working_morning"`}, string(mustField(t, yellow, "ack_within"))) {
		t.Errorf("yellow snapshot: %s", yellow)
	}

	// A snapshot shares nothing with the policy.
	snap.Tiers[0] = jurisdiction.City
	snap.Channels[0] = "changed"
	if again := p.Snapshot(risk.Orange); again.Tiers[0] != jurisdiction.Township || again.Channels[0] != "county-wecom" {
		t.Error("changing a snapshot changed the policy")
	}
	if z := p.Snapshot(risk.Blue); z.Tiers != nil || z.Version != "" {
		t.Errorf("Snapshot of an unpaged level = %+v, want the zero value", z)
	}
}

func mustField(t *testing.T, b []byte, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[key]
}

func TestDeadline(t *testing.T) {
	p, err := escalation.LoadPolicy("testdata/policy/brief.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cal := loadCalendar(t)
	tests := []struct {
		level risk.Level
		from  string
		want  string // "" for the zero time
	}{
		{risk.Red, "2026-11-22 23:50", "2026-11-23 00:20"},
		{risk.Orange, "2026-10-01 10:00", "2026-10-01 12:00"}, // fixed deadlines ignore holidays
		{risk.Yellow, "2026-11-20 18:00", "2026-11-23 09:00"}, // Friday evening → Monday
		{risk.Yellow, "2026-09-30 18:00", "2026-10-08 09:00"}, // eve of 国庆节
		{risk.Yellow, "2026-10-09 18:00", "2026-10-10 09:00"}, // Friday → make-up Saturday
		{risk.Yellow, "2026-11-23 07:00", "2026-11-23 09:00"}, // before the morning of a workday
		{risk.Blue, "2026-11-23 07:00", ""},                   // not paged
		{risk.Green, "2026-11-23 07:00", ""},
	}
	for _, tt := range tests {
		got := p.Deadline(tt.level, at(t, tt.from), cal)
		if tt.want == "" {
			if !got.IsZero() {
				t.Errorf("Deadline(%v, %s) = %v, want the zero time", tt.level, tt.from, got)
			}
			continue
		}
		if want := at(t, tt.want); !got.Equal(want) {
			t.Errorf("Deadline(%v, %s) = %v, want %v", tt.level, tt.from, got, want)
		}
	}
	// Without a calendar, weekdays alone decide.
	if got, want := p.Deadline(risk.Yellow, at(t, "2026-09-30 18:00"), nil), at(t, "2026-10-01 09:00"); !got.Equal(want) {
		t.Errorf("Deadline with a nil calendar = %v, want %v", got, want)
	}
	// The instant's location does not matter: 01:00 UTC on a Monday is 09:00 CST.
	utc := time.Date(2026, 11, 23, 0, 30, 0, 0, time.UTC)
	if got, want := p.Deadline(risk.Yellow, utc, cal), at(t, "2026-11-23 09:00"); !got.Equal(want) {
		t.Errorf("Deadline(UTC 00:30 Monday) = %v, want %v", got, want)
	}
}

func TestEscalationSteps(t *testing.T) {
	deadline := at(t, "2026-11-22 10:00")
	e := escalation.Escalation{To: "parent", Every: escalation.Duration(time.Hour), Times: 3}
	want := []time.Time{deadline, deadline.Add(time.Hour), deadline.Add(2 * time.Hour)}
	if got := e.Steps(deadline); !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("Steps = %v, want %v", got, want)
	}
	if got := (escalation.Escalation{}).Steps(deadline); got != nil {
		t.Errorf("Steps of no escalation = %v", got)
	}
}

func TestQuietHours(t *testing.T) {
	p, err := escalation.LoadPolicy("testdata/policy/brief.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		level risk.Level
		at    string
		want  string
	}{
		{risk.Yellow, "2026-11-22 22:59", "2026-11-22 22:59"},
		{risk.Yellow, "2026-11-22 23:00", "2026-11-23 07:00"},
		{risk.Yellow, "2026-11-23 03:00", "2026-11-23 07:00"},
		{risk.Yellow, "2026-11-23 06:59", "2026-11-23 07:00"},
		{risk.Yellow, "2026-11-23 07:00", "2026-11-23 07:00"},
		{risk.Orange, "2026-11-23 03:00", "2026-11-23 03:00"},
		{risk.Red, "2026-11-22 23:30", "2026-11-22 23:30"},
	}
	for _, tt := range tests {
		if got := p.SendAt(tt.level, at(t, tt.at)); !got.Equal(at(t, tt.want)) {
			t.Errorf("SendAt(%v, %s) = %v, want %s", tt.level, tt.at, got, tt.want)
		}
	}
	noon := escalation.QuietHours{From: 12 * 60, To: 13*60 + 30, MinLevel: risk.Yellow}
	if !noon.Contains(at(t, "2026-11-22 12:00")) || noon.Contains(at(t, "2026-11-22 13:30")) || noon.Contains(at(t, "2026-11-22 11:59")) {
		t.Error("a window within one day is wrong")
	}
	if got := noon.End(at(t, "2026-11-22 12:10")); !got.Equal(at(t, "2026-11-22 13:30")) {
		t.Errorf("End = %v", got)
	}
	if got := (&escalation.Policy{}).SendAt(risk.Blue, at(t, "2026-11-22 03:00")); !got.Equal(at(t, "2026-11-22 03:00")) {
		t.Errorf("SendAt without quiet hours = %v", got)
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "30m": 30 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour,
		"1h30m": 90 * time.Minute, "1d12h": 36 * time.Hour, " 45m ": 45 * time.Minute, "366d": 366 * 24 * time.Hour,
	}
	for s, want := range good {
		d, err := escalation.ParseDuration(s)
		if err != nil || time.Duration(d) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	for _, s := range []string{"", "0m5", "30s", "1.5h", "-1h", "h", "30", "30m2h", "1h1h", "2 h", "367d", "9999999d", "1w"} {
		if d, err := escalation.ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, d)
		}
	}
	for _, d := range []time.Duration{0, time.Minute, 90 * time.Minute, 36 * time.Hour, 49*time.Hour + 5*time.Minute} {
		s := escalation.Duration(d).String()
		back, err := escalation.ParseDuration(s)
		if err != nil || time.Duration(back) != d {
			t.Errorf("%v prints as %q, which parses as %v, %v", d, s, back, err)
		}
	}
}
