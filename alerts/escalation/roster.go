package escalation

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fengqiao/jurisdiction"
)

// Shift is a duty shift (班次) in Beijing time: the day shift (白班) runs
// 08:00–20:00, the night shift (夜班) 20:00 to 08:00 the next morning, and
// the all-day shift (全天) the whole calendar day, 00:00–24:00. A night
// shift belongs to the date it starts on. The zero Shift is not valid.
type Shift uint8

// The shifts.
const (
	DayShift Shift = iota + 1
	NightShift
	AllDay
)

var shiftNames = [...]struct{ en, zh string }{
	DayShift:   {"day", "白班"},
	NightShift: {"night", "夜班"},
	AllDay:     {"all", "全天"},
}

const (
	dayStart   = 8 * time.Hour
	nightStart = 20 * time.Hour
)

// String returns the shift's English name: day, night or all.
func (s Shift) String() string {
	if s.Valid() {
		return shiftNames[s].en
	}
	return fmt.Sprintf("Shift(%d)", uint8(s))
}

// Chinese returns the shift's Chinese name: 白班, 夜班 or 全天.
func (s Shift) Chinese() string {
	if s.Valid() {
		return shiftNames[s].zh
	}
	return s.String()
}

// Valid reports whether s is one of the three shifts.
func (s Shift) Valid() bool { return s >= DayShift && s <= AllDay }

// ParseShift parses a shift from its English or Chinese name.
func ParseShift(s string) (Shift, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i := DayShift; i <= AllDay; i++ {
		if t == shiftNames[i].en || t == shiftNames[i].zh {
			return i, nil
		}
	}
	return 0, errors.New("shift must be day, night or all (白班, 夜班, 全天)")
}

