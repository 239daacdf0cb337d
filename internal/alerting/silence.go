package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"fengqiao/risk"
)

// Contains says whether a unit is in another's subtree.
type Contains func(ancestor, unit string) bool

// AddSilence stores a silence. It must end within 7 days.
func (m *Manager) AddSilence(ctx context.Context, s Silence) (Silence, error) {
	now := m.now()
	switch {
	case s.Unit == "":
		return s, fmt.Errorf("%w: unit: name the unit whose alerts to silence", ErrInvalid)
	case !s.Until.After(now) || s.Until.After(now.Add(7*24*time.Hour)):
		return s, fmt.Errorf("%w: until: a silence ends in the future, within 7 days", ErrInvalid)
	case strings.TrimSpace(s.Reason) == "":
		return s, fmt.Errorf("%w: reason: say why these alerts may go unnotified", ErrInvalid)
	case !s.UpTo.Valid() || s.UpTo == risk.Green:
		return s, fmt.Errorf("%w: up_to: give blue, yellow, orange or red", ErrInvalid)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.ID, s.Created = "S"+hex.EncodeToString(b), now
	js, _ := json.Marshal(s)
	if err := m.rdb.HSet(ctx, keySilences, s.ID, js).Err(); err != nil {
		return s, fmt.Errorf("store silence: %w", err)
	}
	return s, nil
}

// ErrInvalid wraps a refused request; the message says what to do.
var ErrInvalid = fmt.Errorf("invalid")

// Silences returns the silences not yet ended.
func (m *Manager) Silences(ctx context.Context) ([]Silence, error) {
	all, err := m.rdb.HGetAll(ctx, keySilences).Result()
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	now := m.now()
	out := []Silence{}
	for id, js := range all {
		var s Silence
		if json.Unmarshal([]byte(js), &s) != nil {
			continue
		}
		if !s.Until.After(now) {
			m.rdb.HDel(ctx, keySilences, id)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// DeleteSilence ends a silence.
func (m *Manager) DeleteSilence(ctx context.Context, id string) error {
	n, err := m.rdb.HDel(ctx, keySilences, id).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// silencing returns the id of a silence that covers the alert, or "".
func (m *Manager) silencing(ctx context.Context, a Alert, now time.Time) (string, error) {
	list, err := m.Silences(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range list {
		if a.Level <= s.UpTo && m.contains != nil && m.contains(s.Unit, a.Unit) {
			return s.ID, nil
		}
	}
	return "", nil
}
