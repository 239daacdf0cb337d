package escalation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time written in whole days, hours and minutes,
// largest unit first: "30m", "2h", "1d", "1h30m". "0" is no time at all.
// It prints and marshals in the same form, so a snapshot of a policy reads
// as its file did.
type Duration time.Duration

// maxDuration is the longest Duration accepted: a deadline or a
// suppression longer than a year is a typing error.
const maxDuration = Duration(366 * 24 * time.Hour)

var durationUnits = []struct {
	suffix byte
	unit   time.Duration
}{{'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}}

// ParseDuration parses a Duration: whole numbers each followed by d, h or
// m, largest unit first and each unit once, such as "1d", "2h", "1h30m";
// or "0". It accepts at most a year.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	bad := func() (Duration, error) {
		return 0, fmt.Errorf("invalid duration %s: write whole minutes, hours or days, e.g. 30m, 2h, 1d", quote(s))
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return bad()
	}
	var total time.Duration
	next := 0 // index of the largest unit still allowed
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 6 {
			return bad()
		}
		n, _ := strconv.Atoi(rest[:i])
		found := false
		for next < len(durationUnits) {
			u := durationUnits[next]
			next++
			if u.suffix == rest[i] {
				total += time.Duration(n) * u.unit
				found = true
				break
			}
		}
		if !found {
			return bad()
		}
		rest = rest[i+1:]
	}
	if Duration(total) > maxDuration {
		return 0, fmt.Errorf("duration %s is longer than a year", quote(s))
	}
	return Duration(total), nil
}

// String writes d as ParseDuration reads it, e.g. "1h30m", or "0".
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0"
	}
	var b strings.Builder
	if t < 0 {
		b.WriteByte('-')
		t = -t
	}
	for _, u := range durationUnits {
		if n := t / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte(u.suffix)
			t -= n * u.unit
		}
	}
	if t > 0 {
		b.WriteString(t.String()) // below a minute; never parsed from a file
	}
	return b.String()
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d as ParseDuration does.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Clock is a time of day in Beijing time, in minutes after midnight: 0
// (00:00) to 1439 (23:59).
type Clock int

// ParseClock parses a time of day written "HH:MM", 00:00 to 23:59.
func ParseClock(s string) (Clock, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) < 1 || len(h) > 2 || len(m) != 2 ||
		hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("invalid time of day %s: write HH:MM from 00:00 to 23:59, e.g. \"23:00\"", quote(s))
	}
	return Clock(hh*60 + mm), nil
}

// String writes c as "HH:MM".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// MarshalText writes c as String does.
func (c Clock) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads c as ParseClock does.
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
