package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"fengqiao/engine"
	"fengqiao/internal/ruleset"
	"fengqiao/internal/scoring"
	"fengqiao/risk"
	"fengqiao/signals"
)

// listSubjects is the board: subjects at or above a colour in a unit's
// subtree, newest rise first.
func (s *Server) listSubjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bq := scoring.BoardQuery{MinLevel: risk.Yellow, Limit: 50}
	if v := q.Get("kind"); v != "" {
		k, err := risk.ParseKind(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "kind")
			return
		}
		bq.Kind = k
	}
	if v := q.Get("min_level"); v != "" {
		l, err := risk.ParseLevel(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "min_level")
			return
		}
		bq.MinLevel = l
	}
	root := principal(r).Unit
	if v := q.Get("unit"); v != "" {
		if _, ok := s.Units.Unit(v); !ok || !s.inScope(r, v) {
			writeError(w, http.StatusNotFound, "no such unit in your jurisdiction", "unit")
			return
		}
		root = v
	}
	bq.InScope = func(code string) bool { return s.Units.Contains(root, code) }
	var ok bool
	if bq.Limit, ok = intParam(w, q.Get("limit"), "limit", 50, 1, 500); !ok {
		return
	}
	if bq.Offset, ok = intParam(w, q.Get("offset"), "offset", 0, 0, 1_000_000); !ok {
		return
	}
	entries, total, err := s.Subjects.Board(r.Context(), bq)
	if err != nil {
		s.internalError(w, "read the board", err)
		return
	}
	if entries == nil {
		entries = []scoring.BoardEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"subjects": entries, "total": total, "offset": bq.Offset, "limit": bq.Limit})
}

func intParam(w http.ResponseWriter, v, name string, def, lo, hi int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, name+" must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi), name)
		return 0, false
	}
	return n, true
}

// officerAct is the body of an override, a sign-off or the end of an override.
type officerAct struct {
	Level   string    `json:"level,omitempty"`
	Officer string    `json:"officer"`
	Reason  string    `json:"reason"`
	Note    string    `json:"note,omitempty"` // an acknowledgement's note
	Until   time.Time `json:"until,omitzero"`
	Hours   float64   `json:"hours,omitempty"` // instead of until: how long from now
}

func decodeAct(w http.ResponseWriter, r *http.Request) (officerAct, bool) {
	var a officerAct
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(&a)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "send a JSON object with officer and reason (and for an override: level, and until or hours)", "")
		return a, false
	}
	if utf8.RuneCountInString(a.Officer) > 50 {
		writeError(w, http.StatusBadRequest, "officer: at most 50 characters", "officer")
		return a, false
	}
	if utf8.RuneCountInString(a.Reason) > 500 || utf8.RuneCountInString(a.Note) > 500 {
		writeError(w, http.StatusBadRequest, "reason and note: at most 500 characters each", "reason")
		return a, false
	}
	// Free text is shown to other officers and kept: no ID or phone numbers.
	a.Officer, a.Reason, a.Note = signals.MaskNumbers(a.Officer), signals.MaskNumbers(a.Reason), signals.MaskNumbers(a.Note)
	return a, true
}

func (s *Server) setOverride(w http.ResponseWriter, r *http.Request) {
	subj, ok := s.subjectInScope(w, r)
	if !ok {
		return
	}
	id := subj.Assessment.Subject
	a, ok := decodeAct(w, r)
	if !ok {
		return
	}
	level, err := risk.ParseLevel(a.Level)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "level")
		return
	}
	until := a.Until
	if a.Hours > 0 {
		until = s.Now().Add(time.Duration(a.Hours * float64(time.Hour)))
	}
	if until.IsZero() {
		writeError(w, http.StatusBadRequest, "give until (RFC 3339 time) or hours: an override must end", "until")
		return
	}
	got, err := s.Subjects.SetOverride(r.Context(), id, engine.Override{Level: level, Officer: a.Officer, Reason: a.Reason, Until: until})
	s.answerAct(w, r, id, got, err, "subject.override", "人工调整为"+level.Chinese()+", 至"+until.Format(time.RFC3339)+", 决定人 "+a.Officer+", 理由: "+a.Reason)
}

func (s *Server) clearOverride(w http.ResponseWriter, r *http.Request) {
	subj, ok := s.subjectInScope(w, r)
	if !ok {
		return
	}
	id := subj.Assessment.Subject
	a, ok := decodeAct(w, r)
	if !ok {
		return
	}
	got, err := s.Subjects.ClearOverride(r.Context(), id, a.Officer, a.Reason)
	s.answerAct(w, r, id, got, err, "subject.override_clear", "结束人工调整, 决定人 "+a.Officer+", 理由: "+a.Reason)
}

func (s *Server) signOff(w http.ResponseWriter, r *http.Request) {
	subj, ok := s.subjectInScope(w, r)
	if !ok {
		return
	}
	id := subj.Assessment.Subject
	a, ok := decodeAct(w, r)
	if !ok {
		return
	}
	got, err := s.Subjects.SignOff(r.Context(), id, a.Officer, a.Reason)
	s.answerAct(w, r, id, got, err, "subject.signoff", "解除预警签字 "+a.Officer+", 理由: "+a.Reason)
}

// answerAct answers an officer's act on a subject and, when it was done,
// records it in the audit log.
func (s *Server) answerAct(w http.ResponseWriter, r *http.Request, id risk.SubjectID, level risk.Level, err error, action, detail string) {
	var invalid *scoring.InvalidError
	if err == nil {
		if aerr := s.Audit.Record(r.Context(), principal(r), action, id.String(), detail+"; 现为"+level.Chinese()); aerr != nil {
			s.Log.Error("audit an act on a subject", "action", action, "err", aerr)
		}
	}
	switch {
	case errors.Is(err, scoring.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such subject: it has not been scored yet", "")
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, invalid.Msg, "")
	case err != nil:
		s.internalError(w, "record the "+action, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"subject": id, "level": level})
	}
}

func (s *Server) rescore(w http.ResponseWriter, r *http.Request) {
	if !s.requireRoot(w, r) {
		return
	}
	if err := s.Audit.Record(r.Context(), principal(r), "subjects.rescore", "", "重新评分"); err != nil {
		s.Log.Error("audit a re-score", "err", err)
	}
	res, err := s.Subjects.Sweep(r.Context())
	if err != nil {
		s.internalError(w, "re-score subjects", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

func (s *Server) getRuleset(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !hashPattern.MatchString(hash) {
		writeError(w, http.StatusBadRequest, "a ruleset hash is 16 hexadecimal digits, as assessments record it", "hash")
		return
	}
	a, err := s.Archive.Get(r.Context(), hash)
	if errors.Is(err, ruleset.ErrUnknownRuleset) {
		writeError(w, http.StatusNotFound, "no ruleset with that hash has been in force here", "hash")
		return
	}
	if err != nil {
		s.internalError(w, "read the archived ruleset", err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// listRulesets lists every ruleset that has been in force, newest first.
func (s *Server) listRulesets(w http.ResponseWriter, r *http.Request) {
	list, err := s.Archive.List(r.Context())
	if err != nil {
		s.internalError(w, "list the archived rulesets", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rulesets": list})
}
