package app

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fengqiao/internal/auth"
	"fengqiao/internal/redistest"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "also write the console's screenshots to docs/screenshots/")

// The red dispute of the fixture signals: 张国强's marriage dispute in 陈家村
// (枫桥镇), reported twice, the second time with a threat.
const redDispute = "TZ-990101100-2026-0031"

// The duty officers' console in a real browser: a township's duty officer
// follows an alert's link, signs in, reads why the dispute is red and
// acknowledges the alert; the board and the subject explain the colour;
// another township's officer sees none of it; a mediator takes a case one
// step; a village files its zero report; forms without the session's CSRF
// token are refused. Every page is also checked for sideways scrolling on a
// phone, and screenshots of the main pages are saved (to docs/screenshots/
// with -update-screenshots).
func TestConsoleInBrowser(t *testing.T) {
	chromium := findChromium(t)
	redisURL := redistest.Start(t).URL
	_, policy := hookReceiver(t)
	clk := &lockedClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, beijingTZ)} // a Monday, a reporting day
	d := startDaemonOn(t, redisURL, "test", clk.Now, withSchedules(policy))

	fixture, err := os.ReadFile("../../fixtures/signals/grid_report.json")
	if err != nil {
		t.Fatal(err)
	}
	if code, b := d.do(t, "POST", "/api/v1/signals", string(fixture)); code != http.StatusAccepted {
		t.Fatalf("POST the fixture signals: %d %v", code, b)
	}
	subject := d.await(t, "/api/v1/subjects/dispute/"+redDispute, func(code int, b map[string]any) bool {
		return code == 200 && b["level"] == "red"
	})
	var alert map[string]any
	d.await(t, "/api/v1/alerts?state=open", func(code int, b map[string]any) bool {
		list, _ := b["alerts"].([]any)
		for _, a := range list {
			a := a.(map[string]any)
			if s := a["subject"].(map[string]any); s["ref"] == redDispute && a["level"] == "red" {
				alert = a
				return true
			}
		}
		return false
	})
	alertID, reasons := alert["id"].(string), alert["explanation"].(string)
	if !strings.HasPrefix(reasons, "红色") {
		t.Fatalf("the alert's reasons: %q", reasons)
	}

	duty := d.newToken(t, "枫桥镇值班室", auth.Duty, "990101100000")
	other := d.newToken(t, "石门镇值班室", auth.Duty, "990101101000")
	mediator := d.newToken(t, "枫桥镇调委会", auth.Mediator, "990101100000")
	reporter := d.newToken(t, "陈家村网格员", auth.Reporter, "990101100201")

	b := startBrowser(t, chromium, d.base, clk.Now())

	// Forms are checked first, over plain HTTP, while the alert is still open.
	t.Run("CSRF and sign-in", func(t *testing.T) { checkConsoleForms(t, d, duty, alertID) })

	officer := b.newTab(t, "duty officer")
	t.Run("duty officer acknowledges the alert", func(t *testing.T) {
		officer.use(t)
		alertPath := "/console/alerts/" + alertID
		// The link in the notice, without a session: to sign-in, and back.
		officer.open("/console/alerts/" + alertID)
		// (The sign-in page has looked again once, from the console itself,
		// for a session a Strict cookie may not have brought along.)
		if loc := officer.location(); loc != d.base+"/console/login?next="+url.QueryEscape(alertPath)+"&recheck=1" {
			t.Fatalf("without a session the alert's link went to %s", loc)
		}
		officer.shot("login")
		officer.signIn(duty, alertPath)
		if got := officer.text("p.why"); got != reasons {
			t.Errorf("the alert page gives the reasons %q, want %q", got, reasons)
		}
		// Signed in, the same link followed from another site (a chat
		// app's or a mail's web page) opens the alert without a new sign-in.
		chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><p>【红色预警】<a id="notice" href="%s">签收</a></p>`, d.base+alertPath)
		}))
		defer chat.Close()
		officer.visit(strings.Replace(chat.URL, "127.0.0.1", "localhost", 1)) // another site than 127.0.0.1
		officer.followThrough("#notice", alertPath)

		// The list, and from it the alert.
		officer.open("/console/alerts")
		link := `a[href="` + alertPath + `"]`
		if got := officer.text(link + " .why"); got != reasons {
			t.Errorf("the list gives the reasons %q", got)
		}
		if got := officer.text(link + " .badge"); got != "红色" {
			t.Errorf("the list's badge: %q", got)
		}
		officer.shot("alerts")
		officer.follow(link, alertPath)
		if got := officer.text("strong.state"); got != "待签收" {
			t.Errorf("state before the acknowledgement: %q", got)
		}
		officer.shot("alert-open")

		officer.fill(`input[name="officer"]`, "王明辉")
		officer.fill(`textarea[name="note"]`, "已电话联系村支书到场")
		officer.follow(`section.ack button[type="submit"]`, alertPath)
		if got := officer.text("strong.state"); got != "已签收" {
			t.Errorf("state after the acknowledgement: %q", got)
		}
		if got := officer.text("p.notice"); got != "已签收" {
			t.Errorf("notice: %q", got)
		}
		if n := officer.count("section.ack"); n != 0 {
			t.Error("the acknowledged alert still offers the form")
		}
		if got := officer.text("main"); !strings.Contains(got, "签收: 王明辉") || !strings.Contains(got, "已电话联系村支书到场") {
			t.Errorf("the page does not show who acknowledged it:\n%s", got)
		}
		officer.shot("alert-acknowledged")
		_, got := d.doAs(t, duty, "GET", "/api/v1/alerts/"+alertID, "")
		if a := got["alert"].(map[string]any); a["state"] != "acknowledged" || a["acked_by"] != "王明辉" || a["ack_note"] != "已电话联系村支书到场" {
			t.Errorf("the API has the alert as %v", a)
		}
	})

	t.Run("board and subject explain the colour", func(t *testing.T) {
		officer.use(t)
		officer.desktop()
		officer.open("/console/board")
		subjectPath := "/console/subjects/dispute/" + redDispute
		entry := `li.item a[href="` + subjectPath + `"]`
		if got := officer.text(entry + " .badge"); got != "红色" {
			t.Errorf("the board's badge: %q", got)
		}
		if got := officer.text(entry + " .why"); got != subject["explanation"] {
			t.Errorf("the board explains %q, want %q", got, subject["explanation"])
		}
		officer.shot("board")
		officer.phone()
		officer.follow(entry, subjectPath)
		if got := officer.text("h2"); got != "为什么是红色" {
			t.Errorf("the subject's heading: %q", got)
		}
		fired := officer.texts("section.card table tbody td:first-child")
		for _, f := range subject["fired"].([]any) {
			if name := f.(map[string]any)["name"].(string); !slices.Contains(fired, name) {
				t.Errorf("the subject page lacks the rule %q: %v", name, fired)
			}
		}
		if got := officer.texts("ul.timeline li"); len(got) == 0 || !strings.HasPrefix(got[0], "2026-11-23 10:00 评定 绿色 → 红色") {
			t.Errorf("the subject's history: %q", got)
		}
		officer.shot("subject")
	})

	t.Run("another township sees nothing", func(t *testing.T) {
		stranger := b.newTab(t, "another township")
		stranger.open("/console/login")
		stranger.signIn(other, "/console/alerts")
		if n := stranger.count(`a[href*="` + alertID + `"]`); n != 0 {
			t.Error("石门镇's alert list shows 枫桥镇's alert")
		}
		if code := stranger.open("/console/alerts/" + alertID); code != http.StatusNotFound || stranger.text("h1") != "未找到" {
			t.Errorf("石门镇 opening 枫桥镇's alert: %d %q", code, stranger.text("main"))
		}
		if code := stranger.open("/console/subjects/dispute/" + redDispute); code != http.StatusNotFound {
			t.Errorf("石门镇 opening 枫桥镇's dispute: %d", code)
		}
		stranger.open("/console/board?level=blue")
		if n := stranger.count(`a[href*="` + redDispute + `"]`); n != 0 {
			t.Error("石门镇's board lists 枫桥镇's dispute")
		}
		if got := stranger.text("h1"); !strings.HasPrefix(got, "风险看板 石门镇") {
			t.Errorf("石门镇's board: %q", got)
		}
	})

	t.Run("mediator accepts a case", func(t *testing.T) {
		code, reg := d.doAs(t, mediator, "POST", "/api/v1/cases", `{"unit": "990101100201", "channel": "walk_in", "category": "邻里",
		  "summary": "宅基地边界纠纷, 双方多次争吵", "amount": 5000,
		  "parties": [{"role": "申请人", "name": "陈某"}, {"role": "被申请人", "name": "李某"}]}`)
		if code != http.StatusCreated {
			t.Fatalf("register: %d %v", code, reg)
		}
		number := reg["case"].(map[string]any)["number"].(string)
		casePath := "/console/cases/" + number
		m := b.newTab(t, "mediator")
		m.open(casePath)
		m.signIn(mediator, casePath)
		if got := m.text("h1 .badge"); got != "已登记" {
			t.Errorf("state before: %q", got)
		}
		// Only the steps a mediator may take on a registered case; archive
		// is never offered on the page.
		if got := m.texts("details.act summary"); !slices.Equal(got, []string{"受理", "不予受理", "归入卷宗"}) {
			t.Errorf("steps offered: %v", got)
		}
		accept := `//details[@class="act"][summary[normalize-space()="受理"]]`
		m.click(accept + `/summary`)
		m.follow(accept+`//button[@type="submit"]`, casePath)
		if got := m.text("h1 .badge"); got != "已受理" {
			t.Errorf("state after: %q", got)
		}
		if got := m.text("p.notice"); got != "已受理" {
			t.Errorf("notice: %q", got)
		}
		if got := m.texts("ul.timeline li strong"); !slices.Equal(got, []string{"登记", "受理"}) {
			t.Errorf("history: %v", got)
		}
		if got := m.texts("details.act summary"); !slices.Contains(got, "交办") {
			t.Errorf("steps offered after accepting: %v", got)
		}
		_, c := d.doAs(t, mediator, "GET", "/api/v1/cases/"+number, "")
		if c["state"] != "accepted" {
			t.Errorf("the API has the case %v", c["state"])
		}
		m.click(`//details[@class="act"]/summary[normalize-space()="交办"]`) // the next step's form, for the picture
		m.shot("case")
	})

	t.Run("village files its zero report", func(t *testing.T) {
		r := b.newTab(t, "reporter")
		r.open("/console/")
		r.signIn(reporter, "/console/zero-reports") // a reporter's home
		if got := r.texts("header nav a"); !slices.Equal(got, []string{"零报告"}) {
			t.Errorf("a reporter's menu: %v", got)
		}
		r.click(`input[name="nothing"]`)
		r.fill(`input[name="officer"]`, "陈建国")
		r.follow(`main form button[type="submit"]`, "/console/zero-reports")
		if got := r.text("p.notice"); got != "零报告已报送(已报)" {
			t.Errorf("notice: %q", got)
		}
		if got := r.text("main h2"); !strings.Contains(got, "陈家村") || !strings.Contains(got, "已报") {
			t.Errorf("own status: %q", got)
		}
		_, st := d.doAs(t, duty, "GET", "/api/v1/zero-reports?unit=990101100000", "")
		for _, u := range st["units"].([]any) {
			if u := u.(map[string]any); u["unit"] == "990101100201" && u["status"] != "filed" {
				t.Errorf("the API has 陈家村's report %v", u["status"])
			}
		}
		// The township sees it among its villages.
		officer.use(t)
		officer.open("/console/zero-reports")
		if got := officer.text("main table"); !strings.Contains(got, "陈家村") || !strings.Contains(got, "陈建国") {
			t.Errorf("the township's list: %q", got)
		}
		officer.shot("zero-reports")
	})

	t.Run("daily report", func(t *testing.T) {
		// Today's report covers the day up to now, and all the above
		// happened at the clock's now.
		clk.Add(time.Minute)
		officer.use(t)
		officer.open("/console/daily")
		if got := officer.text("h1"); !strings.HasPrefix(got, "枫桥镇 日报 2026-11-23") {
			t.Errorf("daily report heading: %q", got)
		}
		if got := officer.text("main"); !strings.Contains(got, "新增升级") || !strings.Contains(got, "已签收 1") {
			t.Errorf("daily report:\n%s", got)
		}
		officer.shot("daily")
	})

	// No page of a signed-in officer scrolls sideways on a phone.
	t.Run("phone layout", func(t *testing.T) {
		officer.use(t)
		officer.phone()
		pages := map[string]string{"alerts-all": "/console/alerts?state=all", "alert": "/console/alerts/" + alertID,
			"board": "/console/board", "subject": "/console/subjects/dispute/" + redDispute, "cases": "/console/cases",
			"zero-reports": "/console/zero-reports", "daily": "/console/daily", "rules": "/console/rules"}
		_, list := d.doAs(t, duty, "GET", "/api/v1/cases", "")
		for i, c := range list["cases"].([]any) {
			pages[fmt.Sprintf("case-%d", i+1)] = "/console/cases/" + c.(map[string]any)["number"].(string)
		}
		hours := regexp.MustCompile(`(\d+)小时`)
		for name, p := range pages {
			officer.open(p)
			if w := officer.overflow(); w > 0 {
				t.Errorf("%s is %d px wider than a phone's screen", p, w)
			}
			// The countdowns ran (app.js passes the CSP), in days past a day.
			for _, c := range officer.texts(".countdown") {
				if !strings.HasPrefix(c, "剩余 ") && !strings.HasPrefix(c, "已超时 ") {
					t.Errorf("%s: a countdown reads %q", p, c)
				}
				if m := hours.FindStringSubmatch(c); m != nil && atoi(m[1]) >= 24 {
					t.Errorf("%s: a countdown reads %q", p, c)
				}
			}
			officer.keep("phone-" + name)
		}
		// What a phone leaves out of a table is never what an officer needs.
		for p, want := range map[string]string{"/console/alerts/" + alertID: "状态", "/console/rules": "分值", "/console/daily": "较上期"} {
			officer.open(p)
			if got := eval[[]string](officer, `[...document.querySelectorAll("th")].filter(e => e.offsetParent !== null).map(e => e.innerText.trim())`); !slices.Contains(got, want) {
				t.Errorf("%s on a phone shows the columns %v, without %s", p, got, want)
			}
		}
	})
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// checkConsoleForms checks, over plain HTTP, that a form without the
// session's CSRF token is refused, and the sign-in's cookie and redirects.
func checkConsoleForms(t *testing.T, d *daemon, token, alertID string) {
	signIn := func(token, next string) (*http.Client, *http.Response) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(d.base+"/console/login", url.Values{"token": {token}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c, resp
	}
	a, resp := signIn(token, "/console/alerts")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/alerts" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "Path=/console/") {
		t.Errorf("session cookie: %s", c)
	}
	for _, next := range []string{"//evil.example/console/", "https://evil.example/console/", "/api/v1/tokens"} {
		if _, resp := signIn(token, next); resp.Header.Get("Location") != "/console/" {
			t.Errorf("sign-in with next=%s sent to %q", next, resp.Header.Get("Location"))
		}
	}
	if _, resp := signIn("fqt_nope_nope", "/console/"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a wrong token: %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	// A sign-in form posted from another site is refused.
	req, _ := http.NewRequest("POST", d.base+"/console/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := http.DefaultTransport.RoundTrip(req); err != nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a sign-in posted from another site: %v %v", resp, err)
	}
	// Revoking a token ends its console sessions at once.
	short := d.newToken(t, "临时值班", auth.Duty, "990101100000")
	sc, _ := signIn(short, "/console/")
	if code, _ := d.do(t, "DELETE", "/api/v1/tokens/"+strings.Split(short, "_")[1], ""); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if resp, err := sc.Get(d.base + "/console/alerts"); err != nil || resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("a revoked token's session still opens pages: %v %v", resp, err)
	}

	csrfOf := func(c *http.Client, path string) string {
		resp, err := c.Get(d.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(body)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("GET %s: %d, no CSRF token in\n%s", path, resp.StatusCode, body)
		}
		return string(m[1])
	}
	post := func(c *http.Client, path string, form url.Values) (int, string) {
		resp, err := c.PostForm(d.base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	b, _ := signIn(token, "/console/")
	theirs := csrfOf(b, "/console/alerts/"+alertID)
	ours := csrfOf(a, "/console/alerts/"+alertID)
	if ours == theirs {
		t.Error("two sessions share a CSRF token")
	}
	ack := "/console/alerts/" + alertID + "/ack"
	for name, csrf := range map[string][]string{"no CSRF token": nil, "a forged one": {"0123abcd"}, "another session's": {theirs}} {
		code, body := post(a, ack, url.Values{"csrf": csrf, "officer": {"某"}, "note": {"伪造"}})
		if code != http.StatusForbidden || !strings.Contains(body, "请求已失效") {
			t.Errorf("acknowledging with %s: %d\n%s", name, code, body)
		}
	}
	if code, _ := post(a, "/console/zero-reports", url.Values{"nothing": {"on"}, "officer": {"某"}}); code != http.StatusForbidden {
		t.Errorf("filing a zero report without a CSRF token: %d", code)
	}
	if code, _ := post(a, "/console/logout", nil); code != http.StatusForbidden {
		t.Errorf("signing out without a CSRF token: %d", code)
	}
	// A POST without a session goes to sign-in, not through.
	if code, _ := post(&http.Client{CheckRedirect: a.CheckRedirect}, ack, url.Values{"officer": {"某"}}); code != http.StatusSeeOther {
		t.Errorf("acknowledging without a session: %d", code)
	}
	_, got := d.doAs(t, token, "GET", "/api/v1/alerts/"+alertID, "")
	if st := got["alert"].(map[string]any)["state"]; st != "open" {
		t.Fatalf("after the refused forms the alert is %v", st)
	}
	// Signing out ends the session on the server, not only in the browser.
	base, _ := url.Parse(d.base + "/console/")
	cookies := a.Jar.Cookies(base)
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	if code, _ := post(a, "/console/logout", url.Values{"csrf": {ours}}); code != http.StatusSeeOther {
		t.Errorf("sign out: %d", code)
	}
	req, _ = http.NewRequest("GET", d.base+"/console/alerts", nil)
	req.AddCookie(cookies[0])
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("the old cookie after signing out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
