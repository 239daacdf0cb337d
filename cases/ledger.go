package cases

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// LedgerHeader is the case ledger's (案件台账) header row, as units keep and
// exchange ledgers.
var LedgerHeader = []string{
	"案件编号", "登记单位", "来源渠道", "案件类型", "纠纷类别", "案情摘要", "当事人", "涉及金额(元)",
	"主办单位", "协办单位", "调解组织", "调解类型", "对接类型", "调解员", "状态", "登记时间",
	"办理期限", "是否超期", "结案时间", "调处结果", "协议内容", "司法确认", "回访", "重办次数", "上交次数", "归档批次",
}

// LedgerRow is a case as one ledger row, cell for cell under LedgerHeader.
// unitName names a unit code; now decides what is overdue. ID numbers and
// phones are never in a case, so never in its row.
func LedgerRow(c *Case, unitName func(string) string, now time.Time) []string {
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(beijing).Format("2006-01-02")
	}
	var parties []string
	for _, p := range c.Parties {
		parties = append(parties, p.Role+" "+p.Name)
	}
	var lead, co, org, mtype, dock, mediators string
	if a := c.Assignment; a != nil {
		lead, org, mtype, dock = unitName(a.LeadUnit), a.Organisation, a.MediationType, a.Docking
		names := make([]string, len(a.CoUnits))
		for i, u := range a.CoUnits {
			names[i] = unitName(u)
		}
		co, mediators = strings.Join(names, "、"), strings.Join(a.Mediators, "、")
	}
	due := ""
	if k := c.Clock(HandlingClock); k != nil {
		due = day(k.Due)
	}
	overdue := "否"
	if len(c.Overdue(now)) > 0 {
		var names []string
		for _, k := range c.Overdue(now) {
			names = append(names, k.Name.Chinese())
		}
		overdue = "是: " + strings.Join(names, "、")
	}
	outcome := ""
	switch {
	case c.Outcome == Agreed:
		outcome = "调解成功"
	case c.Outcome == Failed && c.Failure != nil:
		outcome = "调解不成, 引导" + Referrals[c.Failure.Referral]
	case c.State == Declined && c.Decline != nil:
		outcome = "不予受理, 引导" + Redirects[c.Decline.Redirect]
	}
	terms, confirmed := "", ""
	if c.Agreement != nil {
		terms = c.Agreement.Terms
		if c.Agreement.SeekConfirmation {
			confirmed = "待确认"
		}
	}
	if cf := c.Confirmation; cf != nil {
		confirmed = fmt.Sprintf("%s %s %s", cf.Court, day(cf.Date), map[bool]string{true: "确认有效", false: "不予确认"}[cf.Confirmed])
	}
	visits := ""
	if n := len(c.FollowUps); n > 0 {
		f := c.FollowUps[n-1]
		visits = fmt.Sprintf("%s %s %s", day(f.Date), f.Method, map[bool]string{true: "满意", false: "不满意"}[f.Satisfied])
	}
	amount := ""
	if c.Amount > 0 {
		amount = strconv.FormatFloat(c.Amount, 'f', -1, 64)
	}
	return []string{
		c.Number, unitName(c.Unit), Channels[c.Channel], c.Type, c.Category, c.Summary, strings.Join(parties, "; "), amount,
		lead, co, org, mtype, dock, mediators, c.State.Chinese(), day(c.RegisteredAt),
		due, overdue, day(c.ClosedAt), outcome, terms, confirmed, visits, strconv.Itoa(c.Reopened), strconv.Itoa(c.Escalations), c.ArchiveBatch,
	}
}

// WriteLedgerCSV writes cases as a CSV ledger, UTF-8 with a byte-order mark
// so that spreadsheet programs read the Chinese right.
func WriteLedgerCSV(w io.Writer, cs []*Case, unitName func(string) string, now time.Time) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(LedgerHeader)
	for _, c := range cs {
		row := LedgerRow(c, unitName, now)
		for i, cell := range row {
			// A cell a spreadsheet would take for a formula is kept as text.
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				row[i] = "'" + cell
			}
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteLedgerXLSX writes cases as an XLSX ledger, one sheet 案件台账.
func WriteLedgerXLSX(w io.Writer, cs []*Case, unitName func(string) string, now time.Time) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "案件台账"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	row := func(n int, cells []string) error {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = c
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, vals)
	}
	if err := row(1, LedgerHeader); err != nil {
		return err
	}
	for i, c := range cs {
		if err := row(i+2, LedgerRow(c, unitName, now)); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}
