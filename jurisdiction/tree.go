package jurisdiction

import (
	"cmp"
	"slices"
)

// Tree is the jurisdiction (辖区) tree: every unit from the root down to the
// grids, indexed by code. A Tree is built by Load or Parse, is never changed
// afterwards and is safe for concurrent use. The Units it returns are copies,
// so changing them does not change the tree. The zero Tree is empty.
type Tree struct {
	version string
	nodes   map[string]*node
	sorted  []*node // every node, sorted by code
	root    *node
}

// node is a unit with its links to the rest of the tree.
type node struct {
	unit     Unit
	parent   *node
	children []*node // sorted by code
}

// newTree links the given units, which must already have passed validation,
// into a tree.
func newTree(version string, units []Unit) *Tree {
	t := &Tree{
		version: version,
		nodes:   make(map[string]*node, len(units)),
		sorted:  make([]*node, 0, len(units)),
	}
	for _, u := range units {
		n := &node{unit: u}
		t.nodes[u.Code] = n
		t.sorted = append(t.sorted, n)
	}
	slices.SortFunc(t.sorted, byCode)
	for _, n := range t.sorted {
		if n.unit.Parent == "" {
			t.root = n
			continue
		}
		p := t.nodes[n.unit.Parent]
		n.parent = p
		p.children = append(p.children, n) // t.sorted is in code order, so children are too
	}
	return t
}

func byCode(a, b *node) int { return cmp.Compare(a.unit.Code, b.unit.Code) }

// units returns copies of the units of ns.
func units(ns []*node) []Unit {
	if len(ns) == 0 {
		return nil
	}
	out := make([]Unit, len(ns))
	for i, n := range ns {
		out[i] = n.unit.clone()
	}
	return out
}

// Version returns the version string given at the top of the file.
func (t *Tree) Version() string { return t.version }

// Len returns the number of units in the tree, grids included.
func (t *Tree) Len() int { return len(t.sorted) }

// Root returns the unit at the top of the tree, normally the city. It
// returns the zero Unit for an empty tree.
func (t *Tree) Root() Unit {
	if t.root == nil {
		return Unit{}
	}
	return t.root.unit.clone()
}

// Unit returns the unit with the given code, and whether there is one.
func (t *Tree) Unit(code string) (Unit, bool) {
	n, ok := t.nodes[code]
	if !ok {
		return Unit{}, false
	}
	return n.unit.clone(), true
}

// Parent returns the unit directly above the unit with the given code. It
// returns false for the root and for an unknown code.
func (t *Tree) Parent(code string) (Unit, bool) {
	n, ok := t.nodes[code]
	if !ok || n.parent == nil {
		return Unit{}, false
	}
	return n.parent.unit.clone(), true
}

// Ancestors returns the units above the unit with the given code, its parent
// first and the root last. It returns nil for the root and for an unknown
// code.
func (t *Tree) Ancestors(code string) []Unit {
	n, ok := t.nodes[code]
	if !ok {
		return nil
	}
	var out []Unit
	for p := n.parent; p != nil; p = p.parent {
		out = append(out, p.unit.clone())
	}
	return out
}

// Children returns the units directly below the unit with the given code,
// sorted by code. It returns nil for a unit with no children and for an
// unknown code.
func (t *Tree) Children(code string) []Unit {
	n, ok := t.nodes[code]
	if !ok {
		return nil
	}
	return units(n.children)
}

// Subtree returns the unit with the given code and every unit below it,
// sorted by code. It returns nil for an unknown code. Queries scoped to a
// unit's jurisdiction cover exactly these units.
func (t *Tree) Subtree(code string) []Unit {
	n, ok := t.nodes[code]
	if !ok {
		return nil
	}
	ns := []*node{n}
	for i := 0; i < len(ns); i++ {
		ns = append(ns, ns[i].children...)
	}
	slices.SortFunc(ns, byCode)
	return units(ns)
}

// Contains reports whether the unit with code lies in the jurisdiction of
// the unit with code ancestor: that is, whether code equals ancestor or the
// unit is below it. It is false if either code is unknown.
func (t *Tree) Contains(ancestor, code string) bool {
	a, ok := t.nodes[ancestor]
	if !ok {
		return false
	}
	for n := t.nodes[code]; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// AncestorAt returns the unit of the given tier that the unit with code
// belongs to: the unit itself if it has that tier, or else its ancestor of
// that tier. It returns false for an unknown code, and when neither the unit
// nor any ancestor has that tier, as for a tier below the unit's own or a
// tier the tree skips.
func (t *Tree) AncestorAt(code string, tier Tier) (Unit, bool) {
	for n := t.nodes[code]; n != nil; n = n.parent {
		if n.unit.Tier == tier {
			return n.unit.clone(), true
		}
	}
	return Unit{}, false
}

// Units returns every unit in the tree, sorted by code.
func (t *Tree) Units() []Unit { return units(t.sorted) }
