// Package notify delivers alert notifications to the duty officers (值班人员)
// through one small adapter per channel: a signed generic webhook, WeCom
// (企业微信) and DingTalk (钉钉) group robots, e-mail over SMTP, and a
// Prometheus Alertmanager. Every adapter renders the same Chinese text (Text,
// Markdown) and passes everything it sends through scrub, which masks
// anything that looks like a resident ID number or a mobile number: the
// messages go to group chats, and a number that slipped into an explanation
// upstream must still never reach one.
//
// A Notifier sends once and says nothing about retrying; the outbox that calls
// it asks Retryable whether a failure is worth another attempt.
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"syscall"
	"time"

	"fengqiao/risk"
)

// Message is one notification about an alert, already safe for group
// channels: Subject is a masked description, never an ID number or a phone.
type Message struct {
	AlertID  string     // stable id of the alert
	Key      string     // idempotency key of this notification (alert id + step + recipient); receivers can drop repeats
	Level    risk.Level // the alert's colour
	Title    string     // Chinese, e.g. "红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)"
	Subject  string     // masked subject description, e.g. "人员 张** (P1a2b…)"
	Unit     string     // unit code
	UnitName string     // the unit's Chinese name
	Reasons  string     // the explanation text
	Step     int        // 0 for the first notice, 1.. for escalations
	Deadline time.Time  // acknowledge by; zero when no acknowledgement is asked
	AckURL   string     // link to acknowledge in the console or API
	Resolved bool       // a "resolved" notice rather than a page
	At       time.Time  // when the notification was raised
}

// Notifier sends a message to one destination.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// validate refuses a message the outbox should never have produced. Such a
// message fails the same way on every attempt, so the error is permanent.
func (m Message) validate() error {
	var missing []string
	if m.AlertID == "" {
		missing = append(missing, "alert id")
	}
	if m.Key == "" {
		missing = append(missing, "key")
	}
	if m.Title == "" {
		missing = append(missing, "title")
	}
	if m.At.IsZero() {
		missing = append(missing, "time")
	}
	switch {
	case len(missing) > 0:
		return permanent(fmt.Errorf("invalid message: no %s", strings.Join(missing, ", ")))
	case !m.Level.Valid():
		return permanent(fmt.Errorf("invalid message: level %d is not one of the five colours", uint8(m.Level)))
	case m.Step < 0:
		return permanent(fmt.Errorf("invalid message: negative step %d", m.Step))
	}
	return nil
}

// scrubbed returns m with scrub applied to every string it carries, so that
// whatever an adapter builds from it is safe.
func (m Message) scrubbed() Message {
	for _, p := range []*string{&m.AlertID, &m.Key, &m.Title, &m.Subject, &m.Unit, &m.UnitName, &m.Reasons, &m.AckURL} {
		*p = scrub(*p)
	}
	return m
}

// deliveryError is a failed delivery that knows whether another attempt may
// succeed, as Alertmanager's notifiers return (retry bool, err error).
type deliveryError struct {
	retry bool
	err   error
}

// Error scrubs the message too: an SMTP server or a webhook may echo what it
// was sent, and a recipient address may be a phone number.
func (e *deliveryError) Error() string { return scrub(e.err.Error()) }
func (e *deliveryError) Unwrap() error { return e.err }

func permanent(err error) error { return &deliveryError{retry: false, err: err} }
func temporary(err error) error { return &deliveryError{retry: true, err: err} }

// classify wraps err with the retry decision transient makes for it.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var de *deliveryError
	if errors.As(err, &de) {
		return err
	}
	return &deliveryError{retry: transient(err), err: err}
}

// Retryable reports whether err is worth retrying: network failures,
// timeouts, HTTP 5xx, 408 and 429, SMTP 4xx replies and the channels' "too
// many messages" codes are; HTTP 4xx, SMTP 5xx, refused certificates, bad
// configuration and invalid messages are not, because they fail the same way
// every time until a person fixes something.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var de *deliveryError
	if errors.As(err, &de) {
		return de.retry
	}
	return transient(err)
}

// transient decides for errors this package did not classify itself.
func transient(err error) bool {
	var (
		ue   *url.Error
		tpe  *textproto.Error
		cve  *tls.CertificateVerificationError
		uae  x509.UnknownAuthorityError
		hne  x509.HostnameError
		cie  x509.CertificateInvalidError
		rhe  tls.RecordHeaderError
		nerr net.Error
	)
	switch {
	case errors.As(err, &ue):
		// A *url.Error is itself a net.Error whatever it wraps, even
		// "unsupported protocol scheme": judge what it wraps.
		return transient(ue.Err)
	case errors.As(err, &tpe):
		return tpe.Code >= 400 && tpe.Code < 500 // SMTP: 4xx is "try again later"
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &rhe):
		return false // the peer's certificate or protocol is wrong: a person must fix it
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true // not delivered, and nothing says a later attempt will fail
	case errors.As(err, &nerr):
		return true // timeouts, refused and reset connections, DNS failures
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// Every adapter is a Notifier, by value or by pointer.
var (
	_ Notifier = Webhook{}
	_ Notifier = WeCom{}
	_ Notifier = DingTalk{}
	_ Notifier = Email{}
	_ Notifier = Alertmanager{}
)
