package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"fengqiao/cases"
	"fengqiao/internal/alerting"
	"fengqiao/internal/casestore"
	"fengqiao/internal/reporting"
	"fengqiao/internal/ruleset"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/schedule"
)

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *view) {
	switch {
	case v.Can("read"):
		http.Redirect(w, r, "/console/alerts", http.StatusSeeOther)
	case v.Can("file"):
		http.Redirect(w, r, "/console/zero-reports", http.StatusSeeOther)
	default:
		s.render(w, http.StatusOK, "message", v.with("值班工作台", "您的角色没有可用的页面。"))
	}
}

// boardData is the 风险看板.
type boardData struct {
	Entries  []scoring.BoardEntry
	Total    int
	Level    string
	Kind     string
	Unit     string
	Children []unitChoice
}

type unitChoice struct{ Code, Name string }

func (s *Server) board(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	min := risk.Yellow
	if l, err := risk.ParseLevel(q.Get("level")); err == nil && l >= risk.Blue {
		min = l
	}
	kind := risk.Kind(q.Get("kind"))
	if kind != risk.Person && kind != risk.Dispute {
		kind = ""
	}
	unit := q.Get("unit")
	if unit == "" || !s.inScope(v, unit) {
		unit = v.P.Unit
	}
	entries, total, err := s.Subjects.Board(r.Context(), scoring.BoardQuery{Kind: kind, MinLevel: min,
		InScope: func(u string) bool { return s.Units.Contains(unit, u) }, Limit: 200})
	if err != nil {
		s.fail(w, v, "读取风险看板", err)
		return
	}
	d := boardData{Entries: entries, Total: total, Level: min.String(), Kind: string(kind), Unit: unit}
	for _, c := range s.Units.Children(v.P.Unit) {
		d.Children = append(d.Children, unitChoice{c.Code, c.Name})
	}
	v.Title, v.Data = "风险看板", d
	s.render(w, http.StatusOK, "board", v)
}

type subjectData struct {
	Subject scoring.Subject
	History []scoring.Change
}

func (s *Server) subject(w http.ResponseWriter, r *http.Request, v *view) {
	id := risk.SubjectID{Kind: risk.Kind(r.PathValue("kind")), Ref: r.PathValue("ref")}
	if _, err := risk.ParseKind(string(id.Kind)); err != nil || id.Validate() != nil {
		s.notFound(w, v, "对象")
		return
	}
	subj, err := s.Subjects.Subject(r.Context(), id)
	if errors.Is(err, scoring.ErrNotFound) || (err == nil && !s.inScope(v, subj.Unit)) {
		s.notFound(w, v, "对象")
		return
	}
	if err != nil {
		s.fail(w, v, "读取对象", err)
		return
	}
	h, err := s.Subjects.History(r.Context(), id, 50)
	if err != nil {
		s.fail(w, v, "读取等级变化", err)
		return
	}
	v.Title, v.Data = kindName(id.Kind)+" "+id.Ref, subjectData{subj, h}
	s.render(w, http.StatusOK, "subject", v)
}

// alertVisible says whether an alert is in the officer's jurisdiction: its
// unit, or a unit it was sent to.
func (s *Server) alertVisible(v *view, a alerting.Alert) bool {
	if s.inScope(v, a.Unit) {
		return true
	}
	return slices.ContainsFunc(a.Notified, func(t alerting.Target) bool { return s.inScope(v, t.Unit) })
}

type alertsData struct {
	Alerts []alerting.Alert
	State  string
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Alerts == nil {
		s.render(w, http.StatusOK, "message", v.with("预警", "本系统未配置预警升级策略, 暂无预警。"))
		return
	}
	state := r.URL.Query().Get("state")
	f := alerting.Filter{State: alerting.Open, InScope: func(u string) bool { return s.Units.Contains(v.P.Unit, u) }, Limit: 200}
	if state == "all" {
		f.State = ""
	} else {
		state = "open"
	}
	list, err := s.Alerts.List(r.Context(), f)
	if err != nil {
		s.fail(w, v, "读取预警", err)
		return
	}
	v.Title, v.Data = "预警", alertsData{list, state}
	s.render(w, http.StatusOK, "alerts", v)
}

type alertData struct {
	Alert      alerting.Alert
	Deliveries []alerting.Notification
	CanAck     bool
}

func (s *Server) alertInScope(w http.ResponseWriter, r *http.Request, v *view) (alerting.Alert, bool) {
	if s.Alerts == nil {
		s.notFound(w, v, "预警")
		return alerting.Alert{}, false
	}
	a, err := s.Alerts.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, alerting.ErrNotFound) || (err == nil && !s.alertVisible(v, a)) {
		s.notFound(w, v, "预警")
		return a, false
	}
	if err != nil {
		s.fail(w, v, "读取预警", err)
		return a, false
	}
	return a, true
}

