package escalation

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// Policy is an escalation policy (升级策略): for each colour, which tiers of
// the jurisdiction are paged, through which channels, how soon they must
// acknowledge, and what happens when they do not. A Policy is loaded by
// LoadPolicy or ParsePolicy and is not changed afterwards; to keep what was
// in force when an alert was raised, store Snapshot(level) with the alert.
type Policy struct {
	Version  string
	Channels map[string]Channel // by name
	// Levels holds the colours that are paged. A colour without an entry
	// pages no one; green never has one.
	Levels map[risk.Level]LevelPolicy
	// Suppress is how long the same subject at the same colour is not paged
	// again; 0 pages every time.
	Suppress Duration
	// QuietHours, if set, holds notices below its MinLevel until it ends.
	QuietHours *QuietHours
}

// ChannelKind is the technology a channel delivers through.
type ChannelKind string

// The channel kinds.
const (
	Webhook      ChannelKind = "webhook"      // a generic webhook, signed with HMAC
	WeCom        ChannelKind = "wecom"        // a 企业微信 group robot
	DingTalk     ChannelKind = "dingtalk"     // a 钉钉 group robot
	Email        ChannelKind = "email"        // e-mail to the duty officers' addresses
	Alertmanager ChannelKind = "alertmanager" // a Prometheus Alertmanager, through its v2 API
)

// channelSettings lists the settings each kind of channel takes. Settings
// are kept as written: a value such as "${FENGQIAO_WECOM_URL}" is expanded
// by the caller, which owns the environment.
var channelSettings = map[ChannelKind]struct{ required, optional []string }{
	Webhook:      {required: []string{"url"}, optional: []string{"secret"}},
	WeCom:        {required: []string{"url"}},
	DingTalk:     {required: []string{"url"}, optional: []string{"secret"}},
	Email:        {},
	Alertmanager: {required: []string{"url"}},
}

var channelKinds = []string{"webhook", "wecom", "dingtalk", "email", "alertmanager"}

// Channel is a named channel configuration.
type Channel struct {
	Name     string
	Kind     ChannelKind
	Settings map[string]string // e.g. url, secret; values as written
}

// LevelPolicy is what the policy says for one colour. It is a plain value:
// a copy shares nothing with the policy, and it marshals to JSON, so it can
// be frozen onto an alert when the alert is raised.
type LevelPolicy struct {
	Version string     `json:"policy_version"`
	Level   risk.Level `json:"level"`
	// Tiers are paged together, lowest first.
	Tiers     []jurisdiction.Tier `json:"tiers"`
	Channels  []string            `json:"channels"`
	AckWithin AckDeadline         `json:"ack_within"`
	Escalate  Escalation          `json:"escalate"`
}

// AckDeadline is how soon an alert must be acknowledged: a fixed time after
// it was sent, or by the next working morning (see
// Calendar.NextWorkingMorning). It is written "2h" or
// "next_working_morning".
type AckDeadline struct {
	After              Duration
	NextWorkingMorning bool
}

const nextWorkingMorning = "next_working_morning"

// String writes a as it is written in a policy file.
func (a AckDeadline) String() string {
	if a.NextWorkingMorning {
		return nextWorkingMorning
	}
	return a.After.String()
}

// MarshalText writes a as String does.
func (a AckDeadline) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads "next_working_morning" or a Duration.
func (a *AckDeadline) UnmarshalText(b []byte) error {
	if string(b) == nextWorkingMorning {
		*a = AckDeadline{NextWorkingMorning: true}
		return nil
	}
	d, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*a = AckDeadline{After: d}
	return nil
}

// Deadline returns when an alert sent at from must be acknowledged, or the
// zero time for the zero AckDeadline.
func (a AckDeadline) Deadline(from time.Time, cal *Calendar) time.Time {
	switch {
	case a.NextWorkingMorning:
		return cal.NextWorkingMorning(from)
	case a.After > 0:
		return from.Add(time.Duration(a.After))
	}
	return time.Time{}
}

// EscalateToParent is the one escalation target there is: the unit directly
// above the one that failed to acknowledge.
const EscalateToParent = "parent"

