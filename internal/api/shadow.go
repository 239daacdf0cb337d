package api

import (
	"errors"
	"fengqiao/backtest"
	"net/http"

	"fengqiao/internal/ruleset"
)

// getShadow compares the shadow ruleset with the live one: rule hits, and
// the subjects in the caller's subtree the two see differently.
func (s *Server) getShadow(w http.ResponseWriter, r *http.Request) {
	st, ok := s.Rules.ShadowStatus()
	if !ok {
		writeError(w, http.StatusNotFound, "no shadow ruleset is loaded: an admin loads one with POST /api/v1/rules/shadow", "")
		return
	}
	limit, ok := intParam(w, r.URL.Query().Get("limit"), "limit", 50, 1, 500)
	if !ok {
		return
	}
	rep, err := s.Subjects.Shadow(r.Context(), st.Hash, func(unit string) bool { return s.inScope(r, unit) }, limit)
	if err != nil {
		s.internalError(w, "read the shadow comparison", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"shadow": st, "live": s.Rules.Status(), "report": rep})
}

func (s *Server) loadShadow(w http.ResponseWriter, r *http.Request) {
	if !s.requireRoot(w, r) {
		return
	}
	st, err := s.Rules.LoadShadow()
	if errors.Is(err, ruleset.ErrNoShadow) {
		writeError(w, http.StatusConflict, err.Error(), "")
		return
	}
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": "the candidate was not loaded; any shadow before it stays", "details": err.Error()})
		return
	}
	s.audit(r, "rules.shadow", "ruleset/"+st.Hash, "候选规则集 "+st.Version+" 开始影子运行")
	writeJSON(w, http.StatusOK, map[string]any{"shadow": st})
}

func (s *Server) dropShadow(w http.ResponseWriter, r *http.Request) {
	if !s.requireRoot(w, r) {
		return
	}
	st, ok := s.Rules.ShadowStatus()
	if !ok {
		writeError(w, http.StatusNotFound, "no shadow ruleset is loaded", "")
		return
	}
	s.Rules.DropShadow()
	s.audit(r, "rules.shadow_drop", "ruleset/"+st.Hash, "停止影子运行 "+st.Version)
	writeJSON(w, http.StatusOK, map[string]any{"dropped": st})
}

// promoteShadow makes the shadow ruleset live, in one recorded call.
func (s *Server) promoteShadow(w http.ResponseWriter, r *http.Request) {
	if !s.requireRoot(w, r) {
		return
	}
	st, ok := s.Rules.ShadowStatus()
	if !ok {
		writeError(w, http.StatusNotFound, "no shadow ruleset is loaded to promote", "")
		return
	}
	prev := s.Rules.Status()
	live, err := s.Rules.Promote()
	if err != nil {
		s.internalError(w, "promote the shadow ruleset", err)
		return
	}
	s.audit(r, "rules.promote", "ruleset/"+live.Hash, "影子规则集 "+st.Version+" 转为正式, 替换 "+prev.Version)
	writeJSON(w, http.StatusOK, map[string]any{"live": live, "previous": prev})
}

// backtestShadow replays the signals riskd has recorded (those still in the
// stream, see stream_retention_days) through the live and the shadow
// rulesets and reports how subjects would change colour. Text with
// ?format=text, JSON otherwise.
func (s *Server) backtestShadow(w http.ResponseWriter, r *http.Request) {
	if principal(r).Unit != s.rootUnit() {
		writeError(w, http.StatusForbidden, "a backtest covers the whole jurisdiction: only an admin of its root unit may run it", "")
		return
	}
	shadow := s.Rules.Shadow()
	if shadow == nil {
		writeError(w, http.StatusNotFound, "no shadow ruleset is loaded: load the candidate first (POST /api/v1/rules/shadow)", "")
		return
	}
	top, ok := intParam(w, r.URL.Query().Get("top"), "top", 10, 0, 200)
	if !ok {
		return
	}
	recs, err := s.Recorded.Records(r.Context())
	if err != nil {
		s.internalError(w, "read the recorded signals", err)
		return
	}
	rep := backtest.Run(recs, s.Rules.Engine(), shadow, s.Now(), top)
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(rep.String()))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// audit records an act, logging (not failing) if the log cannot be written.
func (s *Server) audit(r *http.Request, action, subject, detail string) {
	if err := s.Audit.Record(r.Context(), principal(r), action, subject, detail); err != nil {
		s.Log.Error("audit", "action", action, "err", err)
	}
}
