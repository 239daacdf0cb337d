package engine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"fengqiao/risk"
)

// The default ruleset (fixtures/rules/default.yaml) as a specification: for
// every rule, signals that make it fire and signals just across its boundary
// that do not, with the rules that fire and the colour that results.
// TestDefaultRulesEveryRuleHasCases keeps the table complete.

// evOpt changes an event built by signalAgo.
type evOpt func(*Event)

// signalAgo builds an event of source src that happened age before now.
func signalAgo(src risk.Source, age time.Duration, opts ...evOpt) Event {
	ev := Event{Source: src, At: ago(age), Unit: "990101100201"}
	for _, o := range opts {
		o(&ev)
	}
	return ev
}

// signalAt is signalAgo at a given time rather than an age.
func signalAt(src risk.Source, at time.Time, opts ...evOpt) Event {
	ev := signalAgo(src, 0, opts...)
	ev.At = at
	return ev
}

func withCategory(c string) evOpt      { return func(ev *Event) { ev.Category = c } }
func withTags(tags ...string) evOpt    { return func(ev *Event) { ev.Tags = tags } }
func withWords(lists ...string) evOpt  { return func(ev *Event) { ev.Keywords = lists } }
func withParties(n int) evOpt          { return func(ev *Event) { ev.PartyCount = n } }
func withAmount(yuan float64) evOpt    { return func(ev *Event) { ev.Amount = yuan } }
func withLedgerStatus(s string) evOpt  { return func(ev *Event) { ev.LedgerStatus = s } }
func withPetitionLevel(rank int) evOpt { return func(ev *Event) { ev.PetitionLevel = rank } }
func withCase(id, event, state string) evOpt {
	return func(ev *Event) { ev.CaseID, ev.CaseEvent, ev.CaseState = id, event, state }
}

var (
	isSkipLevel  evOpt = func(ev *Event) { ev.SkipLevel = true }
	isCollective evOpt = func(ev *Event) { ev.Collective = true }
	isRepeat     evOpt = func(ev *Event) { ev.Repeat = true }
)

// keyed numbers the events' keys, source:index.
func keyed(events ...Event) []Event {
	for i := range events {
		if events[i].Key == "" {
			events[i].Key = fmt.Sprintf("%s:%d", events[i].Source, i)
		}
	}
	return events
}

// repeatEvent repeats one event n times.
func repeatEvent(n int, ev Event) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = ev
	}
	return out
}

// onDaysAgo is one event of the shape of ev on each of the given days ago.
func onDaysAgo(ev Event, daysAgo ...int) []Event {
	var out []Event
	for _, d := range daysAgo {
		e := ev
		e.At = ago(time.Duration(d) * day)
		out = append(out, e)
	}
	return out
}

// defaultRuleCase is one row of the default ruleset's specification.
type defaultRuleCase struct {
	rule   string // the rule the case is about
	name   string
	kind   risk.Kind
	weak   bool
	events []Event
	fired  []string // exactly the rules that fire, in any order
	score  float64
	level  risk.Level
}

