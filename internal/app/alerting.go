package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fengqiao/alerts/escalation"
	"fengqiao/alerts/notify"
	"fengqiao/internal/alerting"
	"fengqiao/internal/api"
	"fengqiao/internal/config"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
)

// policyHolder keeps the escalation policy in force and reloads it whole:
// a bad file never replaces a good policy. Running alerts keep the policy
// frozen on them.
type policyHolder struct {
	path string
	p    atomic.Pointer[escalation.Policy]
}

func (h *policyHolder) get() *escalation.Policy { return h.p.Load() }

func (h *policyHolder) reload() (*escalation.Policy, error) {
	p, err := escalation.LoadPolicy(h.path)
	if err != nil {
		return nil, err
	}
	h.p.Store(p)
	return p, nil
}

// router is the escalation policy, the duty roster (值班表) and the
// jurisdiction, as the alert manager asks of them.
type router struct {
	policies  *policyHolder
	roster    *escalation.Roster
	cal       *escalation.Calendar
	tree      *jurisdiction.Tree
	log       *slog.Logger
	fallbacks prometheus.Counter
}

func (r *router) Route(level risk.Level, unit string, at time.Time) (alerting.Snapshot, []alerting.Target, bool) {
	policy := r.policies.get()
	lp, ok := policy.Levels[level]
	if !ok {
		return alerting.Snapshot{}, nil, false
	}
	ts, warns := escalation.Route(level, unit, r.tree, policy, r.roster, at)
	for _, w := range warns {
		r.log.Warn("alert routing", "warning", w)
		if strings.Contains(w, "no one rostered") {
			r.fallbacks.Inc()
		}
	}
	snap := alerting.Snapshot{AckWithin: lp.AckWithin.String(), Channels: lp.Channels,
		Every: time.Duration(lp.Escalate.Every), Times: lp.Escalate.Times}
	for _, t := range lp.Tiers {
		snap.Tiers = append(snap.Tiers, t.String())
	}
	var out []alerting.Target
	for _, t := range ts {
		out = append(out, alerting.Target{Unit: t.Unit.Code, Tier: t.Tier.String(), Channels: t.Channels})
	}
	return snap, out, len(out) > 0
}

// ChannelNames names the channels of the escalation policy in force, so
// that each has its notification series from the first scrape after a load.
func (r *router) ChannelNames() []string {
	p := r.policies.get()
	names := make([]string, 0, len(p.Channels))
	for name := range p.Channels {
		names = append(names, name)
	}
	return names
}

// LevelChannels are the channels the policy gives a colour, for notices,
// which name their own targets; ok is false when it pages no one at it.
func (r *router) LevelChannels(level risk.Level) (alerting.Snapshot, bool) {
	lp, ok := r.policies.get().Levels[level]
	if !ok {
		return alerting.Snapshot{}, false
	}
	return alerting.Snapshot{AckWithin: lp.AckWithin.String(), Channels: lp.Channels}, len(lp.Channels) > 0
}

// TierOf names a unit's tier, for the targets of notices.
func (r *router) TierOf(unit string) string {
	if u, ok := r.tree.Unit(unit); ok {
		return u.Tier.String()
	}
	return ""
}

func (r *router) Escalate(t alerting.Target) (alerting.Target, bool) {
	u, ok := r.tree.Unit(t.Unit)
	if !ok {
		return t, false
	}
	up, ok := escalation.Escalate(escalation.Target{Unit: u, Tier: u.Tier}, r.tree)
	if !ok {
		return t, false
	}
	return alerting.Target{Unit: up.Unit.Code, Tier: up.Unit.Tier.String(), Channels: t.Channels}, true
}

func (r *router) Deadline(p alerting.Snapshot, from time.Time) time.Time {
	var ack escalation.AckDeadline
	if err := ack.UnmarshalText([]byte(p.AckWithin)); err != nil {
		return from.Add(time.Hour)
	}
	return ack.Deadline(from, r.cal)
}

func (r *router) Suppress() time.Duration { return time.Duration(r.policies.get().Suppress) }

func (r *router) SendAt(l risk.Level, t time.Time) time.Time { return r.policies.get().SendAt(l, t) }

