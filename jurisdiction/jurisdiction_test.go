package jurisdiction_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"fengqiao/jurisdiction"
)

const fixture = "../fixtures/jurisdiction.yaml"

func loadFixture(t testing.TB) *jurisdiction.Tree {
	t.Helper()
	tree, err := jurisdiction.Load(fixture)
	if err != nil {
		t.Fatalf("Load(%s): %v", fixture, err)
	}
	return tree
}

func codes(us []jurisdiction.Unit) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Code
	}
	return out
}

func TestTier(t *testing.T) {
	tests := []struct {
		tier    jurisdiction.Tier
		name    string
		chinese string
		codeLen int
	}{
		{jurisdiction.City, "city", "市", 12},
		{jurisdiction.County, "county", "县（区）", 12},
		{jurisdiction.Township, "township", "乡镇（街道）", 12},
		{jurisdiction.Village, "village", "村（社区）", 12},
		{jurisdiction.Grid, "grid", "网格", 15},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.tier.Valid() {
				t.Errorf("%v.Valid() = false", tt.tier)
			}
			if got := tt.tier.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.tier.Chinese(); got != tt.chinese {
				t.Errorf("Chinese() = %q, want %q", got, tt.chinese)
			}
			if got := tt.tier.CodeLen(); got != tt.codeLen {
				t.Errorf("CodeLen() = %d, want %d", got, tt.codeLen)
			}
			got, err := jurisdiction.ParseTier(tt.name)
			if err != nil || got != tt.tier {
				t.Errorf("ParseTier(%q) = %v, %v; want %v", tt.name, got, err, tt.tier)
			}
			text, err := tt.tier.MarshalText()
			if err != nil || string(text) != tt.name {
				t.Errorf("MarshalText() = %q, %v; want %q", text, err, tt.name)
			}
			var back jurisdiction.Tier
			if err := back.UnmarshalText(text); err != nil || back != tt.tier {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, tt.tier)
			}
			// Authority runs strictly downwards through the table.
			for j, other := range tests {
				if got, want := tt.tier.Above(other.tier), i < j; got != want {
					t.Errorf("%v.Above(%v) = %v, want %v", tt.tier, other.tier, got, want)
				}
			}
		})
	}

	for _, bad := range []string{"", "City", "province", "网格", " grid"} {
		if got, err := jurisdiction.ParseTier(bad); err == nil {
			t.Errorf("ParseTier(%q) = %v, want an error", bad, got)
		}
		var tier jurisdiction.Tier
		if err := tier.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", bad)
		}
	}
	for _, bad := range []jurisdiction.Tier{0, -1, jurisdiction.Grid + 1} {
		if bad.Valid() {
			t.Errorf("Tier(%d).Valid() = true", int(bad))
		}
		if _, err := bad.MarshalText(); err == nil {
			t.Errorf("Tier(%d).MarshalText() succeeded", int(bad))
		}
		if got := bad.String(); !strings.HasPrefix(got, "Tier(") {
			t.Errorf("Tier(%d).String() = %q", int(bad), got)
		}
		if bad.Above(jurisdiction.Grid) || jurisdiction.City.Above(bad) {
			t.Errorf("Above with undefined Tier(%d) is true", int(bad))
		}
	}
}

