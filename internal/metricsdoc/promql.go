package metricsdoc

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// keywords are PromQL words that are not metric names: operators and
// modifiers, and the aggregations, which may be followed by by (...) or
// without (...) rather than their parenthesis. (Other functions are told by
// the parenthesis after them.)
var keywords = []string{"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
	"offset", "atan2", "inf", "nan", "start", "end",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
	"limitk", "limit_ratio"}

// labelLists are the words followed by a parenthesised list of label names.
var labelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// MetricNames returns the metric names (and recording-rule names) a PromQL
// expression selects, sorted and without repeats. It is a scanner, not a
// parser: it drops strings, label matchers, ranges, numbers, Grafana's $
// variables, the label lists of by/without/on/ignoring/group_*, and the
// names of functions and aggregations (a word followed by a parenthesis);
// what remains are the selectors' names. It fails on unbalanced brackets
// or an unterminated string, which would hide names from it.
func MetricNames(expr string) ([]string, error) {
	seen := map[string]bool{}
	s := expr
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{' || c == '[':
			end, err := skipGroup(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %q at offset %d in %q", c, i, expr)
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				end, err := skipGroup(s, i)
				if err != nil {
					return nil, err
				}
				i = end
				continue
			}
			for i < len(s) && isWord(s[i]) {
				i++
			}
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			// A number or a duration: 0.99, 1e-3, 0x1f, 5m, 1h30m.
			for i < len(s) && (isWord(s[i]) || s[i] == '.' || ((s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
				i++
			}
		case isWordStart(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			called := k < len(s) && s[k] == '('
			switch {
			case called && slices.Contains(labelLists, strings.ToLower(word)):
				end, err := skipGroup(s, k)
				if err != nil {
					return nil, err
				}
				i = end
				continue
			case called, slices.Contains(keywords, strings.ToLower(word)):
			default:
				seen[word] = true
			}
			i = j
		default:
			i++ // operators, commas, parentheses, @
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// skipString returns the offset just past the string literal at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == '\\' && q != '`' {
			j++
			continue
		}
		if s[j] == q {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d in %q", i, s)
}

// skipGroup returns the offset just past the bracketed group that opens at
// s[i], minding strings and nested brackets.
func skipGroup(s string, i int) (int, error) {
	var stack []byte
	for j := i; j < len(s); j++ {
		switch c := s[j]; c {
		case '"', '\'', '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[', '(':
			stack = append(stack, c)
		case '}', ']', ')':
			want := map[byte]byte{'}': '{', ']': '[', ')': '('}[c]
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return 0, fmt.Errorf("unbalanced %q at offset %d in %q", c, j, s)
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed %q at offset %d in %q", s[i], i, s)
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isWordStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isWord(c byte) bool      { return isWordStart(c) || isDigit(c) }
