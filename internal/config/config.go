// Package config reads riskd's configuration: a YAML file, then environment
// variables, then command-line flags, each overriding the one before.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"fengqiao/signals"
)

// Config is riskd's configuration.
type Config struct {
	// Listen is the HTTP address (env FENGQIAO_LISTEN).
	Listen string `yaml:"listen"`
	// RedisURL is the Redis to use, e.g. redis://127.0.0.1:6379/0 (env
	// REDIS_URL). Empty: an embedded in-process store that is NOT durable.
	RedisURL string `yaml:"redis_url"`
	// Jurisdiction is the jurisdiction (辖区) tree file.
	Jurisdiction string `yaml:"jurisdiction"`
	// RulesDir is the directory of the ruleset's YAML files.
	RulesDir string `yaml:"rules_dir"`
	// AlertPolicy is the escalation policy (升级策略) file; empty: no alerts are
	// opened, level changes are only recorded.
	AlertPolicy string `yaml:"alert_policy"`
	// CasePolicy is the case workflow's policy (案件办理规则): case types and
	// their clocks, dossier checklists, routing; empty: no case workflow.
	CasePolicy string `yaml:"case_policy"`
	// SchedulePolicy is the reporting calendar (值班报告制度): zero reports,
	// key periods, daily reports, supervision and the jobs' cron specs;
	// empty: no zero or daily reports, and the jobs run on default specs.
	SchedulePolicy string `yaml:"schedule_policy"`
	// DutyRoster is the duty roster (值班表), YAML or CSV; empty: units' contacts.
	DutyRoster string `yaml:"duty_roster"`
	// Calendars are the working-day calendar files (one per year).
	Calendars []string `yaml:"calendars"`
	// PublicURL is where officers reach riskd, for the links in notifications.
	PublicURL string `yaml:"public_url"`
	// SMTP settings for the e-mail channel; the password is env FENGQIAO_SMTP_PASSWORD.
	SMTPAddr     string `yaml:"smtp_addr"`
	SMTPFrom     string `yaml:"smtp_from"`
	SMTPUsername string `yaml:"smtp_username"`
	SMTPStartTLS bool   `yaml:"smtp_starttls"`
	// ShadowRulesDir is where a candidate ruleset is loaded from to be scored
	// beside the live one (POST /api/v1/rules/shadow); empty: no shadow runs.
	ShadowRulesDir string `yaml:"shadow_rules_dir"`
	// DemoSignals is a directory of sample signals (*.json) sent at start-up
	// when the embedded store is used, so there is something to look at.
	DemoSignals string `yaml:"demo_signals"`
	// DemoCases is a file of sample cases and their steps, registered at
	// start-up when the embedded store is used.
	DemoCases string `yaml:"demo_cases"`
	// PIIKeyFile holds the secret key for keyed hashes of ID and phone numbers
	// (env FENGQIAO_PII_KEY gives the key itself).
	PIIKeyFile string `yaml:"pii_key_file"`
	PIIKey     string `yaml:"-"`
	// DataKeys are the AES-256 keys that encrypt what must be read back (ID
	// numbers, phones), as "id=base64,id=base64…", the last one current (env
	// FENGQIAO_DATA_KEYS only: keys never go in files next to the config).
	DataKeys string `yaml:"-"`
	// BootstrapToken is an admin secret for first start, valid at the root of
	// the jurisdiction (env FENGQIAO_BOOTSTRAP_TOKEN only).
	BootstrapToken string `yaml:"-"`
	// RateLimit is the requests per second each token may make (bursts of ten
	// times as many); 0 means no limit.
	RateLimit float64 `yaml:"rate_limit"`
	// Categories is the controlled list of dispute categories.
	Categories []string `yaml:"categories"`
	// Consumer names this instance in the signal consumer group (default:
	// host name and process id).
	Consumer string `yaml:"consumer"`
	// LogLevel is debug, info, warn or error (env FENGQIAO_LOG_LEVEL).
	LogLevel string `yaml:"log_level"`
	// SignalKeepDays is how long a signal id is remembered, so that re-sending it is a no-op.
	SignalKeepDays int `yaml:"signal_keep_days"`
	// StreamShards is how many shards the signal stream is split into, by
	// subject, so that on a Redis Cluster the load spreads over the nodes
	// (1: one stream). Every instance of a deployment must use the same.
	StreamShards int `yaml:"stream_shards"`
	// StreamRetentionDays is how long handled signals stay in the stream
	// (for replay and backtests). Entries not yet handled are never trimmed.
	StreamRetentionDays int `yaml:"stream_retention_days"`
}

