package jurisdiction

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// filePos records where things are in a jurisdiction file, read from a
// yaml.Node decode of the same document, so that problems found in the
// decoded units can be reported with their lines.
type filePos struct {
	top      int            // line of the top-level node
	keys     map[string]int // line of each top-level key
	values   map[string]int // line of each top-level key's value
	unitsEnd int            // line of the first top-level key after units, or 0
	items    []mapPos       // every item of the units list, in file order
	units    []*mapPos      // position of each decoded unit; nil when they cannot be matched
	dropped  []droppedItem  // list items the decoder dropped
}

// droppedItem is a list item that the decoder dropped, such as an empty one.
type droppedItem struct {
	line    int
	unit    int  // index of the unit item in items
	contact bool // whether the item is a contact rather than a unit
}

// mapPos is the position of one mapping in the file.
type mapPos struct {
	line     int
	keys     map[string]int // line of each key
	values   map[string]int // line of each key's value
	decoded  int            // index among the decoded values, or -1
	contacts []mapPos       // position of each decoded contact, or nil
}

// read fills p from doc. The decoder drops list items it cannot decode, so
// read matches the remaining items to the nUnits decoded units, and their
// contacts to the counts in contacts, only when the numbers agree. It
// returns the line of the top-level node and whether that node is a mapping.
func (p *filePos) read(doc *yaml.Node, nUnits int, contacts []int) (int, bool) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return root.Line, false
		}
		root = root.Content[0]
	}
	root = deref(root)
	if root == nil {
		return 0, false
	}
	p.top = root.Line
	if root.Kind != yaml.MappingNode {
		return root.Line, false
	}
	p.keys, p.values = keyLines(root)

	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "units" {
			list = deref(root.Content[i+1])
			if i+2 < len(root.Content) {
				p.unitsEnd = root.Content[i+2].Line
			}
			break
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return root.Line, true
	}
	decoded := 0
	for _, item := range list.Content {
		mp := mapPos{line: item.Line, decoded: -1}
		n := deref(item)
		if n != nil && n.Kind == yaml.MappingNode {
			mp.keys, mp.values = keyLines(n)
		}
		if decodesToStruct(item) {
			mp.decoded = decoded
			decoded++
			var drops []int
			mp.contacts, drops = contactPositions(n)
			for _, line := range drops {
				p.dropped = append(p.dropped, droppedItem{line: line, unit: len(p.items), contact: true})
			}
		} else {
			p.dropped = append(p.dropped, droppedItem{line: item.Line, unit: len(p.items)})
		}
		p.items = append(p.items, mp)
	}
	if decoded != nUnits {
		for i := range p.items {
			p.items[i].decoded = -1
		}
		return root.Line, true
	}
	p.units = make([]*mapPos, nUnits)
	for i := range p.items {
		mp := &p.items[i]
		if mp.decoded < 0 {
			continue
		}
		if len(mp.contacts) != contacts[mp.decoded] {
			mp.contacts = nil
		}
		p.units[mp.decoded] = mp
	}
	return root.Line, true
}

// contactPositions returns the positions of the contacts of the unit
// mapping n that the decoder keeps, and the lines of those it drops.
func contactPositions(n *yaml.Node) (kept []mapPos, dropped []int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "contacts" {
			continue
		}
		list := deref(n.Content[i+1])
		if list == nil || list.Kind != yaml.SequenceNode {
			return nil, nil
		}
		for _, item := range list.Content {
			if decodesToStruct(item) {
				keys, values := keyLines(deref(item))
				kept = append(kept, mapPos{line: item.Line, keys: keys, values: values, decoded: len(kept)})
			} else {
				dropped = append(dropped, item.Line)
			}
		}
		return kept, dropped
	}
	return nil, nil
}

