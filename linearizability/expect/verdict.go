package expect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
)

// KindCount is how often one anomaly kind occurred and how it was judged.
type KindCount struct {
	Kind    anomaly.Kind `json:"kind"`
	Count   int          `json:"count"`
	Allowed bool         `json:"allowed"`
	Why     string       `json:"why"`
}

// Verdict is the judgement of a run's anomalies against its expectations.
type Verdict struct {
	// Pass is false iff some anomaly is forbidden.
	Pass   bool   `json:"pass"`
	Config Config `json:"config"`
	// Kinds lists every kind that occurred, in anomaly.Kinds order.
	Kinds     []KindCount       `json:"kinds"`
	Forbidden int               `json:"forbidden"`
	Allowed   int               `json:"allowed"`
	Anomalies []anomaly.Anomaly `json:"anomalies"`
}

// Judge holds the anomalies against the expectations: every kind that
// occurred is counted and judged by Rules (or the overrides; Forbid wins
// over Allow), and the verdict passes iff no forbidden kind occurred.
// Judge does not derive the effective configuration; pass
// exp.Config.Effective(h) when a history is at hand (check.Check does).
func Judge(exp Expectations, anomalies []anomaly.Anomaly) Verdict {
	rules := Rules(exp.Config)
	for k, why := range exp.Allow {
		rules[k] = Rule{true, "allowed by the scenario: " + why}
	}
	for k, why := range exp.Forbid {
		rules[k] = Rule{false, "the scenario promises it never happens: " + why}
	}
	counts := map[anomaly.Kind]int{}
	for _, a := range anomalies {
		counts[a.Kind]++
	}
	v := Verdict{Pass: true, Config: exp.Config, Anomalies: anomalies}
	kinds := append([]anomaly.Kind(nil), anomaly.Kinds...)
	for k := range counts {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k) // a kind the table does not know: forbidden below
		}
	}
	for _, k := range kinds {
		n := counts[k]
		if n == 0 {
			continue
		}
		rule, ok := rules[k]
		if !ok {
			rule = Rule{false, "a kind the expectations table does not know"}
		}
		v.Kinds = append(v.Kinds, KindCount{Kind: k, Count: n, Allowed: rule.Allowed, Why: rule.Why})
		if rule.Allowed {
			v.Allowed += n
		} else {
			v.Forbidden += n
			v.Pass = false
		}
	}
	return v
}

// Count returns how many anomalies of kind k the verdict holds.
func (v *Verdict) Count(k anomaly.Kind) int {
	for _, kc := range v.Kinds {
		if kc.Kind == k {
			return kc.Count
		}
	}
	return 0
}

// String summarises the verdict: PASS or FAIL and one line per kind.
func (v *Verdict) String() string {
	var b strings.Builder
	res := "PASS"
	if !v.Pass {
		res = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s: %d forbidden, %d allowed anomalies\n", res, v.Config.Scenario, v.Forbidden, v.Allowed)
	for _, kc := range v.Kinds {
		judged := "FORBIDDEN"
		if kc.Allowed {
			judged = "allowed"
		}
		fmt.Fprintf(&b, "  %-30s %6d  %-9s  %s\n", kc.Kind, kc.Count, judged, kc.Why)
	}
	return b.String()
}
