package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"fengqiao/internal/audit"
)

// AuditLog reads the audit log.
type AuditLog interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
	Walk(ctx context.Context, fn func(audit.Entry) error) error
	Verify(ctx context.Context) (audit.Report, error)
}

// listAudit answers the audit log, newest first and filtered, or, with
// all=true, every entry oldest first, for riskctl to verify the chain itself.
// An admin sees only entries of actors within their subtree, except the
// root's admin, who sees all, including the daemon's own.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	root := principal(r).Unit == s.rootUnit()
	if all, _ := strconv.ParseBool(q.Get("all")); all {
		if !root {
			writeError(w, http.StatusForbidden, "only an admin of the whole jurisdiction may read the whole chain", "all")
			return
		}
		entries := []audit.Entry{}
		if err := s.AuditLog.Walk(r.Context(), func(e audit.Entry) error { entries = append(entries, e); return nil }); err != nil {
			s.internalError(w, "read the audit log", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
		return
	}
	f := audit.Filter{Actor: q.Get("actor"), Unit: q.Get("unit"), Subject: q.Get("subject"), Action: q.Get("action")}
	for name, t := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+" must be RFC 3339 time, e.g. 2026-11-22T00:00:00+08:00", name)
				return
			}
			*t = parsed
		}
	}
	var ok bool
	if f.Limit, ok = intParam(w, q.Get("limit"), "limit", 100, 1, 1000); !ok {
		return
	}
	entries, err := s.AuditLog.List(r.Context(), f)
	if err != nil {
		s.internalError(w, "read the audit log", err)
		return
	}
	out := []audit.Entry{}
	for _, e := range entries {
		if root || (e.Unit != "" && s.inScope(r, e.Unit)) {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := s.AuditLog.Verify(r.Context())
	if err != nil {
		s.internalError(w, "verify the audit log", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// rootUnit is the code of the jurisdiction's root unit.
func (s *Server) rootUnit() string { return s.Units.Root().Code }