func TestFixture(t *testing.T) {
	tree := loadFixture(t)

	if got := tree.Version(); got == "" {
		t.Error("Version() is empty")
	}
	root := tree.Root()
	if root.Code != "990100000000" || root.Tier != jurisdiction.City || root.Parent != "" {
		t.Errorf("Root() = %s %v parent %q, want the city 990100000000", root.Code, root.Tier, root.Parent)
	}

	count := map[jurisdiction.Tier]int{}
	all := tree.Units()
	if len(all) != tree.Len() {
		t.Errorf("len(Units()) = %d, Len() = %d", len(all), tree.Len())
	}
	if !slices.IsSortedFunc(all, func(a, b jurisdiction.Unit) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("Units() is not sorted by code")
	}
	phone := regexp.MustCompile(`^1390000\d{4}$`)
	for _, u := range all {
		count[u.Tier]++
		if !strings.HasPrefix(u.Code, "99") {
			t.Errorf("unit %s is outside the fictional province 99", u.Code)
		}
		if len(u.Contacts) == 0 {
			t.Errorf("unit %s has no duty contacts", u.Code)
		}
		for _, c := range u.Contacts {
			if c.Phone != "" && !phone.MatchString(c.Phone) {
				t.Errorf("unit %s: contact %s has a phone outside the fake 1390000xxxx range", u.Code, c.Name)
			}
			if c.Email != "" && !strings.HasSuffix(c.Email, "@example.org") {
				t.Errorf("unit %s: contact %s has an email outside example.org", u.Code, c.Name)
			}
		}
		if u.Tier == jurisdiction.Village {
			if n := len(tree.Children(u.Code)); n < 2 {
				t.Errorf("village %s %s has %d grids, want at least 2", u.Code, u.Name, n)
			}
		}
		if u.Tier != jurisdiction.Grid {
			if _, ok := tree.AncestorAt(u.Code, u.Tier); !ok {
				t.Errorf("AncestorAt(%s, own tier) failed", u.Code)
			}
		}
	}
	want := map[jurisdiction.Tier]int{
		jurisdiction.City:     1,
		jurisdiction.County:   3,
		jurisdiction.Township: 6,
		jurisdiction.Village:  18,
	}
	for tier, n := range want {
		if count[tier] != n {
			t.Errorf("fixture has %d units of tier %v, want %d", count[tier], tier, n)
		}
	}
	if count[jurisdiction.Grid] < 2*18 {
		t.Errorf("fixture has %d grids, want at least 36", count[jurisdiction.Grid])
	}
	for _, county := range tree.Children(root.Code) {
		if n := len(tree.Children(county.Code)); n != 2 {
			t.Errorf("county %s has %d townships, want 2", county.Code, n)
		}
		for _, town := range tree.Children(county.Code) {
			if n := len(tree.Children(town.Code)); n != 3 {
				t.Errorf("township %s has %d villages, want 3", town.Code, n)
			}
		}
	}
}

