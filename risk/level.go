// Package risk is Fengqiao's shared vocabulary: the five-colour Level, the kinds
// of subject that are scored, and the Assessment that explains a subject's level.
// It depends on the standard library only.
package risk

import (
	"fmt"
	"strings"
)

// Level is one of the five colours (五色) of risk, ordered from lowest to highest,
// so levels compare with < and >. The zero value is Green.
type Level uint8

// The five levels, lowest first.
const (
	Green  Level = iota // 绿: no notable risk
	Blue                // 蓝: general risk, handled by the village
	Yellow              // 黄: considerable risk, township attention
	Orange              // 橙: major risk, county attention
	Red                 // 红: imminent risk (extreme incident, mass incident, 民转刑)
)

// Levels lists every level from lowest to highest.
var Levels = [...]Level{Green, Blue, Yellow, Orange, Red}

var levelNames = [...]struct{ en, zh string }{
	{"green", "绿"},
	{"blue", "蓝"},
	{"yellow", "黄"},
	{"orange", "橙"},
	{"red", "红"},
}

// String returns the level's English name, as used in YAML, JSON and metrics.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l].en
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Chinese returns the level's colour in Chinese, e.g. "橙色".
func (l Level) Chinese() string {
	if int(l) < len(levelNames) {
		return levelNames[l].zh + "色"
	}
	return l.String()
}

// Valid reports whether l is one of the five levels.
func (l Level) Valid() bool { return int(l) < len(levelNames) }

// ParseLevel parses a level from its English name or its Chinese colour
// ("red", "红", "红色"), ignoring case and surrounding space.
func ParseLevel(s string) (Level, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range levelNames {
		if t == n.en || t == n.zh || t == n.zh+"色" {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("unknown level %q: want one of green, blue, yellow, orange, red", s)
}

// MarshalText encodes the level as its English name, for JSON and YAML.
func (l Level) MarshalText() ([]byte, error) {
	if !l.Valid() {
		return nil, fmt.Errorf("invalid level %d", uint8(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText decodes a level written as ParseLevel accepts.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
