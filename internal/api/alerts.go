package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"fengqiao/internal/alerting"
	"fengqiao/risk"
)

// Alerts runs the alerts' life.
type Alerts interface {
	List(ctx context.Context, f alerting.Filter) ([]alerting.Alert, error)
	Get(ctx context.Context, id string) (alerting.Alert, error)
	Deliveries(ctx context.Context, id string) ([]alerting.Notification, error)
	Acknowledge(ctx context.Context, id, by, note string) (alerting.Alert, error)
	Resolve(ctx context.Context, id, by, reason string) (alerting.Alert, error)
	AddSilence(ctx context.Context, s alerting.Silence) (alerting.Silence, error)
	Silences(ctx context.Context) ([]alerting.Silence, error)
	DeleteSilence(ctx context.Context, id string) error
}

// alertsOn answers 404 when riskd runs without an escalation policy.
func (s *Server) alertsOn(w http.ResponseWriter) bool {
	if s.Alerts == nil {
		writeError(w, http.StatusNotFound, "alerts are off: riskd has no escalation policy (alert_policy in its configuration)", "")
		return false
	}
	return true
}

// listAlerts answers the alerts of the caller's subtree, newest first.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	q := r.URL.Query()
	f := alerting.Filter{State: alerting.State(q.Get("state")), InScope: func(u string) bool { return s.inScope(r, u) }}
	switch f.State {
	case "", alerting.Open, alerting.Acknowledged, alerting.Resolved:
	default:
		writeError(w, http.StatusBadRequest, "state must be open, acknowledged or resolved", "state")
		return
	}
	if v := q.Get("min_level"); v != "" {
		l, err := risk.ParseLevel(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "min_level")
			return
		}
		f.MinLevel = l
	}
	var ok bool
	if f.Limit, ok = intParam(w, q.Get("limit"), "limit", 100, 1, 1000); !ok {
		return
	}
	list, err := s.Alerts.List(r.Context(), f)
	if err != nil {
		s.internalError(w, "list alerts", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": list})
}

// alertInScope reads an alert the caller may see; others are 404.
func (s *Server) alertInScope(w http.ResponseWriter, r *http.Request) (alerting.Alert, bool) {
	a, err := s.Alerts.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, alerting.ErrNotFound) || (err == nil && !s.inScope(r, a.Unit)) {
		writeError(w, http.StatusNotFound, "no such alert in your jurisdiction", "")
		return a, false
	}
	if err != nil {
		s.internalError(w, "read the alert", err)
		return a, false
	}
	return a, true
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	a, ok := s.alertInScope(w, r)
	if !ok {
		return
	}
	d, err := s.Alerts.Deliveries(r.Context(), a.ID)
	if err != nil {
		s.internalError(w, "read the alert's deliveries", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alert": a, "deliveries": d})
}

// ackAlert records an officer's acknowledgement (签收) with a note.
func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	a, ok := s.alertInScope(w, r)
	if !ok {
		return
	}
	act, ok := decodeAct(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(act.Officer) == "" {
		writeError(w, http.StatusBadRequest, "officer: say who acknowledges (the duty officer's name)", "officer")
		return
	}
	note := act.Note
	if note == "" {
		note = act.Reason
	}
	got, err := s.Alerts.Acknowledge(r.Context(), a.ID, act.Officer, note)
	s.answerAlert(w, r, got, err, "alert.ack", "签收预警 "+a.ID+" ("+a.Level.Chinese()+"), 签收人 "+act.Officer+": "+note)
}

func (s *Server) resolveAlert(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	a, ok := s.alertInScope(w, r)
	if !ok {
		return
	}
	act, ok := decodeAct(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(act.Officer) == "" || strings.TrimSpace(act.Reason) == "" {
		writeError(w, http.StatusBadRequest, "officer and reason: say who closes the alert and why", "")
		return
	}
	got, err := s.Alerts.Resolve(r.Context(), a.ID, act.Officer, act.Reason)
	s.answerAlert(w, r, got, err, "alert.resolve", "关闭预警 "+a.ID+", 决定人 "+act.Officer+": "+act.Reason)
}

func (s *Server) answerAlert(w http.ResponseWriter, r *http.Request, a alerting.Alert, err error, action, detail string) {
	switch {
	case errors.Is(err, alerting.ErrState):
		writeError(w, http.StatusConflict, err.Error(), "")
	case err != nil:
		s.internalError(w, "record the "+action, err)
	default:
		s.audit(r, action, a.Subject.String(), detail)
		writeJSON(w, http.StatusOK, map[string]any{"alert": a})
	}
}

func (s *Server) addSilence(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	act, ok := decodeAct(w, r)
	if !ok {
		return
	}
	unit := r.URL.Query().Get("unit")
	if unit == "" {
		unit = principal(r).Unit
	}
	if _, known := s.Units.Unit(unit); !known || !s.inScope(r, unit) {
		writeError(w, http.StatusNotFound, "no such unit in your jurisdiction", "unit")
		return
	}
	upTo, err := risk.ParseLevel(act.Level)
	if err != nil {
		writeError(w, http.StatusBadRequest, "level: the highest colour to silence: "+err.Error(), "level")
		return
	}
	until := act.Until
	if act.Hours > 0 {
		until = s.Now().Add(time.Duration(act.Hours * float64(time.Hour)))
	}
	sil, err := s.Alerts.AddSilence(r.Context(), alerting.Silence{Unit: unit, UpTo: upTo, Until: until, Reason: act.Reason, By: principal(r).TokenID})
	if errors.Is(err, alerting.ErrInvalid) {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "invalid: "), "")
		return
	}
	if err != nil {
		s.internalError(w, "add the silence", err)
		return
	}
	s.audit(r, "alert.silence", "unit/"+unit, "静默 "+upTo.Chinese()+"及以下预警至 "+until.Format(time.RFC3339)+": "+act.Reason)
	writeJSON(w, http.StatusCreated, map[string]any{"silence": sil})
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	all, err := s.Alerts.Silences(r.Context())
	if err != nil {
		s.internalError(w, "list silences", err)
		return
	}
	out := []alerting.Silence{}
	for _, x := range all {
		if s.inScope(r, x.Unit) {
			out = append(out, x)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"silences": out})
}

func (s *Server) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if !s.alertsOn(w) {
		return
	}
	id := r.PathValue("id")
	all, err := s.Alerts.Silences(r.Context())
	if err != nil {
		s.internalError(w, "end the silence", err)
		return
	}
	for _, x := range all {
		if x.ID == id && s.inScope(r, x.Unit) {
			if err := s.Alerts.DeleteSilence(r.Context(), id); err != nil {
				s.internalError(w, "end the silence", err)
				return
			}
			s.audit(r, "alert.silence_end", "unit/"+x.Unit, "结束静默 "+id)
			writeJSON(w, http.StatusOK, map[string]any{"ended": x})
			return
		}
	}
	writeError(w, http.StatusNotFound, "no such silence in your jurisdiction", "")
}