func defaultRuleCases() []defaultRuleCase {
	const (
		grid = risk.GridReport
		pet  = risk.Petition
		hot  = risk.Hotline
		led  = risk.Ledger
		ce   = risk.CaseEvent
	)
	person, dispute := risk.Person, risk.Dispute
	edge := func(window time.Duration) time.Duration { return window - time.Second }
	return []defaultRuleCase{
		// 扬言极端
		{"threat-language", "threat words yesterday", person, false,
			keyed(signalAgo(grid, day, withWords("threat"))),
			[]string{"threat-language"}, 45, risk.Orange},
		{"threat-language", "threat words a second inside 30 days", person, false,
			keyed(signalAgo(grid, edge(30*day), withWords("threat"))),
			[]string{"threat-language"}, 45, risk.Orange},
		{"threat-language", "threat words exactly 30 days old have left the window", person, false,
			keyed(signalAgo(grid, 30*day, withWords("threat"))),
			nil, 0, risk.Green},
		{"threat-language", "threat words about a dispute", dispute, false,
			keyed(signalAgo(hot, 2*day, withWords("threat"))),
			[]string{"threat-language"}, 45, risk.Orange},

		// 民转刑: 扬言 + 反复的家庭纠纷
		{"threat-family", "threat in a family dispute reported twice is red", person, false,
			keyed(signalAgo(grid, day, withCategory("婚姻家庭"), withWords("threat")), signalAgo(hot, 3*day, withCategory("婚姻家庭"))),
			[]string{"threat-language", "threat-family", "family-dispute"}, 90, risk.Red},
		{"threat-family", "the same for the dispute", dispute, false,
			keyed(signalAgo(grid, day, withCategory("婚姻家庭"), withWords("threat")), signalAgo(led, 20*day, withCategory("婚姻家庭"))),
			[]string{"threat-language", "threat-family", "family-dispute"}, 90, risk.Red},
		{"threat-family", "threat in a single family report stays orange", person, false,
			keyed(signalAgo(grid, time.Hour, withCategory("婚姻家庭"), withParties(2), withWords("threat"))),
			[]string{"threat-language", "family-dispute"}, 55, risk.Orange},
		{"threat-family", "the earlier family report exactly 30 days old does not count", person, false,
			keyed(signalAgo(grid, day, withCategory("婚姻家庭"), withWords("threat")), signalAgo(hot, 30*day, withCategory("婚姻家庭"))),
			[]string{"threat-language", "family-dispute"}, 55, risk.Orange},
		{"threat-family", "repeated family dispute without threats", person, false,
			keyed(signalAgo(grid, day, withCategory("婚姻家庭")), signalAgo(hot, 3*day, withCategory("婚姻家庭"))),
			[]string{"family-dispute"}, 25, risk.Blue},

		// 重点人员扬言极端或轻生
		{"key-person-extreme", "a released prisoner (刑释解矫) makes threats", person, false,
			keyed(signalAgo(pet, 60*day, withTags("刑释解矫")), signalAgo(grid, day, withWords("threat"))),
			[]string{"threat-language", "key-person-extreme", "key-group"}, 80, risk.Red},
		{"key-person-extreme", "a person under community correction (社区矫正) talks of suicide", person, false,
			keyed(signalAgo(grid, 2*day, withTags("社区矫正"), withWords("self_harm"))),
			[]string{"key-person-extreme", "self-harm", "key-group"}, 65, risk.Red},
		{"key-person-extreme", "a petition key person (信访重点人员) makes threats", person, false,
			keyed(signalAgo(grid, 2*day, withTags("信访重点人员"), withWords("threat"))),
			[]string{"threat-language", "key-person-extreme", "key-group"}, 80, risk.Red},
		{"key-person-extreme", "a person with a severe mental disorder makes threats", person, false,
			keyed(signalAgo(grid, 2*day, withTags("精神障碍"), withWords("threat"))),
			[]string{"threat-language", "key-person-extreme", "mental-disorder"}, 85, risk.Red},
		{"key-person-extreme", "a 三失一偏 person makes threats", person, false,
			keyed(signalAgo(grid, 50*day, withTags("三失一偏")), signalAgo(hot, day, withWords("threat"))),
			[]string{"threat-language", "key-person-extreme", "sanshi-yipian"}, 90, risk.Red},
		{"key-person-extreme", "one sign of 三失一偏 counts as 三失一偏", person, false,
			keyed(signalAgo(grid, 50*day, withTags("生活失意")), signalAgo(hot, day, withWords("threat"))),
			[]string{"threat-language", "key-person-extreme", "sanshi-yipian", "sanshi-frustration"}, 95, risk.Red},
		{"key-person-extreme", "a key group without threats", person, false,
			keyed(signalAgo(grid, 2*day, withTags("刑释解矫"))),
			[]string{"key-group"}, 15, risk.Green},
		{"key-person-extreme", "a 三失一偏 mark exactly 90 days old no longer counts", person, false,
			keyed(signalAgo(grid, 90*day, withTags("三失一偏")), signalAgo(hot, day, withWords("threat"))),
			[]string{"threat-language"}, 45, risk.Orange},
		{"key-person-extreme", "the threat exactly 30 days old", person, false,
			keyed(signalAgo(grid, 30*day, withTags("刑释解矫"), withWords("threat"))),
			[]string{"key-group"}, 15, risk.Green},
		{"key-person-extreme", "persons only: a dispute with a tagged party", dispute, false,
			keyed(signalAgo(grid, day, withTags("刑释解矫"), withWords("threat"))),
			[]string{"threat-language"}, 45, risk.Orange},

		// 轻生自伤
		{"self-harm", "suicide words", person, false,
			keyed(signalAgo(hot, day, withWords("self_harm"))),
			[]string{"self-harm"}, 30, risk.Orange},
		{"self-harm", "threatening to kill oneself is both lists", person, false,
			keyed(signalAgo(grid, day, withWords("self_harm", "threat"))),
			[]string{"threat-language", "self-harm"}, 75, risk.Orange},
		{"self-harm", "suicide words exactly 30 days old", person, false,
			keyed(signalAgo(hot, 30*day, withWords("self_harm"))),
			nil, 0, risk.Green},

		// 三失一偏
		{"sanshi-yipian", "marked 三失一偏", person, false,
			keyed(signalAgo(grid, day, withTags("三失一偏"))),
			[]string{"sanshi-yipian"}, 25, risk.Blue},
		{"sanshi-yipian", "marked a second inside 90 days ago", person, false,
			keyed(signalAgo(grid, edge(90*day), withTags("三失一偏"))),
			[]string{"sanshi-yipian"}, 25, risk.Blue},
		{"sanshi-yipian", "marked exactly 90 days ago", person, false,
			keyed(signalAgo(grid, 90*day, withTags("三失一偏"))),
			nil, 0, risk.Green},
		{"sanshi-yipian", "persons only", dispute, false,
			keyed(signalAgo(grid, day, withTags("三失一偏"))),
			nil, 0, risk.Green},
		{"sanshi-frustration", "生活失意", person, false,
			keyed(signalAgo(grid, day, withTags("生活失意"))),
			[]string{"sanshi-yipian", "sanshi-frustration"}, 30, risk.Blue},
		{"sanshi-frustration", "生活失意 exactly 90 days ago", person, false,
			keyed(signalAgo(grid, 90*day, withTags("生活失意"))),
			nil, 0, risk.Green},
		{"sanshi-imbalance", "心态失衡", person, false,
			keyed(signalAgo(grid, day, withTags("心态失衡"))),
			[]string{"sanshi-yipian", "sanshi-imbalance"}, 35, risk.Blue},
		{"sanshi-imbalance", "心态失衡 exactly 90 days ago", person, false,
			keyed(signalAgo(grid, 90*day, withTags("心态失衡"))),
			nil, 0, risk.Green},
		{"sanshi-abnormal", "行为失常 with the 三失一偏 mark is yellow", person, false,
			keyed(signalAgo(grid, day, withTags("三失一偏", "行为失常"))),
			[]string{"sanshi-yipian", "sanshi-abnormal"}, 40, risk.Yellow},
		{"sanshi-abnormal", "行为失常 exactly 90 days ago", person, false,
			keyed(signalAgo(grid, 90*day, withTags("行为失常"))),
			nil, 0, risk.Green},
		{"sanshi-paranoid", "性格偏执", person, false,
			keyed(signalAgo(pet, 5*day, withTags("性格偏执"))),
			[]string{"sanshi-yipian", "sanshi-paranoid"}, 35, risk.Blue},
		{"sanshi-paranoid", "性格偏执 exactly 90 days ago", person, false,
			keyed(signalAgo(pet, 90*day, withTags("性格偏执"))),
			nil, 0, risk.Green},
		{"sanshi-multiple", "two signs on two reports", person, false,
			keyed(signalAgo(grid, day, withTags("心态失衡")), signalAgo(grid, 40*day, withTags("性格偏执"))),
			[]string{"sanshi-yipian", "sanshi-imbalance", "sanshi-paranoid", "sanshi-multiple"}, 55, risk.Yellow},
		{"sanshi-multiple", "the two mildest signs still make yellow", person, false,
			keyed(signalAgo(grid, day, withTags("生活失意", "心态失衡"))),
			[]string{"sanshi-yipian", "sanshi-frustration", "sanshi-imbalance", "sanshi-multiple"}, 50, risk.Yellow},
		{"sanshi-multiple", "all four signs are orange", person, false,
			keyed(signalAgo(grid, day, withTags("三失一偏", "生活失意", "心态失衡", "行为失常", "性格偏执"))),
			[]string{"sanshi-yipian", "sanshi-frustration", "sanshi-imbalance", "sanshi-abnormal", "sanshi-paranoid", "sanshi-multiple"}, 75, risk.Orange},
		{"sanshi-multiple", "one sign marked twice", person, false,
			keyed(signalAgo(grid, day, withTags("心态失衡")), signalAgo(grid, 20*day, withTags("心态失衡"))),
			[]string{"sanshi-yipian", "sanshi-imbalance"}, 35, risk.Blue},
		{"sanshi-multiple", "the second sign exactly 90 days ago", person, false,
			keyed(signalAgo(grid, day, withTags("性格偏执")), signalAgo(grid, 90*day, withTags("心态失衡"))),
			[]string{"sanshi-yipian", "sanshi-paranoid"}, 35, risk.Blue},

		// 重点人群
		{"key-group", "社区矫正 alone is below blue", person, false,
			keyed(signalAgo(grid, 10*day, withTags("社区矫正"))),
			[]string{"key-group"}, 15, risk.Green},
		{"key-group", "刑释解矫 in a family dispute is blue", person, false,
			keyed(signalAgo(grid, 10*day, withTags("刑释解矫"), withCategory("婚姻家庭"))),
			[]string{"key-group", "family-dispute"}, 25, risk.Blue},
		{"key-group", "a tag outside the key groups", person, false,
			keyed(signalAgo(grid, 10*day, withTags("重点青少年"))),
			nil, 0, risk.Green},
		{"key-group", "persons only", dispute, false,
			keyed(signalAgo(grid, 10*day, withTags("信访重点人员"))),
			nil, 0, risk.Green},
		{"mental-disorder", "精神障碍", person, false,
			keyed(signalAgo(grid, 10*day, withTags("精神障碍"))),
			[]string{"mental-disorder"}, 20, risk.Blue},
		{"mental-disorder", "严重精神障碍", person, false,
			keyed(signalAgo(led, 10*day, withTags("严重精神障碍"))),
			[]string{"mental-disorder"}, 20, risk.Blue},
		{"mental-disorder", "another tag", person, false,
			keyed(signalAgo(grid, 10*day, withTags("抑郁倾向"))),
			nil, 0, risk.Green},
		{"mental-disorder", "persons only", dispute, false,
			keyed(signalAgo(grid, 10*day, withTags("精神障碍"))),
			nil, 0, risk.Green},

		// 信访
		{"repeat-petitions", "three petitions in 30 days", person, false,
			keyed(signalAgo(pet, day), signalAgo(pet, 10*day), signalAgo(pet, edge(30*day))),
			[]string{"repeat-petitions"}, 35, risk.Blue},
		{"repeat-petitions", "two petitions in 30 days", person, false,
			keyed(signalAgo(pet, day), signalAgo(pet, 10*day)),
			nil, 0, risk.Green},
		{"repeat-petitions", "the third petition exactly 30 days old", person, false,
			keyed(signalAgo(pet, day), signalAgo(pet, 10*day), signalAgo(pet, 30*day)),
			nil, 0, risk.Green},
		{"repeat-petitions", "two petitions judged repeat (重复访) in 90 days", dispute, false,
			keyed(signalAgo(pet, 40*day, isRepeat), signalAgo(pet, 80*day, isRepeat)),
			[]string{"repeat-petitions"}, 30, risk.Blue},
		{"repeat-petitions", "one judged repeat", dispute, false,
			keyed(signalAgo(pet, 40*day, isRepeat), signalAgo(pet, 80*day)),
			nil, 0, risk.Green},
		{"repeat-petitions", "points stop growing at six petitions", person, false,
			keyed(repeatEvent(8, signalAgo(pet, 2*day))...),
			[]string{"repeat-petitions"}, 50, risk.Yellow},
		{"skip-level-petition", "a skip-level petition to the city is yellow", person, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(4), isSkipLevel)),
			[]string{"skip-level-petition"}, 30, risk.Yellow},
		{"skip-level-petition", "a petition to the city that is not skip-level", person, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(4))),
			nil, 0, risk.Green},
		{"skip-level-petition", "exactly 90 days ago", person, false,
			keyed(signalAgo(pet, 90*day, withPetitionLevel(4), isSkipLevel)),
			nil, 0, risk.Green},
		{"petition-province", "a petition at the province is orange", person, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(5), isSkipLevel)),
			[]string{"skip-level-petition", "petition-province"}, 45, risk.Orange},
		{"petition-province", "the city is below the province", dispute, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(4), isSkipLevel)),
			[]string{"skip-level-petition"}, 30, risk.Yellow},
		{"petition-province", "the province exactly 90 days ago", person, false,
			keyed(signalAgo(pet, 90*day, withPetitionLevel(5), isSkipLevel)),
			nil, 0, risk.Green},
		{"petition-beijing", "a petition in Beijing is red", person, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(6), isSkipLevel)),
			[]string{"skip-level-petition", "petition-province", "petition-beijing"}, 65, risk.Red},
		{"petition-beijing", "the province is below Beijing", person, false,
			keyed(signalAgo(pet, 10*day, withPetitionLevel(5), isSkipLevel), signalAgo(pet, 20*day, withPetitionLevel(3))),
			[]string{"skip-level-petition", "petition-province"}, 45, risk.Orange},
		{"collective-petition", "a isCollective petition (集体访) is yellow", person, false,
			keyed(signalAgo(pet, 10*day, isCollective)),
			[]string{"collective-petition"}, 25, risk.Yellow},
		{"collective-petition", "a petition that is not collective", person, false,
			keyed(signalAgo(pet, 10*day)),
			nil, 0, risk.Green},
		{"collective-petition", "exactly 90 days ago", dispute, false,
			keyed(signalAgo(pet, 90*day, isCollective)),
			nil, 0, risk.Green},

		// 群体性
		{"collective-dispute", "five parties", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(5))),
			[]string{"collective-dispute"}, 25, risk.Blue},
		{"collective-dispute", "four parties", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(4))),
			nil, 0, risk.Green},
		{"collective-dispute", "ten parties are yellow", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(10))),
			[]string{"collective-dispute"}, 40, risk.Yellow},
		{"collective-dispute", "nine parties", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(9))),
			[]string{"collective-dispute"}, 25, risk.Blue},
		{"collective-dispute", "five parties exactly 90 days ago", dispute, false,
			keyed(signalAgo(led, 90*day, withParties(5))),
			nil, 0, risk.Green},
		{"collective-dispute", "disputes only", person, false,
			keyed(signalAgo(led, 5*day, withParties(10))),
			nil, 0, risk.Green},
		{"collective-dispute-large", "thirty parties are orange", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(30))),
			[]string{"collective-dispute", "collective-dispute-large"}, 60, risk.Orange},
		{"collective-dispute-large", "twenty-nine parties", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(29))),
			[]string{"collective-dispute"}, 40, risk.Yellow},
		{"mass-gathering", "words of a gathering (聚集)", person, false,
			keyed(signalAgo(hot, 2*day, withWords("mass"))),
			[]string{"mass-gathering"}, 30, risk.Orange},
		{"mass-gathering", "exactly 30 days ago", person, false,
			keyed(signalAgo(hot, 30*day, withWords("mass"))),
			nil, 0, risk.Green},
		{"mass-incident", "a planned gathering of twelve is red", dispute, false,
			keyed(signalAgo(led, 10*day, withParties(12)), signalAgo(hot, day, withWords("mass"))),
			[]string{"collective-dispute", "mass-gathering", "mass-incident"}, 90, risk.Red},
		{"mass-incident", "a planned gathering after a isCollective petition", person, false,
			keyed(signalAgo(pet, 20*day, isCollective), signalAgo(hot, day, withWords("mass"))),
			[]string{"collective-petition", "mass-gathering", "mass-incident"}, 75, risk.Red},
		{"mass-incident", "a planned gathering of nine", dispute, false,
			keyed(signalAgo(led, 10*day, withParties(9)), signalAgo(hot, day, withWords("mass"))),
			[]string{"collective-dispute", "mass-gathering"}, 55, risk.Orange},
		{"mass-incident", "the gathering words exactly 30 days old", dispute, false,
			keyed(signalAgo(led, 10*day, withParties(12)), signalAgo(hot, 30*day, withWords("mass"))),
			[]string{"collective-dispute"}, 40, risk.Yellow},

		// 纠纷类别
		{"family-dispute", "one family report", person, false,
			keyed(signalAgo(grid, day, withCategory("婚姻家庭"))),
			[]string{"family-dispute"}, 10, risk.Green},
		{"family-dispute", "thirty reports on one day about one dispute", dispute, false,
			keyed(repeatEvent(30, signalAgo(grid, time.Hour, withCategory("婚姻家庭"), withParties(2)))...),
			[]string{"family-dispute"}, 25, risk.Blue},
		{"family-dispute", "exactly 30 days ago", person, false,
			keyed(signalAgo(grid, 30*day, withCategory("婚姻家庭"))),
			nil, 0, risk.Green},
		{"family-dispute", "another category", person, false,
			keyed(signalAgo(grid, day, withCategory("邻里"))),
			nil, 0, risk.Green},
		{"family-dispute-recurring", "family disputes on three days are yellow", dispute, false,
			keyed(onDaysAgo(signalAgo(led, 0, withCategory("婚姻家庭")), 1, 2, 3)...),
			[]string{"family-dispute", "family-dispute-recurring"}, 40, risk.Yellow},
		{"family-dispute-recurring", "grid reports on three days also count as frequent reports", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0, withCategory("婚姻家庭")), 1, 5, 29)...),
			[]string{"family-dispute", "family-dispute-recurring", "frequent-reports"}, 50, risk.Yellow},
		{"family-dispute-recurring", "three reports on two days", dispute, false,
			keyed(signalAgo(led, day, withCategory("婚姻家庭")), signalAgo(led, day+3*time.Hour, withCategory("婚姻家庭")), signalAgo(led, 2*day, withCategory("婚姻家庭"))),
			[]string{"family-dispute"}, 25, risk.Blue},
		{"family-dispute-recurring", "days are Beijing days: three UTC days, two in Beijing", dispute, false,
			keyed(signalAt(led, time.Date(2026, 11, 19, 17, 0, 0, 0, time.UTC), withCategory("婚姻家庭")), // 11-20 01:00 Beijing
				signalAt(led, time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC), withCategory("婚姻家庭")), // 11-20 23:00 Beijing
				signalAt(led, time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC), withCategory("婚姻家庭"))), // 11-21 10:00 Beijing
			[]string{"family-dispute"}, 25, risk.Blue},
		{"family-dispute-recurring", "the third day exactly 30 days ago", dispute, false,
			keyed(onDaysAgo(signalAgo(led, 0, withCategory("婚姻家庭")), 1, 2, 30)...),
			[]string{"family-dispute"}, 25, risk.Blue},
		{"neighbour-escalating", "neighbour disputes on three days", dispute, false,
			keyed(onDaysAgo(signalAgo(led, 0, withCategory("邻里")), 1, 8, 15)...),
			[]string{"neighbour-escalating"}, 25, risk.Blue},
		{"neighbour-escalating", "reported by the grid worker on three days", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0, withCategory("邻里")), 1, 8, 15)...),
			[]string{"neighbour-escalating", "frequent-reports"}, 35, risk.Blue},
		{"neighbour-escalating", "neighbour disputes on two days", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0, withCategory("邻里")), 1, 8, 8)...),
			nil, 0, risk.Green},
		{"wage-arrears", "a call about unpaid wages", person, false,
			keyed(signalAgo(hot, day, withCategory("劳动/欠薪"))),
			[]string{"wage-arrears"}, 15, risk.Green},
		{"wage-arrears", "exactly 30 days ago", person, false,
			keyed(signalAgo(hot, 30*day, withCategory("劳动/欠薪"))),
			nil, 0, risk.Green},
		{"wage-arrears-mass", "ten workers unpaid", person, false,
			keyed(signalAgo(hot, day, withCategory("劳动/欠薪"), withParties(10))),
			[]string{"wage-arrears", "wage-arrears-mass"}, 30, risk.Blue},
		{"wage-arrears-mass", "100,000 yuan unpaid", person, false,
			keyed(signalAgo(hot, day, withCategory("劳动/欠薪"), withAmount(100_000))),
			[]string{"wage-arrears", "wage-arrears-mass", "large-amount"}, 45, risk.Yellow},
		{"wage-arrears-mass", "forty workers and 1.2 million yuan on the ledger", dispute, false,
			keyed(signalAgo(led, 5*day, withParties(40), withCategory("劳动/欠薪"), withAmount(1_200_000))),
			[]string{"collective-dispute", "collective-dispute-large", "wage-arrears", "wage-arrears-mass", "large-amount"}, 120, risk.Red},
		{"wage-arrears-mass", "nine workers and 99,999 yuan", person, false,
			keyed(signalAgo(hot, day, withCategory("劳动/欠薪"), withParties(9), withAmount(99_999))),
			[]string{"wage-arrears"}, 15, risk.Green},
		{"wage-arrears-mass", "twelve parties in another category", person, false,
			keyed(signalAgo(hot, day, withCategory("物业"), withParties(12))),
			nil, 0, risk.Green},
		{"land-transfer", "a land transfer dispute", dispute, false,
			keyed(signalAgo(pet, 10*day, withCategory("土地承包/流转"))),
			[]string{"land-transfer"}, 15, risk.Green},
		{"land-transfer", "exactly 30 days ago", dispute, false,
			keyed(signalAgo(pet, 30*day, withCategory("土地承包/流转"))),
			nil, 0, risk.Green},
		{"land-requisition", "a land requisition and demolition dispute (征地拆迁)", person, false,
			keyed(signalAgo(grid, 10*day, withCategory("征地拆迁"))),
			[]string{"land-requisition"}, 25, risk.Blue},
		{"land-requisition", "exactly 30 days ago", person, false,
			keyed(signalAgo(grid, 30*day, withCategory("征地拆迁"))),
			nil, 0, risk.Green},
		{"financial-mass", "a mass-investor dispute of 500,000 yuan", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("金融/涉众"), withAmount(500_000))),
			[]string{"financial-mass", "large-amount"}, 35, risk.Blue},
		{"financial-mass", "1,000,000 yuan is orange", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("金融/涉众"), withAmount(1_000_000))),
			[]string{"financial-mass", "large-amount"}, 65, risk.Orange},
		{"financial-mass", "999,999 yuan", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("金融/涉众"), withAmount(999_999))),
			[]string{"financial-mass", "large-amount"}, 35, risk.Blue},
		{"financial-mass", "exactly 30 days ago only the amount still counts", dispute, false,
			keyed(signalAgo(led, 30*day, withCategory("金融/涉众"), withAmount(1_200_000))),
			[]string{"large-amount"}, 30, risk.Blue},
		{"large-amount", "100,000 yuan", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("其他"), withAmount(100_000))),
			[]string{"large-amount"}, 15, risk.Green},
		{"large-amount", "1,000,000 yuan", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("其他"), withAmount(1_000_000))),
			[]string{"large-amount"}, 30, risk.Blue},
		{"large-amount", "999,999 yuan", person, false,
			keyed(signalAgo(led, 3*day, withCategory("其他"), withAmount(999_999))),
			[]string{"large-amount"}, 15, risk.Green},
		{"large-amount", "99,999 yuan", dispute, false,
			keyed(signalAgo(led, 3*day, withCategory("其他"), withAmount(99_999))),
			nil, 0, risk.Green},
		{"large-amount", "exactly 90 days ago", dispute, false,
			keyed(signalAgo(led, 90*day, withCategory("其他"), withAmount(1_000_000))),
			nil, 0, risk.Green},

		// 来电、上报、身份
		{"hotline-repeat", "three calls in 7 days", person, false,
			keyed(signalAgo(hot, day), signalAgo(hot, 3*day), signalAgo(hot, edge(7*day))),
			[]string{"hotline-repeat"}, 15, risk.Green},
		{"hotline-repeat", "the third call exactly 7 days ago", person, false,
			keyed(signalAgo(hot, day), signalAgo(hot, 3*day), signalAgo(hot, 7*day)),
			nil, 0, risk.Green},
		{"hotline-repeat", "callers are persons", dispute, false,
			keyed(signalAgo(hot, day), signalAgo(hot, 3*day), signalAgo(hot, 6*day)),
			nil, 0, risk.Green},
		{"frequent-reports", "grid reports on three days", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0), 1, 2, 3)...),
			[]string{"frequent-reports"}, 10, risk.Green},
		{"frequent-reports", "grid reports on seven days are blue", dispute, false,
			keyed(onDaysAgo(signalAgo(grid, 0), 1, 3, 5, 7, 9, 11, 29)...),
			[]string{"frequent-reports"}, 20, risk.Blue},
		{"frequent-reports", "grid reports on six days", dispute, false,
			keyed(onDaysAgo(signalAgo(grid, 0), 1, 3, 5, 7, 9, 11)...),
			[]string{"frequent-reports"}, 10, risk.Green},
		{"frequent-reports", "three reports on two days", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0), 1, 2, 2)...),
			nil, 0, risk.Green},
		{"frequent-reports", "the third day exactly 30 days ago", person, false,
			keyed(onDaysAgo(signalAgo(grid, 0), 1, 2, 30)...),
			nil, 0, risk.Green},
		{"frequent-reports", "calls on three days are not grid reports", person, false,
			keyed(onDaysAgo(signalAgo(hot, 0), 1, 10, 20)...),
			nil, 0, risk.Green},
		{"identity-unverified", "a person known by name and phone, reported twice", person, true,
			keyed(signalAgo(grid, day), signalAgo(grid, 2*day)),
			[]string{"identity-unverified"}, 20, risk.Blue},
		{"identity-unverified", "weak identity alone never goes above blue", person, true,
			keyed(repeatEvent(10, signalAgo(grid, day))...),
			[]string{"identity-unverified"}, 20, risk.Blue},
		{"identity-unverified", "reported once", person, true,
			keyed(signalAgo(grid, day)),
			nil, 0, risk.Green},
		{"identity-unverified", "the earlier report exactly 30 days ago", person, true,
			keyed(signalAgo(grid, day), signalAgo(grid, 30*day)),
			nil, 0, risk.Green},
		{"identity-unverified", "identified by ID number", person, false,
			keyed(signalAgo(grid, day), signalAgo(grid, 2*day)),
			nil, 0, risk.Green},

		// 台账与案件
		{"ledger-unresolved", "未化解 on the ledger for over 30 days", dispute, false,
			keyed(signalAgo(led, 40*day, withCategory("邻里"), withLedgerStatus("未化解"))),
			[]string{"ledger-unresolved"}, 20, risk.Blue},
		{"ledger-unresolved", "first seen exactly 30 days ago has left the 30-day window", dispute, false,
			keyed(signalAgo(led, 30*day, withCategory("邻里"), withLedgerStatus("未化解"))),
			[]string{"ledger-unresolved"}, 20, risk.Blue},
		{"ledger-unresolved", "first seen 29 days ago", dispute, false,
			keyed(signalAgo(led, 29*day, withCategory("邻里"), withLedgerStatus("未化解"))),
			nil, 0, risk.Green},
		{"ledger-unresolved", "the latest row says 化解中", person, false,
			keyed(signalAgo(led, 40*day, withCategory("邻里"), withLedgerStatus("未化解")), signalAgo(led, 5*day, withCategory("邻里"), withLedgerStatus("化解中"))),
			nil, 0, risk.Green},
		{"ledger-unresolved", "resolved (已化解)", dispute, false,
			keyed(signalAgo(led, 40*day, withCategory("邻里"), withLedgerStatus("已化解"))),
			nil, 0, risk.Green},
		{"mediation-failed", "mediation failed (调解不成)", dispute, false,
			keyed(signalAgo(ce, 20*day, withCase("AJ-1", "registered", "registered")), signalAgo(ce, 10*day, withCase("AJ-1", "mediation_failed", "failed"))),
			[]string{"mediation-failed"}, 20, risk.Blue},
		{"mediation-failed", "failed, then closed", person, false,
			keyed(signalAgo(ce, 10*day, withCase("AJ-1", "mediation_failed", "failed")), signalAgo(ce, 2*day, withCase("AJ-1", "closed", "closed"))),
			nil, 0, risk.Green},
		{"mediation-failed", "still in mediation", dispute, false,
			keyed(signalAgo(ce, 10*day, withCase("AJ-1", "assigned", "assigned")), signalAgo(ce, 2*day, withCase("AJ-1", "session", "mediating"))),
			nil, 0, risk.Green},
		{"mediation-failed-repeated", "two failures in 90 days are yellow", person, false,
			keyed(signalAgo(ce, 10*day, withCase("AJ-1", "mediation_failed", "failed")), signalAgo(ce, 50*day, withCase("AJ-2", "mediation_failed", "failed"))),
			[]string{"mediation-failed", "mediation-failed-repeated"}, 35, risk.Yellow},
		{"mediation-failed-repeated", "two failures, both cases since closed", dispute, false,
			keyed(signalAgo(ce, 10*day, withCase("AJ-1", "mediation_failed", "failed")), signalAgo(ce, 50*day, withCase("AJ-2", "mediation_failed", "failed")),
				signalAgo(ce, 5*day, withCase("AJ-1", "closed", "closed")), signalAgo(ce, 5*day, withCase("AJ-2", "closed", "closed"))),
			[]string{"mediation-failed-repeated"}, 15, risk.Yellow},
		{"mediation-failed-repeated", "the second failure exactly 90 days ago", person, false,
			keyed(signalAgo(ce, 10*day, withCase("AJ-1", "mediation_failed", "failed")), signalAgo(ce, 90*day, withCase("AJ-2", "mediation_failed", "failed"))),
			[]string{"mediation-failed"}, 20, risk.Blue},
		{"case-overdue", "a case past its deadline", dispute, false,
			keyed(signalAgo(ce, 20*day, withCase("AJ-1", "assigned", "assigned")), signalAgo(ce, day, withCase("AJ-1", "overdue", "mediating"))),
			[]string{"case-overdue"}, 20, risk.Blue},
		{"case-overdue", "a case under supervision (督办)", person, false,
			keyed(signalAgo(ce, day, withCase("AJ-1", "supervised", "mediating"))),
			[]string{"case-overdue"}, 20, risk.Blue},
		{"case-overdue", "overdue, then closed", dispute, false,
			keyed(signalAgo(ce, 5*day, withCase("AJ-1", "overdue", "mediating")), signalAgo(ce, day, withCase("AJ-1", "closed", "closed"))),
			nil, 0, risk.Green},
	}
}