// Escalation says what happens when an acknowledgement deadline passes: the
// alert goes To the next unit up, and, while it is still not acknowledged,
// on up again Every so often, Times times in all. Times 0 never escalates.
type Escalation struct {
	To    string   `json:"to,omitempty"`
	Every Duration `json:"every,omitempty"`
	Times int      `json:"times"`
}

// Steps returns when each escalation is due for an alert whose
// acknowledgement deadline is deadline: the first at the deadline itself,
// each later one Every after the one before.
func (e Escalation) Steps(deadline time.Time) []time.Time {
	if e.Times <= 0 || deadline.IsZero() {
		return nil
	}
	out := make([]time.Time, e.Times)
	for i := range out {
		out[i] = deadline.Add(time.Duration(i) * time.Duration(e.Every))
	}
	return out
}

// Deadline returns when an alert sent at from under lp must be
// acknowledged, or the zero time for the zero LevelPolicy.
func (lp LevelPolicy) Deadline(from time.Time, cal *Calendar) time.Time {
	return lp.AckWithin.Deadline(from, cal)
}

// QuietHours (免打扰时段) is a nightly window, in Beijing time, during which
// notices below MinLevel are held and sent when it ends. From after To wraps
// past midnight, as 23:00 to 07:00 does.
type QuietHours struct {
	From     Clock      `json:"from"`
	To       Clock      `json:"to"`
	MinLevel risk.Level `json:"min_level"`
}

// Contains reports whether t falls in the quiet hours.
func (q QuietHours) Contains(t time.Time) bool {
	t = t.In(beijing)
	now := Clock(t.Hour()*60 + t.Minute())
	if q.From < q.To {
		return now >= q.From && now < q.To
	}
	return now >= q.From || now < q.To
}

// End returns the end of the quiet hours that t falls in, or t itself if it
// falls in none.
func (q QuietHours) End(t time.Time) time.Time {
	if !q.Contains(t) {
		return t
	}
	b := t.In(beijing)
	end := time.Date(b.Year(), b.Month(), b.Day(), 0, int(q.To), 0, 0, beijing)
	if !end.After(b) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}

// Deadline returns when an alert of the given level sent at from must be
// acknowledged, or the zero time if the policy pages no one for that level.
// A next_working_morning deadline is worked out with cal; a nil cal judges
// days by weekday alone.
func (p *Policy) Deadline(level risk.Level, from time.Time, cal *Calendar) time.Time {
	return p.Levels[level].Deadline(from, cal)
}

// SendAt returns when a notice of the given level raised at t may go out:
// t itself, or the end of the quiet hours if t falls in them and the level
// is below their MinLevel.
func (p *Policy) SendAt(level risk.Level, t time.Time) time.Time {
	if q := p.QuietHours; q != nil && level < q.MinLevel {
		return q.End(t)
	}
	return t
}

// Snapshot returns a copy of the policy for level, sharing no memory with
// p, for freezing onto an alert. It returns the zero LevelPolicy (no tiers)
// if the policy pages no one for level.
func (p *Policy) Snapshot(level risk.Level) LevelPolicy {
	lp, ok := p.Levels[level]
	if !ok {
		return LevelPolicy{}
	}
	lp.Tiers = slices.Clone(lp.Tiers)
	lp.Channels = slices.Clone(lp.Channels)
	return lp
}

// LoadPolicy reads the escalation policy file at path. If the file cannot
// be read it returns the file system's error; if its content is wrong, a
// *LoadError listing every problem.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load escalation policy: %w", err)
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses the content of an escalation policy file; name is used
// only in messages. The format:
//
//	version: "2026.11-1"
//	channels:
//	  county-wecom: {kind: wecom, url: "${WECOM_COUNTY_URL}"}
//	  duty-email: {kind: email}
//	levels:
//	  orange: {tiers: [township, county], channels: [county-wecom, duty-email],
//	           ack_within: 2h, escalate: {to: parent, every: 1h, times: 3}}
//	suppress: 12h
//	quiet_hours: {from: "23:00", to: "07:00", min_level: orange}
//
// Levels are blue, yellow, orange and red (or 蓝 … 红); tiers run upwards,
// lowest first. Channel kinds and their settings: webhook (url, secret),
// wecom (url), dingtalk (url, secret), email (none: it goes to the duty
// officers' addresses), alertmanager (url). A url is an http(s) URL or an
// environment reference such as ${WECOM_URL}; a secret must be an
// environment reference, since policy files are kept in version control.
// Loading is strict: unknown fields are refused, and every problem is
// reported at once in a *LoadError. Setting values are never quoted in
// messages, since they may hold keys.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	c := newChecker(name)
	p := c.policy(data)
	if err := c.err(); err != nil {
		return nil, err
	}
	return p, nil
}

