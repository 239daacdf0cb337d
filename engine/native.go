package engine

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// A native expression is a flat program's tree (see compileFlat), after
// expr's checker and optimizer, turned into Go closures that read the
// evaluation's held leaves directly: no VM, no map lookup, no boxing. Only
// what cannot fail at run time and means exactly what expr's VM makes of it
// is compiled: literals and leaves of type bool, int, float64 and string;
// !, unary -, &&, ||, comparisons of numbers, == and != of numbers, strings
// and bools; +, - and * of numbers (int with int stays int and wraps, as in
// expr; with a float64 both are float64); c ? a : b with branches of one
// kind; and `word in set` over a set leaf or a constant list of strings.
// Everything else keeps running on expr's VM. Most rules are a comparison
// or two and a constant score, for which a VM run costs several times the
// comparisons themselves.
type (
	boolFn  func(h []held) bool
	intFn   func(h []held) int
	floatFn func(h []held) float64
	strFn   func(h []held) string
	setFn   func(h []held) map[string]struct{}
)

// native is a compiled expression of one of the kinds below; the field of
// its kind is set.
type native struct {
	kind nativeKind
	b    boolFn
	i    intFn
	f    floatFn
	s    strFn
	set  setFn

	// What comparisons of a feature with a constant, the commonest shape
	// (features.x >= 3), are specialised on, so that they make one call.
	feature int     // 1 + the leaf's index if this reads a feature, else 0
	konst   bool    // this is a constant: ci if an int, cf if a float64
	ci      int     //
	cf      float64 //
}

type nativeKind uint8

const (
	nBool nativeKind = iota + 1
	nInt
	nFloat
	nString
	nSet
)

// asFloat returns n, a number, as a float64, as expr converts an int that
// meets a float64.
func (n native) asFloat() floatFn {
	if n.kind == nFloat {
		return n.f
	}
	i := n.i
	return func(h []held) float64 { return float64(i(h)) }
}

func (n native) number() bool { return n.kind == nInt || n.kind == nFloat }

// nativeCompiler compiles trees over the leaves of an engine; index gives a
// leaf's position in the engine's leaves, and so in a scratch's held.
type nativeCompiler struct {
	leaves []leaf
	index  map[string]int
}

// compileWhen compiles a condition, false if it is not in the subset.
func (nc *nativeCompiler) compileWhen(root ast.Node) (boolFn, bool) {
	n, ok := nc.compile(root)
	if !ok || n.kind != nBool {
		return nil, false
	}
	return n.b, true
}

// compileScore compiles a score: a number, or a conditional whose branches
// are numbers of different kinds, which expr leaves as they are and the
// engine converts.
func (nc *nativeCompiler) compileScore(root ast.Node) (floatFn, bool) {
	if c, ok := root.(*ast.ConditionalNode); ok {
		cond, ok1 := nc.compile(c.Cond)
		a, ok2 := nc.compileScore(c.Exp1)
		b, ok3 := nc.compileScore(c.Exp2)
		if !ok1 || !ok2 || !ok3 || cond.kind != nBool {
			return nil, false
		}
		cf := cond.b
		return func(h []held) float64 {
			if cf(h) {
				return a(h)
			}
			return b(h)
		}, true
	}
	n, ok := nc.compile(root)
	if !ok || !n.number() {
		return nil, false
	}
	if n.kind == nInt { // constant scores are the commonest
		if lit, ok := root.(*ast.IntegerNode); ok {
			v := float64(lit.Value)
			return func([]held) float64 { return v }, true
		}
	}
	return n.asFloat(), true
}

