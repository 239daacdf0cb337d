package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each testdata/*.bad.yaml ends with "# want: LINE: MESSAGE" (or "# want:
// MESSAGE" for a problem with no line) comments: exactly the problems loading
// it must report, as "file:LINE: MESSAGE".
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					sep := ":"
					if w == "" || w[0] < '0' || w[0] > '9' {
						sep = ": "
					}
					want = append(want, path+sep+w)
				}
			}
			if len(want) == 0 {
				t.Fatal("the file says nothing it wants")
			}
			rs, err := LoadFiles(path)
			if err == nil || rs != nil {
				t.Fatalf("loaded: %v", err)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(want) {
				t.Errorf("%d problems, want %d:\n%s", len(got), len(want), err)
			}
			for _, w := range want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("no problem starts %q; got:\n%s", w, err)
				}
			}
		})
	}
}

// Each testdata/*.good.yaml loads.
func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, path := range files {
		if _, err := LoadFiles(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
