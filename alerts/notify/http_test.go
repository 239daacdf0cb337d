package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is what a test server received.
type request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// all is every part of the request a secret could hide in.
func (r request) all() string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.Path + "?" + r.RawQuery + "\n")
	for k, vs := range r.Header {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	b.Write(r.Body)
	return b.String()
}

// receiver is an httptest server that records requests and answers each
// with status and answer.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, status int, answer string) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) only(t *testing.T) request {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(rc.reqs))
	}
	return rc.reqs[0]
}

var fixedNow = func() time.Time { return at.Add(2 * time.Second) }

func TestWebhook(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent, "")
	w := &Webhook{URL: rc.URL + "/hook?token=s3cret", Secret: "shared-secret", Now: fixedNow}
	if err := w.Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	req := rc.only(t)
	if req.Method != http.MethodPost || req.Path != "/hook" || req.RawQuery != "token=s3cret" {
		t.Errorf("request = %s %s?%s", req.Method, req.Path, req.RawQuery)
	}
	for k, want := range map[string]string{
		"Content-Type":         "application/json",
		"X-Fengqiao-Timestamp": strconv.FormatInt(fixedNow().Unix(), 10),
		"Idempotency-Key":      testMessage().Key,
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	mac := hmac.New(sha256.New, []byte("shared-secret"))
	mac.Write([]byte(req.Header.Get("X-Fengqiao-Timestamp") + "." + string(req.Body)))
	if got, want := req.Header.Get("X-Fengqiao-Signature"), "sha256="+hexString(mac.Sum(nil)); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	if err := VerifyWebhook("shared-secret", req.Header, req.Body, fixedNow(), time.Minute); err != nil {
		t.Errorf("VerifyWebhook: %v", err)
	}

	var got map[string]any
	if err := json.Unmarshal(req.Body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version":   "1",
		"alert_id":  "dispute/TZ-2026-0001@red/ledger:TZ-2026-0001",
		"key":       "dispute/TZ-2026-0001@red/ledger:TZ-2026-0001#0#990101001000",
		"level":     "red",
		"colour":    "红色",
		"title":     "红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)",
		"subject":   "纠纷 TZ-2026-0001 (当事人 张** 等3人)",
		"unit":      "990101001001",
		"unit_name": "枫桥镇陈家村",
		"reasons":   "红色(得分 95): 扬言极端(近30天扬言信号次数 1,阈值>0) +45,至少橙色; 多次信访 +50",
		"step":      float64(0),
		"deadline":  "2026-01-15T10:30:00+08:00",
		"ack_url":   "https://fq.example.gov.cn/console/alerts/a1b2c3/ack",
		"resolved":  false,
		"at":        "2026-01-15T09:30:00+08:00",
		"text":      wantText,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payload =\n%v\nwant\n%v", got, want)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestWebhookNeedsASecret(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	err := Webhook{URL: rc.URL}.Notify(t.Context(), testMessage())
	if err == nil || Retryable(err) || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("Notify = %v, want a permanent error about the secret", err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 0 {
		t.Error("an unsigned request was sent")
	}
}

func TestWebhookResolvedOmitsDeadline(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	m := testMessage()
	m.Resolved, m.Deadline = true, time.Time{}
	if err := (&Webhook{URL: rc.URL, Secret: "s"}).Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(rc.only(t).Body, &got)
	if _, ok := got["deadline"]; ok || got["resolved"] != true {
		t.Errorf("payload = %v", got)
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"alert_id":"a"}`)
	sign := func(secret string, ts time.Time, body []byte) http.Header {
		h := http.Header{}
		s := strconv.FormatInt(ts.Unix(), 10)
		h.Set(HeaderTimestamp, s)
		h.Set(HeaderSignature, "sha256="+webhookMAC(secret, s, body))
		return h
	}
	now := at
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   string // "" for success
	}{
		{"good", sign("k", now, body), body, ""},
		{"within tolerance", sign("k", now.Add(-4*time.Minute), body), body, ""},
		{"wrong secret", sign("other", now, body), body, "does not match"},
		{"body changed", sign("k", now, body), []byte(`{"alert_id":"b"}`), "does not match"},
		{"replayed later", sign("k", now.Add(-10*time.Minute), body), body, "away from now"},
		{"from the future", sign("k", now.Add(10*time.Minute), body), body, "away from now"},
		{"no timestamp", http.Header{HeaderSignature: {"sha256=00"}}, body, "X-Fengqiao-Timestamp"},
		{"no signature", http.Header{HeaderTimestamp: {"1"}}, body, "X-Fengqiao-Signature"},
		{"signature not hex", http.Header{HeaderTimestamp: {"1"}, HeaderSignature: {"sha256=zz"}}, body, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyWebhook("k", tc.header, tc.body, now, 5*time.Minute)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("VerifyWebhook = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("VerifyWebhook = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := VerifyWebhook("", sign("", now, body), body, now, 0); err == nil {
		t.Error("an empty secret verifies")
	}
}

func TestWeCom(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, `{"errcode":0,"errmsg":"ok"}`)
	w := &WeCom{URL: rc.URL + "/cgi-bin/webhook/send?key=robot-key"}
	if err := w.Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	req := rc.only(t)
	if req.Method != http.MethodPost || req.Path != "/cgi-bin/webhook/send" || req.RawQuery != "key=robot-key" {
		t.Errorf("request = %s %s?%s", req.Method, req.Path, req.RawQuery)
	}
	var got struct {
		MsgType  string `json:"msgtype"`
		Markdown struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	dec := json.NewDecoder(strings.NewReader(string(req.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	if got.MsgType != "markdown" || got.Markdown.Content != wantMarkdown {
		t.Errorf("msgtype %q, content =\n%s\nwant\n%s", got.MsgType, got.Markdown.Content, wantMarkdown)
	}
}

func TestWeComKeepsWithinItsLimit(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, `{"errcode":0,"errmsg":"ok"}`)
	m := testMessage()
	m.Reasons = strings.Repeat("扬言极端(近30天扬言信号次数 1,阈值>0) +45; ", 300)
	if err := (&WeCom{URL: rc.URL}).Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got struct{ Markdown struct{ Content string } }
	_ = json.Unmarshal(rc.only(t).Body, &got)
	if n := len(got.Markdown.Content); n > 4096 || !strings.Contains(got.Markdown.Content, "[点此确认]") {
		t.Errorf("content is %d bytes, or lost its link:\n%s", n, got.Markdown.Content)
	}
}

func TestDingTalk(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, `{"errcode":0,"errmsg":"ok"}`)
	const secret = "SECabc123"
	d := &DingTalk{URL: rc.URL + "/robot/send?access_token=tok&timestamp=1&sign=old", Secret: secret, Now: fixedNow}
	if err := d.Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	req := rc.only(t)
	ts := strconv.FormatInt(fixedNow().UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if want := "access_token=tok&timestamp=" + ts + "&sign=" + queryEscape(sign); req.RawQuery != want {
		t.Errorf("query = %q, want %q", req.RawQuery, want)
	}
	if req.Path != "/robot/send" {
		t.Errorf("path = %q", req.Path)
	}
	var got struct {
		MsgType  string `json:"msgtype"`
		Markdown struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
	}
	dec := json.NewDecoder(strings.NewReader(string(req.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	if got.MsgType != "markdown" || got.Markdown.Title != testMessage().Title || got.Markdown.Text != wantMarkdown {
		t.Errorf("body = %+v", got)
	}
}

// queryEscape is the urlencoding DingTalk's documentation asks for, spelt
// out so that the test does not just repeat the code under test.
func queryEscape(s string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s)
}

func TestDingTalkUnsigned(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, `{"errcode":0,"errmsg":"ok"}`)
	if err := (&DingTalk{URL: rc.URL + "/robot/send?access_token=tok"}).Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if q := rc.only(t).RawQuery; q != "access_token=tok" {
		t.Errorf("query = %q, want no signature", q)
	}
}

// channels builds each HTTP adapter against a URL.
var channels = []struct {
	name string
	make func(url string, c *http.Client) Notifier
}{
	{"webhook", func(u string, c *http.Client) Notifier { return &Webhook{URL: u, Secret: "s", Client: c} }},
	{"wecom", func(u string, c *http.Client) Notifier { return &WeCom{URL: u, Client: c} }},
	{"dingtalk", func(u string, c *http.Client) Notifier { return &DingTalk{URL: u, Secret: "SEC", Client: c} }},
	{"alertmanager", func(u string, c *http.Client) Notifier {
		return &Alertmanager{URL: u, Client: c, Resend: time.Minute}
	}},
}

func TestHTTPErrorClassification(t *testing.T) {
	const ok = `{"errcode":0,"errmsg":"ok"}`
	tests := []struct {
		name   string
		status int
		answer string
		retry  bool
	}{
		{"500", 500, "internal error", true},
		{"502", 502, "bad gateway", true},
		{"503", 503, "unavailable", true},
		{"429", 429, "slow down", true},
		{"408", 408, "", true},
		{"400", 400, "bad request", false},
		{"403", 403, "forbidden", false},
		{"404", 404, "not found", false},
	}
	for _, ch := range channels {
		for _, tc := range tests {
			t.Run(ch.name+"/"+tc.name, func(t *testing.T) {
				rc := newReceiver(t, tc.status, tc.answer)
				err := ch.make(rc.URL+"/x?key=robot-secret", nil).Notify(t.Context(), testMessage())
				if err == nil {
					t.Fatal("no error")
				}
				if Retryable(err) != tc.retry {
					t.Errorf("Retryable(%v) = %v, want %v", err, !tc.retry, tc.retry)
				}
				if strings.Contains(err.Error(), "robot-secret") {
					t.Errorf("error %q shows the URL's query", err)
				}
				if !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(tc.status)) {
					t.Errorf("error %q does not give the status", err)
				}
			})
		}
		t.Run(ch.name+"/2xx", func(t *testing.T) {
			rc := newReceiver(t, 200, ok)
			if err := ch.make(rc.URL, nil).Notify(t.Context(), testMessage()); err != nil {
				t.Errorf("Notify = %v", err)
			}
		})
	}
}

func TestNetworkErrorsAreRetryable(t *testing.T) {
	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/x?key=robot-secret"
	ln.Close()

	// A server that never answers in time.
	done := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(done) })
	quick := &http.Client{Timeout: 50 * time.Millisecond}

	for _, ch := range channels {
		t.Run(ch.name+"/refused", func(t *testing.T) {
			err := ch.make(refused, nil).Notify(t.Context(), testMessage())
			if err == nil || !Retryable(err) {
				t.Errorf("Notify = %v, want a retryable error", err)
			}
			if err != nil && strings.Contains(err.Error(), "robot-secret") {
				t.Errorf("error %q shows the URL's query", err)
			}
		})
		t.Run(ch.name+"/client timeout", func(t *testing.T) {
			err := ch.make(slow.URL, quick).Notify(t.Context(), testMessage())
			if err == nil || !Retryable(err) {
				t.Errorf("Notify = %v, want a retryable error", err)
			}
		})
		t.Run(ch.name+"/context deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			err := ch.make(slow.URL, nil).Notify(ctx, testMessage())
			if err == nil || !Retryable(err) {
				t.Errorf("Notify = %v, want a retryable error", err)
			}
		})
		t.Run(ch.name+"/no URL", func(t *testing.T) {
			err := ch.make("", nil).Notify(t.Context(), testMessage())
			if err == nil || Retryable(err) {
				t.Errorf("Notify = %v, want a permanent error", err)
			}
		})
		t.Run(ch.name+"/unsupported scheme", func(t *testing.T) {
			err := ch.make("ftp://example.com/x", nil).Notify(t.Context(), testMessage())
			if err == nil || Retryable(err) {
				t.Errorf("Notify = %v, want a permanent error", err)
			}
		})
		t.Run(ch.name+"/invalid message", func(t *testing.T) {
			m := testMessage()
			m.Key = ""
			err := ch.make(slow.URL, nil).Notify(t.Context(), m)
			if err == nil || Retryable(err) {
				t.Errorf("Notify = %v, want a permanent error", err)
			}
		})
	}
}

func TestRobotErrorCodes(t *testing.T) {
	tests := []struct {
		name   string
		robot  func(url string) Notifier
		answer string
		retry  bool
	}{
		{"wecom rate limit", func(u string) Notifier { return &WeCom{URL: u} }, `{"errcode":45009,"errmsg":"api freq out of limit"}`, true},
		{"wecom busy", func(u string) Notifier { return &WeCom{URL: u} }, `{"errcode":-1,"errmsg":"system busy"}`, true},
		{"wecom bad key", func(u string) Notifier { return &WeCom{URL: u} }, `{"errcode":93000,"errmsg":"invalid webhook url"}`, false},
		{"wecom bad content", func(u string) Notifier { return &WeCom{URL: u} }, `{"errcode":40058,"errmsg":"markdown.content exceed max length"}`, false},
		{"wecom no errcode", func(u string) Notifier { return &WeCom{URL: u} }, `{}`, false},
		{"wecom not JSON", func(u string) Notifier { return &WeCom{URL: u} }, `<html>login</html>`, false},
		{"dingtalk rate limit", func(u string) Notifier { return &DingTalk{URL: u} }, `{"errcode":130101,"errmsg":"send too fast"}`, true},
		{"dingtalk bad sign", func(u string) Notifier { return &DingTalk{URL: u, Secret: "SEC"} }, `{"errcode":310000,"errmsg":"sign not match"}`, false},
		{"dingtalk bad token", func(u string) Notifier { return &DingTalk{URL: u} }, `{"errcode":300001,"errmsg":"token is not exist"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusOK, tc.answer)
			err := tc.robot(rc.URL).Notify(t.Context(), testMessage())
			if err == nil {
				t.Fatal("no error")
			}
			if Retryable(err) != tc.retry {
				t.Errorf("Retryable(%v) = %v, want %v", err, !tc.retry, tc.retry)
			}
		})
	}
}

// TestNoSecretsReachHTTPPayloads sends a message full of ID numbers and
// phones through every HTTP channel and searches all the request for them.
func TestNoSecretsReachHTTPPayloads(t *testing.T) {
	for _, ch := range channels {
		t.Run(ch.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusOK, `{"errcode":0,"errmsg":"ok"}`)
			if err := ch.make(rc.URL, nil).Notify(t.Context(), piiMessage()); err != nil {
				t.Fatal(err)
			}
			req := rc.only(t)
			assertNoSecrets(t, ch.name+" request", req.all())
			if !strings.Contains(string(req.Body), "已隐去") {
				t.Errorf("%s: nothing was masked: %s", ch.name, req.Body)
			}
		})
	}
}