func TestQueries(t *testing.T) {
	tree := loadFixture(t)

	const (
		city     = "990100000000"
		qinghe   = "990101000000"
		donghu   = "990102000000"
		fengqiao = "990101100000"
		shimen   = "990101101000"
		fengxi   = "990101100001"
		grid     = "990101100001001"
		hubin    = "990102001001001"
	)

	t.Run("Unit", func(t *testing.T) {
		u, ok := tree.Unit(fengqiao)
		if !ok || u.Name != "枫桥镇" || u.Tier != jurisdiction.Township || u.Parent != qinghe {
			t.Errorf("Unit(%s) = %+v, %v", fengqiao, u, ok)
		}
		if _, ok := tree.Unit("990199000000"); ok {
			t.Error("Unit of an unknown code succeeded")
		}
	})

	t.Run("Parent", func(t *testing.T) {
		tests := []struct {
			code, want string
			ok         bool
		}{
			{grid, fengxi, true},
			{fengxi, fengqiao, true},
			{qinghe, city, true},
			{city, "", false},
			{"nope", "", false},
		}
		for _, tt := range tests {
			p, ok := tree.Parent(tt.code)
			if ok != tt.ok || p.Code != tt.want {
				t.Errorf("Parent(%s) = %s, %v; want %s, %v", tt.code, p.Code, ok, tt.want, tt.ok)
			}
		}
	})

	t.Run("Ancestors", func(t *testing.T) {
		tests := []struct {
			code string
			want []string
		}{
			{grid, []string{fengxi, fengqiao, qinghe, city}},
			{fengqiao, []string{qinghe, city}},
			{qinghe, []string{city}},
			{city, nil},
			{"990199000000", nil},
		}
		for _, tt := range tests {
			if got := codes(tree.Ancestors(tt.code)); !slices.Equal(got, tt.want) {
				t.Errorf("Ancestors(%s) = %v, want %v", tt.code, got, tt.want)
			}
		}
	})

	t.Run("Children", func(t *testing.T) {
		tests := []struct {
			code string
			want []string
		}{
			{city, []string{qinghe, donghu, "990103000000"}},
			{qinghe, []string{fengqiao, shimen}},
			{fengqiao, []string{fengxi, "990101100201", "990101100202"}},
			{fengxi, []string{"990101100001001", "990101100001002", "990101100001003"}},
			{grid, nil},
			{"nope", nil},
		}
		for _, tt := range tests {
			if got := codes(tree.Children(tt.code)); !slices.Equal(got, tt.want) {
				t.Errorf("Children(%s) = %v, want %v", tt.code, got, tt.want)
			}
		}
	})

	t.Run("Contains", func(t *testing.T) {
		tests := []struct {
			ancestor, code string
			want           bool
		}{
			{city, grid, true},
			{qinghe, grid, true},
			{fengqiao, grid, true},
			{fengxi, grid, true},
			{grid, grid, true},
			{city, city, true},
			{donghu, grid, false},
			{shimen, grid, false},
			{grid, fengxi, false},
			{fengqiao, qinghe, false},
			{donghu, hubin, true},
			{qinghe, hubin, false},
			{"nope", grid, false},
			{city, "nope", false},
			{"nope", "nope", false},
		}
		for _, tt := range tests {
			if got := tree.Contains(tt.ancestor, tt.code); got != tt.want {
				t.Errorf("Contains(%s, %s) = %v, want %v", tt.ancestor, tt.code, got, tt.want)
			}
		}
	})

	t.Run("AncestorAt", func(t *testing.T) {
		tests := []struct {
			code string
			tier jurisdiction.Tier
			want string
			ok   bool
		}{
			{grid, jurisdiction.Grid, grid, true},
			{grid, jurisdiction.Village, fengxi, true},
			{grid, jurisdiction.Township, fengqiao, true},
			{grid, jurisdiction.County, qinghe, true},
			{grid, jurisdiction.City, city, true},
			{fengqiao, jurisdiction.Township, fengqiao, true},
			{fengqiao, jurisdiction.Village, "", false},
			{city, jurisdiction.County, "", false},
			{hubin, jurisdiction.County, donghu, true},
			{"nope", jurisdiction.City, "", false},
			{grid, 0, "", false},
		}
		for _, tt := range tests {
			u, ok := tree.AncestorAt(tt.code, tt.tier)
			if ok != tt.ok || u.Code != tt.want {
				t.Errorf("AncestorAt(%s, %v) = %s, %v; want %s, %v", tt.code, tt.tier, u.Code, ok, tt.want, tt.ok)
			}
		}
	})

	t.Run("Subtree", func(t *testing.T) {
		got := codes(tree.Subtree(fengxi))
		want := []string{fengxi, "990101100001001", "990101100001002", "990101100001003"}
		if !slices.Equal(got, want) {
			t.Errorf("Subtree(%s) = %v, want %v", fengxi, got, want)
		}
		if n := len(tree.Subtree(city)); n != tree.Len() {
			t.Errorf("len(Subtree(root)) = %d, want Len() = %d", n, tree.Len())
		}
		for _, u := range tree.Subtree(qinghe) {
			if !tree.Contains(qinghe, u.Code) {
				t.Errorf("Subtree(%s) holds %s, which it does not contain", qinghe, u.Code)
			}
		}
		if got := tree.Subtree("nope"); got != nil {
			t.Errorf("Subtree(unknown) = %v, want nil", got)
		}
	})
}

func TestUnitsAreCopies(t *testing.T) {
	tree := loadFixture(t)
	u, _ := tree.Unit("990100000000")
	u.Contacts[0].Name = "changed"
	u.Name = "changed"
	for _, got := range [][]jurisdiction.Unit{tree.Units(), tree.Children("990100000000")} {
		got[0].Contacts = nil
	}
	again, _ := tree.Unit("990100000000")
	if again.Name == "changed" || again.Contacts[0].Name == "changed" {
		t.Error("changing a returned Unit changed the tree")
	}
	if len(tree.Root().Contacts) == 0 || len(tree.Units()[0].Contacts) == 0 {
		t.Error("changing a returned slice changed the tree")
	}
}