func TestDefaultRulesTable(t *testing.T) {
	e := loadDefault(t)
	for _, tc := range defaultRuleCases() {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			st := State{Subject: risk.SubjectID{Kind: tc.kind, Ref: "S1"}, Weak: tc.weak, Events: tc.events}
			a := e.Evaluate(st, now)
			if len(a.Errors) > 0 {
				t.Fatalf("rule errors: %+v", a.Errors)
			}
			got := idsFired(a)
			slices.Sort(got)
			want := slices.Clone(tc.fired)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("fired %v, want %v\n%s", got, want, a.Explain())
			}
			if a.Level != tc.level || a.Score != tc.score {
				t.Errorf("level %v with score %g, want %v with %g\n%s", a.Level, a.Score, tc.level, tc.score, a.Explain())
			}
		})
	}
}

func idsFired(a risk.Assessment) []string {
	ids := []string{}
	for _, f := range a.Fired {
		ids = append(ids, f.ID)
	}
	return ids
}

// Every rule of the default ruleset has a case where it fires and a case
// where it does not, and every case is about a rule that exists.
func TestDefaultRulesEveryRuleHasCases(t *testing.T) {
	e := loadDefault(t)
	fires, holds := map[string]bool{}, map[string]bool{}
	for _, tc := range defaultRuleCases() {
		if slices.Contains(tc.fired, tc.rule) {
			fires[tc.rule] = true
		} else {
			holds[tc.rule] = true
		}
	}
	ids := map[string]bool{}
	for _, r := range e.Ruleset().Rules {
		ids[r.ID] = true
		if !fires[r.ID] {
			t.Errorf("rule %s has no case where it fires", r.ID)
		}
		if !holds[r.ID] {
			t.Errorf("rule %s has no boundary case where it does not fire", r.ID)
		}
	}
	for id := range fires {
		if !ids[id] {
			t.Errorf("cases are about rule %s, which the ruleset does not have", id)
		}
	}
	for id := range holds {
		if !ids[id] {
			t.Errorf("cases are about rule %s, which the ruleset does not have", id)
		}
	}
}

