// Package console is the duty officers' web console (值班工作台), served by
// riskd under /console/: server-rendered pages in Chinese, usable on a
// phone, with the same tokens, roles and jurisdiction scope as the API. An
// officer signs in with a token once; a session cookie (HttpOnly,
// SameSite=Strict, Secure when served over HTTPS) carries the rest, and
// every form carries the session's CSRF token. A browser does not send a
// Strict cookie on a navigation from another site (a notice's link in a
// chat app's or a mail's page), so the sign-in page first looks again from
// the console itself, where it does; an officer already signed in goes
// straight on to the page the link named.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"fengqiao/cases"
	"fengqiao/internal/alerting"
	"fengqiao/internal/auth"
	"fengqiao/internal/casestore"
	"fengqiao/internal/reporting"
	"fengqiao/internal/ruleset"
	"fengqiao/internal/scoring"
	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/schedule"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator turns a token's secret into its holder.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// Tokens says whether a token is still in force.
type Tokens interface {
	Active(ctx context.Context, id string) (bool, error)
}

// Auditor records acts in the audit log.
type Auditor interface {
	Record(ctx context.Context, p auth.Principal, action, subject, detail string) error
}

// Subjects are the scored subjects.
type Subjects interface {
	Board(ctx context.Context, q scoring.BoardQuery) ([]scoring.BoardEntry, int, error)
	Subject(ctx context.Context, id risk.SubjectID) (scoring.Subject, error)
	History(ctx context.Context, id risk.SubjectID, n int64) ([]scoring.Change, error)
	Shadow(ctx context.Context, hash string, inScope func(unit string) bool, limit int) (scoring.ShadowReport, error)
}

// Alerts are the alerts and their deliveries.
type Alerts interface {
	List(ctx context.Context, f alerting.Filter) ([]alerting.Alert, error)
	Get(ctx context.Context, id string) (alerting.Alert, error)
	Deliveries(ctx context.Context, id string) ([]alerting.Notification, error)
	Acknowledge(ctx context.Context, id, by, note string) (alerting.Alert, error)
}

// Cases is the mediation workflow.
type Cases interface {
	List(ctx context.Context, q casestore.Query) ([]*cases.Case, int, error)
	Get(ctx context.Context, number string) (*cases.Case, []cases.Event, error)
	Act(ctx context.Context, number string, a cases.Act, by cases.Actor) (*cases.Case, cases.Event, error)
	Allowed(c *cases.Case, by cases.Actor) []cases.Action
}

// Reports are the zero reports and daily reports.
type Reports interface {
	File(ctx context.Context, f schedule.ZeroReportFiling, by reporting.Filer) (schedule.ZeroReportFiling, schedule.Status, schedule.Checkpoint, error)
	Status(ctx context.Context, unit, checkpoint string) (schedule.Checkpoint, []reporting.Row, []reporting.Rollup, error)
	Daily(ctx context.Context, unit, date string) (*schedule.Daily, error)
	Build(ctx context.Context, unit, date string) (*schedule.Daily, error)
}

// Rules is the ruleset in force and its shadow.
type Rules interface {
	Status() ruleset.Status
	ShadowStatus() (ruleset.ShadowStatus, bool)
	Rules() []RuleView
}

// RuleView is a rule as the console lists it.
type RuleView struct {
	ID, Name, When, Score, Description string
	AppliesTo                          []risk.Kind
	AtLeast                            *risk.Level
}

// Units is the jurisdiction.
type Units interface {
	Unit(code string) (jurisdiction.Unit, bool)
	Contains(ancestor, code string) bool
	Children(code string) []jurisdiction.Unit
}

// Server serves the console. Alerts, Cases and Reports may be nil when
// riskd runs without them; their pages then say so.
type Server struct {
	RDB      redis.UniversalClient // sessions
	Auth     Authenticator
	Tokens   Tokens // nil: sessions outlive a revoked token until they expire
	Audit    Auditor
	Subjects Subjects
	Alerts   Alerts
	Cases    Cases
	Reports  Reports
	Rules    Rules
	Units    Units
	Now      func() time.Time
	Log      *slog.Logger
	// Secure marks the session cookie Secure (riskd behind HTTPS).
	Secure bool
	// SessionTTL is how long a session lasts without use (default 12 h).
	SessionTTL time.Duration

	tmpl map[string]*template.Template
}

// Who may see which page, as in the API.
var (
	readers    = []auth.Role{auth.Admin, auth.Duty, auth.Mediator, auth.Viewer}
	officers   = []auth.Role{auth.Duty, auth.Admin}
	caseActors = []auth.Role{auth.Mediator, auth.Duty, auth.Admin}
	filers     = []auth.Role{auth.Reporter, auth.Duty, auth.Admin}
	anyone     = auth.Roles
)

