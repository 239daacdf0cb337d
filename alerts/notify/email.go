package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Email sends a message as plain UTF-8 text over SMTP.
type Email struct {
	Addr     string   // host:port of the SMTP server, e.g. "smtp.example.gov.cn:587"
	From     string   // the sender, e.g. "枫桥预警 <fengqiao@example.gov.cn>"
	To       []string // the recipients
	Username string   // with Password, for AUTH PLAIN; empty: no authentication
	Password string
	// StartTLS requires STARTTLS: when set, a server that does not offer it
	// is an error rather than a reason to send in clear.
	StartTLS  bool
	TLSConfig *tls.Config // nil: verify the server's name against the system roots
	Hello     string      // the name given in EHLO; empty: "localhost"
}

// Notify sends m to every recipient in one transaction: either the server
// takes the message for all of them or the attempt fails as a whole.
func (e Email) Notify(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	from, to, err := e.addresses()
	if err != nil {
		return permanent(err)
	}
	msg := e.compose(m, from, to)
	if err := e.send(ctx, from.Address, to, msg); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return classify(err)
	}
	return nil
}

func (e Email) addresses() (*mail.Address, []*mail.Address, error) {
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return nil, nil, fmt.Errorf("email: sender %q: %w", e.From, err)
	}
	if len(e.To) == 0 {
		return nil, nil, errors.New("email: no recipients configured")
	}
	to := make([]*mail.Address, 0, len(e.To))
	for _, s := range e.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, nil, fmt.Errorf("email: recipient %q: %w", s, err)
		}
		to = append(to, a)
	}
	return from, to, nil
}

// compose builds the RFC 5322 message: an encoded-word subject, a
// quoted-printable UTF-8 body, and a Message-ID derived from the key, so a
// repeat of the same notification is recognisable as one.
func (e Email) compose(m Message, from *mail.Address, to []*mail.Address) []byte {
	m = m.scrubbed()
	domain := "fengqiao.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	sum := sha256.Sum256([]byte(m.Key))
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", strings.Join(rcpts, ", "))
	// Fold between encoded words, so a long Chinese subject keeps to
	// short lines; readers join the words again.
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("UTF-8", headline(m)), "?= =?", "?=\r\n =?"))
	header("Date", m.At.In(beijing).Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(Text(m) + "\n——\n此邮件由枫桥矛盾纠纷预警系统自动发送,请勿直接回复。\n"))
	_ = qp.Close()
	return b.Bytes()
}

func (e Email) send(ctx context.Context, from string, to []*mail.Address, msg []byte) error {
	if e.Addr == "" {
		return permanent(errors.New("email: no server address configured"))
	}
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return permanent(fmt.Errorf("email: server address %q: %w", e.Addr, err))
	}
	if _, ok := ctx.Deadline(); !ok {
		// As the HTTP adapters' default client does: a server that never
		// answers must not hold the outbox's worker for ever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("email: connect: %w", err)
	}
	// net/smtp knows no context: a deadline on the connection bounds the
	// conversation, and cancelling expires it at once.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email: greeting: %w", err)
	}
	defer c.Close()
	if e.Hello != "" {
		if err := c.Hello(e.Hello); err != nil {
			return fmt.Errorf("email: EHLO: %w", err)
		}
	}
	if e.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent(fmt.Errorf("email: %s does not offer STARTTLS, which is required", host))
		}
		cfg := &tls.Config{}
		if e.TLSConfig != nil {
			cfg = e.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("email: STARTTLS: %w", err)
		}
	}
	if e.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(fmt.Errorf("email: %s does not offer AUTH, but a username is configured", host))
		}
		// PlainAuth itself refuses to send the password in clear to any
		// host but localhost.
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("email: AUTH: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("email: MAIL FROM: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("email: RCPT TO: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	// The server has the message once DATA is accepted: a failed QUIT does
	// not make it undelivered.
	_ = c.Quit()
	return nil
}
