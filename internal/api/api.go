// Package api is riskd's HTTP JSON API under /api/v1, with /healthz, /readyz
// and /metrics. It is the only place errors become HTTP status codes.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fengqiao/engine"
	"fengqiao/internal/auth"
	"fengqiao/internal/pii"
	"fengqiao/internal/ruleset"
	"fengqiao/internal/scoring"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/signals"
)

//go:embed openapi.yaml
var openAPI []byte

// maxBody bounds a request body.
const maxBody = 8 << 20

// Appender stores signal records.
type Appender interface {
	Append(ctx context.Context, recs []signals.Record) ([]bool, error)
}

// Subjects reads and manages subjects' assessments.
type Subjects interface {
	Subject(ctx context.Context, id risk.SubjectID) (scoring.Subject, error)
	History(ctx context.Context, id risk.SubjectID, n int64) ([]scoring.Change, error)
	Board(ctx context.Context, q scoring.BoardQuery) ([]scoring.BoardEntry, int, error)
	SetOverride(ctx context.Context, id risk.SubjectID, o engine.Override) (risk.Level, error)
	ClearOverride(ctx context.Context, id risk.SubjectID, officer, reason string) (risk.Level, error)
	SignOff(ctx context.Context, id risk.SubjectID, officer, reason string) (risk.Level, error)
	Sweep(ctx context.Context) (scoring.SweepResult, error)
	Shadow(ctx context.Context, hash string, inScope func(unit string) bool, limit int) (scoring.ShadowReport, error)
}

// Rules is the live ruleset and its shadow.
type Rules interface {
	Engine() *engine.Engine
	Reload() error
	Status() ruleset.Status
	Shadow() *engine.Engine
	ShadowStatus() (ruleset.ShadowStatus, bool)
	LoadShadow() (ruleset.ShadowStatus, error)
	DropShadow()
	Promote() (ruleset.Status, error)
}

// Archive holds every ruleset that has been in force.
type Archive interface {
	Get(ctx context.Context, hash string) (ruleset.Archived, error)
	List(ctx context.Context) ([]ruleset.Summary, error)
}

// Units is the jurisdiction, as far as the API needs it.
type Units interface {
	Unit(code string) (jurisdiction.Unit, bool)
	Contains(ancestor, code string) bool
	Root() jurisdiction.Unit
}

// Check is one readiness check. It returns a detail to show beside "ok",
// or an error that makes the daemon not ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) (string, error)
}

// Server serves the API.
type Server struct {
	Signals   Appender
	Validator *signals.Validator
	Pseudo    *signals.Pseudonymizer
	Subjects  Subjects
	Rules     Rules
	Archive   Archive
	Units     Units
	Auth      Authenticator
	Tokens    Tokens
	Audit     Auditor
	Recorded  Recorded
	Alerts    Alerts
	Cases     Cases   // nil: no case workflow
	Reports   Reports // nil: no zero or daily reports
	// Console is the web console, served under /console/ (nil: none).
	Console  http.Handler
	AuditLog AuditLog
	Sealer   Sealer
	Checks   []Check
	Gatherer prometheus.Gatherer
	Log      *slog.Logger
	Now      func() time.Time
	// RateLimit is the requests per second each token may make (bursts of
	// ten times as many); zero means no limit.
	RateLimit float64

	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	limiter  *limiter
}

// Recorded gives the signals riskd has recorded, for backtests.
type Recorded interface {
	Records(ctx context.Context) ([]signals.Record, error)
}

// Sealer encrypts what must be read back (ID numbers, phones) and opens it.
type Sealer interface {
	Seal(plaintext string) string
	Open(sealed string) (string, error)
}

// Register registers the API's metrics.
func (s *Server) Register(reg prometheus.Registerer) {
	s.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fengqiao_signals_accepted_total",
		Help: "Signals accepted into the stream, by source; re-sent duplicates are counted under duplicate=\"true\".",
	}, []string{"source", "duplicate"})
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fengqiao_signals_rejected_total",
		Help: "Signals refused, by source (unknown when it cannot be told) and reason: malformed, too_large, invalid (the signal itself is wrong) or batch (refused with a bad batch).",
	}, []string{"source", "reason"})
	for _, src := range risk.Sources {
		s.accepted.WithLabelValues(string(src), "false")
		s.accepted.WithLabelValues(string(src), "true")
	}
	for _, src := range append(risk.Sources[:], "unknown") {
		for _, r := range []string{"invalid", "batch"} {
			s.rejected.WithLabelValues(string(src), r)
		}
	}
	s.rejected.WithLabelValues("unknown", "malformed")
	s.rejected.WithLabelValues("unknown", "too_large")
	reg.MustRegister(s.accepted, s.rejected)
}

