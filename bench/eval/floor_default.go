package eval

import (
	"fmt"
	"slices"

	"fengqiao/risk"
	"fengqiao/rules"
)

// Floors are the rulesets written in Go, by ruleset name.
var Floors = map[string]FloorFunc{
	"default": floorDefault,
	"gen100":  floorGen100,
	"gen1000": floorGen1000,
}

// checkFeatures reports whether rs declares exactly the features the floors
// index (features_gen.go).
func checkFeatures(rs *rules.Ruleset) error {
	var names []string
	for _, f := range rs.Features {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, featureOrder) {
		return fmt.Errorf("ruleset %s declares features %v; the floors know %v (regenerate: go test -run TestSmokeGenerated ./eval -update)",
			rs.Version, names, featureOrder)
	}
	return nil
}

// floorDefault is fixtures/rules/default.yaml (version 2026.11-2) written by
// hand, rule by rule in the file's order. If that file's rules change, the
// equivalence checks fail until this function is brought in line.
func floorDefault(x *Facts) (score float64, floor risk.Level) {
	f := x.Features
	person, dispute := x.Kind == risk.Person, x.Kind == risk.Dispute
	fire := func(points float64, atLeast risk.Level) {
		score += points
		floor = max(floor, atLeast)
	}
	sanshiSigns := f[fFrustration90d] > 0 || f[fImbalance90d] > 0 || f[fAbnormal90d] > 0 || f[fParanoid90d] > 0

	if f[fThreat30d] > 0 { // threat-language
		fire(45, risk.Orange)
	}
	if f[fThreat30d] > 0 && f[fFamily30d] >= 2 { // threat-family
		fire(20, risk.Red)
	}
	if person && (f[fThreat30d] > 0 || f[fSelfHarm30d] > 0) && // key-person-extreme
		(x.hasTag("刑释解矫") || x.hasTag("社区矫正") || x.hasTag("信访重点人员") ||
			x.hasTag("精神障碍") || x.hasTag("严重精神障碍") ||
			f[fSanshi90d]+f[fFrustration90d]+f[fImbalance90d]+f[fAbnormal90d]+f[fParanoid90d] > 0) {
		fire(20, risk.Red)
	}
	if f[fSelfHarm30d] > 0 { // self-harm
		fire(30, risk.Orange)
	}
	if person {
		if f[fSanshi90d] > 0 || sanshiSigns { // sanshi-yipian
			score += 25
		}
		if f[fFrustration90d] > 0 { // sanshi-frustration
			score += 5
		}
		if f[fImbalance90d] > 0 { // sanshi-imbalance
			score += 10
		}
		if f[fAbnormal90d] > 0 { // sanshi-abnormal
			score += 15
		}
		if f[fParanoid90d] > 0 { // sanshi-paranoid
			score += 10
		}
		signs := 0
		for _, v := range [...]float64{f[fFrustration90d], f[fImbalance90d], f[fAbnormal90d], f[fParanoid90d]} {
			if v > 0 {
				signs++
			}
		}
		if signs >= 2 { // sanshi-multiple
			fire(10, risk.Yellow)
		}
		if x.hasTag("刑释解矫") || x.hasTag("社区矫正") || x.hasTag("信访重点人员") { // key-group
			score += 15
		}
		if x.hasTag("精神障碍") || x.hasTag("严重精神障碍") { // mental-disorder
			score += 20
		}
	}
	if f[fPetitions30d] >= 3 || f[fRepeatPetitions90d] >= 2 { // repeat-petitions
		score += 20 + 5*min(f[fPetitions90d], 6)
	}
	if f[fSkipLevel90d] > 0 { // skip-level-petition
		fire(30, risk.Yellow)
	}
	if f[fPetitionLevel90d] >= 5 { // petition-province
		fire(15, risk.Orange)
	}
	if f[fPetitionLevel90d] >= 6 { // petition-beijing
		fire(20, risk.Red)
	}
	if f[fCollective90d] > 0 { // collective-petition
		fire(25, risk.Yellow)
	}
	if dispute && f[fParties90d] >= 5 { // collective-dispute
		score += pick(f[fParties90d] >= 10, 40, 25)
	}
	if dispute && f[fParties90d] >= 30 { // collective-dispute-large
		fire(20, risk.Orange)
	}
	if f[fMassWords30d] > 0 { // mass-gathering
		fire(30, risk.Orange)
	}
	if f[fMassWords30d] > 0 && (f[fParties90d] >= 10 || f[fCollective90d] > 0) { // mass-incident
		fire(20, risk.Red)
	}
	if f[fFamily30d] > 0 { // family-dispute
		score += pick(f[fFamily30d] >= 2, 25, 10)
	}
	if f[fFamilyDays30d] >= 3 { // family-dispute-recurring
		fire(15, risk.Yellow)
	}
	if f[fNeighbourDays30d] >= 3 { // neighbour-escalating
		score += 25
	}
	if f[fWages30d] > 0 { // wage-arrears
		score += 15
	}
	if f[fWageParties30d] >= 10 || f[fWageAmount30d] >= 100000 { // wage-arrears-mass
		score += 15
	}
	if f[fLand30d] > 0 { // land-transfer
		score += 15
	}
	if f[fRequisition30d] > 0 { // land-requisition
		score += 25
	}
	if f[fFinance30d] > 0 { // financial-mass
		score += pick(f[fFinanceAmount30d] >= 1000000, 35, 20)
	}
	if f[fAmount90d] >= 100000 { // large-amount
		score += pick(f[fAmount90d] >= 1000000, 30, 15)
	}
	if person && f[fHotline7d] >= 3 { // hotline-repeat
		score += 15
	}
	if person && x.Weak && f[fSignals30d] >= 2 { // identity-unverified
		score += 20
	}
	if x.LedgerStatus == "未化解" && f[fSignals90d] > f[fSignals30d] { // ledger-unresolved
		score += 20
	}
	if x.CasesFailed > 0 { // mediation-failed
		score += 20
	}
	if f[fMediationFailed90d] >= 2 { // mediation-failed-repeated
		fire(15, risk.Yellow)
	}
	if x.CasesOverdue > 0 { // case-overdue
		score += 20
	}
	if f[fReportDays30d] >= 3 { // frequent-reports
		score += pick(f[fReportDays30d] >= 7, 20, 10)
	}
	return score, floor
}
