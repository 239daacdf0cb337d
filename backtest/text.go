package backtest

import (
	"fmt"
	"strings"
	"time"

	"fengqiao/risk"
)

// chinaTime is the committee's clock (北京时间).
var chinaTime = time.FixedZone("CST", 8*60*60)

// String writes the report as the committee reads it, English with the
// Chinese terms beside, e.g. "37 persons yellow → orange (黄→橙)".
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Backtest 回测: ruleset %s → %s", r.From.Version, r.To.Version)
	if !r.At.IsZero() {
		fmt.Fprintf(&b, ", scored at 评估时间 %s 北京时间", r.At.In(chinaTime).Format("2006-01-02 15:04"))
	}
	b.WriteString("\n")
	total := 0
	var kinds []string
	for _, c := range r.Subjects {
		total += c.Count
		kinds = append(kinds, fmt.Sprintf("%s %s", plural(c.Count, c.Kind), kindChinese(c.Kind)))
	}
	fmt.Fprintf(&b, "%d signals 信号, %d subjects 对象 (%s)\n\n", r.Signals, total, strings.Join(kinds, ", "))

	if len(r.Transitions) == 0 {
		b.WriteString("Colour changes 变色: none 无\n")
	} else {
		fmt.Fprintf(&b, "Colour changes 变色: %d subjects (%d up 升, %d down 降)\n", r.Raised+r.Lowered, r.Raised, r.Lowered)
		for _, t := range r.Transitions {
			fmt.Fprintf(&b, "  %s %s → %s (%s→%s)\n", plural(t.Count, t.Kind), t.From, t.To, short(t.From), short(t.To))
		}
	}

	b.WriteString("\nSubjects per colour 各色对象数 (old → new):\n")
	for _, c := range r.Subjects {
		var parts []string
		for _, l := range r.Levels {
			if l.Kind == c.Kind {
				parts = append(parts, fmt.Sprintf("%s %s %d → %d", l.Level, short(l.Level), l.Old, l.New))
			}
		}
		fmt.Fprintf(&b, "  %-9s %s: %s\n", string(c.Kind)+"s", kindChinese(c.Kind), strings.Join(parts, ", "))
	}

	b.WriteString("\nRule hits 规则命中 (subjects it fired for, old → new):\n")
	silent := 0
	for _, h := range r.Rules {
		if h.Old == 0 && h.New == 0 && h.Status == "" {
			silent++
			continue
		}
		mark := ""
		switch {
		case h.Status == "added":
			mark = "  (new 新增)"
		case h.Status == "removed":
			mark = "  (removed 删除)"
		case h.Old != h.New:
			mark = "  *"
		}
		fmt.Fprintf(&b, "  %-28s %3d → %-3d %s%s\n", h.ID, h.Old, h.New, h.Name, mark)
	}
	if silent > 0 {
		fmt.Fprintf(&b, "  (%d other rules fired for no subject under either 其余规则均未命中)\n", silent)
	}

	if len(r.Top) > 0 {
		fmt.Fprintf(&b, "\nLargest changes 主要变化 (top %d):\n", len(r.Top))
		for i, c := range r.Top {
			fmt.Fprintf(&b, "  %d. %s %s, unit 单位 %s: %s → %s (%s→%s), score 得分 %g → %g\n", i+1, c.Subject.Kind, c.Subject.Ref,
				c.Unit, c.From, c.To, short(c.From), short(c.To), c.OldScore, c.NewScore)
			fmt.Fprintf(&b, "     old 旧: %s\n     new 新: %s\n", c.Old, c.New)
		}
	}
	return b.String()
}

// plural writes a count of subjects: "1 person", "37 persons".
func plural(n int, k risk.Kind) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", k)
	}
	return fmt.Sprintf("%d %ss", n, k)
}

func kindChinese(k risk.Kind) string {
	if k == risk.Person {
		return "人员"
	}
	return "纠纷"
}

// short is a level's colour in one character, e.g. 黄.
func short(l risk.Level) string { return strings.TrimSuffix(l.Chinese(), "色") }
