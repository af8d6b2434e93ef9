package results

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// A curve is one driver's steps for one combination: the unit of the
// throughput-vs-latency charts, curve.csv and the comparison.
type curveKey struct {
	Driver string
	Combo  loadgen.Combo
}

// curve holds a curve's steps that have a result (probe included), in
// step order, with their ids.
type curve struct {
	curveKey
	IDs   []string
	Steps []loadgen.Step
}

// open returns the curve's open-loop steps: the points of its charts.
func (c *curve) open() []loadgen.Step {
	var out []loadgen.Step
	for _, s := range c.Steps {
		if s.Result.Loop == loadgen.LoopOpen {
			out = append(out, s)
		}
	}
	return out
}

// curvesOf groups a stored result's steps with results by (driver,
// combination), in the order the curves first appear.
func curvesOf(st *Stored) []*curve {
	var out []*curve
	by := map[curveKey]*curve{}
	for i, si := range st.Info.Steps {
		s := st.Steps[i]
		if s.Result == nil {
			continue
		}
		k := curveKey{Driver: si.Driver, Combo: s.Combo}
		c := by[k]
		if c == nil {
			c = &curve{curveKey: k}
			by[k] = c
			out = append(out, c)
		}
		c.IDs = append(c.IDs, si.ID)
		c.Steps = append(c.Steps, s)
	}
	return out
}

// halfLoad is the fraction of a curve's maximum at which curve.csv and the
// report give the latency ("p99 at 50% of max load").
const halfLoad = 0.5

// curveFigures are a curve's headline numbers: curve.csv, the report's
// tables and compare.csv.
type curveFigures struct {
	curveKey
	// MaxRate is the highest achieved rate (acknowledgements/s) of any of
	// the curve's steps, the closed-loop probe included; MaxStep is that
	// step's id.
	MaxRate float64
	MaxStep string
	// HalfRate is halfLoad × MaxRate. Below and Above are the open-loop
	// steps whose achieved rates are the nearest at or below and at or
	// above it (the same step when one hits it exactly); both "" when
	// HalfRate lies outside the open-loop steps' rates, where nothing is
	// extrapolated.
	HalfRate     float64
	Below, Above string
	// PublishP99 and E2EP99 are the cumulative p99s at HalfRate,
	// interpolated linearly in achieved rate between Below and Above; 0
	// when unknown (E2EP99 also without end-to-end figures at both).
	PublishP99 time.Duration
	E2EP99     time.Duration
}

// ratePoint is an open-loop step as the interpolation sees it.
type ratePoint struct {
	id         string
	rate       float64
	publishP99 time.Duration
	e2eP99     time.Duration // 0 = no end-to-end figures
}

// figuresOf computes a curve's figures.
func figuresOf(c *curve) curveFigures {
	f := curveFigures{curveKey: c.curveKey}
	var pts []ratePoint
	for i, s := range c.Steps {
		r := s.Result
		if r.AchievedRate > f.MaxRate || f.MaxStep == "" {
			f.MaxRate, f.MaxStep = r.AchievedRate, c.IDs[i]
		}
		if r.Loop != loadgen.LoopOpen || r.Publish.Count == 0 {
			continue
		}
		p := ratePoint{id: c.IDs[i], rate: r.AchievedRate, publishP99: r.Publish.P99}
		if r.EndToEnd.Count > 0 {
			p.e2eP99 = r.EndToEnd.P99
		}
		pts = append(pts, p)
	}
	f.HalfRate = halfLoad * f.MaxRate
	lo, hi, ok := bracket(pts, f.HalfRate)
	if !ok || f.MaxRate <= 0 {
		return f
	}
	f.Below, f.Above = pts[lo].id, pts[hi].id
	f.PublishP99 = lerp(f.HalfRate, pts[lo].rate, pts[hi].rate, pts[lo].publishP99, pts[hi].publishP99)
	if pts[lo].e2eP99 > 0 && pts[hi].e2eP99 > 0 {
		f.E2EP99 = lerp(f.HalfRate, pts[lo].rate, pts[hi].rate, pts[lo].e2eP99, pts[hi].e2eP99)
	}
	return f
}

