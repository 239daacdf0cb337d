package eval

import (
	"fmt"
	"math/rand/v2"
	"time"

	"fengqiao/engine"
	"fengqiao/risk"
	"fengqiao/rules"
)

// chinaTime is UTC+8, where a day of reports begins and ends (as in the engine).
var chinaTime = time.FixedZone("CST", 8*60*60)

// Now is the time every subject is scored at.
var Now = time.Date(2026, 11, 22, 12, 0, 0, 0, chinaTime)

// BenchSubject is the subject every benchmark scores, after the one in
// engine/bench_test.go: a person with forty signals over a month, one every
// 18 hours, from every source (including case events), with the first one
// as the trigger. Unlike the engine's, its signals vary — five dispute
// categories, 三失一偏 and its signs, a threat now and then, flags on the
// petitions, an unresolved ledger row, two mediation cases — so that most
// features are not zero and rules of every kind fire.
func BenchSubject() engine.State {
	srcs := []risk.Source{risk.GridReport, risk.Petition, risk.Hotline, risk.Ledger, risk.CaseEvent}
	cats := []string{"婚姻家庭", "邻里", "婚姻家庭", "劳动/欠薪", "土地承包/流转"}
	caseEvents := []string{"registered", "session", "mediation_failed", "overdue"}
	caseStates := []string{"registered", "mediating", "failed", "mediating"}
	var events []engine.Event
	for i := range 40 {
		ev := engine.Event{
			Key: fmt.Sprintf("x:%d", i), Source: srcs[i%len(srcs)], At: Now.Add(-time.Duration(i) * 18 * time.Hour),
			Unit: "990101100201", Category: cats[i%len(cats)], PartyCount: i % 7, Amount: float64(i * 1000),
		}
		if i%3 == 0 {
			ev.Tags = append(ev.Tags, "三失一偏")
		}
		if i%8 == 0 {
			ev.Tags = append(ev.Tags, "生活失意")
		}
		if i%13 == 5 {
			ev.Keywords = []string{"threat"}
		}
		switch ev.Source {
		case risk.Petition:
			ev.PetitionLevel = 1 + i%4
			ev.Repeat = i%3 == 1
			ev.SkipLevel = i == 11
		case risk.Ledger:
			ev.LedgerStatus = "未化解"
		case risk.CaseEvent:
			ev.CaseID = fmt.Sprint("C", i%2)
			ev.CaseEvent = caseEvents[(i/5)%len(caseEvents)]
			ev.CaseState = caseStates[(i/5)%len(caseStates)]
		}
		events = append(events, ev)
	}
	return engine.State{Subject: risk.SubjectID{Kind: risk.Person, Ref: "P1"}, Unit: "990101100201",
		Events: events, Trigger: &events[0]}
}

// RandomSubject is a person or a dispute with up to 24 random signals over
// 100 days, some exactly on a window's edge, for the equivalence checks. It
// has no links, previous level or override, so its level is the rules' level.
func RandomSubject(rng *rand.Rand, i int) engine.State {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	some := func(xs ...string) []string {
		var out []string
		for _, x := range xs {
			if rng.IntN(10) == 0 {
				out = append(out, x)
			}
		}
		return out
	}
	kinds := []risk.Kind{risk.Person, risk.Dispute}
	st := engine.State{Subject: risk.SubjectID{Kind: kinds[rng.IntN(2)], Ref: fmt.Sprint("S", i)},
		Unit: pick("990101100201", "990102"), Weak: rng.IntN(4) == 0}
	for j := range rng.IntN(25) {
		age := time.Duration(rng.IntN(100*24)) * time.Hour
		if rng.IntN(10) == 0 {
			age = time.Duration(pick("7", "30", "90")[0]-'0') * 24 * time.Hour
		}
		ev := engine.Event{Key: fmt.Sprint("e:", j), Source: risk.Sources[rng.IntN(len(risk.Sources))], At: Now.Add(-age),
			Unit: st.Unit, Category: pick("婚姻家庭", "邻里", "劳动/欠薪", "土地承包/流转", "征地拆迁", "金融/涉众", ""),
			Tags:       some("三失一偏", "社区矫正", "刑释解矫", "信访重点人员", "生活失意", "心态失衡", "行为失常", "性格偏执", "精神障碍"),
			Keywords:   some("threat", "mass", "self_harm"),
			PartyCount: rng.IntN(50), PetitionLevel: rng.IntN(6),
			SkipLevel: rng.IntN(10) == 0, Collective: rng.IntN(10) == 0, Repeat: rng.IntN(4) == 0,
			LedgerStatus: pick("", "", "未化解", "已化解", "化解中"),
		}
		switch rng.IntN(4) {
		case 0:
			ev.Amount = float64(rng.IntN(2_000_000))
		case 1:
			ev.Amount = rng.Float64() * 500_000
		}
		if ev.Source == risk.CaseEvent {
			ev.CaseID = pick("C1", "C2", "C3")
			ev.CaseEvent = pick(rules.CaseEvents...)
			ev.CaseState = pick("registered", "closed", "failed", "archived", "mediating")
			ev.CaseSeq = j
			if j > 0 && rng.IntN(3) == 0 { // at the same instant as the one before
				ev.At = st.Events[j-1].At
			}
		}
		st.Events = append(st.Events, ev)
	}
	if len(st.Events) > 0 && rng.IntN(2) == 0 {
		st.Trigger = &st.Events[rng.IntN(len(st.Events))]
	}
	return st
}
