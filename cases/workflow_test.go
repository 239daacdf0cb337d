package cases_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fengqiao/alerts/escalation"
	"fengqiao/cases"
	"fengqiao/jurisdiction"
	"fengqiao/signals"
)

var cst = time.FixedZone("CST", 8*3600)

// now is a Tuesday morning.
var now = time.Date(2026, 11, 17, 10, 0, 0, 0, cst)

const (
	root     = "990100000000" // 青川市
	county   = "990101000000" // 清河县
	township = "990101100000" // 枫桥镇
	village  = "990101100201" // 陈家村
	otherTwp = "990101101000" // 石门镇
)

func fixture(t testing.TB) (*cases.Workflow, *jurisdiction.Tree) {
	t.Helper()
	tree, err := jurisdiction.Load("../fixtures/jurisdiction.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cases.LoadPolicy("../fixtures/cases/policy.yaml", tree, signals.DefaultCategories)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := escalation.LoadCalendar("../fixtures/calendar/cn-calendar-2026.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return &cases.Workflow{Policy: p, Units: tree, Calendar: cal, Categories: signals.DefaultCategories}, tree
}

var admin = cases.Actor{ID: "t1", Name: "市管理员", Role: cases.RoleAdmin, Unit: root}

// caseIn builds a case that stands in state s with everything the steps
// from s need: an assignment, sessions, a complete dossier, an agreement
// that seeks judicial confirmation, and (if pending) a request awaiting a
// decision.
func caseIn(w *cases.Workflow, s cases.State, pending bool) *cases.Case {
	c := &cases.Case{Number: "990101100201-2026-00001", Unit: village, Channel: "walk_in", Category: "邻里",
		Summary: "宅基地边界纠纷", Parties: []cases.Party{{Role: "申请人", Name: "陈某"}}, Dispute: "990101100201-2026-00001",
		Type: "general", State: s, Version: 3, RegisteredAt: now.Add(-48 * time.Hour)}
	after := func(states ...cases.State) bool { return !slices.Contains(states, s) }
	if after(cases.Registered, cases.Accepted, cases.Declined) {
		c.Assignment = &cases.Assignment{LeadUnit: township, Organisation: "枫桥镇人民调解委员会", MediationType: "人民调解", AssignedAt: now.Add(-time.Hour)}
		c.Clocks = append(c.Clocks, cases.Clock{Name: cases.HandlingClock, Start: now.Add(-time.Hour), Due: now.Add(29 * 24 * time.Hour), Days: 30})
	}
	if after(cases.Registered, cases.Accepted, cases.Declined, cases.Assigned, cases.Returned, cases.Signed) {
		c.Sessions = []cases.Session{{Date: now.Add(-time.Hour), Place: "村委会", Mediators: []string{"王调解"}}}
		c.Dossier = []string{"调解申请书", "调解笔录", "调解协议书", "终止调解告知书"}
	}
	switch s {
	case cases.Agreed, cases.Closed, cases.FollowedUp, cases.Archived:
		c.Outcome = cases.Agreed
		c.Agreement = &cases.Agreement{Terms: "赔偿2000元", SeekConfirmation: true, SignedAt: now.Add(-time.Hour)}
		c.Clocks = append(c.Clocks, cases.Clock{Name: cases.ConfirmationClock, Start: now.Add(-time.Hour), Due: now.Add(29 * 24 * time.Hour), Days: 30})
	case cases.Failed:
		c.Outcome = cases.Failed
	case cases.Suspended:
		c.Resume = cases.Mediating
	}
	if pending {
		c.Pending = &cases.Request{Kind: cases.Escalation, Reason: "涉及多个乡镇", At: now.Add(-time.Hour)}
	}
	return c
}

// goodAct is a step with everything it needs.
func goodAct(a cases.Action) cases.Act {
	yes := true
	act := cases.Act{Action: a, Reason: "依据事实"}
	switch a {
	case cases.Decline:
		act.Redirect = "litigation"
	case cases.Assign, cases.Approve:
		act.Assignment = &cases.Assignment{LeadUnit: township, Organisation: "人民调解委员会", MediationType: "人民调解"}
	case cases.RecordSession:
		act.Session = &cases.Session{Date: now.Add(-time.Hour), Place: "调解室", Mediators: []string{"王调解"}}
	case cases.Agree:
		act.Agreement = &cases.Agreement{Terms: "赔偿2000元"}
	case cases.Fail:
		act.Referral = "litigation"
	case cases.Confirm:
		act.Confirmation = &cases.Confirmation{Court: "清河县人民法院", Date: now.Add(-time.Hour), Confirmed: true}
	case cases.Visit:
		act.FollowUp = &cases.FollowUp{Method: "电话", Satisfied: true, Performed: &yes}
	case cases.Archive:
		act.Batch = "990101100000-2026-11"
	case cases.RequestExtension:
		act.Days = 10
	case cases.File:
		act.Documents = []string{"调解笔录"}
	}
	return act
}

func from(a cases.Action) []cases.State {
	var out []cases.State
	w, _ := fixture(&testing.T{})
	for _, s := range cases.States {
		c := caseIn(w, s, a == cases.Approve || a == cases.Reject)
		if slices.Contains(w.Allowed(c, admin), a) {
			out = append(out, s)
		}
	}
	return out
}

// TestEveryStateAndAction takes every step from every state: each is
// either allowed, or refused with a TransitionError naming the state and
// the steps that are allowed.
func TestEveryStateAndAction(t *testing.T) {
	w, _ := fixture(t)
	allowedFrom := map[cases.Action][]cases.State{
		cases.Accept:            {cases.Registered},
		cases.Decline:           {cases.Registered},
		cases.Assign:            {cases.Accepted, cases.Returned},
		cases.Return:            {cases.Assigned, cases.Signed},
		cases.Sign:              {cases.Assigned},
		cases.RecordSession:     {cases.Signed, cases.Mediating},
		cases.Agree:             {cases.Mediating},
		cases.Fail:              {cases.Mediating},
		cases.Confirm:           {cases.Agreed, cases.Closed, cases.FollowedUp},
		cases.Close:             {cases.Agreed, cases.Failed},
		cases.Visit:             {cases.Closed, cases.FollowedUp},
		cases.Archive:           {cases.FollowedUp, cases.Declined},
		cases.Suspend:           {cases.Accepted, cases.Assigned, cases.Signed, cases.Mediating},
		cases.Resume:            {cases.Suspended},
		cases.RequestExtension:  {cases.Signed, cases.Mediating, cases.Suspended},
		cases.RequestEscalation: {cases.Accepted, cases.Assigned, cases.Signed, cases.Mediating, cases.Failed},
		cases.Approve:           {cases.Accepted, cases.Assigned, cases.Signed, cases.Mediating, cases.Failed, cases.Suspended},
		cases.Reject:            {cases.Accepted, cases.Assigned, cases.Signed, cases.Mediating, cases.Failed, cases.Suspended},
		cases.File: {cases.Registered, cases.Accepted, cases.Assigned, cases.Returned, cases.Signed, cases.Mediating,
			cases.Agreed, cases.Failed, cases.Closed, cases.FollowedUp, cases.Suspended},
	}
	wantTo := map[cases.Action]cases.State{
		cases.Accept: cases.Accepted, cases.Decline: cases.Declined, cases.Assign: cases.Assigned, cases.Return: cases.Returned,
		cases.Sign: cases.Signed, cases.RecordSession: cases.Mediating, cases.Agree: cases.Agreed, cases.Fail: cases.Failed,
		cases.Close: cases.Closed, cases.Visit: cases.FollowedUp, cases.Archive: cases.Archived, cases.Suspend: cases.Suspended,
		cases.Resume: cases.Mediating, cases.Approve: cases.Assigned, // an approved escalation is assigned afresh
	}
	if got := len(cases.Actions()); got != len(allowedFrom) {
		t.Fatalf("the table has %d actions, the test knows %d", got, len(allowedFrom))
	}
	for _, a := range cases.Actions() {
		for _, s := range cases.States {
			t.Run(string(a)+"/"+string(s), func(t *testing.T) {
				c := caseIn(w, s, a == cases.Approve || a == cases.Reject)
				before := *c
				ev, err := w.Apply(c, goodAct(a), admin, now)
				if !slices.Contains(allowedFrom[a], s) {
					var te *cases.TransitionError
					if !errors.As(err, &te) {
						t.Fatalf("want a TransitionError, got %v", err)
					}
					if te.State != s || te.Action != a {
						t.Errorf("error names %s/%s", te.State, te.Action)
					}
					if !slices.Equal(te.Allowed, w.Allowed(&before, admin)) {
						t.Errorf("error allows %v, want %v", te.Allowed, w.Allowed(&before, admin))
					}
					if !strings.Contains(err.Error(), string(s)) || !strings.Contains(err.Error(), "the steps you may take now are") {
						t.Errorf("message: %v", err)
					}
					if c.Version != before.Version || c.State != before.State {
						t.Error("a refused step changed the case")
					}
					return
				}
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				want := s
				if to, ok := wantTo[a]; ok {
					want = to
				}
				if c.State != want || ev.To != want || ev.From != s {
					t.Errorf("state %s (event %s→%s), want %s→%s", c.State, ev.From, ev.To, s, want)
				}
				if c.Version != before.Version+1 || ev.Seq != c.Version {
					t.Errorf("version %d, event seq %d, was %d", c.Version, ev.Seq, before.Version)
				}
				if ev.By != admin || !ev.At.Equal(now) || ev.Action != a {
					t.Errorf("event %+v", ev)
				}
			})
		}
	}
}

func TestRoles(t *testing.T) {
	w, _ := fixture(t)
	roles := []string{"admin", "duty", "mediator", "reporter", "viewer", "system"}
	may := map[cases.Action][]string{}
	for _, a := range []cases.Action{cases.Accept, cases.Decline, cases.Assign, cases.Archive} {
		may[a] = []string{"admin", "duty", "mediator", "system"}
	}
	for _, a := range []cases.Action{cases.Return, cases.Sign, cases.RecordSession, cases.Agree, cases.Fail, cases.Confirm,
		cases.Close, cases.Visit, cases.Suspend, cases.Resume, cases.RequestExtension, cases.RequestEscalation} {
		may[a] = []string{"admin", "duty", "mediator"}
	}
	may[cases.Approve] = []string{"admin", "duty"}
	may[cases.Reject] = []string{"admin", "duty"}
	may[cases.File] = []string{"admin", "duty", "mediator", "system"}
	for _, a := range cases.Actions() {
		s := from(a)[0]
		for _, role := range roles {
			t.Run(string(a)+"/"+role, func(t *testing.T) {
				c := caseIn(w, s, a == cases.Approve || a == cases.Reject)
				_, err := w.Apply(c, goodAct(a), cases.Actor{ID: "t", Name: "某人", Role: role, Unit: root}, now)
				var fe *cases.ForbiddenError
				switch {
				case slices.Contains(may[a], role) && err != nil:
					t.Fatalf("refused: %v", err)
				case !slices.Contains(may[a], role) && !errors.As(err, &fe):
					t.Fatalf("want forbidden, got %v", err)
				case err != nil && err.Error() != "the role "+role+" may not "+string(a)+" a case ("+a.Chinese()+")":
					t.Errorf("message: %v", err)
				}
			})
		}
	}
}

func TestUnitScope(t *testing.T) {
	w, _ := fixture(t)
	at := func(role, unit string) cases.Actor {
		return cases.Actor{ID: "t", Name: "某人", Role: role, Unit: unit}
	}
	tests := []struct {
		name    string
		state   cases.State
		pending bool
		action  cases.Action
		by      cases.Actor
		want    string // "" allowed
	}{
		{"the lead unit signs", cases.Assigned, false, cases.Sign, at("mediator", township), ""},
		{"its county signs for it", cases.Assigned, false, cases.Sign, at("mediator", county), ""},
		{"another township cannot sign", cases.Assigned, false, cases.Sign, at("mediator", otherTwp),
			"only the handling unit, or one above it, may sign this case"},
		{"the village that registered cannot sign the township's assignment", cases.Assigned, false, cases.Sign, at("mediator", village),
			"only the handling unit, or one above it, may sign this case"},
		{"the registering village accepts", cases.Registered, false, cases.Accept, at("mediator", village), ""},
		{"another township cannot accept", cases.Registered, false, cases.Accept, at("duty", otherTwp),
			"only the unit that registered the case, or one above it, may accept it"},
		{"the handling unit cannot approve its own request", cases.Mediating, true, cases.Approve, at("duty", township),
			"a request is decided by a supervisor: a unit above the handling unit"},
		{"a unit below cannot approve", cases.Mediating, true, cases.Approve, at("duty", village),
			"a request is decided by a supervisor: a unit above the handling unit"},
		{"the county approves", cases.Mediating, true, cases.Approve, at("duty", county), ""},
		{"the registering village may ask to escalate", cases.Mediating, false, cases.RequestEscalation, at("mediator", village), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := caseIn(w, tt.state, tt.pending)
			_, err := w.Apply(c, goodAct(tt.action), tt.by, now)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *cases.ForbiddenError
			if !errors.As(err, &fe) || err.Error() != tt.want {
				t.Fatalf("got %v, want forbidden: %s", err, tt.want)
			}
		})
	}
}

