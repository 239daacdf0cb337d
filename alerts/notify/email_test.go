package notify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a tiny in-process SMTP server: enough of RFC 5321 for
// net/smtp (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT).
type smtpServer struct {
	tls      *tls.Config // nil: STARTTLS not offered
	auth     bool        // offer AUTH PLAIN
	rcptCode int         // non-zero: refuse every RCPT with this code
	silent   bool        // accept connections but never greet

	addr string
	mu   sync.Mutex
	got  []smtpMail
}

type smtpMail struct {
	From    string
	To      []string
	Data    []byte
	TLS     bool
	Auth    string // the decoded AUTH PLAIN response
	Helloed string
}

func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if s.silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 fake.example ESMTP")
	var m smtpMail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			m.Helloed = arg
			exts := []string{"fake.example"}
			if s.tls != nil && !m.TLS {
				exts = append(exts, "STARTTLS")
			}
			if s.auth {
				exts = append(exts, "AUTH PLAIN")
			}
			exts = append(exts, "8BITMIME")
			for i, e := range exts {
				sep := "-"
				if i == len(exts)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tp, m.TLS = tc, textproto.NewConn(tc), true
			reply = func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
		case "AUTH":
			_, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			m.Auth = string(b)
			reply("235 accepted")
		case "MAIL":
			from, _, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ")
			m.From = strings.Trim(from, "<>")
			reply("250 ok")
		case "RCPT":
			if s.rcptCode != 0 {
				reply("%d 13912345678@example.cn: mailbox unavailable", s.rcptCode)
				continue
			}
			m.To = append(m.To, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			reply("250 ok")
		case "DATA":
			reply("354 end with .")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = data
			s.mu.Lock()
			s.got = append(s.got, m)
			s.mu.Unlock()
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (s *smtpServer) mails() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMail(nil), s.got...)
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// parsed is a delivered mail with its encodings undone.
type parsed struct {
	Header  mail.Header
	Subject string
	Body    string
}

func parseMail(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return parsed{msg.Header, subject, string(body)}
}

func TestEmail(t *testing.T) {
	srv := startSMTP(t, &smtpServer{})
	e := &Email{
		Addr:  srv.addr,
		From:  "枫桥预警 <fengqiao@example.gov.cn>",
		To:    []string{"duty@fqz.example.gov.cn", "值班室 <office@fqz.example.gov.cn>"},
		Hello: "riskd.example.gov.cn",
	}
	m := testMessage()
	m.Step = 1
	if err := e.Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("server got %d mails, want 1", len(got))
	}
	if got[0].From != "fengqiao@example.gov.cn" || strings.Join(got[0].To, ",") != "duty@fqz.example.gov.cn,office@fqz.example.gov.cn" {
		t.Errorf("envelope from %q to %q", got[0].From, got[0].To)
	}
	if got[0].Helloed != "riskd.example.gov.cn" || got[0].TLS || got[0].Auth != "" {
		t.Errorf("session: EHLO %q, TLS %v, AUTH %q", got[0].Helloed, got[0].TLS, got[0].Auth)
	}
	p := parseMail(t, got[0].Data)
	sum := sha256.Sum256([]byte(m.Key))
	for k, want := range map[string]string{
		"From":                      "=?utf-8?q?=E6=9E=AB=E6=A1=A5=E9=A2=84=E8=AD=A6?= <fengqiao@example.gov.cn>",
		"To":                        "<duty@fqz.example.gov.cn>, =?utf-8?q?=E5=80=BC=E7=8F=AD=E5=AE=A4?= <office@fqz.example.gov.cn>",
		"Date":                      "Thu, 15 Jan 2026 09:30:00 +0800",
		"Message-Id":                "<" + hex.EncodeToString(sum[:16]) + "@example.gov.cn>",
		"Content-Type":              "text/plain; charset=UTF-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Mime-Version":              "1.0",
		"Auto-Submitted":            "auto-generated",
	} {
		if v := p.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if raw := p.Header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?q?") {
		t.Errorf("Subject is not RFC 2047 encoded: %q", raw)
	}
	if want := "【第1次升级】红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)"; p.Subject != want {
		t.Errorf("Subject = %q, want %q", p.Subject, want)
	}
	// The server's DATA reader has turned CRLF into LF.
	wantBody := Text(m) + "\n——\n此邮件由枫桥矛盾纠纷预警系统自动发送,请勿直接回复。\n"
	if p.Body != wantBody {
		t.Errorf("body =\n%q\nwant\n%q", p.Body, wantBody)
	}
	for _, w := range []string{"颜色: 红色", "单位: 枫桥镇陈家村 (990101001001)", "请在 2026-01-15 10:30 前确认", "确认链接: https://"} {
		if !strings.Contains(p.Body, w) {
			t.Errorf("body lacks %q", w)
		}
	}

	// The same notification again has the same Message-ID; another does not.
	if err := e.Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	other := m
	other.Key += "-x"
	if err := e.Notify(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	got = srv.mails()
	id := func(i int) string { return parseMail(t, got[i].Data).Header.Get("Message-Id") }
	if id(0) != id(1) || id(0) == id(2) {
		t.Errorf("Message-IDs %s %s %s: want the first two equal, the third different", id(0), id(1), id(2))
	}
}

func TestEmailLinesEndInCRLF(t *testing.T) {
	e := &Email{From: "fengqiao@example.gov.cn", To: []string{"duty@example.gov.cn"}}
	from, to, err := e.addresses()
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage()
	m.Reasons = strings.Repeat("很长的原因 ", 40) // longer than a mail line may be
	m.Title = strings.Repeat("很长的标题", 10)
	header, body, _ := strings.Cut(string(e.compose(m, from, to)), "\r\n\r\n")
	for _, part := range []struct {
		text string
		max  int
	}{{header, 90}, {body, 76}} {
		for _, line := range strings.Split(part.text, "\r\n") {
			if strings.Contains(line, "\n") || len(line) > part.max {
				t.Errorf("a line is %d bytes (want at most %d) or holds a bare LF: %q", len(line), part.max, line)
			}
		}
	}
}

func TestEmailStartTLSAndAuth(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{cert}}, auth: true})
	e := &Email{
		Addr: srv.addr, From: "fengqiao@example.gov.cn", To: []string{"duty@example.gov.cn"},
		Username: "fengqiao", Password: "pw", StartTLS: true, TLSConfig: &tls.Config{RootCAs: pool},
	}
	if err := e.Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	got := srv.mails()
	if len(got) != 1 || !got[0].TLS || got[0].Auth != "\x00fengqiao\x00pw" {
		t.Fatalf("mails = %+v, want one, over TLS, authenticated", got)
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		e := *e
		e.TLSConfig = nil // the system roots do not know the test's certificate
		err := e.Notify(t.Context(), testMessage())
		if err == nil || Retryable(err) {
			t.Errorf("Notify = %v, want a permanent error", err)
		}
	})
}

