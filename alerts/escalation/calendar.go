package escalation

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// beijing is Beijing time (CST, UTC+8). China has kept no daylight saving
// time since 1991, so a fixed zone is exact and needs no tz database.
var beijing = time.FixedZone("CST", 8*60*60)

// dateLayout is how dates are written in calendar and roster files.
const dateLayout = "2006-01-02"

// morning is when a working day starts for acknowledgement deadlines.
const morning = 9 * time.Hour

// Calendar knows which days are workdays in mainland China: Monday to
// Friday, except the days off of the statutory holidays (法定节假日), plus
// the weekend days worked in their place (调休 make-up workdays). It is
// loaded from one file per year; see LoadCalendar. A nil *Calendar holds no
// years, so it judges every day by its weekday alone, with a warning.
type Calendar struct {
	years    map[int]string    // year → the file it came from
	holidays map[string]string // date → holiday name
	makeup   map[string]bool   // date → is a make-up workday
}

// LoadCalendar loads one or more calendar files, each giving one year's
// holidays and make-up workdays:
//
//	year: 2026
//	holidays:
//	  - {name: 国庆节, from: 2026-10-01, to: 2026-10-07}
//	makeup_workdays:
//	  - 2026-10-10  # Saturday, for 国庆节
//
// A holiday's from and to are its first and last days off, weekend days
// folded into it included. A holiday may reach a few days into a
// neighbouring year (元旦 sometimes starts on 30 December). Every problem in
// every file is returned together in a *LoadError.
func LoadCalendar(paths ...string) (*Calendar, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("load calendar: no calendar files given")
	}
	cal := &Calendar{years: map[int]string{}, holidays: map[string]string{}, makeup: map[string]bool{}}
	var problems []Problem
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load calendar: %w", err)
		}
		c := newChecker(path)
		cal.parse(c, data)
		problems = append(problems, c.problems...)
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems}
	}
	return cal, nil
}

// parse adds one file's year to cal, reporting its problems to c.
func (cal *Calendar) parse(c *checker, data []byte) {
	top := c.document(data, "year, holidays and makeup_workdays")
	if top == nil {
		return
	}
	m, ok := c.mapping(top, "", []string{"year", "holidays", "makeup_workdays"})
	if !ok {
		return
	}
	yp, ok := m.get("year")
	if !ok {
		c.add(top.Line, "year is missing, e.g. year: 2026")
		return
	}
	ys, _ := c.scalar(yp.val, "year")
	year, err := strconv.Atoi(ys)
	if err != nil || year < 2000 || year > 2200 {
		c.add(yp.line, "year must be a year such as 2026")
		return
	}
	if prev, dup := cal.years[year]; dup {
		c.add(yp.line, "year %d is already loaded from %s", year, prev)
		return
	}
	cal.years[year] = c.file

	// A date belongs to the file's year or lies within a month of it.
	first := time.Date(year, 1, 1, 0, 0, 0, 0, beijing)
	lo, hi := first.AddDate(0, -1, 0), first.AddDate(1, 1, 0)
	date := func(n *yaml.Node, what string) (time.Time, bool) {
		s, ok := c.scalar(n, what)
		if !ok {
			return time.Time{}, false
		}
		d, err := time.ParseInLocation(dateLayout, s, beijing)
		switch {
		case s == "":
			c.add(n.Line, "%s: date is missing", what)
		case err != nil:
			c.add(n.Line, "%s: write the date as YYYY-MM-DD, e.g. %d-10-01", what, year)
		case d.Before(lo) || !d.Before(hi):
			c.add(n.Line, "%s: %s is not in or next to %d", what, s, year)
		default:
			return d, true
		}
		return time.Time{}, false
	}

	holidayAt := map[string]int{} // date → line, for overlaps and make-up clashes
	if hp, ok := m.get("holidays"); ok {
		items, _ := c.list(hp.val, "holidays")
		for i, item := range items {
			what := fmt.Sprintf("holidays: item %d", i+1)
			h, ok := c.mapping(item, what, []string{"name", "from", "to"})
			if !ok {
				continue
			}
			name := ""
			if np, ok := h.get("name"); ok {
				name, _ = c.scalar(np.val, what+": name")
			}
			if name == "" {
				c.add(item.Line, "%s: name is missing, e.g. name: 国庆节", what)
			} else {
				what = fmt.Sprintf("holidays: %s", quote(name))
			}
			var from, to time.Time
			var okFrom, okTo bool
			if fp, ok := h.get("from"); ok {
				from, okFrom = date(fp.val, what+": from")
			} else {
				c.add(item.Line, "%s: from is missing: give the first day off", what)
			}
			if tp, ok := h.get("to"); ok {
				to, okTo = date(tp.val, what+": to")
			} else {
				c.add(item.Line, "%s: to is missing: give the last day off", what)
			}
			if !okFrom || !okTo {
				continue
			}
			if to.Before(from) {
				c.add(item.Line, "%s: to is before from", what)
				continue
			}
			if to.Sub(from) > 31*24*time.Hour {
				c.add(item.Line, "%s: lasts more than a month", what)
				continue
			}
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				key := d.Format(dateLayout)
				if _, dup := cal.holidays[key]; dup {
					if line, here := holidayAt[key]; here {
						c.add(item.Line, "%s: %s is already a holiday at line %d", what, key, line)
					} else {
						c.add(item.Line, "%s: %s is already a holiday in another calendar file", what, key)
					}
					break
				}
				cal.holidays[key] = name
				holidayAt[key] = item.Line
			}
		}
	}
	if mp, ok := m.get("makeup_workdays"); ok {
		items, _ := c.list(mp.val, "makeup_workdays")
		for _, item := range items {
			d, ok := date(item, "makeup_workdays")
			if !ok {
				continue
			}
			key := d.Format(dateLayout)
			switch wd := d.Weekday(); {
			case wd != time.Saturday && wd != time.Sunday:
				c.add(item.Line, "makeup_workdays: %s is a %s, a workday anyway: list only weekend days worked", key, wd)
			case cal.holidays[key] != "":
				c.add(item.Line, "makeup_workdays: %s is also a day off of %s", key, cal.holidays[key])
			case cal.makeup[key]:
				c.add(item.Line, "makeup_workdays: %s is listed twice", key)
			default:
				cal.makeup[key] = true
			}
		}
	}
}

