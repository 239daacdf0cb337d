package ledger

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Beijing is the time zone ledger dates are read in: China Standard Time,
// UTC+8 all year, fixed so that no time-zone database is needed.
var Beijing = time.FixedZone("CST", 8*60*60)

// Messages for cells that cannot be read. None repeats the cell, which may
// hold an ID or phone number typed into the wrong column.
const (
	msgDate   = "is not a date: use e.g. 2026-11-03, 2026/11/3 or 2026-11-03 14:20 (Beijing time)"
	msgAmount = "is not an amount: use yuan, e.g. 12000, 12,000元 or 1.2万元"
	msgCount  = "is not a whole number of persons, e.g. 3"
)

var dateForm = regexp.MustCompile(`^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:(?:\s+|T)(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2}))?)?$`)

// serialForm is an Excel date serial: days since 1899-12-30, the fraction
// being the time of day.
var serialForm = regexp.MustCompile(`^\d{1,7}(?:\.\d+)?$`)

// parseTime reads a ledger date or date-time as Beijing time. Excel date
// serials are accepted only when serials is set (cells of an XLSX file);
// date1904 selects the workbook's 1904 date system.
func parseTime(s string, serials, date1904 bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if m := dateForm.FindStringSubmatch(s); m != nil {
		n := make([]int, 6)
		for i, v := range m[1:] {
			n[i], _ = strconv.Atoi(v) // "" (no time) reads as 0
		}
		t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, Beijing)
		// time.Date normalizes 2026-02-30 to March; a ledger date must exist as written.
		if t.Year() != n[0] || int(t.Month()) != n[1] || t.Day() != n[2] || n[3] > 23 || n[4] > 59 || n[5] > 59 {
			return time.Time{}, errors.New(msgDate)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(Beijing), nil
	}
	if serials && serialForm.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		// Serials before 1900-03-01 fall in the days Excel counts wrongly
		// (its fictitious 1900-02-29); 2958465 is 9999-12-31.
		if err == nil && f >= 61 && f < 2958466 {
			epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, Beijing)
			if date1904 {
				epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, Beijing)
			}
			days := math.Floor(f)
			secs := math.Round((f - days) * 86400)
			return epoch.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), nil
		}
	}
	return time.Time{}, errors.New(msgDate)
}

// parseAmount reads an amount of money in yuan: thousands separators and a
// trailing 元 are dropped, 万 (ten thousand) multiplies, and a bare number is
// in units of unit yuan (1, or 10000 for a 涉及金额(万元) column).
func parseAmount(s string, unit float64) (float64, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ',', '，', ' ', '\u3000', '¥', '￥':
			return -1
		}
		return r
	}, s)
	s = strings.TrimSuffix(s, "元")
	if t, ok := strings.CutSuffix(s, "万"); ok {
		s, unit = t, 10000
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
		return 0, errors.New(msgAmount)
	}
	// Round to the fen, so that 1.2万 is exactly 12000 and not 12000.000000000002.
	return math.Round(f*unit*100) / 100, nil
}

// parseCount reads a number of persons: "3", "3人", or an integral "3.0"
// from a spreadsheet's number cell.
func parseCount(s string) (int, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "人")
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e9 {
		return int(f), nil
	}
	return 0, errors.New(msgCount)
}

// splitTags splits a cell of tags on 、 , ; ， ；, dropping empty ones.
func splitTags(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, isListSep) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// splitPersons splits a cell listing one value per person. Unlike tags,
// empty entries are kept, since they hold a person's place: "张三、、李四"
// gives three entries, and "13900010001、" two, the second unknown. An empty
// cell gives none.
func splitPersons(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := splitKeep(s, isListSep)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// given is how many entries of a person list count: up to the last that is
// not empty.
func given(vals []string) int {
	for i := len(vals) - 1; i >= 0; i-- {
		if vals[i] != "" {
			return i + 1
		}
	}
	return 0
}

func splitKeep(s string, sep func(rune) bool) []string {
	var out []string
	start := 0
	for i, r := range s {
		if sep(r) {
			out = append(out, s[start:i])
			start = i + len(string(r))
		}
	}
	return append(out, s[start:])
}

func isListSep(r rune) bool {
	switch r {
	case '、', ',', ';', '，', '；', '\n':
		return true
	}
	return false
}