// sender turns a notification into a message and delivers it through the
// policy's channel adapter, to the duty officers on the roster now.
type sender struct {
	policies  *policyHolder
	roster    *escalation.Roster
	tree      *jurisdiction.Tree
	cfg       config.Config
	now       func() time.Time
	getenv    func(string) string
	client    *http.Client
	fallbacks prometheus.Counter
	log       *slog.Logger
	warned    sync.Map // channel names already reported as not configured
}

// errNotConfigured is a channel that cannot send as configured: permanent.
var errNotConfigured = errors.New("not configured")

func (s *sender) Retryable(err error) bool {
	return !errors.Is(err, errNotConfigured) && notify.Retryable(err)
}

// alertmanagerResend is how often an open alert is re-sent to Alertmanager,
// which resolves an alert that is not re-sent before its endsAt.
const alertmanagerResend = time.Hour

func (s *sender) Refresh(channel string) time.Duration {
	if ch, ok := s.policies.get().Channels[channel]; ok && ch.Kind == escalation.Alertmanager {
		return alertmanagerResend
	}
	return 0
}

func (s *sender) Send(ctx context.Context, n alerting.Notification, a alerting.Alert) error {
	err := s.send(ctx, n, a)
	if errors.Is(err, errNotConfigured) {
		if _, seen := s.warned.LoadOrStore(n.Channel, true); !seen {
			s.log.Warn("a channel of the escalation policy is not configured: its notifications fail until it is (each shows in its alert's deliveries)", "channel", n.Channel, "err", err)
		}
	}
	return err
}

// noticeKinds names the kinds of the schedules' notices.
var noticeKinds = map[string]string{
	"zero_report": "零报告", "supervision": "督办", "listed_supervision": "挂牌督办",
	"follow_up": "回访提醒", "daily_report": "日报",
}

func (s *sender) send(ctx context.Context, n alerting.Notification, a alerting.Alert) error {
	ch, ok := s.policies.get().Channels[n.Channel]
	if !ok {
		return fmt.Errorf("channel %s: %w in the escalation policy", n.Channel, errNotConfigured)
	}
	unit, _ := s.tree.Unit(n.Target.Unit)
	subjectUnit, _ := s.tree.Unit(a.Unit)
	kind := "人员"
	if a.Subject.Kind == risk.Dispute {
		kind = "纠纷"
	}
	ref := a.Subject.Ref
	if a.Subject.Kind == risk.Person && len(ref) > 9 {
		ref = ref[:9] + "…" // a keyed reference, shortened: never a name or number in a group
	}
	title := fmt.Sprintf("%s预警: %s %s (%s)", strings.TrimSuffix(a.Level.Chinese(), "色"), kind, ref, subjectUnit.Name)
	if n.Resolved {
		title = "预警解除: " + kind + " " + ref
	} else if n.Step > 0 {
		title = fmt.Sprintf("[逾期未签收, 第%d次升级] %s", n.Step, title)
	}
	subject, step := kind+" "+ref, n.Step
	if a.Kind != "" {
		// A notice of the schedules: its own title; a later round is a
		// reminder, not an escalation.
		subject, title, step = noticeKinds[a.Kind]+" "+subjectUnit.Name, a.Title, 0
		switch {
		case n.Resolved:
			title = "已办结: " + a.Title
		case n.Step > 0:
			title = fmt.Sprintf("[第%d次提醒] %s", n.Step, a.Title)
		}
	}
	m := notify.Message{AlertID: a.ID, Key: n.ID, Level: a.Level, Title: title, Subject: subject,
		Unit: a.Unit, UnitName: subjectUnit.Name, Reasons: a.Explanation, Step: step, Deadline: a.Deadline,
		AckURL: strings.TrimRight(s.cfg.PublicURL, "/") + "/console/alerts/" + a.ID, Resolved: n.Resolved, At: s.now()}
	setting := func(k string) (string, error) {
		v := os.Expand(ch.Settings[k], s.getenv)
		if v == "" {
			return "", fmt.Errorf("channel %s: %s %w (set %s)", n.Channel, k, errNotConfigured, ch.Settings[k])
		}
		return v, nil
	}
	var nt notify.Notifier
	switch ch.Kind {
	case escalation.Webhook:
		url, err := setting("url")
		if err != nil {
			return err
		}
		secret, err := setting("secret")
		if err != nil {
			return err
		}
		nt = notify.Webhook{URL: url, Secret: secret, Client: s.client, Now: s.now}
	case escalation.WeCom:
		url, err := setting("url")
		if err != nil {
			return err
		}
		nt = notify.WeCom{URL: url, Client: s.client}
	case escalation.DingTalk:
		url, err := setting("url")
		if err != nil {
			return err
		}
		nt = notify.DingTalk{URL: url, Secret: os.Expand(ch.Settings["secret"], s.getenv), Client: s.client, Now: s.now}
	case escalation.Alertmanager:
		url, err := setting("url")
		if err != nil {
			return err
		}
		nt = notify.Alertmanager{URL: url, Client: s.client, Resend: alertmanagerResend, Now: s.now}
	case escalation.Email:
		if s.cfg.SMTPAddr == "" {
			return fmt.Errorf("channel %s: e-mail %w (set smtp_addr)", n.Channel, errNotConfigured)
		}
		staffed, warn := escalation.Staff(escalation.Target{Unit: unit, Tier: unit.Tier}, s.roster, s.now())
		if warn != "" {
			s.fallbacks.Inc()
		}
		var to []string
		for _, c := range staffed.Contacts {
			if c.Email != "" {
				to = append(to, c.Email)
			}
		}
		if len(to) == 0 {
			return fmt.Errorf("channel %s: nobody on duty at %s has an e-mail address: %w", n.Channel, unit.Name, errNotConfigured)
		}
		nt = notify.Email{Addr: s.cfg.SMTPAddr, From: s.cfg.SMTPFrom, To: to, Username: s.cfg.SMTPUsername,
			Password: s.getenv("FENGQIAO_SMTP_PASSWORD"), StartTLS: s.cfg.SMTPStartTLS}
	default:
		return fmt.Errorf("channel %s: kind %s %w", n.Channel, ch.Kind, errNotConfigured)
	}
	return nt.Notify(ctx, m)
}