var (
	channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	envRef      = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)
)

func (c *checker) policy(data []byte) *Policy {
	top := c.document(data, "version, channels and levels")
	if top == nil {
		return nil
	}
	m, ok := c.mapping(top, "", []string{"version", "channels", "levels", "suppress", "quiet_hours"})
	if !ok {
		return nil
	}
	p := &Policy{Channels: map[string]Channel{}, Levels: map[risk.Level]LevelPolicy{}}

	vp, ok := m.get("version")
	fine := true
	if ok {
		var v string
		v, fine = c.scalar(vp.val, "version")
		p.Version = strings.TrimSpace(v)
	}
	if p.Version == "" && fine {
		c.add(max(vp.line, top.Line), "version is missing: give the policy a version, e.g. version: \"2026.11-1\"")
	}

	// Every channel named under channels, valid or not, so that a level
	// naming a broken channel is not reported twice.
	named := map[string]bool{}
	if cp, ok := m.get("channels"); ok {
		chans, _ := c.mapping(cp.val, "channels", nil)
		for _, ch := range chans {
			named[ch.key] = true
			if channel, ok := c.channel(ch); ok {
				p.Channels[ch.key] = channel
			}
		}
	}

	lp, ok := m.get("levels")
	if !ok {
		c.add(top.Line, "levels are missing: say for blue, yellow, orange and red whom to page")
	} else {
		levels, isMap := c.mapping(lp.val, "levels", nil)
		if isMap && len(levels) == 0 {
			c.add(lp.line, "levels: no level is paged: give at least one of blue, yellow, orange, red")
		}
		first := map[risk.Level]int{}
		for _, l := range levels {
			level, err := risk.ParseLevel(l.key)
			switch {
			case err != nil:
				c.add(l.line, "levels: unknown level %s: want blue, yellow, orange or red", quote(l.key))
				continue
			case level == risk.Green:
				c.add(l.line, "levels: green is never paged: a green subject has no notable risk")
				continue
			}
			if line, dup := first[level]; dup {
				c.add(l.line, "levels: %s is given twice (first at line %d)", level, line)
				continue
			}
			first[level] = l.line
			if lvl, ok := c.levelPolicy(l, level, named); ok {
				lvl.Version = p.Version
				p.Levels[level] = lvl
			}
		}
	}

	if sp, ok := m.get("suppress"); ok {
		if s, fine := c.scalar(sp.val, "suppress"); fine {
			if d, err := ParseDuration(s); err != nil {
				c.add(sp.line, "suppress: %v", err)
			} else {
				p.Suppress = d
			}
		}
	}

	if qp, ok := m.get("quiet_hours"); ok {
		if n := c.deref(qp.val); n != nil && !isNull(n) {
			p.QuietHours = c.quietHours(qp)
		}
	}
	return p
}