func (nc *nativeCompiler) compile(node ast.Node) (native, bool) {
	switch x := node.(type) {
	case *ast.BoolNode:
		v := x.Value
		return native{kind: nBool, b: func([]held) bool { return v }}, true
	case *ast.IntegerNode:
		if t := x.Type(); t != nil && t.Kind() == reflect.Float64 {
			v := float64(x.Value)
			return native{kind: nFloat, f: func([]held) float64 { return v }, konst: true, cf: v}, true
		} else if t != nil && t.Kind() != reflect.Int {
			return native{}, false
		}
		v := x.Value
		return native{kind: nInt, i: func([]held) int { return v }, konst: true, ci: v}, true
	case *ast.FloatNode:
		v := x.Value
		return native{kind: nFloat, f: func([]held) float64 { return v }, konst: true, cf: v}, true
	case *ast.StringNode:
		v := x.Value
		return native{kind: nString, s: func([]held) string { return v }}, true
	case *ast.ConstantNode:
		switch v := x.Value.(type) {
		case bool:
			return native{kind: nBool, b: func([]held) bool { return v }}, true
		case int:
			return native{kind: nInt, i: func([]held) int { return v }, konst: true, ci: v}, true
		case float64:
			return native{kind: nFloat, f: func([]held) float64 { return v }, konst: true, cf: v}, true
		case string:
			return native{kind: nString, s: func([]held) string { return v }}, true
		case map[string]struct{}:
			return native{kind: nSet, set: func([]held) map[string]struct{} { return v }}, true
		}
	case *ast.IdentifierNode:
		return nc.leaf(x.Value)
	case *ast.UnaryNode:
		n, ok := nc.compile(x.Node)
		if !ok {
			break
		}
		switch {
		case (x.Operator == "!" || x.Operator == "not") && n.kind == nBool:
			b := n.b
			return native{kind: nBool, b: func(h []held) bool { return !b(h) }}, true
		case x.Operator == "-" && n.kind == nInt:
			i := n.i
			return native{kind: nInt, i: func(h []held) int { return -i(h) }}, true
		case x.Operator == "-" && n.kind == nFloat:
			f := n.f
			return native{kind: nFloat, f: func(h []held) float64 { return -f(h) }}, true
		}
	case *ast.BinaryNode:
		return nc.binary(x)
	case *ast.ConditionalNode:
		cond, ok1 := nc.compile(x.Cond)
		a, ok2 := nc.compile(x.Exp1)
		b, ok3 := nc.compile(x.Exp2)
		if !ok1 || !ok2 || !ok3 || cond.kind != nBool || a.kind != b.kind {
			break
		}
		c := cond.b
		switch a.kind {
		case nBool:
			return native{kind: nBool, b: func(h []held) bool {
				if c(h) {
					return a.b(h)
				}
				return b.b(h)
			}}, true
		case nInt:
			return native{kind: nInt, i: func(h []held) int {
				if c(h) {
					return a.i(h)
				}
				return b.i(h)
			}}, true
		case nFloat:
			return native{kind: nFloat, f: func(h []held) float64 {
				if c(h) {
					return a.f(h)
				}
				return b.f(h)
			}}, true
		}
	}
	return native{}, false
}

// leaf reads a leaf from what fillFlat holds for it: a feature's value (as
// the int the flat environment holds, for a count), or a field's value as
// changed() last saw it.
func (nc *nativeCompiler) leaf(name string) (native, bool) {
	i, ok := nc.index[name]
	if !ok {
		return native{}, false
	}
	l := &nc.leaves[i]
	switch {
	case l.set:
		return native{kind: nSet, set: func(h []held) map[string]struct{} { return h[i].set }}, true
	case l.feature >= 0 && l.whole:
		return native{kind: nInt, i: func(h []held) int { return int(h[i].num) }, feature: i + 1}, true
	case l.feature >= 0:
		return native{kind: nFloat, f: func(h []held) float64 { return h[i].num }, feature: i + 1}, true
	}
	switch l.typ {
	case reflect.TypeFor[bool]():
		return native{kind: nBool, b: func(h []held) bool { return h[i].n != 0 }}, true
	case reflect.TypeFor[int]():
		return native{kind: nInt, i: func(h []held) int { return int(h[i].n) }}, true
	case reflect.TypeFor[float64]():
		return native{kind: nFloat, f: func(h []held) float64 { return h[i].num }}, true
	case reflect.TypeFor[string]():
		return native{kind: nString, s: func(h []held) string { return h[i].str }}, true
	}
	return native{}, false
}

