package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"fengqiao/risk"
)

// at is 09:30 in Beijing; the deadline an hour later.
var (
	at       = time.Date(2026, 1, 15, 1, 30, 0, 0, time.UTC)
	deadline = at.Add(time.Hour)
)

func testMessage() Message {
	return Message{
		AlertID:  "dispute/TZ-2026-0001@red/ledger:TZ-2026-0001",
		Key:      "dispute/TZ-2026-0001@red/ledger:TZ-2026-0001#0#990101001000",
		Level:    risk.Red,
		Title:    "红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)",
		Subject:  "纠纷 TZ-2026-0001 (当事人 张** 等3人)",
		Unit:     "990101001001",
		UnitName: "枫桥镇陈家村",
		Reasons:  "红色(得分 95): 扬言极端(近30天扬言信号次数 1,阈值>0) +45,至少橙色; 多次信访 +50",
		Deadline: deadline,
		AckURL:   "https://fq.example.gov.cn/console/alerts/a1b2c3/ack",
		At:       at,
	}
}

// The numbers that must never reach a payload, in the forms people write them.
var secrets = []string{
	"110105194912310021", "11010519491231002X", "110105 19491231 002X",
	"13912345678", "139-1234-5678", "139 1234 5678", "１３９１２３４５６７８",
}

// piiMessage carries every secret in the fields a person may have typed.
func piiMessage() Message {
	m := testMessage()
	m.Title = "红色预警: 人员 110105194912310021 (枫桥镇陈家村)"
	m.Subject = "人员 张三 11010519491231002X 手机139-1234-5678"
	m.UnitName = "枫桥镇陈家村(联系电话１３９１２３４５６７８)"
	m.Reasons = "扬言极端; 身份证110105 19491231 002X; 电话13912345678; 家属+86 139 1234 5678"
	m.AckURL = "https://fq.example.gov.cn/ack/13912345678"
	return m
}

func assertNoSecrets(t *testing.T, where, payload string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(payload, s) {
			t.Errorf("%s contains %q:\n%s", where, s, payload)
		}
	}
}

const wantText = `红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)
颜色: 红色
对象: 纠纷 TZ-2026-0001 (当事人 张** 等3人)
单位: 枫桥镇陈家村 (990101001001)
原因: 红色(得分 95): 扬言极端(近30天扬言信号次数 1,阈值>0) +45,至少橙色; 多次信访 +50
通知: 首次通知
请在 2026-01-15 10:30 前确认
确认链接: https://fq.example.gov.cn/console/alerts/a1b2c3/ack
时间: 2026-01-15 09:30
`

const wantMarkdown = `### 🔴 红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)

**颜色**: 红色

**对象**: 纠纷 TZ-2026-0001 (当事人 张＊＊ 等3人)

**单位**: 枫桥镇陈家村 (990101001001)

**原因**: 红色(得分 95): 扬言极端(近30天扬言信号次数 1,阈值＞0) +45,至少橙色; 多次信访 +50

**通知**: 首次通知

**请在 2026-01-15 10:30 前确认**

**确认链接**: [点此确认](https://fq.example.gov.cn/console/alerts/a1b2c3/ack)

**时间**: 2026-01-15 09:30`

