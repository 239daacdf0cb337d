package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"fengqiao/cases"
	"fengqiao/internal/auth"
	"fengqiao/internal/casestore"
)

// Cases is the mediation workflow.
type Cases interface {
	Register(ctx context.Context, c *cases.Case, by cases.Actor) (*cases.Case, error)
	Act(ctx context.Context, number string, a cases.Act, by cases.Actor) (*cases.Case, cases.Event, error)
	Get(ctx context.Context, number string) (*cases.Case, []cases.Event, error)
	Allowed(c *cases.Case, by cases.Actor) []cases.Action
	List(ctx context.Context, q casestore.Query) ([]*cases.Case, int, error)
	ArchiveBatch(ctx context.Context, unit string, numbers []string, by cases.Actor) (casestore.Batch, error)
	Batches(ctx context.Context, unit string, n int64) ([]casestore.Batch, error)
}

// Who may use the case routes; the workflow's table then decides each step.
var (
	registrars = []auth.Role{auth.Reporter, auth.Mediator, auth.Duty, auth.Admin, auth.System}
	caseActors = []auth.Role{auth.Mediator, auth.Duty, auth.Admin, auth.System}
)

// withCases answers that there is no case workflow when none is configured.
func (s *Server) withCases(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Cases == nil {
			writeError(w, http.StatusNotFound, "this riskd runs no case workflow: its configuration sets no case_policy", "")
			return
		}
		h(w, r)
	}
}

func actor(r *http.Request) cases.Actor {
	p := principal(r)
	return cases.Actor{ID: p.TokenID, Name: p.Name, Role: string(p.Role), Unit: p.Unit}
}

// decodeStrict reads a JSON body into v, refusing unknown fields.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the request body is larger than 1 MiB", "")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "send one JSON object: " + strings.TrimPrefix(err.Error(), "json: ")
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = "the body is not valid JSON (at byte " + strconv.FormatInt(se.Offset, 10) + ")"
		}
		writeError(w, http.StatusBadRequest, msg, "")
		return false
	}
	return true
}

// registration is a case as a caller registers it.
type registration struct {
	Unit       string         `json:"unit"`
	Channel    string         `json:"channel"`
	Type       string         `json:"type"`
	Category   string         `json:"category"`
	Summary    string         `json:"summary"`
	Claims     string         `json:"claims"`
	Amount     float64        `json:"amount"`
	Parties    []partyRequest `json:"parties"`
	Dispute    string         `json:"dispute"`
	Related    []string       `json:"related"`
	ExternalID string         `json:"external_id"`
}

