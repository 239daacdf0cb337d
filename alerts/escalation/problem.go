package escalation

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong in a policy, calendar or roster file. Line is
// 1-based, and 0 when the problem concerns the file as a whole.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String formats p as "file:line: message", leaving out the line when it is
// unknown.
func (p Problem) String() string {
	if p.Line > 0 {
		return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Message
	}
	return p.File + ": " + p.Message
}

// LoadError reports every problem found while loading a file, so that its
// author can fix them all in one pass. It holds at least one problem.
type LoadError struct {
	Problems []Problem
}

// Error returns the problems one per line, each formatted by Problem.String.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// maxNodes bounds how many YAML nodes a check may visit, so that aliases
// nested inside aliases cannot make a small file expand without end.
const maxNodes = 100_000

// checker walks a parsed YAML file, or the rows of a CSV file, and collects
// its problems with their lines. Walking the node tree ourselves, instead of
// decoding into structs, gives every problem a line and lets one bad value
// be one problem among many rather than the end of decoding.
type checker struct {
	file      string
	problems  []Problem
	budget    int
	exhausted bool
}

func newChecker(file string) *checker { return &checker{file: file, budget: maxNodes} }

// add records a problem, keeping its message on one line. Callers never put
// a contact's details, a setting's value or any other free text from the
// file into the message: those may be phone numbers, webhook keys or
// secrets.
func (c *checker) add(line int, format string, args ...any) {
	msg := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(fmt.Sprintf(format, args...))
	c.problems = append(c.problems, Problem{File: c.file, Line: line, Message: msg})
}

// err returns the problems, sorted by line, as a *LoadError, or nil.
func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &LoadError{Problems: c.problems}
}

// document parses data as exactly one YAML document whose top is a mapping,
// and returns that mapping; shape describes what the mapping should hold,
// for the message when it is missing.
func (c *checker) document(data []byte, shape string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.add(0, "file holds no YAML document: write a mapping with %s", shape)
		} else {
			c.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		c.add(extra.Line, "file holds more than one YAML document")
	case !errors.Is(err, io.EOF):
		c.syntax(err)
	}
	if len(doc.Content) == 0 {
		c.add(0, "file is empty: write a mapping with %s", shape)
		return nil
	}
	top := c.deref(doc.Content[0])
	switch {
	case top == nil:
		return nil
	case isNull(top):
		c.add(top.Line, "file is empty: write a mapping with %s", shape)
		return nil
	case top.Kind != yaml.MappingNode:
		c.add(top.Line, "file must be a mapping with %s, not %s", shape, kindName(top))
		return nil
	}
	return top
}

// syntax records an error from the YAML parser.
func (c *checker) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ":"); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, strings.TrimSpace(text)
			}
		}
	}
	c.add(line, "invalid YAML: %s", msg)
}

// deref follows aliases to the node they stand for, reporting a chain that
// is broken or absurdly long.
func (c *checker) deref(n *yaml.Node) *yaml.Node {
	line := 0
	for range 32 {
		if n == nil {
			break
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
		line = n.Line
		n = n.Alias
	}
	c.add(line, "alias cannot be followed: it is broken or nested too deep")
	return nil
}

// spend counts n's children against the node budget and reports whether
// the check may go on.
func (c *checker) spend(n *yaml.Node) bool {
	c.budget -= len(n.Content) + 1
	if c.budget < 0 && !c.exhausted {
		c.exhausted = true
		c.add(n.Line, "file is too large once its aliases are expanded")
	}
	return !c.exhausted
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return "a single value"
	}
	return "an alias"
}

// pair is one key and value of a YAML mapping.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// mapping is the pairs of a YAML mapping in file order.
type mapping []pair

// get returns the pair with key k.
func (m mapping) get(k string) (pair, bool) {
	for _, p := range m {
		if p.key == k {
			return p, true
		}
	}
	return pair{}, false
}

// mapping returns the pairs of n, which must be a mapping. It reports keys
// that are not plain values, merge keys, repeated keys and, unless known is
// nil, keys not in known; such keys are left out. what names n in messages,
// e.g. "levels: red", and is empty for the top of the file.
func (c *checker) mapping(n *yaml.Node, what string, known []string) (mapping, bool) {
	n = c.deref(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, "%smust be a mapping, not %s", prefix(what), kindName(n))
		return nil, false
	}
	if !c.spend(n) {
		return nil, false
	}
	var m mapping
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := c.deref(n.Content[i])
		if k == nil {
			continue
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			c.add(k.Line, "%skey must be a plain name, not %s", prefix(what), kindName(k))
			continue
		case k.Value == "<<" && k.ShortTag() == "!!merge":
			c.add(k.Line, "%smerge keys (<<) are not supported: write the fields out", prefix(what))
			continue
		}
		if line, dup := first[k.Value]; dup {
			c.add(k.Line, "%skey %s is repeated (first at line %d)", prefix(what), quote(k.Value), line)
			continue
		}
		first[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			c.add(k.Line, "%sunknown field %s (want %s)", prefix(what), quote(k.Value), strings.Join(known, ", "))
			continue
		}
		m = append(m, pair{key: k.Value, line: k.Line, val: n.Content[i+1]})
	}
	return m, true
}

// list returns the items of n, which must be a list.
func (c *checker) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	n = c.deref(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		c.add(n.Line, "%smust be a list, not %s", prefix(what), kindName(n))
		return nil, false
	}
	if !c.spend(n) {
		return nil, false
	}
	return n.Content, true
}

// scalar returns the text of n, which must be a single value; an empty
// value gives "". The text is returned as written, whatever YAML type it
// resolves to, so that 13900000001 and 2026-11-22 stay as written.
func (c *checker) scalar(n *yaml.Node, what string) (string, bool) {
	n = c.deref(n)
	if n == nil {
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		c.add(n.Line, "%smust be a single value, not %s", prefix(what), kindName(n))
		return "", false
	}
	return n.Value, true
}

func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

// quote quotes a name from the file for a message, shortened so that a
// stray paragraph does not flood the output. Only names (keys, channel and
// level names) are quoted this way, never values.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "..."
	}
	return strconv.Quote(s)
}