func (s *Server) alert(w http.ResponseWriter, r *http.Request, v *view) {
	a, ok := s.alertInScope(w, r, v)
	if !ok {
		return
	}
	ds, err := s.Alerts.Deliveries(r.Context(), a.ID)
	if err != nil {
		s.fail(w, v, "读取通知记录", err)
		return
	}
	v.Notice = r.URL.Query().Get("done")
	v.Title, v.Data = "预警详情", alertData{a, ds, v.Can("ack") && a.State == alerting.Open}
	s.render(w, http.StatusOK, "alert", v)
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, v *view) {
	a, ok := s.alertInScope(w, r, v)
	if !ok {
		return
	}
	officer := strings.TrimSpace(r.PostFormValue("officer"))
	note := strings.TrimSpace(r.PostFormValue("note"))
	if officer == "" {
		officer = v.P.Name
	}
	got, err := s.Alerts.Acknowledge(r.Context(), a.ID, officer, note)
	if errors.Is(err, alerting.ErrState) {
		http.Redirect(w, r, "/console/alerts/"+url.PathEscape(a.ID)+"?done="+url.QueryEscape("该预警已被签收或已解除"), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.fail(w, v, "签收预警", err)
		return
	}
	if s.Audit != nil {
		if err := s.Audit.Record(r.Context(), v.P, "alert.ack", "alert/"+got.ID, "签收预警 "+got.ID+" ("+got.Level.Chinese()+"), 签收人 "+officer+": "+note); err != nil {
			s.Log.Error("audit an acknowledgement", "err", err)
		}
	}
	http.Redirect(w, r, "/console/alerts/"+url.PathEscape(a.ID)+"?done="+url.QueryEscape("已签收"), http.StatusSeeOther)
}

func (v *view) actor() cases.Actor {
	return cases.Actor{ID: v.P.TokenID, Name: v.P.Name, Role: string(v.P.Role), Unit: v.P.Unit}
}

type caseListData struct {
	Cases   []*cases.Case
	Total   int
	Overdue bool
	State   string
	Now     time.Time
}

func (s *Server) caseList(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Cases == nil {
		s.render(w, http.StatusOK, "message", v.with("案件", "本系统未配置案件办理规则。"))
		return
	}
	q := r.URL.Query()
	overdue, _ := strconv.ParseBool(q.Get("overdue"))
	state := cases.State(q.Get("state"))
	if !slices.Contains(cases.States, state) {
		state = ""
	}
	open := state == ""
	query := casestore.Query{Unit: v.P.Unit, State: state, Overdue: overdue, Limit: 200, Now: s.Now()}
	if open {
		query.Open = &open
	}
	list, total, err := s.Cases.List(r.Context(), query)
	if err != nil {
		s.fail(w, v, "读取案件", err)
		return
	}
	v.Title, v.Data = "案件", caseListData{list, total, overdue, string(state), s.Now()}
	s.render(w, http.StatusOK, "cases", v)
}

type caseData struct {
	Case    *cases.Case
	History []cases.Event
	Allowed []actionForm
	Now     time.Time
}

// actionForm is a step offered on a case page, with the fields it needs.
type actionForm struct {
	Action cases.Action
	Fields []field
}

type field struct {
	Name, Label, Kind string // Kind: text, textarea, number, date, bool, select
	Options           []string
	Required          bool
}

// fieldsOf are the form fields each step needs (see cases.Act).
func fieldsOf(a cases.Action) []field {
	reason := field{"reason", "理由", "textarea", nil, true}
	switch a {
	case cases.Decline:
		return []field{reason, {"redirect", "引导途径", "select", keys(cases.Redirects), true}}
	case cases.Assign:
		return []field{{"lead_unit", "主办单位代码", "text", nil, true}, {"organisation", "调解组织", "text", nil, true},
			{"mediation_type", "调解类型", "select", cases.MediationTypes, true}, {"mediators", "调解员(用、分隔)", "text", nil, false}}
	case cases.Approve:
		return []field{{"organisation", "调解组织(批准上交时填写)", "text", nil, false},
			{"mediation_type", "调解类型(批准上交时填写)", "select", append([]string{""}, cases.MediationTypes...), false}}
	case cases.Return, cases.Suspend, cases.RequestEscalation, cases.Reject:
		return []field{reason}
	case cases.RecordSession:
		return []field{{"place", "地点", "text", nil, true}, {"mediators", "调解员(用、分隔)", "text", nil, true},
			{"attendees", "参加人员(用、分隔)", "text", nil, false}, {"notes", "调解记录", "textarea", nil, false}}
	case cases.Agree:
		return []field{{"terms", "协议内容", "textarea", nil, true}, {"seek_confirmation", "申请司法确认", "bool", nil, false}}
	case cases.Fail:
		return []field{reason, {"referral", "引导途径", "select", keys(cases.Referrals), true}}
	case cases.Confirm:
		return []field{{"court", "人民法院", "text", nil, true}, {"confirmed", "确认有效", "bool", nil, false}}
	case cases.Visit:
		return []field{{"method", "回访方式", "select", []string{"电话", "上门", "短信"}, true}, {"satisfied", "当事人满意", "bool", nil, false},
			{"performed", "协议已履行", "bool", nil, false}, {"notes", "回访记录", "textarea", nil, false}}
	case cases.RequestExtension:
		return []field{reason, {"days", "延期天数", "number", nil, true}}
	case cases.File:
		return []field{{"documents", "材料名称(用、分隔)", "text", nil, true}}
	}
	return nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Server) caseInScope(w http.ResponseWriter, r *http.Request, v *view) (*cases.Case, []cases.Event, bool) {
	if s.Cases == nil {
		s.notFound(w, v, "案件")
		return nil, nil, false
	}
	c, h, err := s.Cases.Get(r.Context(), r.PathValue("number"))
	if errors.Is(err, casestore.ErrNotFound) || (err == nil && !slices.ContainsFunc(c.Units(), func(u string) bool { return s.inScope(v, u) })) {
		s.notFound(w, v, "案件")
		return nil, nil, false
	}
	if err != nil {
		s.fail(w, v, "读取案件", err)
		return nil, nil, false
	}
	return c, h, true
}

func (s *Server) caseDetail(w http.ResponseWriter, r *http.Request, v *view) {
	c, h, ok := s.caseInScope(w, r, v)
	if !ok {
		return
	}
	d := caseData{Case: c, History: h, Now: s.Now()}
	if v.Can("cases") {
		for _, a := range s.Cases.Allowed(c, v.actor()) {
			if a == cases.Archive {
				continue // archived in a unit's reconciliation batch, through the API
			}
			d.Allowed = append(d.Allowed, actionForm{a, fieldsOf(a)})
		}
	}
	v.Notice, v.Error = r.URL.Query().Get("done"), r.URL.Query().Get("error")
	v.Title, v.Data = "案件 "+c.Number, d
	s.render(w, http.StatusOK, "case", v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '、' || r == ',' || r == '，' || r == ';' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) caseAct(w http.ResponseWriter, r *http.Request, v *view) {
	c, _, ok := s.caseInScope(w, r, v)
	if !ok {
		return
	}
	f := r.PostFormValue
	yes := func(name string) bool { return f(name) == "on" || f(name) == "true" }
	now := s.Now()
	a := cases.Act{Action: cases.Action(f("action")), Reason: f("reason"), Redirect: f("redirect"), Referral: f("referral")}
	a.Version, _ = strconv.Atoi(f("version"))
	switch a.Action {
	case cases.Assign, cases.Approve:
		if f("organisation") != "" || a.Action == cases.Assign {
			a.Assignment = &cases.Assignment{LeadUnit: strings.TrimSpace(f("lead_unit")), Organisation: f("organisation"),
				MediationType: f("mediation_type"), Mediators: splitList(f("mediators"))}
		}
	case cases.RecordSession:
		a.Session = &cases.Session{Date: now, Place: f("place"), Mediators: splitList(f("mediators")),
			Attendees: splitList(f("attendees")), Notes: f("notes")}
	case cases.Agree:
		a.Agreement = &cases.Agreement{Terms: f("terms"), SeekConfirmation: yes("seek_confirmation")}
	case cases.Confirm:
		a.Confirmation = &cases.Confirmation{Court: f("court"), Date: now, Confirmed: yes("confirmed")}
	case cases.Visit:
		a.FollowUp = &cases.FollowUp{Method: f("method"), Satisfied: yes("satisfied"), Notes: f("notes")}
		if c.Outcome == cases.Agreed {
			performed := yes("performed")
			a.FollowUp.Performed = &performed
		}
	case cases.RequestExtension:
		a.Days, _ = strconv.Atoi(f("days"))
	case cases.File:
		a.Documents = splitList(f("documents"))
	}
	back := "/console/cases/" + url.PathEscape(c.Number)
	_, ev, err := s.Cases.Act(r.Context(), c.Number, a, v.actor())
	var (
		ie *cases.InvalidError
		fe *cases.ForbiddenError
		te *cases.TransitionError
		ce *cases.ConflictError
	)
	switch {
	case err == nil:
		http.Redirect(w, r, back+"?done="+url.QueryEscape("已"+ev.Action.Chinese()), http.StatusSeeOther)
	case errors.As(err, &ie), errors.As(err, &fe), errors.As(err, &te), errors.As(err, &ce):
		http.Redirect(w, r, back+"?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
	default:
		s.fail(w, v, "办理案件", err)
	}
}

type zeroData struct {
	Checkpoint schedule.Checkpoint
	Rows       []reporting.Row
	Rollup     []reporting.Rollup
	Own        *reporting.Row
	CanFile    bool
}

func (s *Server) zeroReports(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Reports == nil {
		s.render(w, http.StatusOK, "message", v.with("零报告", "本系统未配置零报告制度。"))
		return
	}
	cp, rows, rollup, err := s.Reports.Status(r.Context(), v.P.Unit, r.URL.Query().Get("checkpoint"))
	var fe *schedule.FieldError
	if errors.As(err, &fe) {
		s.render(w, http.StatusOK, "message", v.with("零报告", "近期没有需要报送的零报告。"))
		return
	}
	if err != nil {
		s.fail(w, v, "读取零报告", err)
		return
	}
	d := zeroData{Checkpoint: cp, Rollup: rollup, CanFile: v.Can("file")}
	for i, row := range rows {
		if row.Unit == v.P.Unit {
			d.Own = &rows[i]
			continue
		}
		d.Rows = append(d.Rows, row)
	}
	v.Notice, v.Error = r.URL.Query().Get("done"), r.URL.Query().Get("error")
	v.Title, v.Data = "零报告", d
	s.render(w, http.StatusOK, "zero", v)
}

func (s *Server) fileZeroReport(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Reports == nil {
		s.notFound(w, v, "零报告")
		return
	}
	f := schedule.ZeroReportFiling{Checkpoint: r.PostFormValue("checkpoint"), Officer: r.PostFormValue("officer"),
		Nothing: r.PostFormValue("nothing") == "on", Note: r.PostFormValue("note")}
	for _, line := range strings.Split(r.PostFormValue("incidents"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			f.Incidents = append(f.Incidents, schedule.Incident{Summary: line})
		}
	}
	got, status, cp, err := s.Reports.File(r.Context(), f, reporting.Filer{Name: v.P.Name, Unit: v.P.Unit})
	var fe *schedule.FieldError
	var forbidden *reporting.ForbiddenError
	switch {
	case err == nil:
		if s.Audit != nil {
			_ = s.Audit.Record(r.Context(), v.P, "zero_report.file", "unit/"+got.Unit, "零报告 "+cp.ID+" "+status.Chinese())
		}
		http.Redirect(w, r, "/console/zero-reports?done="+url.QueryEscape("零报告已报送("+status.Chinese()+")"), http.StatusSeeOther)
	case errors.As(err, &fe), errors.As(err, &forbidden):
		http.Redirect(w, r, "/console/zero-reports?error="+url.QueryEscape(err.Error()), http.StatusSeeOther)
	default:
		s.fail(w, v, "报送零报告", err)
	}
}

func (s *Server) daily(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Reports == nil {
		s.render(w, http.StatusOK, "message", v.with("日报", "本系统未配置日报。"))
		return
	}
	date := r.URL.Query().Get("date")
	today := s.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	if _, err := time.Parse("2006-01-02", date); err != nil {
		date = today
	}
	d, err := s.Reports.Daily(r.Context(), v.P.Unit, date)
	if errors.Is(err, reporting.ErrNoReport) && date == today {
		d, err = s.Reports.Build(r.Context(), v.P.Unit, date)
	}
	if errors.Is(err, reporting.ErrNoReport) {
		s.render(w, http.StatusOK, "message", v.with("日报", date+" 没有日报。"))
		return
	}
	if err != nil {
		s.fail(w, v, "读取日报", err)
		return
	}
	v.Title, v.Data = "日报", d
	s.render(w, http.StatusOK, "daily", v)
}

type rulesData struct {
	Status ruleset.Status
	Rules  []RuleView
	Shadow *ruleset.ShadowStatus
	Report *scoring.ShadowReport
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request, v *view) {
	d := rulesData{Status: s.Rules.Status(), Rules: s.Rules.Rules()}
	if st, ok := s.Rules.ShadowStatus(); ok {
		d.Shadow = &st
		rep, err := s.Subjects.Shadow(r.Context(), st.Hash, func(u string) bool { return s.Units.Contains(v.P.Unit, u) }, 50)
		if err == nil {
			d.Report = &rep
		}
	}
	v.Title, v.Data = "规则", d
	s.render(w, http.StatusOK, "rules", v)
}