// Handler returns the console's handler, for /console/.
func (s *Server) Handler() (http.Handler, error) {
	if err := s.parse(); err != nil {
		return nil, err
	}
	if s.SessionTTL == 0 {
		s.SessionTTL = 12 * time.Hour
	}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/login", s.loginPage)
	mux.HandleFunc("POST /console/login", s.login)
	mux.HandleFunc("POST /console/logout", s.page(anyone, s.logout))
	mux.HandleFunc("GET /console/{$}", s.page(anyone, s.home))
	mux.HandleFunc("GET /console/board", s.page(readers, s.board))
	mux.HandleFunc("GET /console/subjects/{kind}/{ref}", s.page(readers, s.subject))
	mux.HandleFunc("GET /console/alerts", s.page(readers, s.alerts))
	mux.HandleFunc("GET /console/alerts/{id}", s.page(readers, s.alert))
	mux.HandleFunc("POST /console/alerts/{id}/ack", s.page(officers, s.ack))
	mux.HandleFunc("GET /console/cases", s.page(readers, s.caseList))
	mux.HandleFunc("GET /console/cases/{number}", s.page(readers, s.caseDetail))
	mux.HandleFunc("POST /console/cases/{number}/act", s.page(caseActors, s.caseAct))
	mux.HandleFunc("GET /console/zero-reports", s.page(append(slices.Clone(readers), auth.Reporter), s.zeroReports))
	mux.HandleFunc("POST /console/zero-reports", s.page(filers, s.fileZeroReport))
	mux.HandleFunc("GET /console/daily", s.page(readers, s.daily))
	mux.HandleFunc("GET /console/rules", s.page(readers, s.rules))
	return headers(mux), nil
}

// headers lets the console's own scripts and styles run, and nothing else.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// session is a signed-in officer's session.
type session struct {
	Principal auth.Principal `json:"principal"`
	CSRF      string         `json:"csrf"`
	Created   time.Time      `json:"created"`
}

const cookieName = "fq_session"

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "fq:{console}:session:" + hex.EncodeToString(h[:16])
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// current returns the request's session, if it has a live one, and keeps
// it alive.
func (s *Server) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	key := sessionKey(c.Value)
	b, err := s.RDB.GetEx(r.Context(), key, s.SessionTTL).Bytes()
	if err != nil {
		return nil, false
	}
	var sess session
	if json.Unmarshal(b, &sess) != nil {
		return nil, false
	}
	// A revoked token ends its sessions at once, as it ends API access.
	if s.Tokens != nil {
		if ok, err := s.Tokens.Active(r.Context(), sess.Principal.TokenID); err != nil || !ok {
			if err == nil {
				s.RDB.Del(r.Context(), key)
			}
			return nil, false
		}
	}
	return &sess, true
}