func TestZeroTree(t *testing.T) {
	var tree jurisdiction.Tree
	if tree.Len() != 0 || tree.Units() != nil || tree.Root().Code != "" || tree.Contains("a", "a") {
		t.Error("the zero Tree is not empty")
	}
	if _, ok := tree.AncestorAt("a", jurisdiction.City); ok {
		t.Error("AncestorAt on the zero Tree succeeded")
	}
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		data string
		len  int
		root string
	}{
		{
			name: "county root",
			data: `
version: "x"
units:
  - {code: "990101000000", name: 清河县, tier: county}
  - {code: "990101100000", name: 枫桥镇, tier: township, parent: "990101000000"}
`,
			len: 2, root: "990101000000",
		},
		{
			name: "children before parents, unquoted codes, null parent",
			data: `
version: 3
units:
  - {code: 990101100000, name: 枫桥镇, tier: township, parent: 990101000000}
  - {code: 990101000000, name: 清河县, tier: county, parent: 990100000000}
  - {code: 990100000000, name: 青川市, tier: city, parent: ~}
`,
			len: 3, root: "990100000000",
		},
		{
			// A city without counties (不设区的市) holds its townships directly.
			name: "township directly under the city",
			data: `
version: "1"
units:
  - {code: "990200000000", name: 青港市, tier: city}
  - {code: "990200101000", name: 港口镇, tier: township, parent: "990200000000"}
  - {code: "990200101001", name: 港口社区, tier: village, parent: "990200101000"}
  - {code: "990200101001001", name: 第一网格, tier: grid, parent: "990200101001"}
`,
			len: 4, root: "990200000000",
		},
		{
			name: "landline phone and a shared contact",
			data: `
version: "1"
units:
  - code: "990100000000"
    name: 青川市
    tier: city
    contacts:
      - &duty {name: 值班室, title: 值班员, phone: "0571-88880000"}
  - code: "990101000000"
    name: 清河县
    tier: county
    parent: "990100000000"
    contacts: [*duty, {name: 陈志强, title: 主任, wecom: chenzq}]
`,
			len: 2, root: "990100000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := jurisdiction.Parse([]byte(tt.data), "good.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tree.Len() != tt.len || tree.Root().Code != tt.root {
				t.Errorf("Len() = %d, Root() = %s; want %d, %s", tree.Len(), tree.Root().Code, tt.len, tt.root)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tree := loadFixture(t)
	data, err := yaml.Marshal(struct {
		Version string              `yaml:"version"`
		Units   []jurisdiction.Unit `yaml:"units"`
	}{tree.Version(), tree.Units()})
	if err != nil {
		t.Fatal(err)
	}
	again, err := jurisdiction.Parse(data, "roundtrip.yaml")
	if err != nil {
		t.Fatalf("Parse(Marshal(fixture)): %v", err)
	}
	if !reflect.DeepEqual(again.Units(), tree.Units()) {
		t.Error("units changed in a marshal round trip")
	}
}

// badFiles maps each file in testdata to substrings its error must contain.
// Together they cover every validation rule.
var badFiles = map[string][]string{
	"code_digits.bad.yaml": {
		`code_digits.bad.yaml:6: unit "99O101000000": code must contain only the digits 0-9`,
	},
	"code_length.bad.yaml": {
		"code_length.bad.yaml:6: unit 99010100000: a county code must have 12 digits, not 11",
		"code_length.bad.yaml:22: unit 990102001001: a grid code must have 15 digits, not 12",
		`unit "9901020010010011": code must have 12 digits, or 15 for a grid, not 16`,
	},
	"code_shape.bad.yaml": {
		"code_shape.bad.yaml:6: unit 990100000001: a county code must have a non-zero county segment in digits 5-6",
		"code_shape.bad.yaml:14: unit 990102001001: a township code must end in zeros: digits 10-12 belong to lower tiers",
		"code_shape.bad.yaml:22: unit 990102002000000: a grid code must have a non-zero grid segment in digits 13-15",
	},
	"code_duplicate.bad.yaml": {
		"code_duplicate.bad.yaml:10: unit 990101000000: duplicate code: the unit at line 6 has it too",
	},
	"code_missing.bad.yaml": {
		"code_missing.bad.yaml:6: unit has no code",
	},
	"code_prefix.bad.yaml": {
		"code_prefix.bad.yaml:6: unit 990201000000: code must begin with 9901, the first 4 digits of its parent 990100000000's code",
		"code_prefix.bad.yaml:14: unit 990102100000: code must begin with 990101, the first 6 digits of its parent 990101000000's code",
		"code_prefix.bad.yaml:22: unit 990101101001: code must begin with 990101100, the first 9 digits of its parent 990101100000's code",
		"code_prefix.bad.yaml:30: unit 990101100002001: code must begin with 990101100001, the first 12 digits of its parent 990101100001's code",
	},
	"name_missing.bad.yaml": {
		"name_missing.bad.yaml:6: unit 990101000000: name is missing",
		"name_missing.bad.yaml:9: unit 990102000000: name is missing",
	},
	"tier.bad.yaml": {
		`tier.bad.yaml:8: unit 990101000000: unknown tier "province" (want city, county, township, village or grid)`,
		"tier.bad.yaml:10: unit 990102000000: tier is missing",
		`tier.bad.yaml:15: unit 990103000000: unknown tier "County"`,
	},
	"root_none.bad.yaml": {
		"root_none.bad.yaml:2: no root unit: every unit has a parent",
	},
	"root_two.bad.yaml": {
		"root_two.bad.yaml:7: unit 990101000000: second root: only one unit may have no parent, and 990100000000 at line 3 has none",
	},
	"root_not_highest.bad.yaml": {
		"root_not_highest.bad.yaml:5: unit 990101000000: the root is a county, but 990100000000 at line 6 is a city; the root must hold the highest tier",
	},
	"parent_missing.bad.yaml": {
		"parent_missing.bad.yaml:9: unit 990101100000: parent 990101000000 does not exist",
	},
	"tier_order.bad.yaml": {
		"tier_order.bad.yaml:21: unit 990101100201: a village cannot be under a village (parent 990101100001): a unit's tier must be below its parent's",
		"tier_order.bad.yaml:25: unit 990102000000: a county cannot be under a county (parent 990101000000)",
	},
	"cycle.bad.yaml": {
		"cycle.bad.yaml:13: unit 990101000000: parents form a cycle: 990101000000 -> 990102000000 -> 990101000000",
		"cycle.bad.yaml:17: unit 990103000000: unit is its own parent",
	},
	"unknown_field.bad.yaml": {
		`unknown_field.bad.yaml:6: unit 990100000000: unknown field "leader" in a unit`,
		`unknown_field.bad.yaml:10: unit 990100000000: unknown field "mobile" in a contact`,
	},
	"version_missing.bad.yaml": {
		"version_missing.bad.yaml:1: version is missing",
	},
	"contacts.bad.yaml": {
		"contacts.bad.yaml:9: unit 990100000000: contact 1: phone is not an 11-digit mobile number or a landline number with area code",
		"contacts.bad.yaml:10: unit 990100000000: contact 2: name is missing",
		"contacts.bad.yaml:12: unit 990100000000: contact 3: has no phone, email, wecom or dingtalk to reach them by",
		"contacts.bad.yaml:16: unit 990100000000: contact 4: email is not a valid address",
	},
	"syntax.bad.yaml": {
		"syntax.bad.yaml:2: invalid YAML: ",
	},
	"empty.bad.yaml": {
		"empty.bad.yaml: file holds no YAML document",
	},
	"no_units.bad.yaml": {
		"no_units.bad.yaml:2: no units",
	},
	"two_documents.bad.yaml": {
		"two_documents.bad.yaml:6: file holds more than one YAML document",
	},
	"types.bad.yaml": {
		"types.bad.yaml:7: unit 990101000000: name: expected a string, found a list",
		"types.bad.yaml:10: unit 990101000000: contacts: expected a list of contacts, found a number",
		"types.bad.yaml:11: expected a unit (a mapping), found a number",
	},
	"not_mapping.bad.yaml": {
		"not_mapping.bad.yaml:1: expected a mapping with version and units, found a list",
	},
	"empty_item.bad.yaml": {
		"empty_item.bad.yaml:3: units: list item is not a unit",
		"empty_item.bad.yaml:8: unit 990100000000: contacts: list item is not a contact",
		"empty_item.bad.yaml:9: unit 990100000000: expected a contact (a mapping), found a number",
	},
	"repeated_key.bad.yaml": {
		`repeated_key.bad.yaml:8: key "name" is repeated (first at line 7)`,
	},
	"several.bad.yaml": {
		"several.bad.yaml:2: version is missing",
		"several.bad.yaml:7: unit 990101000000: name is missing",
		"several.bad.yaml:13: unit 990101000000: contact 1: phone is not",
		`several.bad.yaml:16: unit 990101100000: unknown tier "town"`,
		"several.bad.yaml:21: unit 990101100001: parent 990101999000 does not exist",
		"several.bad.yaml:22: unit 990101000000: duplicate code: the unit at line 7 has it too",
		"several.bad.yaml:26: unit 990102001001001: code must begin with 990101,",
		"several.bad.yaml:30: unit 990100000000: duplicate code: the unit at line 4 has it too",
		`several.bad.yaml:33: unit 990100000000: unknown field "nickname" in a unit`,
	},
}

func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badFiles[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in badFiles", f)
		}
	}
	phoneField := regexp.MustCompile(`(?m)(?:phone|mobile|contacts):\s*"?([0-9-]{7,})|^\s*-\s+"?(1\d{10})"?$`)
	for name, wants := range badFiles {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			tree, err := jurisdiction.Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded with %d units", path, tree.Len())
			}
			var le *jurisdiction.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("Load(%s) error is %T %v, want a *LoadError with problems", path, err, err)
			}
			msg := err.Error()
			for _, want := range wants {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q; got:\n%s", want, msg)
				}
			}
			if n := strings.Count(msg, "\n") + 1; n != len(le.Problems) {
				t.Errorf("error has %d lines for %d problems", n, len(le.Problems))
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range phoneField.FindAllStringSubmatch(string(data), -1) {
				phone := m[1] + m[2]
				if strings.Contains(msg, phone) || strings.Contains(msg, phone[:7]) {
					t.Errorf("error reveals phone number %s:\n%s", phone, msg)
				}
			}
		})
	}
}