// TestGuards: each step refuses what it lacks, with a message saying what to give.
func TestGuards(t *testing.T) {
	w, _ := fixture(t)
	no := false
	tests := []struct {
		name  string
		state cases.State
		edit  func(c *cases.Case, a *cases.Act)
		field string
		msg   string
	}{
		{"decline without reason", cases.Registered, func(c *cases.Case, a *cases.Act) { a.Action, a.Reason, a.Redirect = cases.Decline, "", "litigation" },
			"reason", "is missing: say why the case is not accepted"},
		{"decline without redirect", cases.Registered, func(c *cases.Case, a *cases.Act) { a.Action, a.Redirect = cases.Decline, "" },
			"redirect", "say where the parties should go instead: one of administrative_review, arbitration, litigation, other, petition"},
		{"assign without assignment", cases.Accepted, func(c *cases.Case, a *cases.Act) { a.Action, a.Assignment = cases.Assign, nil },
			"assignment", "is missing: give lead_unit, organisation and mediation_type"},
		{"assign to an unknown unit", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: "990199999999", Organisation: "x", MediationType: "人民调解"}
		}, "assignment.lead_unit", "is not a unit of the jurisdiction"},
		{"assign up", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: county, Organisation: "x", MediationType: "人民调解"}
			c.Unit = township // registered by the township, whose dispatcher may not assign to the county
		}, "assignment.lead_unit", "is outside your jurisdiction: a case is assigned down, and goes up only by an approved escalation"},
		{"assign with a bad mediation type", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: township, Organisation: "x", MediationType: "调解"}
		}, "assignment.mediation_type", "want one of 人民调解, 行政调解, 司法调解, 特邀调解, 律师调解, 联合调解"},
		{"assign with a bad docking type", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: township, Organisation: "x", MediationType: "人民调解", Docking: "对接"}
		}, "assignment.docking", "want one of 公调对接, 诉调对接, 检调对接, 访调对接"},
		{"assign without organisation", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: township, MediationType: "人民调解"}
		}, "assignment.organisation", "name the mediation organisation, e.g. 枫桥镇人民调解委员会"},
		{"co-unit is the lead unit", cases.Accepted, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Assign
			a.Assignment = &cases.Assignment{LeadUnit: township, CoUnits: []string{township}, Organisation: "x", MediationType: "人民调解"}
		}, "assignment.co_units[0]", "must be a unit of the jurisdiction other than the lead unit"},
		{"return too late", cases.Assigned, func(c *cases.Case, a *cases.Act) {
			a.Action = cases.Return
			c.Assignment.AssignedAt = time.Date(2026, 11, 12, 16, 0, 0, 0, cst) // Thursday: 2 working days end Monday
		}, "action", "an assignment may be returned only until 2026-11-16 23:59 (2 days after it was made): the case is yours; ask for an escalation if it is beyond your unit"},
		{"session without place", cases.Signed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RecordSession)
			a.Session.Place = ""
		}, "session.place", "is missing"},
		{"session in the future", cases.Signed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RecordSession)
			a.Session.Date = now.Add(48 * time.Hour)
		}, "session.date", "give when the session took place (not in the future)"},
		{"session without mediators", cases.Signed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RecordSession)
			a.Session.Mediators = nil
		}, "session.mediators", "name the mediators present"},
		{"agree without terms", cases.Mediating, func(c *cases.Case, a *cases.Act) { a.Action, a.Agreement = cases.Agree, &cases.Agreement{} },
			"agreement.terms", "give the terms agreed"},
		{"agree to perform in the past", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			a.Action, a.Agreement = cases.Agree, &cases.Agreement{Terms: "x", PerformBy: now.Add(-time.Hour)}
		}, "agreement.perform_by", "is in the past"},
		{"fail without referral", cases.Mediating, func(c *cases.Case, a *cases.Act) { a.Action = cases.Fail },
			"referral", "say where the dispute goes next: one of administrative, arbitration, litigation, other, petition"},
		{"close with an incomplete dossier", cases.Agreed, func(c *cases.Case, a *cases.Act) {
			a.Action, c.Dossier = cases.Close, []string{"调解笔录"}
		}, "dossier", "the dossier for a case 达成协议 is not complete: file 调解申请书, 调解协议书 first"},
		{"close a failed case with the agreement's dossier", cases.Failed, func(c *cases.Case, a *cases.Act) {
			a.Action, c.Dossier = cases.Close, []string{"调解申请书", "调解笔录", "调解协议书"}
		}, "dossier", "the dossier for a case 调解不成 is not complete: file 终止调解告知书 first"},
		{"confirm after 30 days", cases.Agreed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.Confirm)
			k := c.Clock(cases.ConfirmationClock)
			k.Due, k.Basis = now.Add(-time.Hour), "《人民调解法》第三十三条"
		}, "action", "the period for judicial confirmation ended on 2026-11-17 (30 days after the agreement, 《人民调解法》第三十三条): the court no longer accepts the application"},
		{"follow up an agreement without saying if it was performed", cases.Closed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.Visit)
			a.FollowUp.Performed = nil
		}, "follow_up.performed", "say whether the agreement has been carried out"},
		{"follow up without method", cases.Closed, func(c *cases.Case, a *cases.Act) {
			a.Action, a.FollowUp = cases.Visit, &cases.FollowUp{Satisfied: true, Performed: &no}
		}, "follow_up.method", "say how the parties were visited, e.g. 电话 or 上门"},
		{"suspend without reason", cases.Mediating, func(c *cases.Case, a *cases.Act) { a.Action, a.Reason = cases.Suspend, " " },
			"reason", "is missing: say why the case is suspended"},
		{"extend a labour case", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RequestExtension)
			c.Type = "labour"
		}, "days", "the handling period of a 劳动争议 case is fixed (《劳动争议调解仲裁法》第十四条: 自收到调解申请之日起十五日内未达成调解协议的, 当事人可以依法申请仲裁): it cannot be extended"},
		{"extend past the cap", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RequestExtension)
			a.Days = 31
		}, "days", "at most 30 more days may be granted (30 in all for a 一般矛盾纠纷 case)"},
		{"extend by nothing", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RequestExtension)
			a.Days = 0
		}, "days", "give the days asked for, 1 or more"},
		{"ask twice", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RequestExtension)
			c.Pending = &cases.Request{Kind: cases.Escalation}
		}, "action", "a request (escalation) already awaits a supervisor's decision"},
		{"escalate from the top", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.RequestEscalation)
			c.Assignment.LeadUnit = root
		}, "action", "the handling unit is the top of the jurisdiction: there is no tier to escalate to"},
		{"approve an escalation without saying who takes it", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.Approve)
			a.Assignment = nil
			c.Pending = &cases.Request{Kind: cases.Escalation}
		}, "assignment", "say who takes the case at 清河县: give organisation and mediation_type"},
		{"file nothing", cases.Mediating, func(c *cases.Case, a *cases.Act) { a.Action = cases.File },
			"documents", "list the documents filed, e.g. 调解协议书"},
		{"confirm what was not sought", cases.Agreed, func(c *cases.Case, a *cases.Act) {
			*a = goodAct(cases.Confirm)
			c.Agreement.SeekConfirmation = false
		}, "action", "the parties did not seek judicial confirmation of this agreement"},
		{"unknown step", cases.Mediating, func(c *cases.Case, a *cases.Act) { a.Action = "mediate" }, "action",
			"unknown step: want one of accept, decline, assign, return, sign, session, agree, fail, confirm, close, follow_up, archive, suspend, resume, request_extension, request_escalation, approve, reject, file"},
		{"a reason too long", cases.Mediating, func(c *cases.Case, a *cases.Act) {
			a.Action, a.Reason = cases.Suspend, strings.Repeat("理", 1001)
		}, "reason", "is longer than 1000 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := caseIn(w, tt.state, false)
			a := cases.Act{Reason: "依据事实"}
			tt.edit(c, &a)
			v := c.Version
			by := admin
			if c.Unit == township {
				by = cases.Actor{Role: "mediator", Unit: township}
			}
			_, err := w.Apply(c, a, by, now)
			var ie *cases.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("want an InvalidError, got %v", err)
			}
			if ie.Field != tt.field || ie.Message != tt.msg {
				t.Errorf("got %s: %s\nwant %s: %s", ie.Field, ie.Message, tt.field, tt.msg)
			}
			if c.Version != v {
				t.Error("a refused step changed the case")
			}
		})
	}
}

