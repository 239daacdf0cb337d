// Package loadgen makes the signals the Redis and end-to-end benchmarks send:
// valid signals of the fixture jurisdiction, drawn from pools of persons and
// disputes, with a realistic mix of sources, categories, tags and words the
// default ruleset reacts to. It also holds what those benchmarks share:
// percentiles, a no-op ruleset, the machine's description and the CPU time
// of a process.
package loadgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"fengqiao/jurisdiction"
	"fengqiao/risk"
	"fengqiao/signals"
)

// Workload draws signals: the n-th signal depends only on the seed and n,
// so senders may draw from one Workload concurrently.
type Workload struct {
	Persons  int      // the pool of persons signals name, uniformly
	Disputes int      // the pool of disputes
	Units    []string // villages and grids
	Prefix   string   // of signal ids: "<prefix>-<n>"
	seed     uint64
}

// New returns a workload over the villages and grids of the jurisdiction file.
func New(jurisdictionFile, prefix string, persons, disputes int, seed uint64) (*Workload, error) {
	tree, err := jurisdiction.Load(jurisdictionFile)
	if err != nil {
		return nil, err
	}
	w := &Workload{Persons: max(persons, 1), Disputes: max(disputes, 1), Prefix: prefix, seed: seed}
	for _, u := range tree.Units() {
		if u.Tier == jurisdiction.Village || u.Tier == jurisdiction.Grid {
			w.Units = append(w.Units, u.Code)
		}
	}
	if len(w.Units) == 0 {
		return nil, fmt.Errorf("%s: no villages or grids", jurisdictionFile)
	}
	return w, nil
}

// IDNumber is the n-th person's resident ID number: province 99 (the
// fixtures' fictional one), a birth date and sequence from n, and a valid
// GB 11643 check digit. Distinct for n below 20 million.
func IDNumber(n int) string {
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%20000)
	s := "990101" + birth.Format("20060102") + fmt.Sprintf("%03d", (n/20000)%1000)
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(s[i]-'0') * weights[i]
	}
	return s + string("10X98765432"[sum%11])
}

// DisputeID is the n-th dispute's ledger number.
func DisputeID(n int) string { return "TZ-BENCH-" + strconv.Itoa(n) }

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given    = []rune("国强秀芳建华明丽军伟敏静磊洋勇艳杰娟涛超")
	neutral  = []string{
		"两户因宅基地边界发生口角,已现场劝解。", "反映某公司拖欠工资三个月。", "邻居装修噪音扰民,多次协商未果。",
		"夫妻因家务琐事争吵,村调解员已上门。", "物业费收取标准有争议,业主意见较大。", "土地流转租金未按期支付。",
		"交通事故赔偿数额未谈妥。", "医疗费用报销有争议。", "消费者与商家就退货发生纠纷。",
	}
	threat   = []string{"男方酒后扬言要报复女方家人。", "当事人称要和对方同归于尽。"}
	selfHarm = []string{"当事人情绪低落,称不想活了。"}
	mass     = []string{"部分工人商量明天到镇政府聚集讨薪。"}
	tags     = []string{"三失一偏", "生活失意", "心态失衡", "刑释解矫"}
)

// Signal draws the n-th signal, occurred at most 25 days before now.
func (w *Workload) Signal(n int, now time.Time) signals.Signal {
	r := rand.New(rand.NewPCG(w.seed, uint64(n)))
	s := signals.Signal{
		ID:         w.Prefix + "-" + strconv.Itoa(n),
		OccurredAt: now.Add(-time.Duration(r.Int64N(int64(25 * 24 * time.Hour)))).Truncate(time.Second),
		Unit:       w.Units[r.IntN(len(w.Units))],
		Category:   signals.DefaultCategories[r.IntN(len(signals.DefaultCategories))],
		PartyCount: 1 + r.IntN(5),
	}
	switch x := r.IntN(100); {
	case x < 60:
		s.Source = risk.GridReport
	case x < 85:
		s.Source = risk.Hotline
	default:
		s.Source = risk.Petition
		lv := signals.PetitionLevels[r.IntN(3)] // village, township, county
		if r.IntN(20) == 0 {
			lv = "province"
		}
		s.Petition = &signals.Petition{Level: lv, Repeat: r.IntN(5) == 0, Collective: r.IntN(20) == 0}
	}
	persons := 1
	if r.IntN(5) == 0 {
		persons = 2
	}
	first := -1
	for range persons {
		p := r.IntN(w.Persons)
		if p == first {
			continue // the same person twice: one is enough
		}
		first = p
		s.Persons = append(s.Persons, signals.Person{IDNumber: IDNumber(p),
			Name: string(surnames[p%len(surnames)]) + string(given[(p/7)%len(given)]), Role: "当事人"})
	}
	if r.IntN(10) != 0 {
		s.DisputeID = DisputeID(r.IntN(w.Disputes))
	}
	if s.Category == "劳动/欠薪" || s.Category == "金融/涉众" {
		s.Amount = float64(1000 * (1 + r.IntN(500)))
	}
	switch x := r.IntN(100); {
	case x < 6:
		s.Summary = threat[r.IntN(len(threat))]
	case x < 8:
		s.Summary = selfHarm[0]
	case x < 10:
		s.Summary = mass[0]
	default:
		s.Summary = neutral[r.IntN(len(neutral))]
	}
	if r.IntN(20) == 0 {
		s.Tags = []string{tags[r.IntN(len(tags))]}
	}
	return s
}

// Percentile is the p-th percentile (0 < p ≤ 100) of sorted xs, nearest rank.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Median of xs (not sorted in place).
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// NoopRuleset is a ruleset that evaluates nothing: no features, one rule
// that applies to no kind of subject, with the default ruleset's levels and
// spread so that the store does the same work. Every subject stays green.
const NoopRuleset = `version: "bench-noop"
levels: {blue: 20, yellow: 40, orange: 60, red: 80}
spread: {dispute_to_person: 1}
features:
  signals_30d: {count: any, window: 30d, label: 近30天信号条数}
rules:
  - id: never
    name: 从不触发
    applies_to: [person]
    when: "false"
    score: 0
`

// WriteNoopRules writes NoopRuleset into a new directory under dir and
// returns it, for riskd's rules_dir.
func WriteNoopRules(dir string) (string, error) {
	d, err := os.MkdirTemp(dir, "noop-rules-")
	if err != nil {
		return "", err
	}
	return d, os.WriteFile(d+"/noop.yaml", []byte(NoopRuleset), 0o644)
}

// Machine describes the machine and toolchain, for the BENCH machine line.
func Machine() string {
	return fmt.Sprintf("cpu=%q cores=%d GOMAXPROCS=%d go=%s/%s/%s", CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// CPUModel is the CPU's name as /proc/cpuinfo gives it, if it does.
func CPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// CPUSeconds is the user and system CPU time process pid has used, from
// /proc (Linux); 0 where it cannot be read.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// RSSBytes is the resident set size of process pid, from /proc (Linux).
func RSSBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