// TestSeveralProblems checks that one load reports every problem in the file,
// in line order, and no others.
func TestSeveralProblems(t *testing.T) {
	_, err := jurisdiction.Load(filepath.Join("testdata", "several.bad.yaml"))
	var le *jurisdiction.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error is %T %v, want a *LoadError", err, err)
	}
	want := badFiles["several.bad.yaml"]
	if len(le.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(le.Problems), len(want), err)
	}
	for i, p := range le.Problems {
		if got := p.String(); !strings.Contains(got, want[i]) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got, want[i])
		}
		if p.File != filepath.Join("testdata", "several.bad.yaml") || p.Line == 0 {
			t.Errorf("problem %d has file %q line %d", i, p.File, p.Line)
		}
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    jurisdiction.Problem
		want string
	}{
		{jurisdiction.Problem{File: "f.yaml", Line: 3, Code: "990100000000", Message: "name is missing"}, "f.yaml:3: unit 990100000000: name is missing"},
		{jurisdiction.Problem{File: "f.yaml", Line: 3, Message: "no units"}, "f.yaml:3: no units"},
		{jurisdiction.Problem{File: "f.yaml", Message: "file holds no YAML document"}, "f.yaml: file holds no YAML document"},
		{jurisdiction.Problem{Line: 2, Message: "no units"}, "line 2: no units"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	err := &jurisdiction.LoadError{Problems: []jurisdiction.Problem{tests[0].p, tests[1].p}}
	if got, want := err.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := jurisdiction.Load(filepath.Join("testdata", "does-not-exist.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	seeds = append(seeds, fixture)
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, err := jurisdiction.Parse(data, "fuzz.yaml")
		if err != nil {
			var le *jurisdiction.LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is %T %v, want a *LoadError with problems", err, err)
			}
			for _, p := range le.Problems {
				if strings.ContainsAny(p.Message, "\r\n") {
					t.Fatalf("problem message spans lines: %q", p.Message)
				}
			}
			return
		}
		if tree.Len() == 0 {
			t.Fatal("a tree loaded without error is empty")
		}
		root := tree.Root()
		if root.Parent != "" {
			t.Fatalf("root %s has parent %s", root.Code, root.Parent)
		}
		for _, u := range tree.Units() {
			if !tree.Contains(root.Code, u.Code) {
				t.Fatalf("root does not contain %s", u.Code)
			}
			anc := tree.Ancestors(u.Code)
			if len(anc) >= tree.Len() {
				t.Fatalf("%s has %d ancestors in a tree of %d", u.Code, len(anc), tree.Len())
			}
			if len(anc) > 0 && anc[len(anc)-1].Code != root.Code {
				t.Fatalf("ancestors of %s end at %s, not the root", u.Code, anc[len(anc)-1].Code)
			}
			for _, a := range anc {
				if !a.Tier.Above(u.Tier) || !strings.HasPrefix(u.Code, a.Code[:4]) {
					t.Fatalf("ancestor %s of %s breaks the tier or code rules", a.Code, u.Code)
				}
			}
		}
	})
}
