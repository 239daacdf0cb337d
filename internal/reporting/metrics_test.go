package reporting

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"fengqiao/internal/redistest"
	"fengqiao/jurisdiction"
	"fengqiao/schedule"
)

// testPolicy asks zero reports of townships and villages by 16:00 every
// day, missing an hour after.
const testPolicy = `
time_zone: Asia/Shanghai
zero_report:
  tiers: [township, village]
  deadline: "16:00"
  grace: 1h
  repeat: 2h
  days: %s
daily_report:
  at: "17:30"
  tiers: [township]
supervision:
  listed_after: 3d
`

// noWorkdays is a calendar without a working day.
type noWorkdays struct{}

func (noWorkdays) IsWorkday(time.Time) (bool, string) { return false, "" }

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// newTestService is a Service on a fresh redis-server over the fixture
// jurisdiction: 3 counties of 2 townships and 6 villages each.
func newTestService(t *testing.T, days string, cal schedule.Calendar, clk *fakeClock) *Service {
	t.Helper()
	srv := redistest.Start(t)
	p, err := schedule.ParsePolicy([]byte(fmt.Sprintf(testPolicy, days)))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := jurisdiction.Load("../../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return New(srv.Client(t), p, cal, tree, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

const (
	countyHelp = "# HELP fengqiao_zero_report_county_compliance_ratio Share of the reporting units within each county (those whose code begins with the county's six digits) that filed their zero report (by the deadline or after it) at the latest checkpoint past its deadline; 1 when none is due.\n# TYPE fengqiao_zero_report_county_compliance_ratio gauge\n"
	tierHelp   = "# HELP fengqiao_zero_report_compliance_ratio Share of the units of a tier that filed their zero report (by the deadline or after it) at the latest checkpoint past its deadline; 1 when none is due.\n# TYPE fengqiao_zero_report_compliance_ratio gauge\n"
	zeroHelp   = "# HELP fengqiao_zero_reports Units' zero reports (零报告) at the latest checkpoint past its deadline, by the units' tier and status (filed, filed_late, late, missing).\n# TYPE fengqiao_zero_reports gauge\n"
)

// checkGauges compares the collector's series of the named metric with want
// (the exposition format's sample lines).
func checkGauges(t *testing.T, s *Service, help, name string, want ...string) {
	t.Helper()
	exp := help + strings.Join(want, "\n") + "\n"
	if err := testutil.CollectAndCompare(s.Collector(), strings.NewReader(exp), name); err != nil {
		t.Error(err)
	}
}

// TestCountyComplianceBeforeAnyCheckpoint: every county of the jurisdiction
// has its series from the start, at full compliance while nothing is due,
// and no checkpoint deadline is reported.
func TestCountyComplianceBeforeAnyCheckpoint(t *testing.T) {
	clk := &fakeClock{time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)}
	s := newTestService(t, "working", noWorkdays{}, clk)
	checkGauges(t, s, countyHelp, "fengqiao_zero_report_county_compliance_ratio",
		`fengqiao_zero_report_county_compliance_ratio{county="990101000000"} 1`,
		`fengqiao_zero_report_county_compliance_ratio{county="990102000000"} 1`,
		`fengqiao_zero_report_county_compliance_ratio{county="990103000000"} 1`)
	checkGauges(t, s, tierHelp, "fengqiao_zero_report_compliance_ratio",
		`fengqiao_zero_report_compliance_ratio{tier="township"} 1`,
		`fengqiao_zero_report_compliance_ratio{tier="village"} 1`)
	if n := testutil.CollectAndCount(s.Collector(), "fengqiao_zero_report_checkpoint_deadline_timestamp_seconds"); n != 0 {
		t.Errorf("a checkpoint deadline is reported with no checkpoint past: %d series", n)
	}
}

// TestZeroReportCompliance files some reports, on time and late, and reads
// the compliance by county and by tier, and the counts by status, at the
// latest checkpoint past its deadline: within the grace, and after it.
func TestZeroReportCompliance(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{time.Date(2026, 11, 23, 15, 0, 0, 0, shanghai)}
	s := newTestService(t, "every", nil, clk)
	by := Filer{Name: "市值班室", Unit: "990100000000"}
	file := func(unit string, want schedule.Status) {
		t.Helper()
		_, st, cp, err := s.File(ctx, schedule.ZeroReportFiling{Unit: unit, Nothing: true, Officer: "陈建国"}, by)
		if err != nil {
			t.Fatalf("file %s: %v", unit, err)
		}
		if st != want || cp.ID != "2026-11-23T16:00" {
			t.Fatalf("file %s: %s for %s, want %s for 2026-11-23T16:00", unit, st, cp.ID, want)
		}
	}

	// At 15:00 the latest checkpoint past is yesterday's, which nobody filed.
	checkGauges(t, s, countyHelp, "fengqiao_zero_report_county_compliance_ratio",
		`fengqiao_zero_report_county_compliance_ratio{county="990101000000"} 0`,
		`fengqiao_zero_report_county_compliance_ratio{county="990102000000"} 0`,
		`fengqiao_zero_report_county_compliance_ratio{county="990103000000"} 0`)

	// 清河县: 枫桥镇 and 陈家村 on time; 东湖区: 湖滨社区 late; 云岭县: nobody.
	file("990101100000", schedule.Filed)
	file("990101100201", schedule.Filed)
	clk.t = time.Date(2026, 11, 23, 16, 30, 0, 0, shanghai)
	file("990102001001", schedule.FiledLate)

	// Within the grace the others are late (逾期未报).
	checkGauges(t, s, countyHelp, "fengqiao_zero_report_county_compliance_ratio",
		`fengqiao_zero_report_county_compliance_ratio{county="990101000000"} 0.25`,
		`fengqiao_zero_report_county_compliance_ratio{county="990102000000"} 0.125`,
		`fengqiao_zero_report_county_compliance_ratio{county="990103000000"} 0`)
	checkGauges(t, s, zeroHelp, "fengqiao_zero_reports",
		`fengqiao_zero_reports{status="filed",tier="township"} 1`,
		`fengqiao_zero_reports{status="filed_late",tier="township"} 0`,
		`fengqiao_zero_reports{status="late",tier="township"} 5`,
		`fengqiao_zero_reports{status="missing",tier="township"} 0`,
		`fengqiao_zero_reports{status="filed",tier="village"} 1`,
		`fengqiao_zero_reports{status="filed_late",tier="village"} 1`,
		`fengqiao_zero_reports{status="late",tier="village"} 16`,
		`fengqiao_zero_reports{status="missing",tier="village"} 0`)

	// After the grace they are missing (未报); one more files late.
	clk.t = time.Date(2026, 11, 23, 17, 30, 0, 0, shanghai)
	file("990103100201", schedule.FiledLate)
	checkGauges(t, s, countyHelp, "fengqiao_zero_report_county_compliance_ratio",
		`fengqiao_zero_report_county_compliance_ratio{county="990101000000"} 0.25`,
		`fengqiao_zero_report_county_compliance_ratio{county="990102000000"} 0.125`,
		`fengqiao_zero_report_county_compliance_ratio{county="990103000000"} 0.125`)
	checkGauges(t, s, tierHelp, "fengqiao_zero_report_compliance_ratio",
		fmt.Sprintf(`fengqiao_zero_report_compliance_ratio{tier="township"} %v`, 1.0/6),
		fmt.Sprintf(`fengqiao_zero_report_compliance_ratio{tier="village"} %v`, 3.0/18))
	checkGauges(t, s, zeroHelp, "fengqiao_zero_reports",
		`fengqiao_zero_reports{status="filed",tier="township"} 1`,
		`fengqiao_zero_reports{status="filed_late",tier="township"} 0`,
		`fengqiao_zero_reports{status="late",tier="township"} 0`,
		`fengqiao_zero_reports{status="missing",tier="township"} 5`,
		`fengqiao_zero_reports{status="filed",tier="village"} 1`,
		`fengqiao_zero_reports{status="filed_late",tier="village"} 2`,
		`fengqiao_zero_reports{status="late",tier="village"} 0`,
		`fengqiao_zero_reports{status="missing",tier="village"} 15`)
	deadline := time.Date(2026, 11, 23, 16, 0, 0, 0, shanghai).Unix()
	checkGauges(t, s, "# HELP fengqiao_zero_report_checkpoint_deadline_timestamp_seconds The deadline of the checkpoint the zero-report gauges describe (Unix time).\n# TYPE fengqiao_zero_report_checkpoint_deadline_timestamp_seconds gauge\n",
		"fengqiao_zero_report_checkpoint_deadline_timestamp_seconds",
		fmt.Sprintf("fengqiao_zero_report_checkpoint_deadline_timestamp_seconds %d", deadline))

	// Only the counties are unit labels: no township or village code.
	if n := testutil.CollectAndCount(s.Collector(), "fengqiao_zero_report_county_compliance_ratio"); n != 3 {
		t.Errorf("%d county series, want the 3 counties", n)
	}
	if probs, err := testutil.CollectAndLint(s.Collector()); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", err, probs)
	}
}

// TestCountyOf: a unit's county is read from its code; a unit above the
// county tier, or under a city without counties, falls to the city.
func TestCountyOf(t *testing.T) {
	for code, want := range map[string]string{
		"990101100201":    "990101000000",
		"990101100201001": "990101000000",
		"990102000000":    "990102000000",
		"990100000000":    "990100000000",
		"990200101000":    "990200000000",
	} {
		if got := countyOf(code); got != want {
			t.Errorf("countyOf(%s) = %s, want %s", code, got, want)
		}
	}
}
