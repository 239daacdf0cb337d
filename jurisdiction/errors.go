package jurisdiction

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong in a jurisdiction file. Code is the code of the
// unit concerned, and is empty for problems with the file as a whole or with
// a unit that has no code. Line is 1-based, and 0 when unknown.
type Problem struct {
	File    string
	Line    int
	Code    string
	Message string
}

// String formats p as "file:line: unit CODE: message", leaving out the parts
// that p does not have.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Code != "" {
		b.WriteString("unit ")
		b.WriteString(p.Code)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError reports every problem found while loading a jurisdiction file.
// It holds at least one problem.
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
