package metricsdoc

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var (
	snakeName  = regexp.MustCompile(`^[a-z][a-z0-9_]*[a-z0-9]$`)
	snakeLabel = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// idLabels are label names that would carry an identifier: a person,
// dispute, case, token or subject, or a keyed reference. Their values are
// unbounded and some are personal data, so none may be a label.
var idLabels = []string{"person", "dispute", "case", "token", "subject", "ref", "id", "id_number", "phone", "name", "alert", "notification", "signal"}

// idSuffixes end label names that would carry an identifier.
var idSuffixes = []string{"_id", "_ref", "_token", "_number", "_phone", "_name"}

func hasAnySuffix(s string, sufs []string) bool {
	for _, suf := range sufs {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// nonBaseUnits are unit suffixes Prometheus asks to be given in base units.
var nonBaseUnits = []string{"_milliseconds", "_microseconds", "_nanoseconds", "_ms", "_minutes", "_hours", "_days",
	"_kilobytes", "_megabytes", "_kb", "_mb", "_percent"}

// timeWords in a help text say the metric measures time.
var timeWords = []string{"time ", "time.", "latency", "duration", "how long", "age of"}

// Conventions lists how a fengqiao_ metric breaks the Prometheus naming
// conventions (https://prometheus.io/docs/practices/naming/) and the
// project's own rule that no identifier is ever a label.
func Conventions(f Family) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, f.Name+": "+fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(f.Name, Prefix) {
		bad("does not begin %s", Prefix)
	}
	if !snakeName.MatchString(f.Name) || strings.Contains(f.Name, "__") {
		bad("is not lower snake_case")
	}
	switch f.Type {
	case "counter":
		if !strings.HasSuffix(f.Name, "_total") {
			bad("is a counter, so its name must end _total")
		}
	case "gauge", "histogram", "summary":
		if strings.HasSuffix(f.Name, "_total") {
			bad("is a %s, so its name must not end _total (kept for counters)", f.Type)
		}
	default:
		bad("has type %s: give every metric a type", f.Type)
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if strings.HasSuffix(f.Name, suf) {
			bad("ends %s, a suffix kept for histogram and summary series", suf)
		}
	}
	for _, suf := range nonBaseUnits {
		if strings.HasSuffix(f.Name, suf) || strings.Contains(f.Name, suf+"_") {
			bad("uses a non-base unit (%s): use seconds, bytes or a 0–1 ratio", strings.TrimPrefix(suf, "_"))
		}
	}
	help := strings.ToLower(f.Help)
	timed := false
	for _, w := range timeWords {
		if strings.Contains(help, w) {
			timed = true
		}
	}
	if (f.Type == "histogram" || f.Type == "summary") && timed && !strings.HasSuffix(f.Name, "_seconds") {
		bad("is a %s of time, so its name must end _seconds", f.Type)
	}
	if f.Type == "gauge" && timed && !strings.HasSuffix(f.Name, "_seconds") {
		bad("measures time, so its name must end _seconds (or _timestamp_seconds)")
	}
	if strings.TrimSpace(f.Help) == "" {
		bad("has no help")
	} else if !strings.HasSuffix(strings.TrimSpace(f.Help), ".") {
		bad("help is not a sentence ending with a period")
	}
	for _, l := range f.Labels {
		if !snakeLabel.MatchString(l) || strings.HasPrefix(l, "__") {
			bad("label %q is not lower snake_case", l)
		}
		if slices.Contains(idLabels, l) || strings.HasPrefix(l, "id_") || hasAnySuffix(l, idSuffixes) {
			bad("label %q looks like an identifier: no person, dispute, case, token or subject id (nor any other id) may be a label", l)
		}
	}
	return out
}