// route is one endpoint: "METHOD /path", who may call it (nil: anyone,
// without a token) and its handler.
type route struct {
	pattern string
	roles   []auth.Role
	handler http.HandlerFunc
}

// routes is every endpoint of the API and who may call it, in one table.
func (s *Server) routes() []route {
	return []route{
		{"POST /api/v1/signals", senders, s.postSignals},
		{"GET /api/v1/subjects", readers, s.listSubjects},
		{"POST /api/v1/subjects/lookup", readers, s.lookupPerson},
		{"GET /api/v1/subjects/{kind}/{ref}", readers, s.getSubject},
		{"GET /api/v1/subjects/{kind}/{ref}/history", readers, s.getHistory},
		{"POST /api/v1/subjects/{kind}/{ref}/override", officers, s.setOverride},
		{"DELETE /api/v1/subjects/{kind}/{ref}/override", officers, s.clearOverride},
		{"POST /api/v1/subjects/{kind}/{ref}/signoff", officers, s.signOff},
		{"POST /api/v1/rescore", sweepers, s.rescore},
		{"GET /api/v1/rules", readers, s.getRules},
		{"POST /api/v1/rules/reload", adminOnly, s.reloadRules},
		{"GET /api/v1/rulesets", readers, s.listRulesets},
		{"GET /api/v1/rulesets/{hash}", readers, s.getRuleset},
		{"GET /api/v1/rules/shadow", readers, s.getShadow},
		{"POST /api/v1/rules/shadow", adminOnly, s.loadShadow},
		{"DELETE /api/v1/rules/shadow", adminOnly, s.dropShadow},
		{"POST /api/v1/rules/shadow/promote", adminOnly, s.promoteShadow},
		{"GET /api/v1/rules/shadow/backtest", adminOnly, s.backtestShadow},
		{"GET /api/v1/tokens", adminOnly, s.listTokens},
		{"POST /api/v1/tokens", adminOnly, s.createToken},
		{"DELETE /api/v1/tokens/{id}", adminOnly, s.revokeToken},
		{"GET /api/v1/alerts", readers, s.listAlerts},
		{"GET /api/v1/alerts/{id}", readers, s.getAlert},
		{"POST /api/v1/alerts/{id}/ack", officers, s.ackAlert},
		{"POST /api/v1/alerts/{id}/resolve", officers, s.resolveAlert},
		{"POST /api/v1/cases", registrars, s.withCases(s.registerCase)},
		{"GET /api/v1/cases", readers, s.withCases(s.listCases)},
		{"GET /api/v1/cases/export", readers, s.withCases(s.exportCases)},
		{"POST /api/v1/cases/archive", caseActors, s.withCases(s.archiveCases)},
		{"GET /api/v1/cases/batches", readers, s.withCases(s.listBatches)},
		{"GET /api/v1/cases/{number}", readers, s.withCases(s.getCase)},
		{"POST /api/v1/cases/{number}/actions", caseActors, s.withCases(s.actOnCase)},
		{"POST /api/v1/zero-reports", filers, s.withReports(s.fileZeroReport)},
		{"GET /api/v1/zero-reports", readers, s.withReports(s.zeroReportStatus)},
		{"GET /api/v1/zero-reports/history", readers, s.withReports(s.zeroReportHistory)},
		{"GET /api/v1/reports/daily", readers, s.withReports(s.dailyReport)},
		{"GET /api/v1/silences", readers, s.listSilences},
		{"POST /api/v1/silences", officers, s.addSilence},
		{"DELETE /api/v1/silences/{id}", officers, s.deleteSilence},
		{"GET /api/v1/whoami", auth.Roles, s.whoami},
		{"GET /api/v1/audit", adminOnly, s.listAudit},
		{"GET /api/v1/audit/verify", adminOnly, s.verifyAudit},
		{"GET /api/v1/openapi.yaml", public, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(openAPI)
		}},
		{"GET /healthz", public, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{"GET /readyz", public, s.readyz},
		{"GET /metrics", public, promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP},
	}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	s.limiter = newLimiter(s.RateLimit, 10*s.RateLimit)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.pattern, s.guard(rt.roles, rt.handler))
	}
	if s.Console != nil {
		mux.Handle("/console/", s.Console)
		mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusSeeOther))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: see /api/v1/openapi.yaml", "")
	})
	return s.logRequests(securityHeaders(mux))
}