// Default returns the configuration used where nothing is set.
func Default() Config {
	return Config{
		Listen:              "127.0.0.1:8080",
		Jurisdiction:        "fixtures/jurisdiction.yaml",
		RulesDir:            "fixtures/rules",
		Categories:          slices.Clone(signals.DefaultCategories),
		LogLevel:            "info",
		SignalKeepDays:      400,
		RateLimit:           50,
		PublicURL:           "http://127.0.0.1:8080",
		StreamRetentionDays: 30,
	}
}

// Load reads the file at path (if path is not empty) over the defaults, then
// the environment. Paths in the file are relative to the file's directory.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		// A file with nothing in it (or only comments) sets nothing.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		// Only the paths the file sets are relative to its directory; the
		// defaults' are relative to the working directory.
		var inFile Config
		if err := yaml.Unmarshal(b, &inFile); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		base := filepath.Dir(path)
		for i, p := range inFile.Calendars {
			if !filepath.IsAbs(p) {
				c.Calendars[i] = filepath.Join(base, p)
			}
		}
		for _, p := range []struct {
			set string
			out *string
		}{
			{inFile.Jurisdiction, &c.Jurisdiction},
			{inFile.RulesDir, &c.RulesDir},
			{inFile.DemoSignals, &c.DemoSignals},
			{inFile.DemoCases, &c.DemoCases},
			{inFile.PIIKeyFile, &c.PIIKeyFile},
			{inFile.ShadowRulesDir, &c.ShadowRulesDir},
			{inFile.AlertPolicy, &c.AlertPolicy},
			{inFile.CasePolicy, &c.CasePolicy},
			{inFile.SchedulePolicy, &c.SchedulePolicy},
			{inFile.DutyRoster, &c.DutyRoster},
		} {
			if p.set != "" && !filepath.IsAbs(p.set) {
				*p.out = filepath.Join(base, p.set)
			}
		}
	}
	for env, p := range map[string]*string{
		"FENGQIAO_LISTEN":          &c.Listen,
		"REDIS_URL":                &c.RedisURL,
		"FENGQIAO_PII_KEY":         &c.PIIKey,
		"FENGQIAO_LOG_LEVEL":       &c.LogLevel,
		"FENGQIAO_DATA_KEYS":       &c.DataKeys,
		"FENGQIAO_BOOTSTRAP_TOKEN": &c.BootstrapToken,
	} {
		if v := getenv(env); v != "" {
			*p = v
		}
	}
	if c.PIIKey == "" && c.PIIKeyFile != "" {
		b, err := os.ReadFile(c.PIIKeyFile)
		if err != nil {
			return c, fmt.Errorf("read personal-data key: %w", err)
		}
		c.PIIKey = strings.TrimSpace(string(b))
	}
	return c, c.Validate()
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: give an address, e.g. 127.0.0.1:8080"))
	}
	if c.Jurisdiction == "" {
		errs = append(errs, errors.New("jurisdiction: give the jurisdiction file"))
	}
	if c.RulesDir == "" {
		errs = append(errs, errors.New("rules_dir: give the rules directory"))
	}
	if c.StreamShards < 0 || c.StreamShards > 256 {
		errs = append(errs, errors.New("stream_shards: give 1 to 256 shards of the signal stream"))
	}
	if len(c.Categories) == 0 {
		errs = append(errs, errors.New("categories: give at least one dispute category"))
	}
	if c.StreamRetentionDays < 1 {
		errs = append(errs, errors.New("stream_retention_days: must be at least 1"))
	}
	if c.SignalKeepDays < 1 {
		errs = append(errs, errors.New("signal_keep_days: must be at least 1"))
	}
	if c.RedisURL != "" && c.PIIKey == "" {
		errs = append(errs, errors.New("a personal-data key is required with a real Redis: set FENGQIAO_PII_KEY or pii_key_file (at least 16 bytes, kept secret and never changed)"))
	}
	if c.RedisURL != "" && c.DataKeys == "" {
		errs = append(errs, errors.New("data keys are required with a real Redis: set FENGQIAO_DATA_KEYS to id=base64key (32 random bytes, e.g. k1=$(openssl rand -base64 32))"))
	}
	if c.BootstrapToken != "" && len(c.BootstrapToken) < 32 {
		errs = append(errs, errors.New("FENGQIAO_BOOTSTRAP_TOKEN must be at least 32 characters"))
	}
	if c.RateLimit < 0 {
		errs = append(errs, errors.New("rate_limit: must be 0 (no limit) or more"))
	}
	if c.PIIKey != "" && len(c.PIIKey) < 16 {
		errs = append(errs, errors.New("the personal-data key must be at least 16 bytes"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}