func TestStaleVersion(t *testing.T) {
	w, _ := fixture(t)
	c := caseIn(w, cases.Registered, false)
	_, err := w.Apply(c, cases.Act{Action: cases.Accept, Version: 2}, admin, now)
	var ce *cases.ConflictError
	if !errors.As(err, &ce) || err.Error() != "the case has changed since you read it (version 2, now 3): read it again and decide afresh" {
		t.Fatalf("got %v", err)
	}
}

func TestRegister(t *testing.T) {
	w, _ := fixture(t)
	good := func() *cases.Case {
		return &cases.Case{Number: "N", Unit: village, Channel: "walk_in", Category: "劳动/欠薪", Summary: "拖欠工资",
			Parties: []cases.Party{{Role: "申请人", Name: "陈某"}}}
	}
	c := good()
	ev, err := w.Register(c, cases.Actor{Name: "网格员", Role: "reporter", Unit: village}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != cases.Registered || c.Type != "labour" || c.Version != 1 || ev.Signal != "registered" {
		t.Errorf("case %+v event %+v", c, ev)
	}
	k := c.Clock(cases.AcceptClock)
	// Tuesday 10:00 + 3 working days: Friday 23:59:59.
	if k == nil || !k.Due.Equal(time.Date(2026, 11, 20, 23, 59, 59, 0, cst)) {
		t.Errorf("accept clock %+v", k)
	}

	tests := []struct {
		name  string
		edit  func(c *cases.Case)
		by    cases.Actor
		field string
		msg   string
	}{
		{"unknown unit", func(c *cases.Case) { c.Unit = "990199999999" }, admin, "unit", "is not a unit of the jurisdiction: give its 12-digit code"},
		{"unknown channel", func(c *cases.Case) { c.Channel = "tv" }, admin, "channel",
			"want one of court, engine, grid, hotline, petition, police, procuratorate, walk_in"},
		{"unknown category", func(c *cases.Case) { c.Category = "吵架" }, admin, "category",
			"is not a dispute category: want one of " + strings.Join(signals.DefaultCategories, ", ")},
		{"no summary", func(c *cases.Case) { c.Summary = " " }, admin, "summary", "is missing"},
		{"no parties", func(c *cases.Case) { c.Parties = nil }, admin, "parties", "give at least one party, with role and name"},
		{"a party without name", func(c *cases.Case) { c.Parties[0].Name = "" }, admin, "parties[0].name", "is missing"},
		{"a negative amount", func(c *cases.Case) { c.Amount = -1 }, admin, "amount", "give the amount involved in yuan, 0 or more"},
		{"unknown type", func(c *cases.Case) { c.Type = "x" }, admin, "type", `unknown case type "x"`},
		{"another unit's case", func(c *cases.Case) {}, cases.Actor{Role: "reporter", Unit: otherTwp}, "unit",
			"is outside your jurisdiction: register cases for your own unit or the units under it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(c)
			_, err := w.Register(c, tt.by, now)
			var ie *cases.InvalidError
			if !errors.As(err, &ie) || ie.Field != tt.field || ie.Message != tt.msg {
				t.Fatalf("got %v, want %s: %s", err, tt.field, tt.msg)
			}
		})
	}
	_, err = w.Register(good(), cases.Actor{Role: "viewer", Unit: root}, now)
	var fe *cases.ForbiddenError
	if !errors.As(err, &fe) || err.Error() != "the role viewer may not register cases" {
		t.Errorf("viewer: %v", err)
	}
}

