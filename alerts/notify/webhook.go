package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed webhook request.
const (
	HeaderTimestamp   = "X-Fengqiao-Timestamp" // unix seconds when the request was signed
	HeaderSignature   = "X-Fengqiao-Signature" // "sha256=" and the hex HMAC-SHA256 of timestamp "." body
	HeaderIdempotency = "Idempotency-Key"      // the message's Key: a receiver drops a key it has seen
)

// Webhook posts a message as JSON to any HTTP endpoint, signed with a shared
// secret so the receiver can tell it came from Fengqiao and is fresh (see
// VerifyWebhook).
type Webhook struct {
	URL    string
	Secret string
	Client *http.Client     // nil: a client with a 30s timeout
	Now    func() time.Time // nil: time.Now; the signing clock
}

// webhookPayload is the JSON a webhook receives: the message's fields in
// snake_case, its level by name and colour, and the rendered text.
type webhookPayload struct {
	Version  string    `json:"version"`
	AlertID  string    `json:"alert_id"`
	Key      string    `json:"key"`
	Level    string    `json:"level"`
	Colour   string    `json:"colour"`
	Title    string    `json:"title"`
	Subject  string    `json:"subject"`
	Unit     string    `json:"unit"`
	UnitName string    `json:"unit_name"`
	Reasons  string    `json:"reasons"`
	Step     int       `json:"step"`
	Deadline time.Time `json:"deadline,omitzero"`
	AckURL   string    `json:"ack_url,omitempty"`
	Resolved bool      `json:"resolved"`
	At       time.Time `json:"at"`
	Text     string    `json:"text"`
}

// Notify posts m.
func (w Webhook) Notify(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if w.Secret == "" {
		return permanent(errors.New("webhook: no secret configured: every request is signed"))
	}
	text := Text(m)
	m = m.scrubbed()
	p := webhookPayload{
		Version: "1", AlertID: m.AlertID, Key: m.Key, Level: m.Level.String(), Colour: m.Level.Chinese(),
		Title: m.Title, Subject: m.Subject, Unit: m.Unit, UnitName: m.UnitName, Reasons: m.Reasons,
		Step: m.Step, AckURL: m.AckURL, Resolved: m.Resolved, At: m.At.In(beijing), Text: text,
	}
	if !m.Deadline.IsZero() {
		p.Deadline = m.Deadline.In(beijing)
	}
	body, err := marshal(p)
	if err != nil {
		return permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, "sha256="+webhookMAC(w.Secret, ts, body))
	h.Set(HeaderIdempotency, m.Key)
	_, err = post(ctx, w.Client, "webhook", w.URL, body, h)
	return err
}

func webhookMAC(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhook checks a webhook request as its receiver should: the
// signature must be the HMAC of its timestamp and exact body under secret,
// and the timestamp within tolerance of now (5 minutes if tolerance is not
// positive), so a captured request cannot be replayed later. Drop repeats of
// the Idempotency-Key as well to be safe against replays inside the window.
func VerifyWebhook(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("verify webhook: no secret configured")
	}
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: missing or malformed %s header", HeaderTimestamp)
	}
	hexSig, ok := strings.CutPrefix(header.Get(HeaderSignature), "sha256=")
	if !ok {
		return fmt.Errorf("verify webhook: missing %s header, or not sha256=", HeaderSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("verify webhook: malformed %s header", HeaderSignature)
	}
	want, _ := hex.DecodeString(webhookMAC(secret, ts, body))
	if !hmac.Equal(got, want) {
		return errors.New("verify webhook: signature does not match: wrong secret, or the body was changed")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("verify webhook: timestamp is %s away from now, more than %s: a replay, or a clock is wrong", age.Round(time.Second), tolerance)
	}
	return nil
}