// channel checks one named channel configuration.
func (c *checker) channel(ch pair) (Channel, bool) {
	what := "channels: " + quote(ch.key)
	ok := true
	if !channelName.MatchString(ch.key) {
		c.add(ch.line, "%s: name must use lowercase letters, digits, '-' and '_'", what)
		ok = false
	}
	fields, fine := c.mapping(ch.val, what, nil)
	if !fine {
		return Channel{}, false
	}
	out := Channel{Name: ch.key, Settings: map[string]string{}}
	kp, has := fields.get("kind")
	if !has {
		c.add(ch.line, "%s: kind is missing: give one of %s", what, strings.Join(channelKinds, ", "))
		return Channel{}, false
	}
	kind, _ := c.scalar(kp.val, what+": kind")
	out.Kind = ChannelKind(kind)
	spec, known := channelSettings[out.Kind]
	if !known {
		c.add(kp.line, "%s: unknown kind %s: want one of %s", what, quote(kind), strings.Join(channelKinds, ", "))
		return Channel{}, false
	}
	allowed := append(slices.Clone(spec.required), spec.optional...)
	bad := map[string]bool{} // settings given but already reported
	for _, f := range fields {
		if f.key == "kind" {
			continue
		}
		if !slices.Contains(allowed, f.key) {
			if len(allowed) == 0 {
				c.add(f.line, "%s: %s channels take no settings, not %s", what, kind, quote(f.key))
			} else {
				c.add(f.line, "%s: unknown setting %s for %s channels (want %s)", what, quote(f.key), kind, strings.Join(allowed, ", "))
			}
			ok = false
			continue
		}
		v, fine := c.scalar(f.val, what+": "+f.key)
		v = strings.TrimSpace(v)
		if !fine {
			bad[f.key], ok = true, false
			continue
		}
		if v == "" {
			continue // reported below if required
		}
		if msg := checkSetting(f.key, v); msg != "" {
			c.add(f.line, "%s: %s", what, msg)
			bad[f.key], ok = true, false
			continue
		}
		out.Settings[f.key] = v
	}
	for _, r := range spec.required {
		if _, set := out.Settings[r]; !set && !bad[r] {
			c.add(ch.line, "%s: %s is missing: %s channels need one", what, r, kind)
			ok = false
		}
	}
	return out, ok
}

// checkSetting returns what is wrong with the value v of setting key, or
// "". It never quotes v, which may hold a key or secret.
func checkSetting(key, v string) string {
	rest := envRef.ReplaceAllString(v, "")
	if strings.Contains(rest, "${") {
		return key + ": an environment reference is not closed or not a valid name: write ${NAME}"
	}
	switch key {
	case "url":
		if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "${") {
			return "url must start with http:// or https://, or with an environment reference such as ${WECOM_URL}"
		}
	case "secret":
		if rest != "" {
			return "secret must be an environment reference such as ${DINGTALK_SECRET}, not the secret itself: policy files are kept in version control"
		}
	}
	return ""
}

// levelPolicy checks what the policy says for one level.
func (c *checker) levelPolicy(l pair, level risk.Level, named map[string]bool) (LevelPolicy, bool) {
	what := "levels: " + level.String()
	fields, ok := c.mapping(l.val, what, []string{"tiers", "channels", "ack_within", "escalate"})
	if !ok {
		return LevelPolicy{}, false
	}
	n := len(c.problems)
	lp := LevelPolicy{Level: level}

	if tp, has := fields.get("tiers"); !has {
		c.add(l.line, "%s: tiers are missing: list the tiers to page, lowest first, e.g. [township, county]", what)
	} else {
		items, isList := c.list(tp.val, what+": tiers")
		ordered := true
		for _, item := range items {
			s, fine := c.scalar(item, what+": tiers")
			if !fine {
				continue
			}
			t, err := jurisdiction.ParseTier(s)
			if err != nil {
				c.add(item.Line, "%s: tiers: unknown tier %s (want city, county, township, village or grid)", what, quote(s))
				continue
			}
			if len(lp.Tiers) > 0 && !t.Above(lp.Tiers[len(lp.Tiers)-1]) && ordered {
				c.add(item.Line, "%s: tiers must run upwards, lowest first and each once, e.g. [township, county]", what)
				ordered = false
			}
			lp.Tiers = append(lp.Tiers, t)
		}
		if isList && len(items) == 0 {
			c.add(tp.line, "%s: tiers are empty: list the tiers to page, lowest first", what)
		}
	}

	if cp, has := fields.get("channels"); !has {
		c.add(l.line, "%s: channels are missing: list the channels to page through", what)
	} else {
		items, isList := c.list(cp.val, what+": channels")
		for _, item := range items {
			s, fine := c.scalar(item, what+": channels")
			switch {
			case !fine:
			case !named[s]:
				c.add(item.Line, "%s: channel %s is not defined under channels", what, quote(s))
			case slices.Contains(lp.Channels, s):
				c.add(item.Line, "%s: channel %s is listed twice", what, quote(s))
			default:
				lp.Channels = append(lp.Channels, s)
			}
		}
		if isList && len(items) == 0 {
			c.add(cp.line, "%s: channels are empty: list the channels to page through", what)
		}
	}

	if ap, has := fields.get("ack_within"); !has {
		c.add(l.line, "%s: ack_within is missing: give a time such as 2h, or next_working_morning", what)
	} else if s, fine := c.scalar(ap.val, what+": ack_within"); fine {
		var a AckDeadline
		if err := a.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			c.add(ap.line, "%s: ack_within: %v, or next_working_morning", what, err)
		} else if !a.NextWorkingMorning && a.After <= 0 {
			c.add(ap.line, "%s: ack_within must be longer than 0", what)
		} else {
			lp.AckWithin = a
		}
	}

	if ep, has := fields.get("escalate"); has {
		lp.Escalate = c.escalation(ep, what)
	}
	return lp, len(c.problems) == n
}