// MarshalText writes the shift's English name.
func (s Shift) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("invalid shift %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a shift as ParseShift does.
func (s *Shift) UnmarshalText(b []byte) error {
	v, err := ParseShift(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// span returns when the shift starts and ends on the given date, which is
// midnight Beijing time.
func (s Shift) span(date time.Time) (start, end time.Time) {
	switch s {
	case DayShift:
		return date.Add(dayStart), date.Add(nightStart)
	case NightShift:
		return date.Add(nightStart), date.AddDate(0, 0, 1).Add(dayStart)
	}
	return date, date.AddDate(0, 0, 1)
}

// shiftAt returns the date (midnight Beijing time) and shift, day or night,
// that t falls in: 03:00 on the 23rd is in the night shift of the 22nd.
func shiftAt(t time.Time) (time.Time, Shift) {
	t = t.In(beijing)
	date := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, beijing)
	since := t.Sub(date)
	switch {
	case since < dayStart:
		return date.AddDate(0, 0, -1), NightShift
	case since < nightStart:
		return date, DayShift
	}
	return date, NightShift
}

// Entry is one line of a duty roster: who is on duty (值班) for a unit in
// one shift of one date.
type Entry struct {
	Unit    string               `json:"unit"`
	Date    string               `json:"date"` // YYYY-MM-DD, Beijing time
	Shift   Shift                `json:"shift"`
	Contact jurisdiction.Contact `json:"contact"`
	// Line is where the entry is in its file; for a CSV file, its row,
	// counting the header as row 1.
	Line int `json:"line"`
}

// Roster is a duty roster (值班表): who is on duty for which unit, date and
// shift. It is loaded by LoadRoster or ParseRoster, is not changed
// afterwards and is safe for concurrent use. A nil *Roster has no entries.
type Roster struct {
	file    string
	entries []Entry
	byDay   map[string][]int // unit + " " + date → indexes into entries
}

// LoadRoster reads the roster file at path, a YAML file or, if its name
// ends in .csv, a CSV file; see ParseRoster.
func LoadRoster(path string) (*Roster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load duty roster: %w", err)
	}
	return ParseRoster(path, data)
}

// ParseRoster parses a duty roster; name is used in messages and chooses
// the format: CSV if it ends in .csv, YAML otherwise.
//
// In YAML:
//
//	entries:
//	  - {unit: "990101100000", date: 2026-11-22, shift: day, name: 孙雪梅,
//	     title: 镇综治中心值班员, phone: "13900000006", email: sun.xuemei@example.org}
//
// shift is day, night or all (or 白班, 夜班, 全天); title, phone, email,
// wecom and dingtalk are optional, but each entry needs one way to reach the
// person.
//
// In CSV, as exported from a spreadsheet (UTF-8, with or without a BOM), the
// first row names the columns, in any order; a hint in brackets after a
// name, as in 班次(白班/夜班/全天), is ignored:
//
//	单位代码  unit       required
//	日期      date       required, 2026-11-22 or 2026/11/22
//	班次      shift      required, 白班, 夜班 or 全天 (or day, night, all)
//	姓名      name       required
//	职务      title
//	电话      phone
//	邮箱      email
//	企业微信  wecom
//	钉钉      dingtalk
//
// The English names are accepted as headers too. Blank rows are skipped.
//
// Loading is strict: every bad entry or row is reported, with its line or
// row, in a *LoadError. Messages name the field that is wrong but never
// quote what it holds, since it may be a phone number.
func ParseRoster(name string, data []byte) (*Roster, error) {
	c := newChecker(name)
	var raws []rawEntry
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		raws = c.rosterCSV(data)
	} else {
		raws = c.rosterYAML(data)
	}
	r := &Roster{file: name, byDay: map[string][]int{}}
	seen := map[string]string{} // unit, date, shift, name → where first rostered
	for _, raw := range raws {
		e, ok := c.entry(raw)
		if !ok {
			continue
		}
		key := strings.Join([]string{e.Unit, e.Date, e.Shift.String(), e.Contact.Name}, "\x00")
		if first, dup := seen[key]; dup {
			c.add(raw.line, "%sthe same person is already rostered for %s on %s %s, %s", raw.where, e.Unit, e.Date, e.Shift, first)
			continue
		}
		seen[key] = raw.ref
		day := e.Unit + " " + e.Date
		r.byDay[day] = append(r.byDay[day], len(r.entries))
		r.entries = append(r.entries, e)
	}
	if len(c.problems) == 0 && len(r.entries) == 0 {
		c.add(0, "roster has no entries")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// Entries returns a copy of every entry, in file order.
func (r *Roster) Entries() []Entry {
	if r == nil {
		return nil
	}
	return slices.Clone(r.entries)
}

// OnDuty returns the contacts rostered for unit at the instant at, in file
// order and without repeats: those of the all-day shift of at's date and of
// whichever of its day or night shift at falls in, including the night
// shift of the day before for the hours before 08:00. It returns nil if no
// one is rostered.
func (r *Roster) OnDuty(unit string, at time.Time) []jurisdiction.Contact {
	if r == nil {
		return nil
	}
	at = at.In(beijing)
	today := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, beijing)
	var idx []int
	for _, date := range []time.Time{today.AddDate(0, 0, -1), today} {
		for _, i := range r.byDay[unit+" "+date.Format(dateLayout)] {
			start, end := r.entries[i].Shift.span(date)
			if !at.Before(start) && at.Before(end) {
				idx = append(idx, i)
			}
		}
	}
	slices.Sort(idx)
	var out []jurisdiction.Contact
	for _, i := range idx {
		if c := r.entries[i].Contact; !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Check reports, in a *LoadError, each entry whose unit is not in tree: a
// roster naming a unit that does not exist pages no one, so check it when
// the roster is loaded. It returns nil if every unit is known.
func (r *Roster) Check(tree *jurisdiction.Tree) error {
	if r == nil {
		return nil
	}
	if tree == nil {
		return errors.New("check duty roster: no jurisdiction tree")
	}
	c := newChecker(r.file)
	for _, e := range r.entries {
		if _, ok := tree.Unit(e.Unit); !ok {
			c.add(e.Line, "unit %s is not in the jurisdiction tree", e.Unit)
		}
	}
	return c.err()
}

// rawEntry is one entry or row as written, with where it is.
type rawEntry struct {
	fields map[string]string // by YAML key
	lines  map[string]int    // line of each field, where it differs from line
	labels map[string]string // the name of each field in the file, for messages
	line   int
	where  string // "entry 3: " or "row 5: ", to begin messages
	ref    string // "at line 3" or "in row 5", to point to it from another
}

func (raw rawEntry) lineOf(field string) int {
	if l := raw.lines[field]; l > 0 {
		return l
	}
	return raw.line
}

func (raw rawEntry) label(field string) string {
	if l := raw.labels[field]; l != "" {
		return l
	}
	return field
}

var rosterFields = []string{"unit", "date", "shift", "name", "title", "phone", "email", "wecom", "dingtalk"}

// rosterYAML reads the entries of a YAML roster.
func (c *checker) rosterYAML(data []byte) []rawEntry {
	top := c.document(data, "entries")
	if top == nil {
		return nil
	}
	m, ok := c.mapping(top, "", []string{"entries"})
	if !ok {
		return nil
	}
	ep, ok := m.get("entries")
	if !ok {
		c.add(top.Line, "entries are missing: list who is on duty, e.g. entries: [{unit: ..., date: ..., shift: day, name: ...}]")
		return nil
	}
	items, _ := c.list(ep.val, "entries")
	var out []rawEntry
	for i, item := range items {
		raw := rawEntry{fields: map[string]string{}, lines: map[string]int{}, line: item.Line,
			where: fmt.Sprintf("entry %d: ", i+1), ref: fmt.Sprintf("at line %d", item.Line)}
		fields, ok := c.mapping(item, fmt.Sprintf("entry %d", i+1), rosterFields)
		if !ok {
			continue
		}
		fine := true
		for _, f := range fields {
			v, ok := c.scalar(f.val, fmt.Sprintf("entry %d: %s", i+1, f.key))
			fine = fine && ok
			raw.fields[f.key] = strings.TrimSpace(v)
			raw.lines[f.key] = f.line
		}
		if fine {
			out = append(out, raw)
		}
	}
	return out
}

// csvHeaders maps the Chinese column names of a CSV roster to the fields.
var csvHeaders = map[string]string{
	"单位代码": "unit",
	"日期":   "date",
	"班次":   "shift",
	"姓名":   "name",
	"职务":   "title",
	"电话":   "phone",
	"邮箱":   "email",
	"企业微信": "wecom",
	"钉钉":   "dingtalk",
}

// rosterCSV reads the rows of a CSV roster.
func (c *checker) rosterCSV(data []byte) []rawEntry {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = -1
	rd.TrimLeadingSpace = true
	header, err := rd.Read()
	if errors.Is(err, io.EOF) {
		c.add(0, "file is empty: the first row must name the columns 单位代码,日期,班次,姓名,职务,电话,邮箱,企业微信,钉钉")
		return nil
	}
	if err != nil {
		c.csvError(err, 1)
		return nil
	}
	cols := make([]string, len(header)) // field of each column; "" for one ignored
	labels := map[string]string{}
	n := len(c.problems)
	var unknown []int
	for i, h := range header {
		name := strings.TrimSpace(h)
		if j := strings.IndexAny(name, "(（"); j > 0 {
			name = strings.TrimSpace(name[:j])
		}
		field, ok := csvHeaders[name]
		if !ok && slices.Contains(rosterFields, strings.ToLower(name)) {
			field, ok = strings.ToLower(name), true
		}
		switch {
		case name == "":
			// A spreadsheet's trailing empty column; a value under it is
			// reported with its row.
		case !ok:
			unknown = append(unknown, i)
		case labels[field] != "":
			c.add(1, "row 1: column %s is given twice", quote(name))
		default:
			cols[i], labels[field] = field, name
		}
	}
	const known = "单位代码, 日期, 班次, 姓名, 职务, 电话, 邮箱, 企业微信, 钉钉"
	if len(labels) == 0 {
		// Most likely a data row with no header above it: quote none of it.
		c.add(1, "row 1 must name the columns (%s), but names none of them", known)
		return nil
	}
	for _, i := range unknown {
		name := strings.TrimSpace(header[i])
		if strings.ContainsAny(name, "0123456789") {
			c.add(1, "row 1: column %d has an unknown name (want %s)", i+1, known)
		} else {
			c.add(1, "row 1: unknown column %s (want %s)", quote(name), known)
		}
	}
	for _, req := range []string{"unit", "date", "shift", "name"} {
		if labels[req] == "" {
			for zh, f := range csvHeaders {
				if f == req {
					c.add(1, "row 1: column %s (%s) is missing", zh, req)
				}
			}
		}
	}
	if len(c.problems) > n {
		return nil
	}
	var out []rawEntry
	for row := 2; row <= len(data)+2; row++ { // each row takes at least a byte: the bound only guards against a stuck reader
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			c.csvError(err, row)
			if !errors.As(err, &pe) {
				break
			}
			continue
		}
		line, _ := rd.FieldPos(0)
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		where := fmt.Sprintf("row %d: ", row)
		if len(rec) != len(header) {
			c.add(line, "%shas %d fields, but the header has %d", where, len(rec), len(header))
			continue
		}
		raw := rawEntry{fields: map[string]string{}, labels: labels, line: line, where: where, ref: fmt.Sprintf("in row %d", row)}
		unnamed := 0
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch {
			case cols[i] != "":
				raw.fields[cols[i]] = v
			case v != "" && unnamed == 0:
				unnamed = i + 1
			}
		}
		if unnamed > 0 {
			c.add(line, "%scolumn %d has a value, but no name in the header", where, unnamed)
			continue
		}
		out = append(out, raw)
	}
	return out
}

// csvError records an error from the CSV reader, which names no values.
func (c *checker) csvError(err error, row int) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		c.add(pe.Line, "row %d: %v", row, pe.Err)
		return
	}
	c.add(0, "row %d: %v", row, err)
}

