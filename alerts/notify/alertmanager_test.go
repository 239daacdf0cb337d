package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// contractAlert is postableAlert from Alertmanager's api/v2/openapi.yaml:
// labels (required) and generatorURL from "alert", with startsAt, endsAt
// and annotations. Decoding refuses any other field.
type contractAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     *time.Time        `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt"`
	GeneratorURL *string           `json:"generatorURL"`
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkPostableAlerts applies what Alertmanager checks when alerts are
// posted: the OpenAPI schema (types, date-time and uri formats, no unknown
// fields) and then types.Alert.Validate (at least one label, valid label
// and annotation names, UTF-8 values, not ending before it starts).
func checkPostableAlerts(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var alerts []contractAlert
	if err := dec.Decode(&alerts); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if len(alerts) == 0 {
		return errors.New("no alerts")
	}
	var errs []error
	for i, a := range alerts {
		if len(a.Labels) == 0 {
			errs = append(errs, fmt.Errorf("alert %d: at least one label pair required", i))
		}
		for _, set := range []map[string]string{a.Labels, a.Annotations} {
			for k, v := range set {
				if !labelName.MatchString(k) || !utf8.ValidString(v) {
					errs = append(errs, fmt.Errorf("alert %d: invalid label or annotation %q=%q", i, k, v))
				}
			}
		}
		for k, v := range a.Labels {
			if v == "" {
				errs = append(errs, fmt.Errorf("alert %d: label %s is empty, which means absent", i, k))
			}
		}
		if a.StartsAt != nil && a.EndsAt != nil && a.EndsAt.Before(*a.StartsAt) {
			errs = append(errs, fmt.Errorf("alert %d: start time must be before end time", i))
		}
		if a.GeneratorURL != nil {
			if _, err := url.ParseRequestURI(*a.GeneratorURL); err != nil {
				errs = append(errs, fmt.Errorf("alert %d: generatorURL: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func TestContractCheckerAgainstFixture(t *testing.T) {
	fixture, err := os.ReadFile("testdata/alertmanager_v2_accepts.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPostableAlerts(fixture); err != nil {
		t.Fatalf("the fixture of an accepted body fails the check: %v", err)
	}
	for name, bad := range map[string]string{
		"not an array":     `{"labels":{"a":"b"}}`,
		"no labels":        `[{"annotations":{"a":"b"}}]`,
		"bad label name":   `[{"labels":{"alert-id":"x"}}]`,
		"unknown field":    `[{"labels":{"a":"b"},"status":"firing"}]`,
		"ends before":      `[{"labels":{"a":"b"},"startsAt":"2026-01-15T10:00:00Z","endsAt":"2026-01-15T09:00:00Z"}]`,
		"not a date-time":  `[{"labels":{"a":"b"},"startsAt":"2026-01-15 10:00"}]`,
		"label not string": `[{"labels":{"a":1}}]`,
	} {
		if checkPostableAlerts([]byte(bad)) == nil {
			t.Errorf("%s: the check accepts %s", name, bad)
		}
	}
}

func TestAlertmanager(t *testing.T) {
	fixture, err := os.ReadFile("testdata/alertmanager_v2_accepts.json")
	if err != nil {
		t.Fatal(err)
	}
	resolved := testMessage()
	resolved.Resolved = true
	resolved.At = at.Add(time.Hour)
	late := testMessage()

	tests := []struct {
		name   string
		base   string // appended to the server's URL
		m      Message
		now    time.Time
		golden string
	}{
		{"firing", "", testMessage(), at, "testdata/alertmanager_firing.golden.json"},
		{"resolved", "/alertmanager/", resolved, at.Add(time.Hour), "testdata/alertmanager_resolved.golden.json"},
		// Delivered 20 minutes late by the outbox: it must still arrive
		// firing, so it ends three resends after now, not after m.At.
		{"delivered late", "", late, at.Add(20 * time.Minute), "testdata/alertmanager_late.golden.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, http.StatusOK, "")
			am := &Alertmanager{URL: rc.URL + tc.base, Resend: 5 * time.Minute, Now: func() time.Time { return tc.now }}
			if err := am.Notify(t.Context(), tc.m); err != nil {
				t.Fatal(err)
			}
			req := rc.only(t)
			wantPath := strings.TrimSuffix(tc.base, "/") + "/api/v2/alerts"
			if req.Method != http.MethodPost || req.Path != wantPath || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request = %s %s (%s), want POST %s (application/json)", req.Method, req.Path, req.Header.Get("Content-Type"), wantPath)
			}
			if err := checkPostableAlerts(req.Body); err != nil {
				t.Errorf("Alertmanager would refuse the body: %v\n%s", err, req.Body)
			}
			if got, want := shape(t, req.Body), shape(t, fixture); !reflect.DeepEqual(got, want) {
				t.Errorf("body has fields %v, the accepted fixture %v", got, want)
			}
			golden(t, tc.golden, req.Body)
		})
	}
}

// shape lists the fields of each alert and the names of its labels, which
// must be those of the accepted fixture; annotations are free-form.
func shape(t *testing.T, body []byte) []string {
	t.Helper()
	var alerts []map[string]json.RawMessage
	if err := json.Unmarshal(body, &alerts); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range alerts {
		for k := range a {
			out = append(out, k)
		}
		var labels map[string]string
		_ = json.Unmarshal(a["labels"], &labels)
		for k := range labels {
			out = append(out, "labels."+k)
		}
	}
	sort.Strings(out)
	return out
}

// golden compares got, as indented JSON, with the file, or rewrites the
// file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("body differs from %s:\n%s\nwant\n%s", path, buf.Bytes(), want)
	}
}

func TestAlertmanagerWithoutResend(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	if err := (&Alertmanager{URL: rc.URL}).Notify(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	var alerts []map[string]any
	_ = json.Unmarshal(rc.only(t).Body, &alerts)
	if _, ok := alerts[0]["endsAt"]; ok {
		t.Errorf("endsAt sent without Resend: %v", alerts[0])
	}
}

func TestAlertmanagerBadURL(t *testing.T) {
	for _, u := range []string{"", "alertmanager:9093", "ftp://am:9093", "http://"} {
		err := (&Alertmanager{URL: u}).Notify(t.Context(), testMessage())
		if err == nil || Retryable(err) {
			t.Errorf("URL %q: Notify = %v, want a permanent error", u, err)
		}
	}
}

// TestAlertmanagerIntegration pushes to a real Alertmanager when one is
// installed (Debian's prometheus-alertmanager package), and is skipped
// otherwise.
func TestAlertmanagerIntegration(t *testing.T) {
	bin := ""
	for _, name := range []string{"alertmanager", "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no alertmanager binary on PATH")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	ready := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
	}
	if !ready {
		t.Fatalf("alertmanager did not become ready:\n%s", logs.String())
	}

	now := time.Now()
	m := testMessage()
	m.At, m.Deadline = now, now.Add(time.Hour)
	am := &Alertmanager{URL: base, Resend: time.Minute}
	if err := am.Notify(t.Context(), m); err != nil {
		t.Fatalf("Notify: %v\n%s", err, logs.String())
	}
	active := func() []map[string]any {
		q := url.Values{"filter": {`alert_id="` + m.AlertID + `"`}}
		resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var alerts []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
			t.Fatal(err)
		}
		return alerts
	}
	got := active()
	if len(got) != 1 {
		t.Fatalf("alertmanager holds %d alerts for %s, want 1: %v", len(got), m.AlertID, got)
	}
	labels, _ := got[0]["labels"].(map[string]any)
	if labels["alertname"] != AlertName || labels["severity"] != "red" || labels["unit"] != "990101001001" {
		t.Errorf("labels = %v", labels)
	}

	m.Resolved, m.At = true, time.Now()
	if err := am.Notify(t.Context(), m); err != nil {
		t.Fatalf("Notify resolved: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	if got := active(); len(got) != 0 {
		t.Errorf("after the resolved notice alertmanager still has %v", got)
	}
}
