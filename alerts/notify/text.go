package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"fengqiao/risk"
)

// beijing is China Standard Time. China keeps no daylight saving, so a fixed
// zone is exact and needs no tzdata on the host.
var beijing = time.FixedZone("CST", 8*60*60)

const clock = "2006-01-02 15:04"

// headline is a message's first line: its title, marked when it is an
// escalation or a resolved notice.
func headline(m Message) string {
	t := oneLine(m.Title)
	switch {
	case m.Resolved:
		return "【已解除】" + t
	case m.Step > 0:
		return fmt.Sprintf("【第%d次升级】%s", m.Step, t)
	}
	return t
}

func stepText(step int) string {
	if step == 0 {
		return "首次通知"
	}
	return fmt.Sprintf("第%d次升级(上一级未在时限内确认)", step)
}

func unitText(m Message) string {
	switch {
	case m.UnitName != "" && m.Unit != "":
		return oneLine(m.UnitName) + " (" + oneLine(m.Unit) + ")"
	case m.UnitName != "":
		return oneLine(m.UnitName)
	}
	return oneLine(m.Unit)
}

// Text renders m as plain Chinese text, for e-mail and the webhook's "text":
//
//	【第1次升级】红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)
//	颜色: 红色
//	对象: 纠纷 TZ-2026-0001
//	单位: 枫桥镇陈家村 (990101001001)
//	原因: 红色(得分 95): 扬言极端 +45
//	通知: 第1次升级(上一级未在时限内确认)
//	请在 2026-01-15 10:30 前确认
//	确认链接: https://fq.example/alerts/…
//	时间: 2026-01-15 09:30
//
// A resolved notice gives 解除时间 in place of the last four lines.
func Text(m Message) string {
	m = m.scrubbed()
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			b.WriteString(label + ": " + value + "\n")
		}
	}
	b.WriteString(headline(m) + "\n")
	line("颜色", m.Level.Chinese())
	line("对象", oneLine(m.Subject))
	line("单位", unitText(m))
	line("原因", strings.TrimSpace(m.Reasons))
	if m.Resolved {
		line("解除时间", m.At.In(beijing).Format(clock))
		return scrub(b.String())
	}
	line("通知", stepText(m.Step))
	if !m.Deadline.IsZero() {
		b.WriteString("请在 " + m.Deadline.In(beijing).Format(clock) + " 前确认\n")
	}
	line("确认链接", oneLine(m.AckURL))
	line("时间", m.At.In(beijing).Format(clock))
	return scrub(b.String())
}

// colourMark is a coloured sign for the Markdown heading, so that the
// colour shows at a glance in a busy group chat.
var colourMark = [...]string{
	risk.Green:  "🟢",
	risk.Blue:   "🔵",
	risk.Yellow: "🟡",
	risk.Orange: "🟠",
	risk.Red:    "🔴",
}

// Markdown renders m in the Markdown both group robots accept: headings, bold
// and links, with paragraphs, since DingTalk joins single lines. Everything
// that came from outside is escaped so it cannot add links or formatting.
func Markdown(m Message) string {
	m = m.scrubbed()
	var b strings.Builder
	para := func(s string) { b.WriteString(s + "\n\n") }
	field := func(label, value string) {
		if value != "" {
			para("**" + label + "**: " + mdEscape(value))
		}
	}
	mark := "✅"
	if !m.Resolved && m.Level.Valid() {
		mark = colourMark[m.Level]
	}
	para("### " + mark + " " + mdEscape(headline(m)))
	field("颜色", m.Level.Chinese())
	field("对象", oneLine(m.Subject))
	field("单位", unitText(m))
	field("原因", strings.Join(strings.Fields(m.Reasons), " "))
	if m.Resolved {
		field("解除时间", m.At.In(beijing).Format(clock))
		return scrub(strings.TrimSuffix(b.String(), "\n\n"))
	}
	field("通知", stepText(m.Step))
	if !m.Deadline.IsZero() {
		para("**请在 " + m.Deadline.In(beijing).Format(clock) + " 前确认**")
	}
	if link := mdLink(m.AckURL); link != "" {
		para("**确认链接**: " + link)
	}
	field("时间", m.At.In(beijing).Format(clock))
	return scrub(strings.TrimSuffix(b.String(), "\n\n"))
}

// oneLine folds line breaks and runs of space, for fields shown on one line
// and for mail headers.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// mdEscape replaces the characters that make Markdown or HTML with their
// full-width forms: the robots' renderers do not agree on backslash escapes,
// and full-width forms read the same to a person.
var mdEscape = strings.NewReplacer(
	`\`, `＼`, `*`, `＊`, "`", `｀`, `[`, `［`, `]`, `］`, `<`, `＜`, `>`, `＞`, `#`, `＃`, `|`, `｜`,
).Replace

// mdLink makes a link of an http(s) URL, escaping what would end it early; any
// other URL is shown as text, never as a link.
func mdLink(raw string) string {
	raw = oneLine(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return mdEscape(raw)
	}
	esc := strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E").Replace(raw)
	return "[点此确认](" + esc + ")"
}

// fit renders m with render and, if the result is longer than max bytes,
// shortens the reasons until it fits, so that the acknowledgement link at the
// end is never the part cut off.
func fit(m Message, render func(Message) string, max int) string {
	out := render(m)
	if len(out) <= max {
		return out
	}
	const cut = "…(已截断,详见确认链接)"
	reasons := []rune(m.Reasons)
	lo, hi := 0, len(reasons) // the longest prefix that fits is in [lo, hi)
	best := ""
	for lo < hi {
		mid := (lo + hi) / 2
		m.Reasons = string(reasons[:mid]) + cut
		if s := render(m); len(s) <= max {
			best, lo = s, mid+1
		} else {
			hi = mid
		}
	}
	if best != "" {
		return best
	}
	// Even without reasons it is too long: cut at a character boundary.
	for max > 0 && max < len(out) && !utf8RuneStart(out[max]) {
		max--
	}
	return out[:max]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
