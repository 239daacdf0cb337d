package eval

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// A rule's when and score are written in expr's language. To run them on the
// other engines, translate parses them with expr's own parser and prints the
// tree in the other language, fully parenthesised. It knows the subset that
// every engine can express: numbers, strings, booleans, the variables below,
// ! && || == != < <= > >= + - * /, `x in list` (a list literal or tags),
// `c ? a : b`, and min or max of two numbers (printed as a conditional, as
// the engine itself rewrites them). Anything else is an error.
//
// The peers see a flat environment: each value a rule reads is a variable of
// its own, named by its path with _ for the dot (features.threat_30d is
// features_threat_30d, subject.ledger_status is subject_ledger_status).
// Numbers are float64 (CEL: double), tags a list of strings.

// dialect is how one language writes what translate prints.
type dialect struct {
	number func(v float64) string
	str    func(s string) string
	ident  func(path string) (string, error)
	in     func(elem, list string) string           // elem in a list variable (tags)
	inList func(elem string, items []string) string // elem in a list literal
	cond   func(c, a, b string) string
}

// flatName is the peers' name for the value at path ("features.x" → "features_x").
func flatName(path string) (string, error) {
	if !knownPath(path) {
		return "", fmt.Errorf("%s: not in the benchmark's environment", path)
	}
	return strings.ReplaceAll(path, ".", "_"), nil
}

// subjectPaths are the values other than features that the peers' environment
// holds; features.NAME is any declared feature.
var subjectPaths = []string{"subject.kind", "subject.unit", "subject.weak", "subject.signals",
	"subject.ledger_status", "cases.open", "cases.overdue", "cases.failed", "tags"}

func knownPath(path string) bool {
	return strings.HasPrefix(path, "features.") || slices.Contains(subjectPaths, path)
}

func goFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

var (
	// celDialect writes every number as a double, so that arithmetic and
	// comparisons never mix int and double.
	celDialect = &dialect{
		number: func(v float64) string {
			s := strconv.FormatFloat(v, 'f', -1, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0"
			}
			return s
		},
		str:    strconv.Quote,
		ident:  flatName,
		in:     func(e, l string) string { return "(" + e + " in " + l + ")" },
		inList: func(e string, items []string) string { return "(" + e + " in [" + strings.Join(items, ", ") + "])" },
		cond:   func(c, a, b string) string { return "(" + c + " ? " + a + " : " + b + ")" },
	}
	// govaluateDialect quotes strings with ' and writes lists as (a, b).
	govaluateDialect = &dialect{
		number: goFloat,
		str:    func(s string) string { return "'" + s + "'" },
		ident:  flatName,
		in:     func(e, l string) string { return "(" + e + " IN " + l + ")" },
		inList: func(e string, items []string) string { return "(" + e + " IN (" + strings.Join(items, ", ") + "))" },
		cond:   func(c, a, b string) string { return "(" + c + " ? " + a + " : " + b + ")" },
	}
	gvalDialect = &dialect{
		number: goFloat,
		str:    strconv.Quote,
		ident:  flatName,
		in:     func(e, l string) string { return "(" + e + " in " + l + ")" },
		inList: func(e string, items []string) string { return "(" + e + " in [" + strings.Join(items, ", ") + "])" },
		cond:   func(c, a, b string) string { return "(" + c + " ? " + a + " : " + b + ")" },
	}
	// goDialect writes Go over a *Facts named x and its features f, for the
	// generated floors (see generate.go).
	goDialect = &dialect{
		number: goFloat,
		str:    strconv.Quote,
		ident: func(path string) (string, error) {
			if name, ok := strings.CutPrefix(path, "features."); ok {
				return "f[" + featureConst(name) + "]", nil
			}
			switch path {
			case "subject.weak":
				return "x.Weak", nil
			case "subject.signals":
				return "x.Signals", nil
			case "subject.ledger_status":
				return "x.LedgerStatus", nil
			case "cases.open":
				return "x.CasesOpen", nil
			case "cases.overdue":
				return "x.CasesOverdue", nil
			case "cases.failed":
				return "x.CasesFailed", nil
			case "tags":
				return "x.Tags", nil
			}
			return "", fmt.Errorf("%s: not in the generated floor's facts", path)
		},
		in: func(e, l string) string { return "slices.Contains(" + l + ", " + e + ")" },
		inList: func(e string, items []string) string {
			var parts []string
			for _, it := range items {
				parts = append(parts, e+" == "+it)
			}
			return "(" + strings.Join(parts, " || ") + ")"
		},
		cond: func(c, a, b string) string { return "pick(" + c + ", " + a + ", " + b + ")" },
	}
)