// IsWorkday reports whether the day that date falls on, in Beijing time,
// is a working day. A day that no loaded year covers is judged by its
// weekday alone (Monday to Friday work), and warning then says so; it is
// empty otherwise.
func (cal *Calendar) IsWorkday(date time.Time) (workday bool, warning string) {
	d := date.In(beijing)
	key := d.Format(dateLayout)
	if cal != nil {
		if _, ok := cal.holidays[key]; ok {
			return false, ""
		}
		if cal.makeup[key] {
			return true, ""
		}
	}
	wd := d.Weekday()
	workday = wd != time.Saturday && wd != time.Sunday
	if !cal.Covers(d) {
		warning = fmt.Sprintf("no holiday calendar is loaded for %d: %s (%s) is judged by its weekday alone", d.Year(), key, wd)
	}
	return workday, warning
}

// Covers reports whether a loaded calendar file gives the holidays of the
// year that t falls in (in Beijing time). Where it does not, IsWorkday
// warns, and NextWorkingMorning and Policy.Deadline, which cannot, judge by
// weekday alone: a caller that wants to count such guesses checks Covers.
func (cal *Calendar) Covers(t time.Time) bool {
	if cal == nil {
		return false
	}
	_, ok := cal.years[t.In(beijing).Year()]
	return ok
}

// NextWorkingMorning returns the next working morning after t: 09:00
// Beijing time on the first working day after t's date, or, if t falls
// before 09:00 on a working day, 09:00 that same day. This follows duty
// practice: a notice that arrives at 07:30 on a Monday is due on Monday
// morning, one at 09:00 or later on Friday is due on Monday (or the first
// working day after a holiday). The result is in Beijing time.
func (cal *Calendar) NextWorkingMorning(t time.Time) time.Time {
	t = t.In(beijing)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, beijing)
	if ok, _ := cal.IsWorkday(day); ok && t.Before(day.Add(morning)) {
		return day.Add(morning)
	}
	// Holidays last at most a month and weekends two days, so a working day
	// comes long before this bound.
	for i := 1; i <= 400; i++ {
		d := day.AddDate(0, 0, i)
		if ok, _ := cal.IsWorkday(d); ok {
			return d.Add(morning)
		}
	}
	return day.AddDate(0, 0, 1).Add(morning)
}