func TestEmailErrors(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	tests := []struct {
		name    string
		server  *smtpServer // nil: nothing listens
		change  func(*Email)
		timeout time.Duration
		retry   bool
		want    string
	}{
		{"server lacks STARTTLS", &smtpServer{}, func(e *Email) { e.StartTLS = true }, 0, false, "does not offer STARTTLS"},
		{"server lacks AUTH", &smtpServer{}, func(e *Email) { e.Username, e.Password = "u", "p" }, 0, false, "does not offer AUTH"},
		{"mailbox busy (450)", &smtpServer{rcptCode: 450}, nil, 0, true, "RCPT TO: 450"},
		{"no such mailbox (550)", &smtpServer{rcptCode: 550}, nil, 0, false, "RCPT TO: 550"},
		{"server never greets", &smtpServer{silent: true}, nil, 100 * time.Millisecond, true, "greeting"},
		{"connection refused", nil, nil, 0, true, "connect"},
		{"no recipients", &smtpServer{}, func(e *Email) { e.To = nil }, 0, false, "no recipients"},
		{"bad sender", &smtpServer{}, func(e *Email) { e.From = "not an address" }, 0, false, "sender"},
		{"no port", &smtpServer{}, func(e *Email) { e.Addr = "localhost" }, 0, false, "server address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Email{Addr: refused, From: "fengqiao@example.gov.cn", To: []string{"duty@example.gov.cn"}}
			var srv *smtpServer
			if tc.server != nil {
				srv = startSMTP(t, tc.server)
				e.Addr = srv.addr
			}
			if tc.change != nil {
				tc.change(e)
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel func()
				ctx, cancel = contextWithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			err := e.Notify(ctx, testMessage())
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable(%v) = %v, want %v", err, !tc.retry, tc.retry)
			}
			if strings.Contains(err.Error(), "13912345678") {
				t.Errorf("error %q shows a phone number", err)
			}
			if srv != nil && len(srv.mails()) != 0 {
				t.Error("a mail was delivered")
			}
		})
	}
}

func TestNoSecretsReachEmail(t *testing.T) {
	srv := startSMTP(t, &smtpServer{})
	e := &Email{Addr: srv.addr, From: "fengqiao@example.gov.cn", To: []string{"duty@example.gov.cn"}}
	if err := e.Notify(t.Context(), piiMessage()); err != nil {
		t.Fatal(err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("%d mails", len(got))
	}
	p := parseMail(t, got[0].Data)
	assertNoSecrets(t, "raw mail", string(got[0].Data))
	assertNoSecrets(t, "decoded mail", fmt.Sprintf("%v\n%s\n%s", p.Header, p.Subject, p.Body))
	if !strings.Contains(p.Body, "[电话已隐去]") || !strings.Contains(p.Subject, "[证件号已隐去]") {
		t.Errorf("nothing masked:\n%s\n%s", p.Subject, p.Body)
	}
}