// translate prints src, an expression in expr's language, in dialect d.
func translate(src string, d *dialect) (string, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return "", err
	}
	return d.print(tree.Node)
}

func (d *dialect) print(n ast.Node) (string, error) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return d.number(float64(n.Value)), nil
	case *ast.FloatNode:
		return d.number(n.Value), nil
	case *ast.StringNode:
		return d.str(n.Value), nil
	case *ast.BoolNode:
		return strconv.FormatBool(n.Value), nil
	case *ast.IdentifierNode:
		return d.ident(n.Value)
	case *ast.MemberNode:
		base, ok := n.Node.(*ast.IdentifierNode)
		prop, isName := n.Property.(*ast.StringNode)
		if !ok || !isName || n.Optional {
			return "", fmt.Errorf("%s: only a.b is supported", n)
		}
		return d.ident(base.Value + "." + prop.Value)
	case *ast.UnaryNode:
		x, err := d.print(n.Node)
		if err != nil {
			return "", err
		}
		switch n.Operator {
		case "!", "not":
			return "!" + x, nil
		case "-":
			return "(-" + x + ")", nil
		}
	case *ast.BinaryNode:
		return d.binary(n)
	case *ast.ConditionalNode:
		c, err := d.print(n.Cond)
		if err != nil {
			return "", err
		}
		a, err := d.print(n.Exp1)
		if err != nil {
			return "", err
		}
		b, err := d.print(n.Exp2)
		if err != nil {
			return "", err
		}
		return d.cond(c, a, b), nil
	case *ast.BuiltinNode:
		if (n.Name == "min" || n.Name == "max") && len(n.Arguments) == 2 {
			// min(a, b) is a > b ? b : a, as expr's min keeps the first of equals.
			op := ">"
			if n.Name == "max" {
				op = "<"
			}
			a, err := d.print(n.Arguments[0])
			if err != nil {
				return "", err
			}
			b, err := d.print(n.Arguments[1])
			if err != nil {
				return "", err
			}
			return d.cond("("+a+" "+op+" "+b+")", b, a), nil
		}
	}
	return "", fmt.Errorf("%s: not in the subset every engine can express", n)
}

func (d *dialect) binary(n *ast.BinaryNode) (string, error) {
	l, err := d.print(n.Left)
	if err != nil {
		return "", err
	}
	if n.Operator == "in" || n.Operator == "not in" {
		var s string
		if list, ok := n.Right.(*ast.ArrayNode); ok {
			var items []string
			for _, it := range list.Nodes {
				x, err := d.print(it)
				if err != nil {
					return "", err
				}
				items = append(items, x)
			}
			s = d.inList(l, items)
		} else {
			r, err := d.print(n.Right)
			if err != nil {
				return "", err
			}
			s = d.in(l, r)
		}
		if n.Operator == "not in" {
			s = "!" + s
		}
		return s, nil
	}
	r, err := d.print(n.Right)
	if err != nil {
		return "", err
	}
	op := n.Operator
	switch op {
	case "and", "&&":
		op = "&&"
	case "or", "||":
		op = "||"
	case "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/":
	default:
		return "", fmt.Errorf("%s: operator %s is not in the subset every engine can express", n, op)
	}
	return "(" + l + " " + op + " " + r + ")", nil
}

// featureConst is the Go constant that indexes feature name in Facts.Features
// (threat_30d → fThreat30d); see features_gen.go.
func featureConst(name string) string {
	var b strings.Builder
	b.WriteString("f")
	for _, part := range strings.Split(name, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