// TestLife takes one case through its whole life, with its clocks.
func TestLife(t *testing.T) {
	w, _ := fixture(t)
	mediator := cases.Actor{ID: "m", Name: "王调解", Role: "mediator", Unit: township}
	c := &cases.Case{Number: "N", Unit: village, Channel: "grid", Category: "邻里", Summary: "宅基地边界纠纷",
		Parties: []cases.Party{{Role: "申请人", Name: "陈某"}, {Role: "被申请人", Name: "李某"}}}
	at := now
	step := func(a cases.Act, by cases.Actor, want cases.State) cases.Event {
		t.Helper()
		at = at.Add(time.Hour)
		ev, err := w.Apply(c, a, by, at)
		if err != nil {
			t.Fatalf("%s: %v", a.Action, err)
		}
		if c.State != want {
			t.Fatalf("%s: state %s, want %s", a.Action, c.State, want)
		}
		return ev
	}
	if _, err := w.Register(c, mediator, at); err != nil {
		t.Fatal(err)
	}
	step(cases.Act{Action: cases.Accept}, mediator, cases.Accepted)
	ev := step(goodAct(cases.Assign), mediator, cases.Assigned)
	if !slices.ContainsFunc(ev.Changes, func(ch cases.Change) bool { return ch.Field == "assignment" && ch.Old == nil }) {
		t.Errorf("changes %+v", ev.Changes)
	}
	// Handling: 30 calendar days from Tuesday 2026-11-17 end on Thursday 2026-12-17.
	if k := c.Clock(cases.HandlingClock); !k.Due.Equal(time.Date(2026, 12, 17, 23, 59, 59, 0, cst)) {
		t.Errorf("handling due %v", k.Due)
	}
	step(cases.Act{Action: cases.Sign}, mediator, cases.Signed)
	step(goodAct(cases.RecordSession), mediator, cases.Mediating)

	// Suspended for ten days: the handling clock pauses and is pushed back.
	due := c.Clock(cases.HandlingClock).Due
	step(cases.Act{Action: cases.Suspend, Reason: "等待土地确权"}, mediator, cases.Suspended)
	at = at.Add(10 * 24 * time.Hour)
	if len(c.Overdue(at.Add(60*24*time.Hour))) != 0 {
		t.Error("a suspended case's clocks run")
	}
	step(cases.Act{Action: cases.Resume}, mediator, cases.Mediating)
	if got := c.Clock(cases.HandlingClock).Due.Sub(due); got != 10*24*time.Hour {
		t.Errorf("resumption pushed the due time by %v", got)
	}

	// An extension, asked for and approved by the county.
	step(cases.Act{Action: cases.RequestExtension, Days: 10, Reason: "当事人外出务工"}, mediator, cases.Mediating)
	due = c.Clock(cases.HandlingClock).Due
	ev = step(cases.Act{Action: cases.Approve}, cases.Actor{Name: "县值班", Role: "duty", Unit: county}, cases.Mediating)
	if ev.Signal != "extended" || c.Pending != nil || c.Clock(cases.HandlingClock).Extended != 10 ||
		!c.Clock(cases.HandlingClock).Due.Equal(cases.Deadline(due, 10, false, w.Calendar)) {
		t.Errorf("extension: %+v %+v", ev, c.Clock(cases.HandlingClock))
	}

	no := false
	step(cases.Act{Action: cases.Agree, Agreement: &cases.Agreement{Terms: "李某退让30厘米", SeekConfirmation: true,
		PerformBy: at.Add(20 * 24 * time.Hour)}}, mediator, cases.Agreed)
	if c.Clock(cases.ConfirmationClock) == nil || c.Clock(cases.PerformanceClock) == nil {
		t.Fatalf("clocks %+v", c.Clocks)
	}
	step(cases.Act{Action: cases.File, Documents: []string{"调解申请书", "调解笔录", "调解协议书"}}, mediator, cases.Agreed)
	step(cases.Act{Action: cases.Close}, mediator, cases.Closed)
	if !c.Clock(cases.HandlingClock).Met.Equal(at) || c.Clock(cases.FollowUpClock) == nil {
		t.Errorf("clocks at close %+v", c.Clocks)
	}
	step(goodAct(cases.Confirm), mediator, cases.Closed)

	// Past its performance deadline, the agreement was not carried out: the
	// follow-up reopens the case (重办).
	at = at.Add(21 * 24 * time.Hour)
	ev = step(cases.Act{Action: cases.Visit, FollowUp: &cases.FollowUp{Method: "上门", Satisfied: false, Performed: &no}}, mediator, cases.Signed)
	if ev.Signal != "reopened" || c.Reopened != 1 || ev.Reason != "调解协议未履行" || c.Outcome != "" {
		t.Errorf("reopen: %+v, case reopened %d", ev, c.Reopened)
	}
	step(goodAct(cases.RecordSession), mediator, cases.Mediating)
	step(cases.Act{Action: cases.Fail, Reason: "李某拒不履行", Referral: "litigation"}, mediator, cases.Failed)
	step(cases.Act{Action: cases.File, Documents: []string{"终止调解告知书"}}, mediator, cases.Failed)
	step(cases.Act{Action: cases.Close}, mediator, cases.Closed)
	step(cases.Act{Action: cases.Visit, FollowUp: &cases.FollowUp{Method: "电话", Satisfied: true}}, mediator, cases.FollowedUp)
	step(cases.Act{Action: cases.Archive, Batch: "B"}, mediator, cases.Archived)
	if late := c.Overdue(at.Add(365 * 24 * time.Hour)); len(late) != 0 {
		t.Errorf("an archived case has clocks running: %+v", late)
	}
}

