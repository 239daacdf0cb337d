package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"fengqiao/signals"
)

// env is a map-backed getenv, so that tests never read the real environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const dataKeys = "k1=YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodKey = "0123456789abcdef" // exactly 16 bytes

func TestDefault(t *testing.T) {
	d := Default()
	for _, tc := range []struct {
		setting   string
		got, want any
	}{
		{"listen", d.Listen, "127.0.0.1:8080"},
		{"redis_url is empty: the embedded store", d.RedisURL, ""},
		{"jurisdiction", d.Jurisdiction, "fixtures/jurisdiction.yaml"},
		{"rules_dir", d.RulesDir, "fixtures/rules"},
		{"demo_signals", d.DemoSignals, ""},
		{"pii_key_file", d.PIIKeyFile, ""},
		{"pii key", d.PIIKey, ""},
		{"consumer", d.Consumer, ""},
		{"log_level", d.LogLevel, "info"},
		{"signal_keep_days", d.SignalKeepDays, 400},
		{"stream_retention_days", d.StreamRetentionDays, 30},
		{"categories are the controlled list", d.Categories, signals.DefaultCategories},
		{"the 13 dispute categories", len(d.Categories), 13},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("Default() %s = %#v, want %#v", tc.setting, tc.got, tc.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default() is not valid: %v", err)
	}
}

func TestDefaultCategoriesAreACopy(t *testing.T) {
	want := slices.Clone(signals.DefaultCategories)
	t.Cleanup(func() { copy(signals.DefaultCategories, want) }) // should this test fail
	d := Default()
	d.Categories[0] = "changed by a caller"
	d.Categories = append(d.Categories[:1], "appended by a caller")
	if !slices.Equal(signals.DefaultCategories, want) {
		t.Fatalf("changing Default().Categories changed signals.DefaultCategories: %q", signals.DefaultCategories)
	}
	if got := Default().Categories; !slices.Equal(got, want) {
		t.Fatalf("a second Default().Categories = %q, want %q", got, want)
	}
}

func TestLoadWithoutFileTakesTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(c Config) bool
		want  string
	}{
		{"nothing set gives the defaults", nil,
			func(c Config) bool { return reflect.DeepEqual(c, Default()) }, "Default()"},
		{"FENGQIAO_LISTEN sets listen", map[string]string{"FENGQIAO_LISTEN": ":9090"},
			func(c Config) bool { return c.Listen == ":9090" }, `Listen ":9090"`},
		{"REDIS_URL with FENGQIAO_PII_KEY sets a real Redis",
			map[string]string{"REDIS_URL": "redis://db:6379/2", "FENGQIAO_PII_KEY": goodKey, "FENGQIAO_DATA_KEYS": dataKeys},
			func(c Config) bool { return c.RedisURL == "redis://db:6379/2" && c.PIIKey == goodKey },
			"RedisURL redis://db:6379/2 and PIIKey " + goodKey},
		{"FENGQIAO_PII_KEY alone sets the key", map[string]string{"FENGQIAO_PII_KEY": goodKey + "xyz"},
			func(c Config) bool { return c.PIIKey == goodKey+"xyz" && c.RedisURL == "" }, "PIIKey " + goodKey + "xyz"},
		{"FENGQIAO_LOG_LEVEL sets log_level", map[string]string{"FENGQIAO_LOG_LEVEL": "debug"},
			func(c Config) bool { return c.LogLevel == "debug" }, `LogLevel "debug"`},
		{"an empty variable is the same as an unset one", map[string]string{"FENGQIAO_LISTEN": "", "FENGQIAO_LOG_LEVEL": ""},
			func(c Config) bool { return c.Listen == "127.0.0.1:8080" && c.LogLevel == "info" }, "the defaults"},
		{"unrelated variables are ignored", map[string]string{"LISTEN": ":1", "LOG_LEVEL": "bogus", "FENGQIAO_RULES_DIR": "x"},
			func(c Config) bool { return reflect.DeepEqual(c, Default()) }, "Default()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("", env(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("Load gave %+v, want %s", c, tc.want)
			}
		})
	}
}

func TestLoadEnvironmentErrorsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"REDIS_URL without a key", map[string]string{"REDIS_URL": "redis://db:6379/0"}, "personal-data key is required with a real Redis"},
		{"a short FENGQIAO_PII_KEY", map[string]string{"FENGQIAO_PII_KEY": "short"}, "at least 16 bytes"},
		{"a bad FENGQIAO_LOG_LEVEL", map[string]string{"FENGQIAO_LOG_LEVEL": "verbose"}, `log_level "verbose"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "elsewhere", "rules")
	writeFile(t, dir, "pii.key", "  "+goodKey+"-from-file \n\n")
	path := writeFile(t, dir, "riskd.yaml", `# a full configuration
listen: 0.0.0.0:8181
redis_url: redis://db:6379/1
jurisdiction: tree/jurisdiction.yaml
rules_dir: `+abs+`
demo_signals: ../samples
pii_key_file: pii.key
categories: [婚姻家庭, 邻里]
consumer: riskd-7
log_level: warn
signal_keep_days: 30
`)
	c, err := Load(path, env(map[string]string{"FENGQIAO_DATA_KEYS": dataKeys}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, tc := range []struct {
		setting   string
		got, want any
	}{
		{"listen", c.Listen, "0.0.0.0:8181"},
		{"redis_url", c.RedisURL, "redis://db:6379/1"},
		{"a relative jurisdiction is resolved against the file's directory", c.Jurisdiction, filepath.Join(dir, "tree", "jurisdiction.yaml")},
		{"an absolute rules_dir is kept", c.RulesDir, abs},
		{"a relative demo_signals may leave the file's directory", c.DemoSignals, filepath.Join(filepath.Dir(dir), "samples")},
		{"pii_key_file is resolved against the file's directory", c.PIIKeyFile, filepath.Join(dir, "pii.key")},
		{"the key is read from pii_key_file and trimmed", c.PIIKey, goodKey + "-from-file"},
		{"categories replace the default list", c.Categories, []string{"婚姻家庭", "邻里"}},
		{"consumer", c.Consumer, "riskd-7"},
		{"log_level", c.LogLevel, "warn"},
		{"signal_keep_days", c.SignalKeepDays, 30},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.setting, tc.got, tc.want)
		}
	}
}

func TestLoadFileKeepsDefaultsForWhatItDoesNotSet(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		text string
		want func(d Config) Config
	}{
		{"a file setting only listen", "listen: :7070\n",
			func(d Config) Config { d.Listen = ":7070"; return d }},
		{"a file of comments only", "# nothing set here\n",
			func(d Config) Config { return d }},
		{"an empty file", "",
			func(d Config) Config { return d }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "riskd.yaml", tc.text)
			c, err := Load(path, env(nil))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			// The defaults' paths are not in the file, so they are not
			// resolved against its directory.
			if want := tc.want(Default()); !reflect.DeepEqual(c, want) {
				t.Errorf("Load gave\n%+v\nwant\n%+v", c, want)
			}
		})
	}
}

func TestLoadTheDemoConfiguration(t *testing.T) {
	c, err := Load("../../fixtures/riskd.yaml", env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, p := range []string{c.Jurisdiction, c.RulesDir, c.DemoSignals} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the demo configuration names a path that does not exist: %v", err)
		}
	}
	if c.RulesDir != filepath.Join("..", "..", "fixtures", "rules") {
		t.Errorf("RulesDir = %q, want ../../fixtures/rules", c.RulesDir)
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "riskd.yaml", `listen: 127.0.0.1:1111
redis_url: redis://file:6379/0
pii_key_file: missing.key
log_level: error
`)
	c, err := Load(path, env(map[string]string{
		"FENGQIAO_LISTEN":    "127.0.0.1:2222",
		"REDIS_URL":          "redis://env:6379/0",
		"FENGQIAO_PII_KEY":   goodKey + "-env",
		"FENGQIAO_LOG_LEVEL": "debug",
		"FENGQIAO_DATA_KEYS": dataKeys,
	}))
	if err != nil {
		t.Fatalf("Load: %v (with FENGQIAO_PII_KEY set, pii_key_file is not read)", err)
	}
	want := [][2]string{
		{c.Listen, "127.0.0.1:2222"},
		{c.RedisURL, "redis://env:6379/0"},
		{c.PIIKey, goodKey + "-env"},
		{c.LogLevel, "debug"},
	}
	for _, w := range want {
		if w[0] != w[1] {
			t.Errorf("got %q, want %q from the environment", w[0], w[1])
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "short.key", "  tooshort \n")
	writeFile(t, dir, "blank.key", " \n")
	for _, tc := range []struct {
		name string
		text string // "" with no file: the path does not exist
		env  map[string]string
		want []string
	}{
		{"a file that does not exist", "", nil, []string{"read config"}},
		{"an unknown key is named", "listen: :8080\nrule_dir: rules\n", nil, []string{"rule_dir", "riskd.yaml"}},
		{"a value of the wrong type", "signal_keep_days: forever\n", nil, []string{"riskd.yaml", "forever"}},
		{"a pii_key_file that does not exist", "pii_key_file: nope.key\n", nil, []string{"read personal-data key", "nope.key"}},
		{"a key file shorter than 16 bytes after trimming", "pii_key_file: short.key\n", nil, []string{"at least 16 bytes"}},
		{"a blank key file with a real Redis", "pii_key_file: blank.key\nredis_url: redis://db/0\n", nil, []string{"personal-data key is required"}},
		{"the file's problems are validated after the environment", "listen: ''\n", map[string]string{"FENGQIAO_LOG_LEVEL": "loud"},
			[]string{"listen: give an address", `log_level "loud"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.yaml")
			if tc.text != "" {
				path = writeFile(t, dir, "riskd.yaml", tc.text)
			}
			_, err := Load(path, env(tc.env))
			if err == nil {
				t.Fatalf("Load: no error, want one containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load: err = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string // distinctive parts of each message; nil: valid
	}{
		{"the defaults", func(c *Config) {}, nil},
		{"a real Redis with a 16-byte key", func(c *Config) { c.RedisURL = "redis://db/0"; c.PIIKey = goodKey; c.DataKeys = dataKeys }, nil},
		{"a real Redis without data keys", func(c *Config) { c.RedisURL = "redis://db/0"; c.PIIKey = goodKey }, []string{"data keys are required with a real Redis"}},
		{"a short bootstrap token", func(c *Config) { c.BootstrapToken = "short" }, []string{"FENGQIAO_BOOTSTRAP_TOKEN must be at least 32 characters"}},
		{"a negative rate limit", func(c *Config) { c.RateLimit = -1 }, []string{"rate_limit: must be 0"}},
		{"every log level", func(c *Config) { c.LogLevel = "warn" }, nil},
		{"signal_keep_days of 1", func(c *Config) { c.SignalKeepDays = 1 }, nil},

		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen: give an address"}},
		{"jurisdiction empty", func(c *Config) { c.Jurisdiction = "" }, []string{"jurisdiction: give the jurisdiction file"}},
		{"rules_dir empty", func(c *Config) { c.RulesDir = "" }, []string{"rules_dir: give the rules directory"}},
		{"no categories", func(c *Config) { c.Categories = nil }, []string{"categories: give at least one"}},
		{"an empty category list", func(c *Config) { c.Categories = []string{} }, []string{"categories: give at least one"}},
		{"signal_keep_days 0", func(c *Config) { c.SignalKeepDays = 0 }, []string{"signal_keep_days: must be at least 1"}},
		{"signal_keep_days negative", func(c *Config) { c.SignalKeepDays = -5 }, []string{"signal_keep_days: must be at least 1"}},
		{"stream_retention_days 0", func(c *Config) { c.StreamRetentionDays = 0 }, []string{"stream_retention_days: must be at least 1"}},
		{"stream_shards 300", func(c *Config) { c.StreamShards = 300 }, []string{"stream_shards: give 1 to 256 shards of the signal stream"}},
		{"redis_url without a key", func(c *Config) { c.RedisURL = "redis://db/0"; c.DataKeys = dataKeys }, []string{"personal-data key is required with a real Redis: set FENGQIAO_PII_KEY or pii_key_file"}},
		{"a key of 15 bytes", func(c *Config) { c.PIIKey = goodKey[:15] }, []string{"must be at least 16 bytes"}},
		{"a short key counts bytes, not characters", func(c *Config) { c.PIIKey = "钥匙钥匙钥" }, []string{"must be at least 16 bytes"}},
		{"a bad log level", func(c *Config) { c.LogLevel = "trace" }, []string{`log_level "trace": want debug, info, warn or error`}},
		{"an empty log level", func(c *Config) { c.LogLevel = "" }, []string{`log_level "": want`}},
		{"log levels are lower case", func(c *Config) { c.LogLevel = "INFO" }, []string{`log_level "INFO"`}},

		{"several problems are reported together", func(c *Config) {
			*c = Config{RedisURL: "redis://db/0", LogLevel: "loud"}
		}, []string{
			"data keys are required",
			"listen: give an address",
			"jurisdiction: give the jurisdiction file",
			"rules_dir: give the rules directory",
			"categories: give at least one",
			"stream_retention_days: must be at least 1",
			"signal_keep_days: must be at least 1",
			"personal-data key is required",
			`log_level "loud"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tc.want)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Validate: %q does not contain %q", msg, w)
				}
			}
			// One problem a line, and no more problems than expected.
			if n := len(strings.Split(msg, "\n")); n != len(tc.want) {
				t.Errorf("Validate reported %d problems, want %d:\n%s", n, len(tc.want), msg)
			}
		})
	}
}
