package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fengqiao/internal/redistest"
)

func store(t *testing.T, bootstrap string) *Store {
	t.Helper()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s, err := NewStore(redistest.Start(t).Client(t), func() time.Time { return now }, bootstrap, "990100000000")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s := store(t, "")
	tok, secret, err := s.Create(ctx, "枫桥镇值班室", Duty, "990101100000", "admin1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "fqt_"+tok.TokenID+"_") || len(secret) < 40 {
		t.Errorf("secret %q", secret)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p != tok.Principal {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	// Forged, mistyped and malformed secrets are all the same error.
	flipped := "a"
	if strings.HasSuffix(secret, "a") {
		flipped = "b"
	}
	for _, bad := range []string{secret + "x", secret[:len(secret)-1] + flipped, "fqt_" + tok.TokenID + "_", "fqt_zz_x", "", "Bearer " + secret, strings.ToUpper(secret)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Hash != "" || list[0].CreatedBy != "admin1" {
		t.Errorf("List = %+v, %v", list, err)
	}
	if _, err := s.Revoke(ctx, tok.TokenID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a revoked token authenticates: %v", err)
	}
	if again, err := s.Revoke(ctx, tok.TokenID); err != nil || again.RevokedAt == nil {
		t.Errorf("revoking twice: %+v, %v", again, err)
	}
	if _, err := s.Revoke(ctx, "nosuchid"); !errors.Is(err, ErrNoSuchToken) {
		t.Errorf("revoking an unknown token: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	s := store(t, "")
	ctx := context.Background()
	if _, _, err := s.Create(ctx, "", Duty, "990101100000", "a"); !errors.Is(err, ErrBadName) {
		t.Errorf("empty name: %v", err)
	}
	if _, _, err := s.Create(ctx, "x", Role("root"), "990101100000", "a"); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("unknown role: %v", err)
	}
}

func TestBootstrapToken(t *testing.T) {
	if _, err := NewStore(nil, time.Now, "short", "9901"); err == nil {
		t.Error("a short bootstrap token was accepted")
	}
	secret := "a-bootstrap-secret-of-enough-length-0123"
	s := store(t, secret)
	p, err := s.Authenticate(context.Background(), secret)
	if err != nil || p.Role != Admin || p.Unit != "990100000000" {
		t.Errorf("bootstrap = %+v, %v", p, err)
	}
	if _, err := s.Authenticate(context.Background(), secret+"!"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("near-bootstrap: %v", err)
	}
}
