package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fengqiao/alerts/notify"
	"fengqiao/internal/config"
	"fengqiao/internal/redistest"
)

// lockedClock is a clock the test moves while the daemon reads it.
type lockedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *lockedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is a real HTTP webhook receiver that checks signatures.
type receiver struct {
	mu   sync.Mutex
	msgs []map[string]any
	raw  []string
}

func (rc *receiver) count() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.msgs) }

const alertPolicy = `version: "test-1"
channels:
  hook: {kind: webhook, url: "${TEST_HOOK_URL}", secret: "${TEST_HOOK_SECRET}"}
levels:
  orange: {tiers: [township], channels: [hook], ack_within: 30m, escalate: {to: parent, every: 30m, times: 2}}
  red: {tiers: [county], channels: [hook], ack_within: 30m, escalate: {to: parent, every: 30m, times: 1}}
suppress: 12h
`

// A rise reaches the township's duty officer over a signed webhook; an
// acknowledgement stops one alert, while the other, unacknowledged, goes up
// to the county after its deadline.
func TestAlertsReachTheDutyOfficer(t *testing.T) {
	rc := &receiver{}
	secret := "webhook-secret-for-the-test"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifyWebhook(secret, r.Header, body, time.Now(), 24*365*time.Hour); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		rc.mu.Lock()
		rc.msgs, rc.raw = append(rc.msgs, m), append(rc.raw, string(body))
		rc.mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("TEST_HOOK_URL", srv.URL)
	t.Setenv("TEST_HOOK_SECRET", secret)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(alertPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := &lockedClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	d := startDaemonOn(t, redistest.Start(t).URL, "test", clk.Now, func(c *config.Config) {
		c.AlertPolicy = filepath.Join(dir, "policy.yaml")
		c.PublicURL = "https://fengqiao.example.org"
	})
	if code, _ := d.do(t, "POST", "/api/v1/signals", threatSignal); code != http.StatusAccepted {
		t.Fatal("POST refused")
	}
	waitFor(t, "two notices", func() bool { return rc.count() == 2 })
	for _, m := range rc.msgs {
		if m["unit"] != "990101100201" || m["level"] != "orange" || !strings.HasPrefix(m["ack_url"].(string), "https://fengqiao.example.org/console/alerts/A") {
			t.Errorf("notice: %v", m)
		}
	}
	for _, raw := range rc.raw {
		if strings.Contains(raw, "990101197803152319") {
			t.Error("an ID number reached the webhook")
		}
	}

	duty := d.newToken(t, "枫桥镇值班室", "duty", "990101100000")
	_, list := d.doAs(t, duty, "GET", "/api/v1/alerts?state=open", "")
	alertsNow := list["alerts"].([]any)
	if len(alertsNow) != 2 {
		t.Fatalf("open alerts: %v", list)
	}
	first := alertsNow[0].(map[string]any)["id"].(string)
	code, b := d.doAs(t, duty, "POST", "/api/v1/alerts/"+first+"/ack", `{"officer": "王明辉", "note": "已电话联系村支书到场"}`)
	if code != 200 || b["alert"].(map[string]any)["state"] != "acknowledged" {
		t.Fatalf("ack: %d %v", code, b)
	}
	other := d.newToken(t, "东湖区值班室", "duty", "990102000000")
	if code, _ := d.doAs(t, other, "GET", "/api/v1/alerts/"+first, ""); code != 404 {
		t.Errorf("another county reading the alert: %d", code)
	}

	clk.Add(31 * time.Minute) // the other alert's deadline passes
	waitFor(t, "the escalation to the county", func() bool { return rc.count() == 3 })
	rc.mu.Lock()
	up := rc.msgs[2]
	rc.mu.Unlock()
	if up["step"] != float64(1) || !strings.Contains(up["title"].(string), "逾期未签收") {
		t.Errorf("escalation notice: %v", up)
	}
	_, one := d.doAs(t, duty, "GET", "/api/v1/alerts/"+first, "")
	if dl := one["deliveries"].([]any); len(dl) != 1 || dl[0].(map[string]any)["state"] != "sent" {
		t.Errorf("deliveries of the acknowledged alert: %v", one["deliveries"])
	}
	_, entries := d.do(t, "GET", "/api/v1/audit?action=alert.ack", "")
	if n := len(entries["entries"].([]any)); n != 1 {
		t.Errorf("%d acknowledgements in the audit log", n)
	}
}

// waitFor polls until cond holds: the daemon's alert loop works on its own
// ticker, and this waits for its work, not for time to pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
