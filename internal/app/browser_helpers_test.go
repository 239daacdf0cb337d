package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// findChromium returns Debian's headless-capable Chromium (apt-get install -y
// chromium), or skips the test without it, unless FENGQIAO_REQUIRE_CHROMIUM=1,
// in which case it fails.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FENGQIAO_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not on PATH and FENGQIAO_REQUIRE_CHROMIUM=1: install it with apt-get install -y chromium")
	}
	t.Skip("chromium is not on PATH: install it (apt-get install -y chromium) to run the console's browser tests")
	return ""
}

// browser is one headless Chromium for a test; each tab it opens has its
// own cookies, as a separate officer's phone would.
type browser struct {
	ctx  context.Context // the first tab's: keeps the browser alive
	base string
	now  time.Time // the daemon's clock, which the pages' countdowns follow
	dir  string    // where screenshots go
}

const (
	phoneWidth, phoneHeight     = 412, 915
	desktopWidth, desktopHeight = 1280, 900
	stepTimeout                 = 30 * time.Second // for each scenario
)

func startBrowser(t *testing.T, path, base string, now time.Time) *browser {
	t.Helper()
	out := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(phoneWidth, phoneHeight),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.CombinedOutput(out),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v\n%s", path, err, out.String())
		}
	case <-time.After(stepTimeout):
		t.Fatalf("%s did not start in %v:\n%s", path, stepTimeout, out.String())
	}
	return &browser{ctx: ctx, base: base, now: now, dir: t.ArtifactDir()}
}

// tab is a browser tab in a fresh browser context (no cookies), on a
// phone-sized screen. Its methods fail the test of the scenario it was last
// given with use.
type tab struct {
	b    *browser
	name string
	base context.Context // the tab's, without a deadline
	ctx  context.Context // base, with the scenario's deadline
	t    *testing.T
}

func (b *browser) newTab(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The page's clock reads the daemon's, so that deadlines count down from
	// the daemon's now, whatever the day the test runs.
	freeze := fmt.Sprintf(`(() => { const offset = %d - Date.now(), now = Date.now; Date.now = () => now() + offset; })();`, b.now.UnixMilli())
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: freeze})
			return err
		}),
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(1), chromedp.EmulateMobile),
	)
	if err != nil {
		t.Fatalf("open a tab for the %s: %v", name, err)
	}
	tb := &tab{b: b, name: name, base: ctx}
	tb.use(t)
	return tb
}

// use makes t the tab's test, with a fresh deadline.
func (tb *tab) use(t *testing.T) {
	ctx, cancel := context.WithTimeout(tb.base, stepTimeout)
	t.Cleanup(cancel)
	tb.t, tb.ctx = t, ctx
}

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v (at %s)", tb.name, what, err, tb.location())
	}
}

// click clicks the first element sel matches: sel is an XPath expression
// when it starts with "/", else CSS.
func click(sel string) chromedp.Action[chromedp.Void] {
	if strings.HasPrefix(sel, "/") {
		return chromedp.Click(chromedp.Search(sel))
	}
	return chromedp.Click(chromedp.CSS(sel))
}

func (tb *tab) phone() {
	tb.t.Helper()
	tb.do("a phone's screen", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(1), chromedp.EmulateMobile))
}

func (tb *tab) desktop() {
	tb.t.Helper()
	tb.do("a desktop's screen", chromedp.EmulateViewport(desktopWidth, desktopHeight, chromedp.EmulateScale(1)))
}

// open loads a console path and returns the final page's HTTP status.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.b.base+path))
	if err != nil {
		tb.t.Fatalf("%s: open %s: %v", tb.name, path, err)
	}
	return resp.Status
}

// visit loads a page of another site.
func (tb *tab) visit(u string) {
	tb.t.Helper()
	tb.do("open "+u, chromedp.Navigate(u))
}

// follow clicks a link or a form's button and waits for the page it leads
// to, which must be path (its query aside) and answer 200.
func (tb *tab) follow(sel, path string) {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, click(sel))
	if err != nil {
		tb.t.Fatalf("%s: click %s: %v", tb.name, sel, err)
	}
	u, _ := url.Parse(resp.URL)
	if resp.Status != http.StatusOK || u.Path != path {
		tb.t.Fatalf("%s: click %s: %d at %s, want %s:\n%s", tb.name, sel, resp.Status, resp.URL, path, tb.text("main"))
	}
}

// followThrough clicks a link whose page may pass through others on the
// way (the sign-in page looking again for a session) and waits until the
// tab is at path.
func (tb *tab) followThrough(sel, path string) {
	tb.t.Helper()
	tb.click(sel)
	deadline := time.Now().Add(15 * time.Second)
	for {
		u, _ := url.Parse(tb.location())
		if u != nil && u.Path == path {
			tb.do("wait for "+path, chromedp.WaitReady(chromedp.CSS("main")))
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: click %s: at %s, want %s", tb.name, sel, tb.location(), path)
		}
		time.Sleep(50 * time.Millisecond) // the browser navigates on its own; this waits for it
	}
}

// signIn fills the sign-in form on the page and expects to land on next.
func (tb *tab) signIn(token, next string) {
	tb.t.Helper()
	tb.do("the sign-in form", chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)), chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token))
	tb.follow(`main form button[type="submit"]`, next)
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, click(sel))
}

// fill replaces a field's value with what an officer types.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do("fill "+sel, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(sel)+`).value = ""`),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// text is the visible text of the first element sel matches.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("%s: text of %s: %v (at %s)", tb.name, sel, err, tb.location())
	}
	return strings.TrimSpace(s)
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, js, err)
	}
	return v
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// texts are the visible texts of every element sel matches.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return eval[[]string](tb, `[...document.querySelectorAll(`+jsString(sel)+`)].map(e => e.innerText.trim())`)
}

// count is how many elements sel matches.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// overflow is how far the page is wider than the screen, in CSS pixels.
func (tb *tab) overflow() int {
	tb.t.Helper()
	return eval[int](tb, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
}

func (tb *tab) location() string {
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// shot saves a screenshot of the whole page as name.png among the test's
// artefacts (kept with go test -artifacts), and in docs/screenshots/ with
// -update-screenshots.
func (tb *tab) shot(name string) {
	tb.t.Helper()
	tb.save(name, *updateScreenshots)
}

// keep saves a screenshot among the test's artefacts only.
func (tb *tab) keep(name string) {
	tb.t.Helper()
	tb.save(name, false)
}

func (tb *tab) save(name string, docs bool) {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.name, name, err)
	}
	dirs := []string{tb.b.dir}
	if docs {
		dirs = append(dirs, filepath.Join("..", "..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}