// escalation checks a level's escalate mapping.
func (c *checker) escalation(ep pair, level string) Escalation {
	what := level + ": escalate"
	var e Escalation
	fields, ok := c.mapping(ep.val, what, []string{"to", "every", "times"})
	if !ok {
		return e
	}
	if tp, has := fields.get("times"); !has {
		c.add(ep.line, "%s: times is missing: say how many times to escalate (0 for never)", what)
	} else if s, fine := c.scalar(tp.val, what+": times"); fine {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || n > 10 {
			c.add(tp.line, "%s: times must be a whole number from 0 to 10", what)
		} else {
			e.Times = n
		}
	}
	if tp, has := fields.get("to"); !has {
		c.add(ep.line, "%s: to is missing: write to: parent", what)
	} else if s, fine := c.scalar(tp.val, what+": to"); fine {
		if s != EscalateToParent {
			c.add(tp.line, "%s: to must be parent, the unit directly above", what)
		} else {
			e.To = s
		}
	}
	if vp, has := fields.get("every"); !has {
		if e.Times > 0 {
			c.add(ep.line, "%s: every is missing: say how long to wait between escalations, e.g. every: 1h", what)
		}
	} else if s, fine := c.scalar(vp.val, what+": every"); fine {
		d, err := ParseDuration(s)
		switch {
		case err != nil:
			c.add(vp.line, "%s: every: %v", what, err)
		case d <= 0:
			c.add(vp.line, "%s: every must be longer than 0", what)
		default:
			e.Every = d
		}
	}
	return e
}

// quietHours checks the quiet_hours mapping.
func (c *checker) quietHours(qp pair) *QuietHours {
	const what = "quiet_hours"
	fields, ok := c.mapping(qp.val, what, []string{"from", "to", "min_level"})
	if !ok {
		return nil
	}
	n := len(c.problems)
	var q QuietHours
	clock := func(key string) Clock {
		p, has := fields.get(key)
		if !has {
			c.add(qp.line, "%s: %s is missing, e.g. %s: \"07:00\"", what, key, key)
			return -1
		}
		s, fine := c.scalar(p.val, what+": "+key)
		if !fine {
			return -1
		}
		t, err := ParseClock(s)
		if err != nil {
			c.add(p.line, "%s: %s: %v", what, key, err)
			return -1
		}
		return t
	}
	q.From, q.To = clock("from"), clock("to")
	if q.From >= 0 && q.From == q.To {
		c.add(qp.line, "%s: from and to are the same time: the window would be empty", what)
	}
	if mp, has := fields.get("min_level"); !has {
		c.add(qp.line, "%s: min_level is missing: give the lowest level still paged during quiet hours", what)
	} else if s, fine := c.scalar(mp.val, what+": min_level"); fine {
		l, err := risk.ParseLevel(s)
		switch {
		case err != nil:
			c.add(mp.line, "%s: min_level: unknown level %s: want blue, yellow, orange or red", what, quote(s))
		case l == risk.Green:
			c.add(mp.line, "%s: min_level: green would hold nothing back: want blue, yellow, orange or red", what)
		default:
			q.MinLevel = l
		}
	}
	if len(c.problems) > n {
		return nil
	}
	return &q
}