// entry checks one raw entry. Its messages never quote a value.
func (c *checker) entry(raw rawEntry) (Entry, bool) {
	n := len(c.problems)
	bad := func(field, format string, args ...any) {
		c.add(raw.lineOf(field), "%s%s %s", raw.where, raw.label(field), fmt.Sprintf(format, args...))
	}
	f := raw.fields
	e := Entry{Unit: f["unit"], Line: raw.line, Contact: jurisdiction.Contact{
		Name: f["name"], Title: f["title"], Phone: f["phone"], Email: f["email"], WeCom: f["wecom"], DingTalk: f["dingtalk"],
	}}
	switch {
	case e.Unit == "":
		bad("unit", "is missing: give the unit's code")
	case strings.Trim(e.Unit, "0123456789") != "" || (len(e.Unit) != 12 && len(e.Unit) != 15):
		bad("unit", "must be a unit code of 12 digits, or 15 for a grid")
	}
	if d := f["date"]; d == "" {
		bad("date", "is missing: give the duty date, e.g. 2026-11-22")
	} else if t, ok := parseDate(d); !ok {
		bad("date", "is not a date written as 2026-11-22")
	} else {
		e.Date = t.Format(dateLayout)
	}
	if s := f["shift"]; s == "" {
		bad("shift", "is missing: give day, night or all (白班, 夜班, 全天)")
	} else if sh, err := ParseShift(s); err != nil {
		bad("shift", "must be day, night or all (白班, 夜班, 全天)")
	} else {
		e.Shift = sh
	}
	ct := e.Contact
	if ct.Name == "" {
		bad("name", "is missing: give who is on duty")
	}
	if ct.Phone == "" && ct.Email == "" && ct.WeCom == "" && ct.DingTalk == "" {
		c.add(raw.line, "%shas no phone, email, wecom or dingtalk to reach the person by", raw.where)
	}
	if ct.Phone != "" && !jurisdiction.ValidPhone(ct.Phone) {
		bad("phone", "is not an 11-digit mobile number or a landline number with area code (from a spreadsheet, format the column as text)")
	}
	if ct.Email != "" && !jurisdiction.ValidEmail(ct.Email) {
		bad("email", "is not a valid address")
	}
	return e, len(c.problems) == n
}

// parseDate reads a date written 2026-11-22, or 2026/11/22 as spreadsheets
// write it, as midnight Beijing time.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{dateLayout, "2006/1/2"} {
		if t, err := time.ParseInLocation(layout, s, beijing); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
