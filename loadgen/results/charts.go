package results

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sluice-mq/sluice/loadgen"
)

// chart is one figure, rendered in both formats.
type chart struct {
	Name    string // file name without extension, under charts/
	Title   string
	SVG     []byte
	PNG     []byte
	StepID  string // "" for the sweep-level charts
	Caption string
}

const (
	chartWidth  = 16 * vg.Centimeter
	chartHeight = 10 * vg.Centimeter
)

// series is one line of a chart: its colour (plotutil.Color index), dash
// style (dashStyles index) and glyph (glyphs index).
type series struct {
	label string
	xys   plotter.XYs
	color int
	dash  int
	glyph int
}

// Dash styles of series.dash.
const (
	solid = iota
	dashed
	dotted
	dashDotted
)

var dashStyles = [][]vg.Length{
	solid:      nil,
	dashed:     {vg.Points(4), vg.Points(2)},
	dotted:     {vg.Points(1), vg.Points(2)},
	dashDotted: {vg.Points(6), vg.Points(2), vg.Points(1), vg.Points(2)},
}

var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.PyramidGlyph{},
}

// coloured gives the lines the colours of their positions.
func coloured(lines []series) []series {
	for i := range lines {
		lines[i].color = i
	}
	return lines
}

// drawCharts makes every chart of a stored result: per combination a
// throughput-vs-latency chart (with several drivers, one comparing them
// and one per driver), an overview of the p99s when there are several
// curves, and per step its latency and throughput over time.
func drawCharts(st *Stored) ([]chart, error) {
	var out []chart
	add := func(c chart, err error) error {
		if err != nil {
			return err
		}
		if c.Name != "" {
			out = append(out, c)
		}
		return nil
	}
	curves := curvesOf(st)
	multi := len(st.Info.Drivers) > 1
	var combos []loadgen.Combo
	for _, c := range curves {
		if !slices.Contains(combos, c.Combo) {
			combos = append(combos, c.Combo)
		}
	}
	if multi {
		for _, combo := range combos {
			if err := add(compareChart(st, combo, curves)); err != nil {
				return nil, err
			}
		}
	}
	var overview []series
	for _, c := range curves {
		if !multi {
			if err := add(curveChart(st, c, "curve-"+comboSlug(c.Combo))); err != nil {
				return nil, err
			}
		}
		ci := slices.Index(combos, c.Combo)
		di := slices.Index(st.Info.Drivers, c.Driver)
		s := series{label: comboLabel(c.Combo), xys: curvePoints(c.open(), pickP99, false), color: ci, glyph: ci / 7}
		if multi {
			s.label, s.dash = c.Driver+" "+s.label, di
		} else {
			s.dash = ci / 7 // the palette has 7 colours
		}
		overview = append(overview, s)
	}
	if len(overview) > 1 {
		title := "Publish p99 vs throughput, every combination"
		caption := "One curve per combination."
		if multi {
			title = "Publish p99 vs throughput, every driver and combination"
			caption = "Colour = combination, line style = driver (" + driverStyles(st.Info.Drivers) + ")."
		}
		c, err := render("curves-p99", title, "achieved throughput (msgs/s)", "publish latency, p99", overview, true)
		c.Caption = caption
		if err := add(c, err); err != nil {
			return nil, err
		}
	}
	if multi {
		for _, c := range curves {
			if err := add(curveChart(st, c, "curve-"+slug(c.Driver)+"-"+comboSlug(c.Combo))); err != nil {
				return nil, err
			}
		}
	}
	for i, si := range st.Info.Steps {
		res := st.Steps[i].Result
		if res == nil {
			continue
		}
		label := stepLabel(si, res, multi)
		if err := add(latencyOverTime(si, res, label)); err != nil {
			return nil, err
		}
		if err := add(throughputOverTime(si, res, label)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func driverStyles(drivers []string) string {
	var parts []string
	for i, d := range drivers {
		parts = append(parts, d+" "+[]string{"solid", "dashed", "dotted", "dash-dotted"}[i%len(dashStyles)])
	}
	return strings.Join(parts, ", ")
}

func comboLabel(c loadgen.Combo) string {
	return fmt.Sprintf("acks=%s %s sync=%s", c.Acks, c.Mode, c.Sync)
}

// comboSlug names a combination's files.
func comboSlug(c loadgen.Combo) string {
	return slug(fmt.Sprintf("acks-%s_%s_%s", c.Acks, c.Mode, c.Sync))
}

func slug(s string) string {
	return unsafeName.ReplaceAllString(strings.ReplaceAll(s, "=", "-"), "_")
}

func pickP99(l loadgen.Latency) time.Duration { return l.P99 }

// curvePoints are (achieved rate, latency) per step, skipping empty
// histograms (a log axis cannot show 0).
func curvePoints(steps []loadgen.Step, pick func(loadgen.Latency) time.Duration, e2e bool) plotter.XYs {
	var xys plotter.XYs
	for _, s := range steps {
		l := s.Result.Publish
		if e2e {
			l = s.Result.EndToEnd
		}
		if l.Count == 0 {
			continue
		}
		xys = append(xys, plotter.XY{X: s.Result.AchievedRate, Y: toMs(pick(l))})
	}
	return xys
}

// quantiles are the curves' latency lines.
var quantiles = []struct {
	name string
	pick func(loadgen.Latency) time.Duration
}{
	{"p50", func(l loadgen.Latency) time.Duration { return l.P50 }},
	{"p99", pickP99},
	{"p99.9", func(l loadgen.Latency) time.Duration { return l.P999 }},
}

func toMs(d time.Duration) float64 { return float64(d) / 1e6 }

// curveChart is one curve's publish and end-to-end p50/p99/p99.9 against
// the achieved rate.
func curveChart(st *Stored, c *curve, name string) (chart, error) {
	var lines []series
	steps := c.open()
	for _, q := range quantiles {
		lines = append(lines, series{label: "publish " + q.name, xys: curvePoints(steps, q.pick, false)})
	}
	for _, q := range quantiles {
		if xys := curvePoints(steps, q.pick, true); len(xys) > 0 {
			lines = append(lines, series{label: "end-to-end " + q.name, xys: xys, dash: dashed})
		}
	}
	title := fmt.Sprintf("%s: %s, %s", c.Driver, st.Info.Workload.Name, comboLabel(c.Combo))
	ch, err := render(name, title, "achieved throughput (msgs/s)", "latency (log scale)", coloured(lines), true)
	ch.Caption = "Open-loop steps at rising target rates; latency measured from each message's intended send time."
	return ch, err
}

// compareChart puts every driver's publish p50/p99/p99.9 curve of one
// combination on the same axes: colour = driver, line style = quantile.
func compareChart(st *Stored, combo loadgen.Combo, curves []*curve) (chart, error) {
	var lines []series
	for _, c := range curves {
		if c.Combo != combo {
			continue
		}
		di := slices.Index(st.Info.Drivers, c.Driver)
		for qi, q := range quantiles {
			lines = append(lines, series{label: c.Driver + " " + q.name, xys: curvePoints(c.open(), q.pick, false), color: di, dash: qi, glyph: di % len(glyphs)})
		}
	}
	title := fmt.Sprintf("%s: %s, %s", strings.Join(st.Info.Drivers, " vs "), st.Info.Workload.Name, comboLabel(combo))
	ch, err := render("curve-"+comboSlug(combo), title, "achieved throughput (msgs/s)", "publish latency (log scale)", lines, true)
	ch.Caption = "Publish latency against achieved throughput, the same workload and combination on every driver: colour = driver; " +
		"solid p50, dashed p99, dotted p99.9. Open-loop steps; latency from each message's intended send time."
	return ch, err
}

func latencyOverTime(si StepInfo, res *loadgen.Result, label string) (chart, error) {
	var lines []series
	pub, err := intervalHistograms(res, loadgen.TagPublish)
	if err != nil {
		return chart{}, err
	}
	for _, q := range []struct {
		label string
		q     float64
	}{{"publish p50", 50}, {"publish p99", 99}, {"publish max", 100}} {
		lines = append(lines, series{label: q.label, xys: overTime(res, pub, q.q), color: len(lines)})
	}
	e2e, err := intervalHistograms(res, loadgen.TagE2E)
	if err != nil {
		return chart{}, err
	}
	if len(e2e) > 0 {
		lines = append(lines, series{label: "end-to-end p99", xys: overTime(res, e2e, 99), color: len(lines), dash: dashed})
	}
	ch, err := render("latency-"+si.ID, "Latency per interval, step "+si.ID+" ("+label+")",
		"time since start (s)", "latency (log scale)", lines, true)
	ch.StepID = si.ID
	ch.Caption = "Per-interval histograms from the HDR log, by completion time; the warm-up ends at " + secsLabel(res.WarmUp) + "."
	return ch, err
}

// overTime is a percentile per interval histogram, at the interval's end
// (seconds since the run's start).
func overTime(res *loadgen.Result, hs []*hdr.Histogram, q float64) plotter.XYs {
	var xys plotter.XYs
	start := res.Start.UnixMilli()
	for _, h := range hs {
		if h.TotalCount() == 0 {
			continue
		}
		v := h.ValueAtPercentile(q)
		if q >= 100 {
			v = h.Max()
		}
		xys = append(xys, plotter.XY{X: float64(h.EndTimeMs()-start) / 1000, Y: float64(v) / 1e6})
	}
	return xys
}

func throughputOverTime(si StepInfo, res *loadgen.Result, label string) (chart, error) {
	if len(res.Intervals) == 0 {
		return chart{}, nil
	}
	perSec := func(pick func(loadgen.Interval) int64) plotter.XYs {
		var xys plotter.XYs
		for _, iv := range res.Intervals {
			if s := iv.Seconds(); s > 0 {
				xys = append(xys, plotter.XY{X: iv.End.Seconds(), Y: float64(pick(iv)) / s})
			}
		}
		return xys
	}
	lines := []series{
		{label: "acked/s", xys: perSec(func(iv loadgen.Interval) int64 { return iv.Acked })},
		{label: "sent/s", xys: perSec(func(iv loadgen.Interval) int64 { return iv.Sent })},
	}
	if res.Loop == loadgen.LoopOpen {
		lines = append(lines, series{label: "scheduled/s", xys: perSec(func(iv loadgen.Interval) int64 { return iv.Scheduled }), dash: dashed})
	}
	if res.Counts.Received > 0 {
		lines = append(lines, series{label: "received/s", xys: perSec(func(iv loadgen.Interval) int64 { return iv.Received })})
	}
	var pending plotter.XYs
	for _, iv := range res.Intervals {
		pending = append(pending, plotter.XY{X: iv.End.Seconds(), Y: float64(iv.PendingMax)})
	}
	lines = append(lines, series{label: "pending max (messages)", xys: pending, dash: dashed})
	ch, err := render("throughput-"+si.ID, "Throughput per interval, step "+si.ID+" ("+label+")",
		"time since start (s)", "messages per second / messages", coloured(lines), false)
	ch.StepID = si.ID
	ch.Caption = "From series.csv. Pending = sends due and not yet completed (backlog + in flight), the largest seen in each interval: a stall shows as a spike."
	return ch, err
}

// stepLabel describes a step in chart titles, naming its driver when the
// directory holds several.
func stepLabel(si StepInfo, res *loadgen.Result, withDriver bool) string {
	l := comboLabel(si.Combo)
	if withDriver {
		l = si.Driver + ", " + l
	}
	if res.Loop == loadgen.LoopClosed {
		return l + ", closed-loop probe"
	}
	return fmt.Sprintf("%s, target %.0f msgs/s", l, res.TargetRate)
}

func secsLabel(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s" }

// render draws lines into a plot and encodes it as SVG and PNG. With a
// log-scale Y axis (latencies in ms) non-positive values are dropped.
func render(name, title, xLabel, yLabel string, lines []series, logY bool) (chart, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = latencyTicks{}
	}
	drawn := 0
	for _, s := range lines {
		xys := s.xys
		if logY {
			xys = positive(xys)
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return chart{}, fmt.Errorf("results: chart %s: %w", name, err)
		}
		l.Color = plotutil.Color(s.color)
		l.Width = vg.Points(1.5)
		l.Dashes = dashStyles[s.dash%len(dashStyles)]
		pts, err := plotter.NewScatter(xys)
		if err != nil {
			return chart{}, fmt.Errorf("results: chart %s: %w", name, err)
		}
		pts.Color = l.Color
		pts.Shape = glyphs[s.glyph%len(glyphs)]
		pts.Radius = vg.Points(1.5)
		p.Add(l, pts)
		p.Legend.Add(s.label, l)
		drawn++
	}
	if drawn == 0 {
		return chart{}, nil // nothing to show (e.g. no acknowledgements at all)
	}
	// A long legend gets room below the top-left corner it starts in.
	height := chartHeight
	if drawn > 8 {
		height += vg.Length(drawn-8) * vg.Points(10)
	}
	c := chart{Name: name, Title: title}
	for _, f := range []struct {
		ext string
		dst *[]byte
	}{{"svg", &c.SVG}, {"png", &c.PNG}} {
		wt, err := p.WriterTo(chartWidth, height, f.ext)
		if err != nil {
			return chart{}, fmt.Errorf("results: chart %s: %w", name, err)
		}
		var b bytes.Buffer
		if _, err := wt.WriteTo(&b); err != nil {
			return chart{}, fmt.Errorf("results: chart %s: %w", name, err)
		}
		*f.dst = b.Bytes()
	}
	return c, nil
}

func positive(xys plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for _, xy := range xys {
		if xy.Y > 0 && !math.IsInf(xy.Y, 0) && !math.IsNaN(xy.Y) {
			out = append(out, xy)
		}
	}
	return out
}

// latencyTicks marks a log axis in milliseconds at 1, 2 and 5 per decade,
// labelled with a unit (10µs, 1ms, 2s): plot.LogTicks labels only the
// decades, which leaves most latency charts with one or two labels.
type latencyTicks struct{}

func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= 0 || min > max {
		return nil
	}
	decades := math.Log10(max) - math.Log10(min)
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < min*0.999 || v > max*1.001 {
				continue
			}
			label := ""
			if m == 1 || decades < 3 {
				label = msLabel(v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	if len(ticks) < 2 { // a range inside one 1-2-5 step: label its ends
		ticks = []plot.Tick{{Value: min, Label: msLabel(min)}, {Value: max, Label: msLabel(max)}}
	}
	return ticks
}

func msLabel(v float64) string {
	switch {
	case v < 1:
		return strconv.FormatFloat(v*1000, 'g', 3, 64) + "µs"
	case v < 1000:
		return strconv.FormatFloat(v, 'g', 3, 64) + "ms"
	}
	return strconv.FormatFloat(v/1000, 'g', 3, 64) + "s"
}