// A visit before the agreement's performance deadline does not reopen the
// case for its not being carried out yet.
func TestVisitBeforePerformanceDeadline(t *testing.T) {
	w, _ := fixture(t)
	c := caseIn(w, cases.Closed, false)
	c.Agreement.PerformBy = now.Add(90 * 24 * time.Hour)
	no := false
	if _, err := w.Apply(c, cases.Act{Action: cases.Visit, FollowUp: &cases.FollowUp{Method: "电话", Satisfied: true, Performed: &no}}, admin, now); err != nil {
		t.Fatal(err)
	}
	if c.State != cases.FollowedUp || c.Reopened != 0 {
		t.Errorf("state %s, reopened %d", c.State, c.Reopened)
	}
	if k := c.Clock(cases.ConfirmationClock); k == nil || k.Met.IsZero() {
		t.Errorf("the confirmation clock still runs after the visit: %+v", k)
	}
}

func TestEscalation(t *testing.T) {
	w, _ := fixture(t)
	c := caseIn(w, cases.Mediating, false)
	if _, err := w.Apply(c, cases.Act{Action: cases.RequestEscalation, Reason: "涉及两个乡镇"}, cases.Actor{Role: "mediator", Unit: township}, now); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Apply(c, cases.Act{Action: cases.Approve, Assignment: &cases.Assignment{Organisation: "清河县矛盾纠纷调处中心", MediationType: "联合调解"}},
		cases.Actor{Role: "duty", Unit: county}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Assignment.LeadUnit != county || c.State != cases.Assigned || c.Escalations != 1 || ev.Signal != "escalated" {
		t.Errorf("after escalation: %+v %+v", c.Assignment, ev)
	}
	// The township may no longer sign; the county must.
	if _, err := w.Apply(c, cases.Act{Action: cases.Sign}, cases.Actor{Role: "mediator", Unit: township}, now); err == nil {
		t.Error("the township signed the county's case")
	}
}

func TestDeadline(t *testing.T) {
	_, _ = fixture(t)
	cal, err := escalation.LoadCalendar("../fixtures/calendar/cn-calendar-2026.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := func(y int, m time.Month, day, h int) time.Time { return time.Date(y, m, day, h, 0, 0, 0, cst) }
	end := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 23, 59, 59, 0, cst) }
	tests := []struct {
		name    string
		start   time.Time
		days    int
		working bool
		cal     cases.Calendar
		want    time.Time
	}{
		{"3 working days from Friday end on Wednesday", d(2026, 11, 20, 15), 3, true, cal, end(2026, 11, 25)},
		{"1 working day from Friday evening is Monday", d(2026, 11, 20, 22), 1, true, cal, end(2026, 11, 23)},
		{"a 调休 Saturday counts as a working day", d(2026, 10, 9, 10), 1, true, cal, end(2026, 10, 10)},
		{"working days skip 国庆节", d(2026, 9, 30, 10), 1, true, cal, end(2026, 10, 8)},
		{"15 calendar days", d(2026, 11, 2, 10), 15, false, cal, end(2026, 11, 17)},
		{"a period ending on Sunday runs to Monday", d(2026, 11, 7, 10), 15, false, cal, end(2026, 11, 23)},
		{"a period ending in 国庆节 runs to the first working day after", d(2026, 9, 16, 10), 15, false, cal, end(2026, 10, 8)},
		{"a period ending on a 调休 Saturday ends that day", d(2026, 9, 25, 10), 15, false, cal, end(2026, 10, 10)},
		{"without a calendar, weekdays", d(2026, 9, 30, 10), 1, true, nil, end(2026, 10, 1)},
		{"the timezone is Beijing's", time.Date(2026, 11, 20, 17, 0, 0, 0, time.UTC), 1, true, cal, end(2026, 11, 23)}, // Sat 01:00 CST
		{"zero days end the same day", d(2026, 11, 17, 10), 0, false, cal, end(2026, 11, 17)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cases.Deadline(tt.start, tt.days, tt.working, tt.cal); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got.In(cst), tt.want)
			}
		})
	}
}

func TestOverdue(t *testing.T) {
	w, _ := fixture(t)
	c := caseIn(w, cases.Mediating, false)
	k := c.Clock(cases.HandlingClock)
	if len(c.Overdue(k.Due)) != 0 || len(c.Overdue(k.Due.Add(time.Second))) != 1 {
		t.Error("overdue at the wrong time")
	}
	ev := cases.MarkOverdueEvent(c, c.Overdue(k.Due.Add(time.Second)), now)
	if ev.Signal != "overdue" || ev.Seq != 4 || c.Version != 4 || !strings.HasPrefix(ev.Reason, "超过办理时限 ") {
		t.Errorf("%+v", ev)
	}
}
