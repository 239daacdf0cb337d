package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxRobotMarkdown is WeCom's limit on a markdown message, 4096 bytes of
// UTF-8. DingTalk's limit is larger; both get the same short message, which
// is what an officer reads on a phone anyway.
const maxRobotMarkdown = 4096

// robotAnswer is how both robots answer, with HTTP 200 even on failure.
type robotAnswer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// check turns a robot's answer into an error; retry lists the codes worth
// another attempt.
func (a robotAnswer) check(channel string, raw []byte, retry ...int) error {
	if a.ErrCode == nil {
		return permanent(fmt.Errorf("%s: answer without errcode: %s", channel, snippet(raw)))
	}
	if *a.ErrCode == 0 {
		return nil
	}
	err := fmt.Errorf("%s: errcode %d: %s", channel, *a.ErrCode, snippet([]byte(a.ErrMsg)))
	for _, c := range retry {
		if *a.ErrCode == c {
			return temporary(err)
		}
	}
	return permanent(err)
}

func postRobot(ctx context.Context, c *http.Client, channel, rawURL string, payload any, retry ...int) error {
	body, err := marshal(payload)
	if err != nil {
		return permanent(fmt.Errorf("%s: encode: %w", channel, err))
	}
	raw, err := post(ctx, c, channel, rawURL, body, nil)
	if err != nil {
		return err
	}
	var a robotAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		// A 2xx that is not the robot's JSON: the URL points at
		// something else, which will answer the same way next time.
		return permanent(fmt.Errorf("%s: answer is not a robot's JSON (check the URL): %s", channel, snippet(raw)))
	}
	return a.check(channel, raw, retry...)
}

// WeCom posts to a WeCom (企业微信) group robot's webhook, whose URL carries
// the robot's key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=….
type WeCom struct {
	URL    string
	Client *http.Client // nil: a client with a 30s timeout
}

// WeCom's error codes worth retrying: -1 system busy, 45009 over the
// robot's rate limit (20 messages a minute).
const (
	weComBusy      = -1
	weComRateLimit = 45009
)

// Notify posts m as a markdown message.
func (w WeCom) Notify(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	type markdown struct {
		Content string `json:"content"`
	}
	payload := struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{fit(m, Markdown, maxRobotMarkdown)}}
	return postRobot(ctx, w.Client, "wecom", w.URL, payload, weComBusy, weComRateLimit)
}

// DingTalk posts to a DingTalk (钉钉) group robot's webhook,
// https://oapi.dingtalk.com/robot/send?access_token=…. With Secret set (the
// robot's 加签 security, "SEC…"), each request is signed; without it the
// robot must be secured by keyword or IP, and a keyword must appear in the
// text (预警 does, in every title Fengqiao makes).
type DingTalk struct {
	URL    string
	Secret string
	Client *http.Client     // nil: a client with a 30s timeout
	Now    func() time.Time // nil: time.Now; the signing clock
}

// DingTalk's error codes worth retrying: -1 system busy, 130101 sending too
// fast (20 messages a minute).
const (
	dingTalkBusy      = -1
	dingTalkRateLimit = 130101
)

// Notify posts m as a markdown message.
func (d DingTalk) Notify(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	target := d.URL
	if d.Secret != "" {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		var err error
		if target, err = dingTalkSign(d.URL, d.Secret, now()); err != nil {
			return err
		}
	}
	type markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	payload := struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{headline(m.scrubbed()), fit(m, Markdown, maxRobotMarkdown)}}
	return postRobot(ctx, d.Client, "dingtalk", target, payload, dingTalkBusy, dingTalkRateLimit)
}

// dingTalkSign appends DingTalk's signature to the robot's URL: timestamp in
// milliseconds, and sign, the base64 HMAC-SHA256 of timestamp "\n" secret
// under secret. DingTalk refuses a timestamp more than an hour old, so a
// retry signs afresh.
func dingTalkSign(rawURL, secret string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || rawURL == "" {
		return "", permanent(fmt.Errorf("dingtalk: bad URL %s", redact(rawURL)))
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	q := u.Query()
	if q.Has("timestamp") || q.Has("sign") {
		// A URL copied with an old signature: drop it, keep the rest.
		q.Del("timestamp")
		q.Del("sign")
		u.RawQuery = q.Encode()
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
	return u.String(), nil
}
