// Package archcheck keeps the layout honest: data flows one way (signals →
// engine → alerts and cases) and no package reaches upward. It runs with the
// tests and with make lint.
package archcheck

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "fengqiao/"

// forbidden lists, per package (a prefix of the path within the module), the
// import prefixes it must not use. "fengqiao/" means any package of the
// module; "+std" is not a prefix but "only the standard library".
var forbidden = []struct {
	pkg    string
	banned []string
	why    string
}{
	{"risk", []string{"+std"}, "the shared vocabulary depends on the standard library only"},
	{"jurisdiction", []string{module, "github.com/redis/", "net/http"}, "the jurisdiction tree is plain data"},
	{"rules", []string{module + "engine", module + "signals", module + "alerts", module + "internal", "github.com/redis/", "net/http", "github.com/expr-lang/expr/vm"}, "the rule format knows nothing of evaluation, Redis or HTTP"},
	{"engine", []string{module + "signals", module + "alerts", module + "internal", module + "jurisdiction", "github.com/redis/", "net/http", "os", "github.com/prometheus/"}, "evaluation is pure: no I/O"},
	{"signals", []string{module + "engine", module + "alerts", module + "internal", "net/http"}, "signals flow into the engine, never the other way"},
	{"alerts", []string{module + "signals", module + "engine", module + "internal"}, "alerts read level changes, not signals"},
	{"assess", []string{module + "internal", module + "alerts", "github.com/redis/", "net/http"}, "the shared scoring core is pure"},
	{"ruletest", []string{module + "internal", module + "signals", "github.com/redis/", "net/http"}, "rule tests run the engine alone"},
	{"cases", []string{module + "signals", module + "engine", module + "alerts", module + "internal", "github.com/redis/", "net/http"}, "the case workflow is pure: storage, HTTP and the engine are the callers'"},
	{"schedule", []string{module + "signals", module + "engine", module + "alerts", module + "internal", "github.com/redis/", "net/http"}, "the reporting calendar is pure: storage, delivery and the runner are the callers'"},
	{"backtest", []string{module + "internal", module + "alerts", "github.com/redis/", "net/http"}, "a backtest replays in memory, touching nothing live"},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	cmd := exec.Command("go", "list", "-json", "fengqiao/...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != "fengqiao"
}

func TestImportsFollowTheLayout(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"cmd") {
				t.Errorf("%s imports %s: nothing imports a command", p.ImportPath, imp)
			}
			if imp == module+"internal/app" && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s imports %s: only the commands use the wiring", p.ImportPath, imp)
			}
			for _, f := range forbidden {
				if rel != f.pkg && !strings.HasPrefix(rel, f.pkg+"/") {
					continue
				}
				for _, b := range f.banned {
					if (b == "+std" && !isStd(imp)) || (b != "+std" && (imp == b || strings.HasPrefix(imp, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(imp, b)))) {
						t.Errorf("%s imports %s: %s", p.ImportPath, imp, f.why)
					}
				}
			}
		}
	}
}