// securityHeaders tells browsers to treat answers as data only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) postSignals(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.rejected.WithLabelValues("unknown", "too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "the request body is larger than 8 MiB: send smaller batches", "")
		return
	}
	var sigs []signals.Signal
	if isNDJSON(r.Header.Get("Content-Type")) {
		sigs, err = signals.DecodeNDJSON(body)
	} else {
		sigs, err = signals.Decode(body)
	}
	if err != nil {
		s.rejected.WithLabelValues("unknown", "malformed").Inc()
		writeValidation(w, err)
		return
	}
	var problems []signals.FieldError
	bad := make([]bool, len(sigs))
	seen := map[string]int{}
	for i := range sigs {
		prefix := ""
		if len(sigs) > 1 || body[0] == '[' || isNDJSON(r.Header.Get("Content-Type")) {
			prefix = "[" + strconv.Itoa(i) + "]."
		}
		errs := s.Validator.Validate(&sigs[i], prefix)
		if u := sigs[i].Unit; u != "" && len(errs) == 0 && !s.inScope(r, u) {
			errs = append(errs, signals.FieldError{Field: prefix + "unit", Message: "is outside your jurisdiction: a token sends signals only for its own unit and the units under it"})
		}
		if j, dup := seen[sigs[i].Key()]; dup && sigs[i].ID != "" {
			errs = append(errs, signals.FieldError{Field: prefix + "id", Message: "repeats the source and id of signal [" + strconv.Itoa(j) + "] in this batch"})
		}
		seen[sigs[i].Key()] = i
		bad[i] = len(errs) > 0
		problems = append(problems, errs...)
	}
	if len(problems) > 0 {
		for i := range sigs {
			reason := "batch"
			if bad[i] {
				reason = "invalid"
			}
			s.rejected.WithLabelValues(sourceLabel(sigs[i].Source), reason).Inc()
		}
		writeValidation(w, &signals.ValidationError{Errors: problems})
		return
	}
	if dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run")); dry {
		writeJSON(w, http.StatusOK, map[string]any{"valid": len(sigs), "stored": 0})
		return
	}
	now := s.Now()
	recs := make([]signals.Record, len(sigs))
	for i := range sigs {
		recs[i] = s.Pseudo.Record(&sigs[i], now)
		s.seal(&sigs[i], &recs[i])
	}
	fresh, err := s.Signals.Append(r.Context(), recs)
	if err != nil {
		s.internalError(w, "store signals", err)
		return
	}
	type accepted struct {
		Source    risk.Source      `json:"source"`
		ID        string           `json:"id"`
		Duplicate bool             `json:"duplicate"`
		Subjects  []risk.SubjectID `json:"subjects"`
	}
	out := make([]accepted, len(recs))
	for i := range recs {
		out[i] = accepted{recs[i].Source, recs[i].ID, !fresh[i], recs[i].Subjects()}
		s.accepted.WithLabelValues(string(recs[i].Source), strconv.FormatBool(!fresh[i])).Inc()
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": out})
}

func subjectID(w http.ResponseWriter, r *http.Request) (risk.SubjectID, bool) {
	id := risk.SubjectID{Kind: risk.Kind(r.PathValue("kind")), Ref: r.PathValue("ref")}
	if _, err := risk.ParseKind(string(id.Kind)); err != nil {
		// Not err's message: it quotes what was sent, which may be a number.
		writeError(w, http.StatusBadRequest, "unknown subject kind: want person or dispute", "kind")
		return id, false
	}
	if err := id.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "ref")
		return id, false
	}
	return id, true
}

