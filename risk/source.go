package risk

import "fmt"

// Source is where a signal comes from.
type Source string

// The signal sources.
const (
	GridReport Source = "grid_report" // 网格员上报
	Petition   Source = "petition"    // 信访
	Hotline    Source = "hotline"     // 12345 热线
	Ledger     Source = "ledger"      // 台账 row
	CaseEvent  Source = "case_event"  // produced by the case workflow
)

// Sources lists every signal source.
var Sources = [...]Source{GridReport, Petition, Hotline, Ledger, CaseEvent}

// ParseSource parses a signal source name.
func ParseSource(s string) (Source, error) {
	for _, src := range Sources {
		if string(src) == s {
			return src, nil
		}
	}
	return "", fmt.Errorf("unknown source %q: want one of grid_report, petition, hotline, ledger, case_event", s)
}

// Chinese returns the source's Chinese name.
func (s Source) Chinese() string {
	switch s {
	case GridReport:
		return "网格员上报"
	case Petition:
		return "信访"
	case Hotline:
		return "12345热线"
	case Ledger:
		return "台账"
	case CaseEvent:
		return "案件事件"
	}
	return string(s)
}