// bracket sorts pts by rate (stably) and returns the nearest point at or
// below x and the nearest at or above it; ok is false when x lies outside
// the points' rates.
func bracket(pts []ratePoint, x float64) (lo, hi int, ok bool) {
	slices.SortStableFunc(pts, func(a, b ratePoint) int {
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	lo, hi = -1, -1
	for i, p := range pts {
		if p.rate <= x {
			lo = i
		}
		if p.rate >= x && hi < 0 {
			hi = i
		}
	}
	return lo, hi, lo >= 0 && hi >= 0
}

// lerp is the straight line through (x0, y0) and (x1, y1) at x; the mean
// of y0 and y1 when x0 = x1 (one point, or two steps at the same rate).
func lerp(x, x0, x1 float64, y0, y1 time.Duration) time.Duration {
	if x1 == x0 {
		return (y0 + y1) / 2
	}
	t := (x - x0) / (x1 - x0)
	return time.Duration(float64(y0) + t*float64(y1-y0) + 0.5)
}

// comparison is one row of the comparison table and compare.csv: a
// combination both the reference driver and another ran.
type comparison struct {
	Combo      loadgen.Combo
	Ref, Other curveFigures
	// Ratio is Ref.MaxRate / Other.MaxRate, 0 when Other's is 0.
	Ratio float64
}

// comparisons pairs the reference driver's (drivers[0]) curves with every
// other driver's of the same combination ("at equal durability": the
// same acks, mode and sync policy), in the order of the reference's
// curves, then of the drivers. lone lists the curves no other driver has
// a counterpart for.
func comparisons(drivers []string, figs []curveFigures) (rows []comparison, lone []curveKey) {
	if len(drivers) < 2 {
		return nil, nil
	}
	by := map[curveKey]curveFigures{}
	for _, f := range figs {
		by[f.curveKey] = f
	}
	for _, f := range figs {
		if f.Driver != drivers[0] {
			continue
		}
		for _, d := range drivers[1:] {
			o, ok := by[curveKey{Driver: d, Combo: f.Combo}]
			if !ok {
				continue
			}
			row := comparison{Combo: f.Combo, Ref: f, Other: o}
			if o.MaxRate > 0 {
				row.Ratio = f.MaxRate / o.MaxRate
			}
			rows = append(rows, row)
		}
	}
	for _, f := range figs {
		paired := slices.ContainsFunc(rows, func(r comparison) bool { return r.Combo == f.Combo })
		if !paired {
			lone = append(lone, f.curveKey)
		}
	}
	return rows, lone
}

// curve.csv: one row per curve (driver × combination) with its maximum
// and the latency at half of it. Format, see doc.go: add columns at the
// end, never reorder.
var curveHeader = []string{
	"driver", "acks", "mode", "sync", "max_rate", "max_step",
	"half_rate", "below_step", "above_step", "publish_p99_half_ms", "e2e_p99_half_ms",
}

func writeCurves(path string, figs []curveFigures) error {
	rows := [][]string{curveHeader}
	for _, f := range figs {
		rows = append(rows, []string{
			f.Driver, string(f.Combo.Acks), string(f.Combo.Mode), string(f.Combo.Sync), rate(f.MaxRate), f.MaxStep,
			rate(f.HalfRate), f.Below, f.Above, msOrEmpty(f.PublishP99), msOrEmpty(f.E2EP99),
		})
	}
	return writeCSV(path, rows)
}

// compare.csv: one row per combination the reference driver and another
// both ran. Format, see doc.go.
var compareHeader = []string{
	"acks", "mode", "sync",
	"driver", "max_rate", "p99_half_ms",
	"other_driver", "other_max_rate", "other_p99_half_ms",
	"ratio",
}

func writeComparisons(path string, rows []comparison) error {
	out := [][]string{compareHeader}
	for _, r := range rows {
		ratio := ""
		if r.Ratio > 0 {
			ratio = strconv.FormatFloat(r.Ratio, 'f', 3, 64)
		}
		out = append(out, []string{
			string(r.Combo.Acks), string(r.Combo.Mode), string(r.Combo.Sync),
			r.Ref.Driver, rate(r.Ref.MaxRate), msOrEmpty(r.Ref.PublishP99),
			r.Other.Driver, rate(r.Other.MaxRate), msOrEmpty(r.Other.PublishP99),
			ratio,
		})
	}
	return writeCSV(path, out)
}

// msOrEmpty is ms(d), or "" for an unknown (zero) latency.
func msOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return ms(d)
}

// bracketLabel says where a curve's half-load figures come from.
func (f curveFigures) bracketLabel() string {
	switch {
	case f.Below == "":
		return fmt.Sprintf("no open-loop steps around %.0f msgs/s", f.HalfRate)
	case f.Below == f.Above:
		return "step " + f.Below
	}
	return "steps " + f.Below + " and " + f.Above
}
