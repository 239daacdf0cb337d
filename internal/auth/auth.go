// Package auth authenticates bearer tokens and says what each may do. A token
// has a role and a unit; it sees and acts only within its unit's subtree of
// the jurisdiction. Secrets are shown once and stored only as hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Role is what a token may do.
type Role string

// The roles.
const (
	Admin    Role = "admin"    // rules, policies, tokens, audit
	Duty     Role = "duty"     // duty officers (值班人员): alerts, acks, overrides, sign-offs
	Mediator Role = "mediator" // mediators (调解员): cases
	Reporter Role = "reporter" // grid workers and offices: signals, zero reports
	Viewer   Role = "viewer"   // read-only
	System   Role = "system"   // integrations: signals only
)

// Roles lists every role.
var Roles = []Role{Admin, Duty, Mediator, Reporter, Viewer, System}

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: want admin, duty, mediator, reporter, viewer or system", s)
}

// Principal is who is calling: a token's identity, role and unit.
type Principal struct {
	TokenID string `json:"token_id"`
	Name    string `json:"name"` // who holds it, e.g. 枫桥镇值班室
	Role    Role   `json:"role"`
	Unit    string `json:"unit"`
}

// Token is a stored token: never the secret, only its hash.
type Token struct {
	Principal
	Hash      string     `json:"hash,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Errors an API maps to 401 / 400 / 404.
var (
	ErrUnauthenticated = errors.New("a valid bearer token is required")
	ErrNoSuchToken     = errors.New("no such token")
	ErrBadName         = errors.New("name: say who holds the token (1-50 characters), e.g. 枫桥镇值班室")
)

// Store keeps tokens in Redis, in one hash under the {tokens} tag.
type Store struct {
	rdb       redis.UniversalClient
	now       func() time.Time
	bootstrap []byte // sha256 of the bootstrap admin secret, if any
	rootUnit  string
}

const tokensKey = "fq:{tokens}:all"

// NewStore returns a token store. bootstrap, when not empty, is an admin
// secret for first start (at least 32 characters), valid at rootUnit.
func NewStore(rdb redis.UniversalClient, now func() time.Time, bootstrap, rootUnit string) (*Store, error) {
	s := &Store{rdb: rdb, now: now, rootUnit: rootUnit}
	if bootstrap != "" {
		if len(bootstrap) < 32 {
			return nil, errors.New("the bootstrap admin token must be at least 32 characters")
		}
		h := sha256.Sum256([]byte(bootstrap))
		s.bootstrap = h[:]
	}
	return s, nil
}

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9]{8}$`)
	b32         = base32.StdEncoding.WithPadding(base32.NoPadding)
	tokenPrefix = "fqt_"
)

// Create makes a token and returns it with its secret, which is shown once
// and never stored.
func (s *Store) Create(ctx context.Context, name string, role Role, unit, createdBy string) (Token, string, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, "", err
	}
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 50 {
		return Token{}, "", ErrBadName
	}
	raw := make([]byte, 5+20)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", err
	}
	id := strings.ToLower(b32.EncodeToString(raw[:5]))
	secret := tokenPrefix + id + "_" + strings.ToLower(b32.EncodeToString(raw[5:]))
	t := Token{Principal: Principal{TokenID: id, Name: name, Role: role, Unit: unit},
		Hash: hashSecret(secret), CreatedAt: s.now().UTC(), CreatedBy: createdBy}
	b, _ := json.Marshal(t)
	ok, err := s.rdb.HSetNX(ctx, tokensKey, id, b).Result()
	if err != nil {
		return Token{}, "", fmt.Errorf("store token: %w", err)
	}
	if !ok {
		return Token{}, "", errors.New("token id collision: try again")
	}
	return t, secret, nil
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Authenticate returns the principal of a bearer secret. The comparison of
// hashes is constant-time; an unknown, malformed or revoked token is
// ErrUnauthenticated, without saying which.
func (s *Store) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if s.bootstrap != nil {
		h := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(h[:], s.bootstrap) == 1 {
			return Principal{TokenID: "bootstrap", Name: "bootstrap admin", Role: Admin, Unit: s.rootUnit}, nil
		}
	}
	rest, ok := strings.CutPrefix(secret, tokenPrefix)
	id, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || !idPattern.MatchString(id) {
		return Principal{}, ErrUnauthenticated
	}
	t, err := s.get(ctx, id)
	if errors.Is(err, ErrNoSuchToken) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.Hash)) != 1 || t.RevokedAt != nil {
		return Principal{}, ErrUnauthenticated
	}
	return t.Principal, nil
}

func (s *Store) get(ctx context.Context, id string) (Token, error) {
	b, err := s.rdb.HGet(ctx, tokensKey, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Token{}, ErrNoSuchToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("read token: %w", err)
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, fmt.Errorf("decode token: %w", err)
	}
	return t, nil
}

// Active reports whether a token is in force: known and not revoked. The
// bootstrap token is in force while it is configured.
func (s *Store) Active(ctx context.Context, id string) (bool, error) {
	if id == "bootstrap" {
		return s.bootstrap != nil, nil
	}
	t, err := s.get(ctx, id)
	if errors.Is(err, ErrNoSuchToken) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.RevokedAt == nil, nil
}

// List returns every token, oldest first, without secrets.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	all, err := s.rdb.HGetAll(ctx, tokensKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	out := make([]Token, 0, len(all))
	for _, b := range all {
		var t Token
		if json.Unmarshal([]byte(b), &t) == nil {
			t.Hash = ""
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Revoke ends a token at once. Revoking a revoked token is harmless.
func (s *Store) Revoke(ctx context.Context, id string) (Token, error) {
	if !idPattern.MatchString(id) {
		return Token{}, ErrNoSuchToken
	}
	t, err := s.get(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if t.RevokedAt == nil {
		now := s.now().UTC()
		t.RevokedAt = &now
		b, _ := json.Marshal(t)
		if err := s.rdb.HSet(ctx, tokensKey, id, b).Err(); err != nil {
			return Token{}, fmt.Errorf("revoke token: %w", err)
		}
	}
	t.Hash = ""
	return t, nil
}