// subjectInScope reads a subject the caller may see. A subject outside the
// caller's subtree is answered exactly like one that does not exist, so that
// existence does not leak.
func (s *Server) subjectInScope(w http.ResponseWriter, r *http.Request) (scoring.Subject, bool) {
	id, ok := subjectID(w, r)
	if !ok {
		return scoring.Subject{}, false
	}
	subj, err := s.Subjects.Subject(r.Context(), id)
	if errors.Is(err, scoring.ErrNotFound) || (err == nil && !s.inScope(r, subj.Unit)) {
		writeError(w, http.StatusNotFound, "no such subject in your jurisdiction", "")
		return scoring.Subject{}, false
	}
	if err != nil {
		s.internalError(w, "read subject", err)
		return scoring.Subject{}, false
	}
	return subj, true
}

// Identity is a person's ID number and phone as the API shows them: masked,
// unless the caller's role may read them and asked to (?reveal=true), which
// is audited.
type Identity struct {
	IDNumber string `json:"id_number,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Masked   bool   `json:"masked"`
}

// subjectView is a subject as the API answers it.
type subjectView struct {
	scoring.Subject
	Identity *Identity `json:"identity,omitempty"`
}

func (s *Server) getSubject(w http.ResponseWriter, r *http.Request) {
	subj, ok := s.subjectInScope(w, r)
	if !ok {
		return
	}
	view := subjectView{Subject: subj}
	// Linked subjects of other units are not the caller's to see.
	view.Linked = nil
	for _, l := range subj.Linked {
		if l.Unit == "" || s.inScope(r, l.Unit) {
			view.Linked = append(view.Linked, l)
		}
	}
	if subj.Sealed != "" {
		reveal, _ := strconv.ParseBool(r.URL.Query().Get("reveal"))
		p := principal(r)
		if reveal && !slices.Contains(revealers, p.Role) {
			writeError(w, http.StatusForbidden, "the role "+string(p.Role)+" may not read ID numbers and phones", "reveal")
			return
		}
		if reveal {
			if err := s.Audit.Record(r.Context(), p, "pii.read", subj.Assessment.Subject.String(), "查看身份证号和电话"); err != nil {
				s.internalError(w, "record the read in the audit log", err)
				return
			}
		}
		view.Identity = s.identity(subj.Sealed, reveal)
	}
	writeJSON(w, http.StatusOK, view)
}

// seal encrypts a signal's persons' ID numbers and phones onto its record,
// for the roles that may read them back.
func (s *Server) seal(sig *signals.Signal, rec *signals.Record) {
	for _, p := range sig.Persons {
		if p.IDNumber == "" && p.Phone == "" {
			continue
		}
		b, _ := json.Marshal(Identity{IDNumber: strings.ToUpper(p.IDNumber), Phone: p.Phone})
		ref := s.Pseudo.PersonRef(p.IDNumber)
		if p.IDNumber == "" {
			ref = s.Pseudo.WeakRef(p.Name, p.Phone)
		}
		for j := range rec.Persons {
			if rec.Persons[j].Ref == ref && rec.Persons[j].Sealed == "" {
				rec.Persons[j].Sealed = s.Sealer.Seal(string(b))
			}
		}
	}
}

func (s *Server) identity(sealed string, reveal bool) *Identity {
	plain, err := s.Sealer.Open(sealed)
	var id Identity
	if err != nil || json.Unmarshal([]byte(plain), &id) != nil {
		s.Log.Warn("a stored identity cannot be decrypted; check the data keys", "err", err)
		return &Identity{Masked: true}
	}
	if !reveal {
		id = Identity{IDNumber: pii.MaskIDNumber(id.IDNumber), Phone: pii.MaskPhone(id.Phone), Masked: true}
	}
	return &id
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	n, ok := intParam(w, r.URL.Query().Get("limit"), "limit", 100, 1, 1000)
	if !ok {
		return
	}
	subj, ok := s.subjectInScope(w, r)
	if !ok {
		return
	}
	id := subj.Assessment.Subject
	h, err := s.Subjects.History(r.Context(), id, int64(n))
	if err != nil {
		s.internalError(w, "read level history", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subject": id, "changes": h})
}

// lookupPerson turns an ID number (or name and phone) into the person's
// reference, so that callers never put an ID number in a URL.
func (s *Server) lookupPerson(w http.ResponseWriter, r *http.Request) {
	var p signals.Person
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "send a JSON object with id_number, or with name and phone", "")
		return
	}
	probe := signals.Signal{Persons: []signals.Person{p}}
	for _, fe := range s.Validator.Validate(&probe, "") {
		if len(fe.Field) > 8 && fe.Field[:8] == "persons[" {
			writeError(w, http.StatusBadRequest, fe.Message, fe.Field[len("persons[0]."):])
			return
		}
	}
	rec := s.Pseudo.Record(&probe, s.Now())
	writeJSON(w, http.StatusOK, map[string]any{"subject": rec.Subjects()[0], "weak_identity": rec.Persons[0].Weak})
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	rs := s.Rules.Engine().Ruleset()
	type ruleView struct {
		ID          string      `json:"id"`
		Name        string      `json:"name"`
		AppliesTo   []risk.Kind `json:"applies_to"`
		When        string      `json:"when"`
		Score       string      `json:"score"`
		AtLeast     *risk.Level `json:"at_least,omitempty"`
		Tags        []string    `json:"tags,omitempty"`
		Description string      `json:"description,omitempty"`
	}
	out := make([]ruleView, len(rs.Rules))
	for i, ru := range rs.Rules {
		out[i] = ruleView{ru.ID, ru.Name, ru.AppliesTo, ru.When, ru.Score, ru.AtLeast, ru.Tags, ru.Description}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": s.Rules.Status(), "levels": rs.Levels, "rules": out})
}

// requireRoot refuses an act that changes the whole jurisdiction to anyone
// but an admin (or system) token of its root unit.
func (s *Server) requireRoot(w http.ResponseWriter, r *http.Request) bool {
	if principal(r).Unit != s.rootUnit() {
		writeError(w, http.StatusForbidden, "this changes the whole jurisdiction: only a token of its root unit may do it", "")
		return false
	}
	return true
}

func (s *Server) reloadRules(w http.ResponseWriter, r *http.Request) {
	if !s.requireRoot(w, r) {
		return
	}
	err := s.Rules.Reload()
	detail := "重新加载规则: " + s.Rules.Engine().Version()
	if err != nil {
		detail = "重新加载规则失败, 仍用 " + s.Rules.Engine().Version()
	}
	if aerr := s.Audit.Record(r.Context(), principal(r), "rules.reload", "", detail); aerr != nil {
		s.Log.Error("audit a rules reload", "err", aerr)
	}
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":   "the ruleset was not reloaded; the previous one stays in force",
			"details": err.Error(),
			"version": s.Rules.Engine().Version(),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": s.Rules.Engine().Version()})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := map[string]string{}, http.StatusOK
	for _, c := range s.Checks {
		detail, err := c.Fn(ctx)
		switch {
		case err != nil:
			status[c.Name] = err.Error()
			code = http.StatusServiceUnavailable
		case detail != "":
			status[c.Name] = "ok: " + detail
		default:
			status[c.Name] = "ok"
		}
	}
	writeJSON(w, code, status)
}

func (s *Server) internalError(w http.ResponseWriter, what string, err error) {
	s.Log.Error(what, "err", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "the service could not "+what+" just now; nothing was changed, please retry", "")
}

// sourceLabel bounds the source label to the known sources.
func sourceLabel(src risk.Source) string {
	if _, err := risk.ParseSource(string(src)); err != nil {
		return "unknown"
	}
	return string(src)
}

// isNDJSON reports whether a body is newline-delimited JSON, one signal a line.
func isNDJSON(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/x-ndjson" || ct == "application/jsonl" || ct == "application/ndjson"
}

func writeValidation(w http.ResponseWriter, err error) {
	var ve *signals.ValidationError
	if !errors.As(err, &ve) {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	const refused = "refused whole, nothing was stored: "
	body := map[string]any{"errors": ve.Errors}
	if len(ve.Errors) == 1 {
		fe := ve.Errors[0]
		body["field"] = fe.Field
		body["error"] = refused + strings.TrimPrefix(fe.Field+": "+fe.Message, ": ")
	} else {
		body["error"] = refused + strconv.Itoa(len(ve.Errors)) + " problems, listed under errors; fix them all and send again"
	}
	writeJSON(w, http.StatusBadRequest, body)
}

func writeError(w http.ResponseWriter, code int, msg, field string) {
	body := map[string]any{"error": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // explanations compare with > and <; this is JSON, not HTML
	_ = enc.Encode(v)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		// The route's pattern, not the path: a path may carry what a caller
		// should not have put there.
		s.Log.Debug("http request", "method", r.Method, "route", r.Pattern, "status", sw.code, "duration", time.Since(start))
	})
}
