package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"fengqiao/internal/auth"
)

// Authenticator turns a bearer secret into a principal.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// Auditor records acts that must be traceable afterwards (责任倒查).
type Auditor interface {
	Record(ctx context.Context, p auth.Principal, action, subject, detail string) error
}

type principalKey struct{}

// principal returns the caller of an authenticated request.
func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}

// Who may use which route. Public routes have no roles.
var (
	public    []auth.Role
	readers   = []auth.Role{auth.Admin, auth.Duty, auth.Mediator, auth.Viewer}
	senders   = []auth.Role{auth.Reporter, auth.System, auth.Admin}
	officers  = []auth.Role{auth.Duty, auth.Admin}
	adminOnly = []auth.Role{auth.Admin}
	sweepers  = []auth.Role{auth.Admin, auth.System}
	filers    = []auth.Role{auth.Reporter, auth.Duty, auth.Admin} // file zero reports
	revealers = []auth.Role{auth.Admin, auth.Duty, auth.Mediator} // may read ID numbers and phones, audited
)

// guard authenticates a route's caller, checks their role and rate, and
// puts the principal in the request's context.
func (s *Server) guard(roles []auth.Role, next http.HandlerFunc) http.HandlerFunc {
	if roles == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fengqiao"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is required: send Authorization: Bearer <token>", "")
			return
		}
		p, err := s.Auth.Authenticate(r.Context(), strings.TrimSpace(secret))
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fengqiao", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "the token is not valid: it is unknown, mistyped or revoked", "")
			return
		}
		if err != nil {
			s.internalError(w, "check the token", err)
			return
		}
		if !slices.Contains(roles, p.Role) {
			writeError(w, http.StatusForbidden, "the role "+string(p.Role)+" may not do this", "")
			return
		}
		if !s.limiter.allow(p.TokenID, s.Now()) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too many requests for this token: slow down and retry", "")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// Permissions returns, for each route, the roles that may call it (nil:
// public), so that the policy can be reviewed and tested as one table.
func (s *Server) Permissions() map[string][]auth.Role {
	out := map[string][]auth.Role{}
	for _, rt := range s.routes() {
		out[rt.pattern] = rt.roles
	}
	return out
}

// inScope reports whether a unit is in the caller's subtree.
func (s *Server) inScope(r *http.Request, unit string) bool {
	return s.Units.Contains(principal(r).Unit, unit)
}

// limiter is a token bucket per token: rate per second, up to burst at once.
type limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string, now time.Time) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
