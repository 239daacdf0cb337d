package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"fengqiao/internal/auth"
)

// Tokens manages bearer tokens.
type Tokens interface {
	Create(ctx context.Context, name string, role auth.Role, unit, createdBy string) (auth.Token, string, error)
	List(ctx context.Context) ([]auth.Token, error)
	Revoke(ctx context.Context, id string) (auth.Token, error)
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, principal(r))
}

// createToken makes a token for a unit within the admin's own subtree. The
// secret is in this answer only.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
		Unit string `json:"unit"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(&req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "send a JSON object with name, role and unit", "")
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "role")
		return
	}
	if _, ok := s.Units.Unit(req.Unit); !ok || !s.inScope(r, req.Unit) {
		writeError(w, http.StatusBadRequest, "unit: give a unit code of your own jurisdiction", "unit")
		return
	}
	p := principal(r)
	t, secret, err := s.Tokens.Create(r.Context(), req.Name, role, req.Unit, p.TokenID)
	if errors.Is(err, auth.ErrBadName) {
		writeError(w, http.StatusBadRequest, err.Error(), "name")
		return
	}
	if err != nil {
		s.internalError(w, "create the token", err)
		return
	}
	if err := s.Audit.Record(r.Context(), p, "token.create", "token/"+t.TokenID, "创建令牌 "+t.Name+" ("+string(t.Role)+", "+t.Unit+")"); err != nil {
		s.Log.Error("audit a token creation", "err", err)
	}
	t.Hash = ""
	writeJSON(w, http.StatusCreated, map[string]any{"token": t, "secret": secret,
		"note": "the secret is shown this once and never stored: hand it over now"})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	all, err := s.Tokens.List(r.Context())
	if err != nil {
		s.internalError(w, "list tokens", err)
		return
	}
	out := []auth.Token{}
	for _, t := range all {
		if s.inScope(r, t.Unit) {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	list, err := s.Tokens.List(r.Context())
	if err != nil {
		s.internalError(w, "revoke the token", err)
		return
	}
	found := false
	for _, t := range list {
		found = found || (t.TokenID == id && s.inScope(r, t.Unit))
	}
	if !found {
		writeError(w, http.StatusNotFound, "no such token in your jurisdiction", "")
		return
	}
	t, err := s.Tokens.Revoke(r.Context(), id)
	if err != nil {
		s.internalError(w, "revoke the token", err)
		return
	}
	if err := s.Audit.Record(r.Context(), principal(r), "token.revoke", "token/"+t.TokenID, "吊销令牌 "+t.Name); err != nil {
		s.Log.Error("audit a token revocation", "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": t})
}
