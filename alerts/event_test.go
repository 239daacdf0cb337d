package alerts

import (
	"context"
	"testing"
	"time"

	"fengqiao/internal/redistest"
	"fengqiao/risk"
)

func TestPublishAndRecent(t *testing.T) {
	s := NewStream(redistest.Start(t).Client(t))
	ctx := context.Background()
	d := risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-1"}
	for i, l := range []risk.Level{risk.Yellow, risk.Red} {
		e := Event{ID: EventID(d, l, "grid_report:1"), Subject: d, Unit: "990101100201", From: risk.Green, To: l,
			At: time.Date(2026, 11, 22, 10, i, 0, 0, time.UTC), Explanation: "x", RulesetVersion: "v"}
		if err := s.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Recent(ctx, 10)
	if err != nil || len(got) != 2 || got[0].To != risk.Red || got[1].To != risk.Yellow {
		t.Fatalf("Recent = %+v, %v", got, err)
	}
	if got[0].ID != "dispute/TZ-1@red/grid_report:1" {
		t.Errorf("id %q", got[0].ID)
	}
	if title := got[0].Title(); title != "风险升级: 纠纷 TZ-1 绿色→红色" {
		t.Errorf("title %q", title)
	}
}

func TestPublishAllKeepsOrder(t *testing.T) {
	s := NewStream(redistest.Start(t).Client(t))
	ctx := context.Background()
	var events []Event
	for i, ref := range []string{"TZ-1", "TZ-2", "TZ-3"} {
		d := risk.SubjectID{Kind: risk.Dispute, Ref: ref}
		events = append(events, Event{ID: EventID(d, risk.Blue, "grid_report:1"), Subject: d, From: risk.Green, To: risk.Blue,
			At: time.Date(2026, 11, 22, 10, i, 0, 0, time.UTC)})
	}
	if err := s.PublishAll(ctx, events); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishAll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Recent(ctx, 10)
	if err != nil || len(got) != 3 || got[0].Subject.Ref != "TZ-3" || got[2].Subject.Ref != "TZ-1" {
		t.Fatalf("Recent = %+v, %v", got, err)
	}
}
