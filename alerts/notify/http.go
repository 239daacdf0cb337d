package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// defaultClient is used when an adapter has no Client: it bounds an attempt
// even when the caller's context has no deadline.
var defaultClient = &http.Client{Timeout: 30 * time.Second}

const userAgent = "Fengqiao-Notify/1"

// maxAnswer bounds how much of an answer is read: the channels answer with a
// few bytes of JSON.
const maxAnswer = 64 << 10

// marshal encodes v as JSON without escaping <, > and &, so a receiver that
// logs the body sees the text as written.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// post sends a JSON body and returns the answer of a 2xx response. Its errors
// are classified for Retryable and never carry the URL's query, where the
// robots keep their keys and signatures.
func post(ctx context.Context, c *http.Client, channel, rawURL string, body []byte, header http.Header) ([]byte, error) {
	if c == nil {
		c = defaultClient
	}
	if rawURL == "" {
		return nil, permanent(fmt.Errorf("%s: no URL configured", channel))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, permanent(fmt.Errorf("%s: bad URL %s: %w", channel, redact(rawURL), unwrapURL(err)))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(req)
	if err != nil {
		return nil, classify(fmt.Errorf("%s: POST %s: %w", channel, redact(rawURL), unwrapURL(err)))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil && resp.StatusCode/100 == 2 {
		return nil, classify(fmt.Errorf("%s: read answer: %w", channel, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return answer, nil
	}
	err = fmt.Errorf("%s: POST %s: HTTP %d: %s", channel, redact(rawURL), resp.StatusCode, snippet(answer))
	if retryStatus(resp.StatusCode) {
		return nil, temporary(err)
	}
	return nil, permanent(err)
}

// retryStatus reports whether an HTTP status is worth retrying: the server
// failed or asked us to slow down; any other 4xx fails the same way again.
func retryStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// unwrapURL drops the *url.Error around err, whose message repeats the whole
// URL with its secrets.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact returns the URL without user info, query or fragment, fit for
// errors and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// snippet returns the start of an answer for an error message, on one line
// and scrubbed, since a receiver may echo what it was sent.
func snippet(b []byte) string {
	const max = 200
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = oneLine(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "(empty answer)"
	}
	return scrub(s)
}