// deref follows aliases to the node they stand for. It returns nil for an
// alias chain that is broken or too long.
func deref(n *yaml.Node) *yaml.Node {
	for range 16 {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

// decodesToStruct reports whether yaml.v3 keeps n when decoding it as a list
// item of struct type: n must be a mapping with no repeated key.
func decodesToStruct(n *yaml.Node) bool {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	type key struct {
		kind  yaml.Kind
		value string
	}
	seen := make(map[key]bool, len(n.Content)/2)
	for i := 0; i < len(n.Content); i += 2 {
		k := key{n.Content[i].Kind, n.Content[i].Value}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// keyLines returns the line of each key of the mapping n and the line of
// its value, keeping the first of any repeated key.
func keyLines(n *yaml.Node) (keys, values map[string]int) {
	keys = make(map[string]int, len(n.Content)/2)
	values = make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, ok := keys[k.Value]; !ok {
			keys[k.Value] = k.Line
			values[k.Value] = n.Content[i+1].Line
		}
	}
	return keys, values
}

// keyLine returns the line of a top-level key, or of the top-level node if
// the key is absent.
func (p *filePos) keyLine(key string) int {
	if l := p.keys[key]; l > 0 {
		return l
	}
	return p.top
}

// unitAt returns the index of the decoded unit whose text holds line, or -1.
func (p *filePos) unitAt(line int) int {
	if p.units == nil || (p.unitsEnd > 0 && line >= p.unitsEnd) {
		return -1
	}
	found := -1
	for _, it := range p.items {
		if it.line > line {
			break
		}
		found = it.decoded
	}
	return found
}

// unitLine returns the line where decoded unit i starts.
func (p *filePos) unitLine(i int) int {
	if p.units != nil && p.units[i] != nil {
		return p.units[i].line
	}
	return p.keyLine("units")
}

// fieldLine returns the line of the given key of decoded unit i, or the
// unit's own line if the key is absent.
func (p *filePos) fieldLine(i int, key string) int {
	if p.units != nil && p.units[i] != nil {
		if l := p.units[i].keys[key]; l > 0 {
			return l
		}
	}
	return p.unitLine(i)
}

// contactLine returns the line of the given key of contact j of decoded
// unit i, or of the contact itself if key is empty or absent.
func (p *filePos) contactLine(i, j int, key string) int {
	if p.units == nil || p.units[i] == nil || j >= len(p.units[i].contacts) {
		return p.fieldLine(i, "contacts")
	}
	c := p.units[i].contacts[j]
	if l := c.keys[key]; key != "" && l > 0 {
		return l
	}
	return c.line
}

// fieldLines returns the lines of the given key of decoded unit i and of its
// value, or zeros if the key is absent or the unit's position is unknown.
func (p *filePos) fieldLines(i int, key string) (keyLine, valueLine int) {
	if p.units == nil || p.units[i] == nil {
		return 0, 0
	}
	return p.units[i].keys[key], p.units[i].values[key]
}

// fieldAt names the field whose value starts on line: a top-level key such
// as "units: ", or, within decoded unit i (which may be -1), a key such as
// "name: " or "contact 2: phone: ". It returns "" if no single field does.
func (p *filePos) fieldAt(i, line int) string {
	if i < 0 || p.units == nil || p.units[i] == nil {
		if k := keyWithValueAt(p.values, line); k != "" {
			return k + ": "
		}
		return ""
	}
	u := p.units[i]
	if k := keyWithValueAt(u.values, line); k != "" {
		return k + ": "
	}
	for j, c := range u.contacts {
		if k := keyWithValueAt(c.values, line); k != "" {
			return fmt.Sprintf("contact %d: %s: ", j+1, k)
		}
	}
	return ""
}

// keyWithValueAt returns the key whose value starts on line, or "" unless
// exactly one does.
func keyWithValueAt(values map[string]int, line int) string {
	found := ""
	for k, v := range values {
		if v == line {
			if found != "" {
				return ""
			}
			found = k
		}
	}
	return found
}
