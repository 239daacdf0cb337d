package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fengqiao/internal/reporting"
	"fengqiao/schedule"
)

// Reports are the zero reports and daily reports.
type Reports interface {
	File(ctx context.Context, f schedule.ZeroReportFiling, by reporting.Filer) (schedule.ZeroReportFiling, schedule.Status, schedule.Checkpoint, error)
	Status(ctx context.Context, unit, checkpoint string) (schedule.Checkpoint, []reporting.Row, []reporting.Rollup, error)
	History(ctx context.Context, unit string, days int) ([]reporting.HistoryEntry, *float64, error)
	Daily(ctx context.Context, unit, date string) (*schedule.Daily, error)
	Build(ctx context.Context, unit, date string) (*schedule.Daily, error)
}

// withReports answers that there are no reports when none is configured.
func (s *Server) withReports(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Reports == nil {
			writeError(w, http.StatusNotFound, "this riskd runs no zero or daily reports: its configuration sets no schedule_policy", "")
			return
		}
		h(w, r)
	}
}

func (s *Server) fileZeroReport(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Unit       string              `json:"unit"`
		Checkpoint string              `json:"checkpoint"`
		Nothing    bool                `json:"nothing"`
		Incidents  []schedule.Incident `json:"incidents"`
		Officer    string              `json:"officer"`
		Note       string              `json:"note"`
	}
	if !decodeStrict(w, r, &in) {
		return
	}
	p := principal(r)
	f, status, cp, err := s.Reports.File(r.Context(), schedule.ZeroReportFiling{Unit: in.Unit, Checkpoint: in.Checkpoint,
		Nothing: in.Nothing, Incidents: in.Incidents, Officer: in.Officer, Note: in.Note}, reporting.Filer{Name: p.Name, Unit: p.Unit})
	if err != nil {
		s.reportError(w, err, "file the zero report")
		return
	}
	if aerr := s.Audit.Record(r.Context(), p, "zero_report.file", "unit/"+f.Unit, "零报告 "+cp.ID+" "+status.Chinese()); aerr != nil {
		s.Log.Error("audit a zero report", "err", aerr)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"filing": f, "status": status, "status_chinese": status.Chinese(), "checkpoint": cp})
}

func (s *Server) reportError(w http.ResponseWriter, err error, what string) {
	var fe *schedule.FieldError
	var forbidden *reporting.ForbiddenError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error(), fe.Field)
	case errors.As(err, &forbidden):
		writeError(w, http.StatusForbidden, forbidden.Error(), "unit")
	case errors.Is(err, reporting.ErrNoReport):
		writeError(w, http.StatusNotFound, "no daily report for that unit and date", "")
	default:
		s.internalError(w, what, err)
	}
}

// reportUnit is the unit a report query names, the caller's own by default,
// answered 404 outside the caller's subtree.
func (s *Server) reportUnit(w http.ResponseWriter, r *http.Request) (string, bool) {
	unit := r.URL.Query().Get("unit")
	if unit == "" {
		unit = principal(r).Unit
	}
	if _, ok := s.Units.Unit(unit); !ok || !s.inScope(r, unit) {
		writeError(w, http.StatusNotFound, "no such unit in your jurisdiction", "unit")
		return "", false
	}
	return unit, true
}

func (s *Server) zeroReportStatus(w http.ResponseWriter, r *http.Request) {
	unit, ok := s.reportUnit(w, r)
	if !ok {
		return
	}
	cp, rows, rollup, err := s.Reports.Status(r.Context(), unit, r.URL.Query().Get("checkpoint"))
	if err != nil {
		s.reportError(w, err, "read the zero reports")
		return
	}
	if rows == nil {
		rows = []reporting.Row{}
	}
	if rollup == nil {
		rollup = []reporting.Rollup{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkpoint": cp, "units": rows, "rollup": rollup})
}

func (s *Server) zeroReportHistory(w http.ResponseWriter, r *http.Request) {
	unit, ok := s.reportUnit(w, r)
	if !ok {
		return
	}
	days, ok := intParam(w, r.URL.Query().Get("days"), "days", 30, 1, 366)
	if !ok {
		return
	}
	h, compliance, err := s.Reports.History(r.Context(), unit, days)
	if err != nil {
		s.reportError(w, err, "read the zero-report history")
		return
	}
	u, _ := s.Units.Unit(unit)
	writeJSON(w, http.StatusOK, map[string]any{"unit": unit, "name": u.Name, "compliance": compliance, "checkpoints": h})
}

func (s *Server) dailyReport(w http.ResponseWriter, r *http.Request) {
	unit, ok := s.reportUnit(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	today := s.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	date := q.Get("date")
	if date == "" {
		date = today
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if !strings.Contains(" json md csv xlsx ", " "+format+" ") {
		writeError(w, http.StatusBadRequest, "give format json, md, csv or xlsx", "format")
		return
	}
	d, err := s.Reports.Daily(r.Context(), unit, date)
	if errors.Is(err, reporting.ErrNoReport) && date == today {
		// Today's report before it is made: what it would say so far.
		d, err = s.Reports.Build(r.Context(), unit, date)
	}
	if err != nil {
		s.reportError(w, err, "read the daily report")
		return
	}
	file := "daily-" + unit + "-" + date + "." + format
	switch format {
	case "json":
		writeJSON(w, http.StatusOK, d)
		return
	case "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = w.Write([]byte(d.Markdown()))
		return
	}
	var buf bytes.Buffer
	if format == "csv" {
		err = d.WriteCSV(&buf)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		err = d.WriteXLSX(&buf)
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	}
	if err != nil {
		s.internalError(w, "write the daily report", err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}
