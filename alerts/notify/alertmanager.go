package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Alertmanager pushes messages to a Prometheus Alertmanager through its v2
// API, so that alerts reach whatever receivers it routes to.
type Alertmanager struct {
	URL    string       // the Alertmanager's base URL, e.g. "http://alertmanager:9093"
	Client *http.Client // nil: a client with a 30s timeout
	// Resend is how often Fengqiao re-sends a firing alert. The alert is
	// sent to end three resends later, so Alertmanager keeps it firing
	// while Fengqiao keeps sending and resolves it by itself if Fengqiao
	// stops. Zero leaves the end to Alertmanager's resolve_timeout.
	Resend time.Duration
	Now    func() time.Time // nil: time.Now
}

// AlertName is the alertname label of every alert Fengqiao pushes.
const AlertName = "FengqiaoRiskAlert"

// postableAlert is one element of the body of POST /api/v2/alerts, as
// Alertmanager's OpenAPI definition postableAlert describes it.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notify posts m as one alert. Its labels identify the alert, not the
// notification — alert_id is Fengqiao's opaque alert id, never a person's —
// so escalations and re-sends update the same Alertmanager alert, and a
// resolved notice ends it.
func (a Alertmanager) Notify(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	target, err := a.endpoint()
	if err != nil {
		return err
	}
	body, err := marshal([]postableAlert{a.alert(m)})
	if err != nil {
		return permanent(fmt.Errorf("alertmanager: encode: %w", err))
	}
	_, err = post(ctx, a.Client, "alertmanager", target, body, nil)
	return err
}

func (a Alertmanager) alert(m Message) postableAlert {
	m = m.scrubbed()
	labels := map[string]string{
		"alertname": AlertName,
		"severity":  m.Level.String(),
		"alert_id":  m.AlertID,
	}
	if m.Unit != "" {
		labels["unit"] = m.Unit
	}
	ann := map[string]string{"summary": oneLine(m.Title)}
	for k, v := range map[string]string{
		"description": m.Reasons,
		"subject":     oneLine(m.Subject),
		"unit_name":   oneLine(m.UnitName),
		"ack_url":     m.AckURL,
	} {
		if v != "" {
			ann[k] = v
		}
	}
	if !m.Deadline.IsZero() && !m.Resolved {
		ann["deadline"] = m.Deadline.In(beijing).Format(time.RFC3339)
	}
	p := postableAlert{Labels: labels, Annotations: ann, StartsAt: m.At.In(beijing), GeneratorURL: m.AckURL}
	switch {
	case m.Resolved:
		p.EndsAt = p.StartsAt
	case a.Resend > 0:
		// From now, not from m.At: a notice the outbox delivers late,
		// after Alertmanager was down, must still arrive firing.
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		from := m.At
		if t := now(); t.After(from) {
			from = t
		}
		p.EndsAt = from.Add(3 * a.Resend).In(beijing)
	}
	return p
}

// endpoint returns the URL of POST /api/v2/alerts under the base URL, which
// may carry a path prefix (a reverse proxy's /alertmanager).
func (a Alertmanager) endpoint() (string, error) {
	u, err := url.Parse(a.URL)
	if err != nil || a.URL == "" || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", permanent(fmt.Errorf("alertmanager: bad URL %s: want http(s)://host:port", redact(a.URL)))
	}
	if !strings.HasSuffix(u.Path, "/api/v2/alerts") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v2/alerts"
	}
	return u.String(), nil
}