var featureMention = regexp.MustCompile(`features(?:\.([a-z][a-z0-9_]*)|\["([a-z][a-z0-9_]*)"\])`)

// The default ruleset declares nothing it does not use: every feature is read
// by a rule and every keyword list by a feature.
func TestDefaultRulesUseEveryFeatureAndKeywordList(t *testing.T) {
	rs := loadDefault(t).Ruleset()
	used := map[string]bool{}
	for _, r := range rs.Rules {
		for _, m := range featureMention.FindAllStringSubmatch(r.When+"\n"+r.Score, -1) {
			used[m[1]+m[2]] = true
		}
	}
	lists := map[string]bool{}
	for _, f := range rs.Features {
		if !used[f.Name] {
			t.Errorf("feature %s is not used by any rule", f.Name)
		}
		if f.Keyword != "" {
			lists[f.Keyword] = true
		}
	}
	for name := range rs.Keywords {
		if !lists[name] {
			t.Errorf("keyword list %s is not counted by any feature", name)
		}
	}
}

// What the committee asks of the file itself: the policy part each rule
// encodes, a Chinese label on every feature, ids an officer can type, and the
// levels, dampening and spread of the policy.
func TestDefaultRulesFileConventions(t *testing.T) {
	rs := loadDefault(t).Ruleset()
	if len(rs.Rules) < 25 {
		t.Errorf("%d rules, want at least 25", len(rs.Rules))
	}
	id := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	for _, r := range rs.Rules {
		if !id.MatchString(r.ID) {
			t.Errorf("rule id %q: use lowercase words joined by hyphens", r.ID)
		}
		if !hasHan(r.Name) || !hasHan(r.Description) {
			t.Errorf("rule %s: give a Chinese name and description", r.ID)
		}
	}
	for name, src := range rs.Sources {
		var doc struct {
			Features map[string]struct {
				Label string `yaml:"label"`
			} `yaml:"features"`
			Rules yaml.Node `yaml:"rules"`
		}
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for f, raw := range doc.Features {
			if !hasHan(raw.Label) {
				t.Errorf("%s: feature %s has no Chinese label", name, f)
			}
		}
		for _, item := range doc.Rules.Content {
			comment := item.HeadComment
			if len(item.Content) > 0 {
				comment += item.Content[0].HeadComment
			}
			if !strings.Contains(comment, "# 政策: ") {
				t.Errorf("%s:%d: the rule is not preceded by a comment naming its policy (# 政策: …)", name, item.Line)
			}
		}
	}
	if l := rs.Levels; l.Blue != 20 || l.Yellow != 40 || l.Orange != 60 || l.Red != 80 {
		t.Errorf("levels %+v", l)
	}
	d := rs.Dampening
	want := map[risk.Level]time.Duration{risk.Red: 72 * time.Hour, risk.Orange: 48 * time.Hour, risk.Yellow: 24 * time.Hour, risk.Blue: 12 * time.Hour}
	for l, w := range want {
		if got := time.Duration(d.Cooldown[l]); got != w {
			t.Errorf("cooldown of %v = %v, want %v", l, got, w)
		}
	}
	if d.SignOff == nil || *d.SignOff != risk.Red {
		t.Errorf("sign-off from %v, want red", d.SignOff)
	}
	if rs.Spread.DisputeToPerson == nil || *rs.Spread.DisputeToPerson != 1 {
		t.Errorf("spread %+v, want dispute_to_person 1", rs.Spread)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Outcomes other packages' end-to-end tests rely on, checked here where a
// rule change would first break them.
func TestDefaultRulesEndToEndOutcomes(t *testing.T) {
	e := loadDefault(t)
	p := risk.SubjectID{Kind: risk.Person, Ref: "P1"}
	threat := Event{Key: "grid_report:GR-E2E-0001", Source: risk.GridReport, At: ago(30 * time.Minute),
		Category: "婚姻家庭", PartyCount: 2, Keywords: []string{"threat"}}

	// internal/app: a threat in a 婚姻家庭 dispute, on a person with no history.
	a := e.Evaluate(State{Subject: p, Events: []Event{threat}, Trigger: &threat}, now)
	if got := strings.Join(idsFired(a), ","); got != "threat-language,family-dispute" || a.Level != risk.Orange {
		t.Errorf("threat in a family dispute: fired %s, %v", got, a.Level)
	}
	if x := a.Explain(); !strings.HasPrefix(x, "橙色") || !strings.Contains(x, "扬言极端(") || !strings.Contains(x, "+45,至少橙色") {
		t.Errorf("explanation %q", x)
	}

	// internal/scoring: 31 days on, the same person is green again.
	if a := e.Evaluate(State{Subject: p, Events: []Event{threat}}, now.Add(31*day)); a.Level != risk.Green {
		t.Errorf("31 days on: %s", a.Explain())
	}

	// internal/app, two instances: 30 reports of a 婚姻家庭 dispute on one day.
	var evs []Event
	for i := 0; i < 30; i++ {
		ev := threat
		ev.Key, ev.Keywords = fmt.Sprintf("grid_report:GR-PAIR-%03d", i), nil
		evs = append(evs, ev)
	}
	a = e.Evaluate(State{Subject: risk.SubjectID{Kind: risk.Dispute, Ref: "TZ-E2E-1"}, Events: evs}, now)
	if x := a.Explain(); a.Level != risk.Blue || !strings.HasPrefix(x, "蓝色(得分 25): 婚姻家庭纠纷(") || !strings.HasSuffix(x, " +25") {
		t.Errorf("thirty family reports: %s", x)
	}
}
