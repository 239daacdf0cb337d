package ruleset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"fengqiao/engine"
	"fengqiao/rules"
)

// A shadow ruleset is a candidate scored beside the live one: every signal is
// scored by both, only the live one acts, and where they disagree shows.

// ErrNoShadow is returned when no shadow ruleset is loaded or configured.
var ErrNoShadow = errors.New("no shadow ruleset")

// ShadowStatus says which candidate is in shadow.
type ShadowStatus struct {
	Version  string    `json:"version"`
	Hash     string    `json:"hash"`
	LoadedAt time.Time `json:"loaded_at"`
	Rules    int       `json:"rules"`
	Dir      string    `json:"dir"`
}

// SetShadowDir names the directory candidates are loaded from.
func (l *Live) SetShadowDir(dir string) {
	l.mu.Lock()
	l.shadowDir = dir
	l.mu.Unlock()
}

// Shadow returns the shadow ruleset, or nil.
func (l *Live) Shadow() *engine.Engine { return l.shadow.Load() }

// ShadowStatus returns the shadow ruleset's status; ok is false with none.
func (l *Live) ShadowStatus() (ShadowStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shadowStatus, l.shadow.Load() != nil
}

// LoadShadow loads and compiles the candidate in the shadow directory and
// scores it beside the live ruleset from now on. A bad candidate is refused
// like a bad live ruleset, and any shadow before it stays.
func (l *Live) LoadShadow() (ShadowStatus, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shadowDir == "" {
		return ShadowStatus{}, fmt.Errorf("%w: set shadow_rules_dir in the configuration", ErrNoShadow)
	}
	e, err := compileDir(l.shadowDir)
	if err != nil {
		return ShadowStatus{}, err
	}
	l.shadow.Store(e)
	l.shadowStatus = ShadowStatus{Version: e.Version(), Hash: e.Ruleset().Hash, LoadedAt: l.now(), Rules: len(e.Ruleset().Rules), Dir: l.shadowDir}
	l.log.Info("shadow ruleset loaded", "version", e.Version(), "live", l.current.Load().Version())
	return l.shadowStatus, nil
}

// DropShadow stops scoring the shadow ruleset.
func (l *Live) DropShadow() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shadow.Store(nil)
	l.shadowStatus = ShadowStatus{}
}

// Promote makes the shadow ruleset live: its files replace the live rules
// files on disk (so a restart or a reload keeps it) and it comes into force
// at once. The shadow slot is then empty.
func (l *Live) Promote() (Status, error) {
	sh := l.shadow.Load()
	if sh == nil {
		return Status{}, ErrNoShadow
	}
	if err := replaceRuleFiles(l.dir, sh.Ruleset()); err != nil {
		return Status{}, fmt.Errorf("write the promoted rules: %w", err)
	}
	if err := l.Reload(); err != nil {
		return Status{}, err
	}
	if got := l.Engine().Ruleset().Hash; got != sh.Ruleset().Hash {
		return l.Status(), fmt.Errorf("the promoted files load as %s, not the shadow's %s: check %s", got, sh.Ruleset().Hash, l.dir)
	}
	l.DropShadow()
	return l.Status(), nil
}

// replaceRuleFiles writes rs's files into dir, each through a temporary file
// and a rename, and removes the rules files of dir it does not have.
func replaceRuleFiles(dir string, rs *rules.Ruleset) error {
	keep := map[string]bool{}
	for name, src := range rs.Sources {
		base := filepath.Base(name)
		keep[base] = true
		tmp := filepath.Join(dir, "."+base+".promote")
		if err := os.WriteFile(tmp, src, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, base)); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() && rules.IsRuleFile(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
