package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a window length written as a whole number of days, hours or
// minutes: "30d", "12h", "90m".
type Duration time.Duration

// ParseDuration parses "30d", "12h" or "90m".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return 0, fmt.Errorf("invalid duration %q: write a whole number followed by d, h or m, e.g. 30d", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid duration %q: write a whole number followed by d, h or m, e.g. 30d", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'd':
		unit = 24 * time.Hour
	case 'h':
		unit = time.Hour
	case 'm':
		unit = time.Minute
	default:
		return 0, fmt.Errorf("invalid duration %q: write a whole number followed by d, h or m, e.g. 30d", s)
	}
	return Duration(time.Duration(n) * unit), nil
}

// String writes the duration in the largest whole unit.
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", t/(24*time.Hour))
	case t%time.Hour == 0:
		return fmt.Sprintf("%dh", t/time.Hour)
	}
	return fmt.Sprintf("%dm", t/time.Minute)
}

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses the duration as ParseDuration does.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Chinese writes the duration for people, e.g. "30天", "12小时".
func (d Duration) Chinese() string {
	t := time.Duration(d)
	switch {
	case t%(24*time.Hour) == 0:
		return fmt.Sprintf("%d天", t/(24*time.Hour))
	case t%time.Hour == 0:
		return fmt.Sprintf("%d小时", t/time.Hour)
	}
	return fmt.Sprintf("%d分钟", t/time.Minute)
}