type partyRequest struct {
	Role     string `json:"role"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
}

func (s *Server) registerCase(w http.ResponseWriter, r *http.Request) {
	var in registration
	if !decodeStrict(w, r, &in) {
		return
	}
	if in.Unit == "" {
		in.Unit = principal(r).Unit
	}
	c := &cases.Case{Unit: in.Unit, Channel: in.Channel, Type: in.Type, Category: in.Category, Summary: in.Summary,
		Claims: in.Claims, Amount: in.Amount, Dispute: in.Dispute, Related: in.Related, ExternalID: in.ExternalID}
	for _, p := range in.Parties {
		c.Parties = append(c.Parties, cases.Party{Role: p.Role, Name: p.Name, IDNumber: p.IDNumber, Phone: p.Phone})
	}
	c, err := s.Cases.Register(r.Context(), c, actor(r))
	var dup *casestore.DuplicateError
	if errors.As(err, &dup) && c != nil {
		view := s.caseView(r, c, nil, false)
		writeJSON(w, http.StatusOK, map[string]any{"case": view, "duplicate": true})
		return
	}
	if err != nil {
		s.caseError(w, err, "register the case")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case": s.caseView(r, c, nil, false)})
}

// caseInScope reads a case the caller may see: one that concerns a unit of
// their subtree. Any other is answered as if it did not exist.
func (s *Server) caseInScope(w http.ResponseWriter, r *http.Request) (*cases.Case, []cases.Event, bool) {
	c, h, err := s.Cases.Get(r.Context(), r.PathValue("number"))
	if errors.Is(err, casestore.ErrNotFound) || (err == nil && !s.caseVisible(r, c)) {
		writeError(w, http.StatusNotFound, "no such case in your jurisdiction", "")
		return nil, nil, false
	}
	if err != nil {
		s.internalError(w, "read the case", err)
		return nil, nil, false
	}
	return c, h, true
}

func (s *Server) caseVisible(r *http.Request, c *cases.Case) bool {
	return slices.ContainsFunc(c.Units(), func(u string) bool { return s.inScope(r, u) })
}

// partyView is a party as the API shows them: the identity masked unless
// revealed.
type partyView struct {
	Role     string    `json:"role"`
	Name     string    `json:"name"`
	Person   string    `json:"person,omitempty"`
	Weak     bool      `json:"weak_identity,omitempty"`
	Identity *Identity `json:"identity,omitempty"`
}

// caseView is a case as the API answers it.
type caseView struct {
	*cases.Case
	Parties []partyView       `json:"parties"`
	Overdue []cases.Clock     `json:"overdue,omitempty"`
	Allowed []cases.Action    `json:"allowed_actions"`
	History []cases.Event     `json:"history,omitempty"`
	Names   map[string]string `json:"unit_names"`
}

func (s *Server) caseView(r *http.Request, c *cases.Case, history []cases.Event, reveal bool) caseView {
	v := caseView{Case: c, Overdue: c.Overdue(s.Now()), Allowed: s.Cases.Allowed(c, actor(r)), History: history, Names: map[string]string{}}
	if v.Allowed == nil {
		v.Allowed = []cases.Action{}
	}
	for _, p := range c.Parties {
		pv := partyView{Role: p.Role, Name: p.Name, Person: p.Person, Weak: p.Weak}
		if p.Sealed != "" {
			pv.Identity = s.identity(p.Sealed, reveal)
		}
		v.Parties = append(v.Parties, pv)
	}
	for _, u := range c.Units() {
		if unit, ok := s.Units.Unit(u); ok {
			v.Names[u] = unit.Name
		}
	}
	return v
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request) {
	c, h, ok := s.caseInScope(w, r)
	if !ok {
		return
	}
	reveal, _ := strconv.ParseBool(r.URL.Query().Get("reveal"))
	if reveal {
		p := principal(r)
		if !slices.Contains(revealers, p.Role) {
			writeError(w, http.StatusForbidden, "the role "+string(p.Role)+" may not read ID numbers and phones", "reveal")
			return
		}
		if err := s.Audit.Record(r.Context(), p, "pii.read", "case/"+c.Number, "查看当事人身份证号和电话"); err != nil {
			s.internalError(w, "record the read in the audit log", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, s.caseView(r, c, h, reveal))
}

func (s *Server) actOnCase(w http.ResponseWriter, r *http.Request) {
	var a cases.Act
	if !decodeStrict(w, r, &a) {
		return
	}
	if _, _, ok := s.caseInScope(w, r); !ok {
		return
	}
	c, ev, err := s.Cases.Act(r.Context(), r.PathValue("number"), a, actor(r))
	if err != nil {
		var te *cases.TransitionError
		if errors.As(err, &te) && c != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "state": te.State, "allowed_actions": nonNil(te.Allowed), "version": c.Version})
			return
		}
		s.caseError(w, err, "take the step")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": s.caseView(r, c, nil, false), "event": ev})
}

func nonNil(a []cases.Action) []cases.Action {
	if a == nil {
		return []cases.Action{}
	}
	return a
}

// caseError maps the workflow's errors to status codes.
func (s *Server) caseError(w http.ResponseWriter, err error, what string) {
	var (
		ie *cases.InvalidError
		fe *cases.ForbiddenError
		ce *cases.ConflictError
	)
	switch {
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, ie.Error(), ie.Field)
	case errors.As(err, &fe):
		writeError(w, http.StatusForbidden, fe.Error(), "")
	case errors.As(err, &ce):
		writeJSON(w, http.StatusConflict, map[string]any{"error": ce.Error(), "version": ce.Have})
	case errors.Is(err, casestore.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such case in your jurisdiction", "")
	default:
		s.internalError(w, what, err)
	}
}

// caseQuery reads the list and export filters.
func (s *Server) caseQuery(w http.ResponseWriter, r *http.Request, maxLimit int) (casestore.Query, bool) {
	q := r.URL.Query()
	cq := casestore.Query{Unit: q.Get("unit"), State: cases.State(q.Get("state")), Category: q.Get("category"),
		Mediator: q.Get("mediator"), Now: s.Now()}
	if cq.Unit == "" {
		cq.Unit = principal(r).Unit
	}
	if _, ok := s.Units.Unit(cq.Unit); !ok || !s.inScope(r, cq.Unit) {
		writeError(w, http.StatusNotFound, "no such unit in your jurisdiction", "unit")
		return cq, false
	}
	if cq.State != "" && !slices.Contains(cases.States, cq.State) {
		writeError(w, http.StatusBadRequest, "unknown state: want one of "+joinStates(), "state")
		return cq, false
	}
	for _, b := range []struct {
		name string
		set  func(bool)
	}{{"overdue", func(v bool) { cq.Overdue = v }}, {"open", func(v bool) { cq.Open = &v }}} {
		if raw := q.Get(b.name); raw != "" {
			v, err := strconv.ParseBool(raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, "give true or false", b.name)
				return cq, false
			}
			b.set(v)
		}
	}
	for _, d := range []struct {
		name string
		out  *time.Time
		end  bool
	}{{"from", &cq.From, false}, {"to", &cq.To, true}} {
		raw := q.Get(d.name)
		if raw == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			day, derr := time.ParseInLocation("2006-01-02", raw, time.FixedZone("CST", 8*3600))
			if derr != nil {
				writeError(w, http.StatusBadRequest, "give a date (2026-11-01) or a time (RFC 3339)", d.name)
				return cq, false
			}
			t = day
			if d.end {
				t = day.AddDate(0, 0, 1).Add(-time.Second)
			}
		}
		*d.out = t
	}
	var ok bool
	if cq.Limit, ok = intParam(w, q.Get("limit"), "limit", min(50, maxLimit), 1, maxLimit); !ok {
		return cq, false
	}
	if cq.Offset, ok = intParam(w, q.Get("offset"), "offset", 0, 0, 1_000_000); !ok {
		return cq, false
	}
	return cq, true
}

func joinStates() string {
	names := make([]string, len(cases.States))
	for i, st := range cases.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	q, ok := s.caseQuery(w, r, 500)
	if !ok {
		return
	}
	cs, total, err := s.Cases.List(r.Context(), q)
	if err != nil {
		s.internalError(w, "list cases", err)
		return
	}
	out := make([]caseView, len(cs))
	for i, c := range cs {
		out[i] = s.caseView(r, c, nil, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out, "total": total, "offset": q.Offset, "limit": q.Limit})
}

func (s *Server) exportCases(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		writeError(w, http.StatusBadRequest, "give format csv or xlsx", "format")
		return
	}
	q, ok := s.caseQuery(w, r, 100_000)
	if !ok {
		return
	}
	if r.URL.Query().Get("limit") == "" {
		q.Limit = 100_000
	}
	cs, _, err := s.Cases.List(r.Context(), q)
	if err != nil {
		s.internalError(w, "export cases", err)
		return
	}
	name := func(code string) string {
		if u, ok := s.Units.Unit(code); ok {
			return u.Name
		}
		return code
	}
	var buf bytes.Buffer
	if format == "csv" {
		err = cases.WriteLedgerCSV(&buf, cs, name, s.Now())
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		err = cases.WriteLedgerXLSX(&buf, cs, name, s.Now())
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	}
	if err != nil {
		s.internalError(w, "write the ledger", err)
		return
	}
	file := "cases-" + q.Unit + "-" + s.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102") + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) archiveCases(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Unit    string   `json:"unit"`
		Numbers []string `json:"numbers"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	if in.Unit == "" {
		in.Unit = principal(r).Unit
	}
	b, err := s.Cases.ArchiveBatch(r.Context(), in.Unit, in.Numbers, actor(r))
	if err != nil {
		var be *cases.BatchError
		if errors.As(err, &be) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "errors": be.Problems})
			return
		}
		s.caseError(w, err, "archive the batch")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": b})
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	unit := r.URL.Query().Get("unit")
	if unit == "" {
		unit = principal(r).Unit
	}
	if _, ok := s.Units.Unit(unit); !ok || !s.inScope(r, unit) {
		writeError(w, http.StatusNotFound, "no such unit in your jurisdiction", "unit")
		return
	}
	bs, err := s.Cases.Batches(r.Context(), unit, 100)
	if err != nil {
		s.internalError(w, "list batches", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"batches": bs})
}