// page wraps a handler that needs a signed-in officer of one of roles; a
// form's POST must also carry the session's CSRF token.
func (s *Server) page(roles []auth.Role, h func(w http.ResponseWriter, r *http.Request, v *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.current(r)
		if !ok {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/console/"
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		v := &view{s: s, Session: sess, P: sess.Principal, CSRF: sess.CSRF, Path: r.URL.Path}
		if unit, ok := s.Units.Unit(sess.Principal.Unit); ok {
			v.UnitName = unit.Name
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				s.render(w, http.StatusForbidden, "message", v.with("请求已失效", "页面已过期或来源不明, 请返回重新操作。"))
				return
			}
		}
		if !slices.Contains(roles, sess.Principal.Role) {
			s.render(w, http.StatusForbidden, "message", v.with("无权访问", "您的角色("+roleName(sess.Principal.Role)+")不能使用此页面。"))
			return
		}
		h(w, r, v)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.current(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	// Arrived from another site, the Strict cookie may have stayed behind:
	// the page reloads itself once (app.js), same-site, to look again.
	recheck := r.URL.Query().Get("recheck") == ""
	s.render(w, http.StatusOK, "login", &view{s: s, Next: safeNext(r.URL.Query().Get("next")), Recheck: recheck})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	// A sign-in form posted from another site would sign this browser into
	// someone else's session.
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			s.render(w, http.StatusForbidden, "login", &view{s: s, Next: "/console/", Error: "请从值班工作台的登录页登录。"})
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	p, err := s.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		msg := "令牌无效: 请检查是否输入完整, 或联系管理员重新签发。"
		if !errors.Is(err, auth.ErrUnauthenticated) {
			s.Log.Error("console sign-in", "err", err)
			msg = "暂时无法验证令牌, 请稍后再试。"
		}
		s.render(w, http.StatusUnauthorized, "login", &view{s: s, Next: next, Error: msg})
		return
	}
	id := random()
	b, _ := json.Marshal(session{Principal: p, CSRF: random(), Created: s.Now()})
	if err := s.RDB.Set(r.Context(), sessionKey(id), b, s.SessionTTL).Err(); err != nil {
		s.Log.Error("store a console session", "err", err)
		s.render(w, http.StatusServiceUnavailable, "login", &view{s: s, Next: next, Error: "暂时无法登录, 请稍后再试。"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/console/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.SessionTTL / time.Second)})
	if s.Audit != nil {
		_ = s.Audit.Record(r.Context(), p, "console.login", "", "登录值班工作台")
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, v *view) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.RDB.Del(r.Context(), sessionKey(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

func roleName(r auth.Role) string {
	return map[auth.Role]string{auth.Admin: "管理员", auth.Duty: "值班员", auth.Mediator: "调解员",
		auth.Reporter: "信息员", auth.Viewer: "查看者", auth.System: "系统"}[r]
}

// view is what every page template gets.
type view struct {
	s        *Server
	Session  *session
	P        auth.Principal
	UnitName string
	CSRF     string
	Path     string
	Title    string
	Message  string
	Error    string
	Notice   string
	Next     string
	Recheck  bool // the sign-in page looks again for a session, from the console itself
	Data     any
}

func (v *view) with(title, msg string) *view {
	c := *v
	c.Title, c.Message = title, msg
	return &c
}

// Can says whether the officer's role may use a kind of page.
func (v *view) Can(what string) bool {
	sets := map[string][]auth.Role{"read": readers, "ack": officers, "cases": caseActors, "file": filers}
	return slices.Contains(sets[what], v.P.Role)
}

// RoleName is the officer's role in Chinese.
func (v *view) RoleName() string { return roleName(v.P.Role) }

func (s *Server) inScope(v *view, unit string) bool { return s.Units.Contains(v.P.Unit, unit) }

func (s *Server) unitName(code string) string {
	if u, ok := s.Units.Unit(code); ok {
		return u.Name
	}
	return code
}

func (s *Server) fail(w http.ResponseWriter, v *view, what string, err error) {
	s.Log.Error("console: "+what, "err", err)
	s.render(w, http.StatusServiceUnavailable, "message", v.with("暂时无法完成", "系统暂时无法"+what+", 请稍后重试。"))
}

func (s *Server) notFound(w http.ResponseWriter, v *view, what string) {
	s.render(w, http.StatusNotFound, "message", v.with("未找到", "您的辖区内没有这个"+what+"。"))
}

func (s *Server) render(w http.ResponseWriter, code int, name string, v *view) {
	t, ok := s.tmpl[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := t.ExecuteTemplate(w, "layout", v); err != nil {
		s.Log.Error("render a console page", "page", name, "err", err)
	}
}

func (s *Server) parse() error {
	beijing := time.FixedZone("CST", 8*3600)
	funcs := template.FuncMap{
		"colour":     func(l risk.Level) string { return l.String() },
		"chinese":    func(l risk.Level) string { return l.Chinese() },
		"unitName":   s.unitName,
		"when":       func(t time.Time) string { return t.In(beijing).Format("2006-01-02 15:04") },
		"whenp":      func(t *time.Time) string { return whenPtr(t, beijing) },
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"kindName":   kindName,
		"stateName":  func(st cases.State) string { return st.Chinese() },
		"actionName": func(a cases.Action) string { return a.Chinese() },
		"clockName":  func(c cases.ClockName) string { return c.Chinese() },
		"statusName": func(st schedule.Status) string { return st.Chinese() },
		"pct": func(f *float64) string {
			if f == nil {
				return "—"
			}
			return fmt.Sprintf("%.0f%%", *f*100)
		},
		"deref": func(l *risk.Level) risk.Level {
			if l == nil {
				return risk.Green
			}
			return *l
		},
		"join": strings.Join,
		// A level and an event as the subject's history stores them.
		"levelName": func(s string) string {
			if l, err := risk.ParseLevel(s); err == nil {
				return l.Chinese()
			}
			return s
		},
		"eventName": func(e string) string {
			if n, ok := map[string]string{"level": "评定", "override": "人工调整", "override_cleared": "取消人工调整", "signoff": "解除预警"}[e]; ok {
				return n
			}
			return e
		},
	}
	s.tmpl = map[string]*template.Template{}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return fmt.Errorf("console template %s: %w", name, err)
		}
		s.tmpl[name] = t
	}
	return nil
}

func whenPtr(t *time.Time, loc *time.Location) string {
	if t == nil {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

func kindName(k risk.Kind) string {
	switch k {
	case risk.Person:
		return "人员"
	case risk.Dispute:
		return "纠纷"
	}
	return map[string]string{"zero_report": "零报告", "supervision": "督办", "listed_supervision": "挂牌督办",
		"follow_up": "回访提醒", "daily_report": "日报"}[string(k)]
}