func (nc *nativeCompiler) binary(x *ast.BinaryNode) (native, bool) {
	l, ok1 := nc.compile(x.Left)
	r, ok2 := nc.compile(x.Right)
	if !ok1 || !ok2 {
		return native{}, false
	}
	op := x.Operator
	switch op {
	case "&&", "and", "||", "or":
		if l.kind != nBool || r.kind != nBool {
			return native{}, false
		}
		a, b := l.b, r.b
		if op == "&&" || op == "and" {
			return native{kind: nBool, b: func(h []held) bool { return a(h) && b(h) }}, true
		}
		return native{kind: nBool, b: func(h []held) bool { return a(h) || b(h) }}, true
	case "in":
		if l.kind != nString || r.kind != nSet {
			return native{}, false
		}
		s, set := l.s, r.set
		return native{kind: nBool, b: func(h []held) bool { _, ok := set(h)[s(h)]; return ok }}, true
	case "==", "!=":
		eq, ok := equal(l, r)
		if !ok {
			return native{}, false
		}
		if op == "!=" {
			return native{kind: nBool, b: func(h []held) bool { return !eq(h) }}, true
		}
		return native{kind: nBool, b: eq}, true
	case "<", ">", "<=", ">=":
		if !l.number() || !r.number() {
			return native{}, false
		}
		if l.feature > 0 && r.konst {
			if b, ok := compareFeature(op, l, r); ok {
				return native{kind: nBool, b: b}, true
			}
		}
		if l.kind == nInt && r.kind == nInt {
			return native{kind: nBool, b: compareInts(op, l.i, r.i)}, true
		}
		return native{kind: nBool, b: compareFloats(op, l.asFloat(), r.asFloat())}, true
	case "+", "-", "*":
		if !l.number() || !r.number() {
			return native{}, false
		}
		if l.kind == nInt && r.kind == nInt {
			a, b := l.i, r.i
			switch op {
			case "+":
				return native{kind: nInt, i: func(h []held) int { return a(h) + b(h) }}, true
			case "-":
				return native{kind: nInt, i: func(h []held) int { return a(h) - b(h) }}, true
			default:
				return native{kind: nInt, i: func(h []held) int { return a(h) * b(h) }}, true
			}
		}
		a, b := l.asFloat(), r.asFloat()
		switch op {
		case "+":
			return native{kind: nFloat, f: func(h []held) float64 { return a(h) + b(h) }}, true
		case "-":
			return native{kind: nFloat, f: func(h []held) float64 { return a(h) - b(h) }}, true
		default:
			return native{kind: nFloat, f: func(h []held) float64 { return a(h) * b(h) }}, true
		}
	}
	return native{}, false
}

// equal is ==: of two numbers (as float64s unless both are ints), of two
// strings or of two bools.
func equal(l, r native) (boolFn, bool) {
	switch {
	case l.kind == nInt && r.kind == nInt:
		a, b := l.i, r.i
		return func(h []held) bool { return a(h) == b(h) }, true
	case l.number() && r.number():
		a, b := l.asFloat(), r.asFloat()
		return func(h []held) bool { return a(h) == b(h) }, true
	case l.kind == nString && r.kind == nString:
		a, b := l.s, r.s
		return func(h []held) bool { return a(h) == b(h) }, true
	case l.kind == nBool && r.kind == nBool:
		a, b := l.b, r.b
		return func(h []held) bool { return a(h) == b(h) }, true
	}
	return nil, false
}

// compareInts and compareFloats make an ordering comparison.
func compareInts(op string, a, b intFn) boolFn {
	switch op {
	case "<":
		return func(h []held) bool { return a(h) < b(h) }
	case ">":
		return func(h []held) bool { return a(h) > b(h) }
	case "<=":
		return func(h []held) bool { return a(h) <= b(h) }
	default:
		return func(h []held) bool { return a(h) >= b(h) }
	}
}

func compareFloats(op string, a, b floatFn) boolFn {
	switch op {
	case "<":
		return func(h []held) bool { return a(h) < b(h) }
	case ">":
		return func(h []held) bool { return a(h) > b(h) }
	case "<=":
		return func(h []held) bool { return a(h) <= b(h) }
	default:
		return func(h []held) bool { return a(h) >= b(h) }
	}
}

// compareFeature compares feature l with constant r in one call: a count
// with an int, or an amount with a number (as float64s, as expr compares
// them). A count with a float64 is left to compareFloats.
func compareFeature(op string, l, r native) (boolFn, bool) {
	i := l.feature - 1
	switch {
	case l.kind == nInt && r.kind == nInt:
		c := r.ci
		switch op {
		case "<":
			return func(h []held) bool { return int(h[i].num) < c }, true
		case ">":
			return func(h []held) bool { return int(h[i].num) > c }, true
		case "<=":
			return func(h []held) bool { return int(h[i].num) <= c }, true
		default:
			return func(h []held) bool { return int(h[i].num) >= c }, true
		}
	case l.kind == nFloat:
		c := r.cf
		if r.kind == nInt {
			c = float64(r.ci)
		}
		switch op {
		case "<":
			return func(h []held) bool { return h[i].num < c }, true
		case ">":
			return func(h []held) bool { return h[i].num > c }, true
		case "<=":
			return func(h []held) bool { return h[i].num <= c }, true
		default:
			return func(h []held) bool { return h[i].num >= c }, true
		}
	}
	return nil, false
}