func TestText(t *testing.T) {
	escalated := testMessage()
	escalated.Step = 2
	resolved := testMessage()
	resolved.Resolved = true
	resolved.Reasons = "已化解: 双方签订调解协议"
	resolved.At = at.Add(3 * time.Hour)
	bare := testMessage()
	bare.Level, bare.Title, bare.Subject, bare.UnitName, bare.Reasons = risk.Yellow, "黄色预警: 人员 P1a2b", "", "", ""
	bare.Deadline, bare.AckURL = time.Time{}, ""

	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"first notice", testMessage(), wantText},
		{"escalation", escalated, strings.NewReplacer(
			"红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)\n", "【第2次升级】红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)\n",
			"通知: 首次通知", "通知: 第2次升级(上一级未在时限内确认)").Replace(wantText)},
		{"resolved", resolved, `【已解除】红色预警: 纠纷 TZ-2026-0001 (枫桥镇陈家村)
颜色: 红色
对象: 纠纷 TZ-2026-0001 (当事人 张** 等3人)
单位: 枫桥镇陈家村 (990101001001)
原因: 已化解: 双方签订调解协议
解除时间: 2026-01-15 12:30
`},
		{"without deadline, link or names", bare, `黄色预警: 人员 P1a2b
颜色: 黄色
单位: 990101001001
通知: 首次通知
时间: 2026-01-15 09:30
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.m); got != tc.want {
				t.Errorf("Text() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	resolved := testMessage()
	resolved.Resolved = true
	resolved.Reasons = "已化解"
	injected := testMessage()
	injected.Reasons = "见[此处](http://evil.example) <font color=\"info\">已处理</font>\n# 标题"
	injected.AckURL = "javascript:alert(1)"
	orange := testMessage()
	orange.Level = risk.Orange
	orange.AckURL = "https://fq.example.gov.cn/ack?id=a (1)"

	tests := []struct {
		name string
		m    Message
		want []string // lines or fragments the output must contain
		not  []string
	}{
		{"first notice", testMessage(), []string{wantMarkdown}, nil},
		{"resolved", resolved, []string{"### ✅ 【已解除】红色预警", "**原因**: 已化解", "**解除时间**: 2026-01-15 09:30"}, []string{"确认链接", "前确认"}},
		{"outside text cannot add links or formatting", injected,
			[]string{"**原因**: 见［此处］(http://evil.example) ＜font color=\"info\"＞已处理＜/font＞ ＃ 标题", "**确认链接**: javascript:alert(1)"},
			[]string{"[此处]", "<font", "[点此确认]"}},
		{"colour mark and a link that must not end early", orange,
			[]string{"### 🟠 ", "[点此确认](https://fq.example.gov.cn/ack?id=a%20%281%29)"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Markdown(tc.m)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Markdown() =\n%s\nwant it to contain\n%s", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("Markdown() =\n%s\nwant it not to contain %q", got, n)
				}
			}
		})
	}
}

func TestFitKeepsTheLink(t *testing.T) {
	m := testMessage()
	m.Reasons = strings.Repeat("多次信访; ", 2000)
	got := fit(m, Markdown, maxRobotMarkdown)
	if len(got) > maxRobotMarkdown {
		t.Fatalf("len = %d bytes, want at most %d", len(got), maxRobotMarkdown)
	}
	for _, w := range []string{"…(已截断,详见确认链接)", "[点此确认](https://fq.example.gov.cn/console/alerts/a1b2c3/ack)", "请在 2026-01-15 10:30 前确认"} {
		if !strings.Contains(got, w) {
			t.Errorf("fitted markdown lacks %q", w)
		}
	}
	if len(got) < maxRobotMarkdown-200 {
		t.Errorf("len = %d bytes: cut far more than needed", len(got))
	}
	short := testMessage()
	if fit(short, Markdown, maxRobotMarkdown) != Markdown(short) {
		t.Error("a message that fits was changed")
	}
}

func TestScrub(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ID number", "身份证110105194912310021,住某村", "身份证[证件号已隐去],住某村"},
		{"ID number with X", "证号 11010519491231002X。", "证号 [证件号已隐去]。"},
		{"ID number glued to letters", "ID11010519491231002x", "ID[证件号已隐去]"},
		{"ID number in groups", "110105 19491231 002X", "[证件号已隐去]"},
		{"old 15-digit ID number", "旧证110105491231002", "旧证[证件号已隐去]"},
		{"full-width ID number", "１１０１０５１９４９１２３１００２Ｘ", "[证件号已隐去]"},
		{"mobile", "电话13912345678", "电话[电话已隐去]"},
		{"mobile in groups", "139-1234-5678 / 139 1234 5678", "[电话已隐去] / [电话已隐去]"},
		{"mobile with country code", "+86 13912345678, 0086-139-1234-5678, 8613912345678", "[电话已隐去], [电话已隐去], [电话已隐去]"},
		{"full-width mobile", "手机１３９１２３４５６７８", "手机[电话已隐去]"},
		{"mobile glued to letters", "Tel13912345678", "Tel[电话已隐去]"},
		{"mobile in a URL", "https://x.example/ack/13912345678?a=1", "https://x.example/ack/[电话已隐去]?a=1"},
		{"mobile after other digits and a space", "2086 13912345678", "2086 [电话已隐去]"},
		{"two mobiles run together", "1391234567813912345678", "[证件号已隐去]"},
		{"Hebei unit code is kept", "单位 130102001001", "单位 130102001001"},
		{"millisecond timestamp is kept", "timestamp=1768440600000", "timestamp=1768440600000"},
		{"12 digits are not a mobile", "139123456789", "139123456789"},
		{"short numbers are kept", "欠薪3万元,涉及37人,2026-01-15 09:30", "欠薪3万元,涉及37人,2026-01-15 09:30"},
		{"person reference is kept", "person/P139123456781391234567ab@red", "person/P139123456781391234567ab@red"},
		{"hex digest is kept", "k=0123456789012345678abcdef", "k=0123456789012345678abcdef"},
		{"already masked", "[电话已隐去] [证件号已隐去]", "[电话已隐去] [证件号已隐去]"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrub(tc.in); got != tc.want {
				t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTextAndMarkdownScrub(t *testing.T) {
	m := piiMessage()
	assertNoSecrets(t, "Text", Text(m))
	assertNoSecrets(t, "Markdown", Markdown(m))
	assertNoSecrets(t, "headline", headline(m.scrubbed()))
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Message)
		want   string
	}{
		{"no alert id or key", func(m *Message) { m.AlertID, m.Key = "", "" }, "no alert id, key"},
		{"no time", func(m *Message) { m.At = time.Time{} }, "no time"},
		{"bad level", func(m *Message) { m.Level = 9 }, "level 9"},
		{"negative step", func(m *Message) { m.Step = -1 }, "negative step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testMessage()
			tc.change(&m)
			err := m.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate() = %v, want %q", err, tc.want)
			}
			if Retryable(err) {
				t.Error("an invalid message is retryable")
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"classified temporary", temporary(errors.New("HTTP 503")), true},
		{"classified permanent", permanent(errors.New("HTTP 400")), false},
		{"classified, then wrapped", fmt.Errorf("outbox: %w", temporary(errors.New("x"))), true},
		{"deadline", context.DeadlineExceeded, true},
		{"cancelled", fmt.Errorf("send: %w", context.Canceled), true},
		{"net timeout", timeoutErr{}, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"url error around a timeout", &url.Error{Op: "Post", URL: "http://x", Err: timeoutErr{}}, true},
		{"url error around a bad scheme", &url.Error{Op: "Post", URL: "ftp://x", Err: errors.New(`unsupported protocol scheme "ftp"`)}, false},
		{"SMTP 421", &textproto.Error{Code: 421, Msg: "try later"}, true},
		{"SMTP 550", &textproto.Error{Code: 550, Msg: "no such user"}, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.want {
				t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorsAreScrubbed(t *testing.T) {
	err := permanent(fmt.Errorf("email: RCPT TO: %w", &textproto.Error{Code: 550, Msg: "13912345678@163.com: no such user"}))
	if strings.Contains(err.Error(), "13912345678") {
		t.Errorf("error = %q", err)
	}
}

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// FuzzScrub checks that scrub is idempotent and leaves neither a run of 15
// or more digits nor a standalone mobile number outside a hex token.
func FuzzScrub(f *testing.F) {
	for _, s := range append(secrets, "电话13912345678,证号11010519491231002X", "P0a1b2c3d4e5f60718293a4b5", "2086 13912345678", "１３９１２３４５６７８") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := scrub(s)
		if twice := scrub(once); twice != once {
			t.Errorf("scrub is not idempotent:\n%q\n%q\n%q", s, once, twice)
		}
		if again := mask(once, idRun, "!", false); again != once {
			t.Errorf("scrub(%q) = %q still holds 15 digits in a row", s, once)
		}
		if again := mask(once, phoneLike, "!", true); again != once {
			t.Errorf("scrub(%q) = %q still holds a mobile number", s, once)
		}
	})
}