// newAlerting loads the escalation policy, the roster and the calendars and
// makes the alert manager.
func (a *App) newAlerting(cfg config.Config, now func() time.Time) (*alerting.Manager, error) {
	a.policies = &policyHolder{path: cfg.AlertPolicy}
	policy, err := a.policies.reload()
	if err != nil {
		return nil, fmt.Errorf("load the escalation policy:\n%w", err)
	}
	var roster *escalation.Roster
	if cfg.DutyRoster != "" {
		if roster, err = escalation.LoadRoster(cfg.DutyRoster); err != nil {
			return nil, fmt.Errorf("load the duty roster:\n%w", err)
		}
		if err := roster.Check(a.tree); err != nil {
			return nil, fmt.Errorf("the duty roster:\n%w", err)
		}
	}
	cal := a.cal
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fengqiao_roster_fallbacks_total",
		Help: "Notifications routed to a unit's own contacts because nobody was rostered on duty.",
	})
	a.reg.MustRegister(fallbacks)
	log := a.base.With("component", "alerting")
	r := &router{policies: a.policies, roster: roster, cal: cal, tree: a.tree, log: log, fallbacks: fallbacks}
	snd := &sender{policies: a.policies, roster: roster, tree: a.tree, cfg: cfg, now: now, getenv: os.Getenv,
		client: &http.Client{Timeout: 15 * time.Second}, fallbacks: fallbacks, log: log}
	log.Info("escalation policy loaded", "version", policy.Version, "levels", len(policy.Levels), "roster", roster != nil)
	return alerting.NewManager(a.rdb, r, snd, a.tree.Contains, now, log, a.reg), nil
}

// ReloadPolicy reloads the escalation policy; a bad file leaves the policy in
// force, and alerts already open keep the policy frozen on them.
func (a *App) ReloadPolicy() error {
	if a.policies == nil {
		return nil
	}
	p, err := a.policies.reload()
	if err != nil {
		a.log.Error("escalation policy reload failed; the policy in force stays", "err", err)
		return err
	}
	a.log.Info("escalation policy reloaded", "version", p.Version)
	_ = (auditor{a.audit}).Record(context.Background(), systemPrincipal, "policy.load", "policy/"+p.Version, "升级策略 "+p.Version+" 生效")
	return nil
}

// alertsAPI is the alert manager for the API, or an answer that alerts are off.
func (a *App) alertsAPI() api.Alerts {
	if a.alerting == nil {
		return nil
	}
	return a.alerting
}
