package ruleset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/engine"
	"fengqiao/rules"
)

// Archive keeps every ruleset that has been in force, by content hash, so
// that "why was this person orange on 5 March" is answered with that day's
// rules: each assessment records the hash.
type Archive struct {
	rdb redis.UniversalClient
}

// NewArchive returns the archive kept in rdb.
func NewArchive(rdb redis.UniversalClient) *Archive { return &Archive{rdb: rdb} }

// Archived is a ruleset as it was in force.
type Archived struct {
	Version   string            `json:"version"`
	Hash      string            `json:"hash"`
	FirstSeen time.Time         `json:"first_seen"`
	Files     map[string]string `json:"files"` // base name → content
}

// ErrUnknownRuleset is returned for a hash never archived.
var ErrUnknownRuleset = errors.New("no ruleset with that hash")

func archiveKey(hash string) string { return "fq:{rulesets}:" + hash }

// Save archives e's ruleset if it is not yet archived.
func (a *Archive) Save(ctx context.Context, e *engine.Engine, now time.Time) error {
	rs := e.Ruleset()
	files := make(map[string]string, len(rs.Sources))
	for name, b := range rs.Sources {
		files[filepath.Base(name)] = string(b)
	}
	b, err := json.Marshal(Archived{Version: rs.Version, Hash: rs.Hash, FirstSeen: now, Files: files})
	if err != nil {
		return err
	}
	_, err = a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, archiveKey(rs.Hash), b, 0)
		p.ZAddNX(ctx, indexKey, redis.Z{Score: float64(now.UnixMilli()), Member: rs.Hash})
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive ruleset %s: %w", rs.Version, err)
	}
	return nil
}

// indexKey lists the archived rulesets' hashes by when each was first in force.
const indexKey = "fq:{rulesets}:index"

// Summary is an archived ruleset without its files.
type Summary struct {
	Version   string    `json:"version"`
	Hash      string    `json:"hash"`
	FirstSeen time.Time `json:"first_seen"`
}

// List returns every archived ruleset, newest first.
func (a *Archive) List(ctx context.Context) ([]Summary, error) {
	hashes, err := a.rdb.ZRevRange(ctx, indexKey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list archived rulesets: %w", err)
	}
	out := make([]Summary, 0, len(hashes))
	for _, h := range hashes {
		r, err := a.Get(ctx, h)
		if err != nil {
			return nil, err
		}
		out = append(out, Summary{Version: r.Version, Hash: r.Hash, FirstSeen: r.FirstSeen})
	}
	return out, nil
}

// Get returns the archived ruleset with the given hash.
func (a *Archive) Get(ctx context.Context, hash string) (Archived, error) {
	b, err := a.rdb.Get(ctx, archiveKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Archived{}, ErrUnknownRuleset
	}
	if err != nil {
		return Archived{}, fmt.Errorf("read archived ruleset: %w", err)
	}
	var out Archived
	if err := json.Unmarshal(b, &out); err != nil {
		return Archived{}, fmt.Errorf("decode archived ruleset: %w", err)
	}
	return out, nil
}

// Ruleset returns the archived ruleset with the given hash, parsed.
func (a *Archive) Ruleset(ctx context.Context, hash string) (*rules.Ruleset, error) {
	r, err := a.Get(ctx, hash)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(r.Files))
	for name, src := range r.Files {
		files[name] = []byte(src)
	}
	rs, err := rules.Parse(files)
	if err != nil {
		return nil, fmt.Errorf("parse archived ruleset %s: %w", r.Version, err)
	}
	return rs, nil
}
