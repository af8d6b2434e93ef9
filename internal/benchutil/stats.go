package benchutil

import "slices"

// Median returns the median of xs with its min and max (zeros when empty).
func Median(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	v := slices.Clone(xs)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		med = v[n/2]
	} else {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return med, v[0], v[n-1]
}

// KeepClean returns the pairs for which clean holds (neither run disturbed
// by other load), or all of them marked noisy when none is clean, so a row
// still has figures but says they are not to be trusted.
func KeepClean[P any](pairs []P, clean func(P) bool) (kept []P, discarded int, noisy bool) {
	for _, p := range pairs {
		if clean(p) {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return pairs, len(pairs), len(pairs) > 0
	}
	return kept, len(pairs) - len(kept), false
}

// Ratio is a candidate against its baseline over interleaved pairs: the
// median of each side and the median (min..max) of the per-pair ratios.
type Ratio struct {
	Candidate, Baseline float64
	Median, Min, Max    float64
}

// Ratios computes a Ratio from per-pair candidate and baseline figures
// (pairs with a zero baseline count for the medians, not for the ratio).
func Ratios(cand, base []float64) Ratio {
	var ratios []float64
	for i := range cand {
		if i < len(base) && base[i] > 0 {
			ratios = append(ratios, cand[i]/base[i])
		}
	}
	var r Ratio
	r.Candidate, _, _ = Median(cand)
	r.Baseline, _, _ = Median(base)
	r.Median, r.Min, r.Max = Median(ratios)
	return r
}

// Verdict is "info" without a goal, else "pass" when the ratio reaches the
// goal (at least it, or at most it when atMost), else "short".
func Verdict(ratio, goal float64, atMost bool) string {
	switch {
	case goal == 0:
		return "info"
	case (!atMost && ratio >= goal) || (atMost && ratio <= goal):
		return "pass"
	}
	return "short"
}
