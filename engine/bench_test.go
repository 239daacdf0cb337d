package engine

import (
	"fmt"
	"testing"
	"time"

	"fengqiao/risk"
)

// BenchmarkEvaluateDefault scores one person with a month of mixed signals
// under the default ruleset: the per-subject cost of the engine, without I/O.
func BenchmarkEvaluateDefault(b *testing.B) {
	rs := loadDefault(b)
	var events []Event
	srcs := []risk.Source{risk.GridReport, risk.Petition, risk.Hotline, risk.Ledger}
	for i := 0; i < 40; i++ {
		events = append(events, Event{
			Key: fmt.Sprintf("x:%d", i), Source: srcs[i%4], At: now.Add(-time.Duration(i) * 18 * time.Hour),
			Category: "婚姻家庭", Tags: []string{"三失一偏"}, PartyCount: i % 7, Amount: float64(i * 1000),
		})
	}
	st := State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P1"}, Events: events, Trigger: &events[0]}
	b.ReportAllocs()
	for b.Loop() {
		_ = rs.Evaluate(st, now)
	}
}
