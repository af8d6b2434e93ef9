package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluice-mq/sluice/loadgen"
)

// The hand-made comparison: one workload swept over acks 1 and all, by
// two invented drivers with known rates and latencies.
var (
	cmpWorkload = loadgen.Workload{
		Name: "cmp", Duration: loadgen.Duration(time.Second),
		Consumers: loadgen.Consumers{Count: 1},
		Sweep:     &loadgen.SweepSpec{Acks: []loadgen.Acks{loadgen.Acks1, loadgen.AcksAll}},
	}.WithDefaults()
	comboOne = loadgen.Combo{Acks: loadgen.Acks1, Mode: loadgen.ModeISR, Sync: loadgen.SyncNever}
	comboAll = loadgen.Combo{Acks: loadgen.AcksAll, Mode: loadgen.ModeISR, Sync: loadgen.SyncNever}
	cmpStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// handResult is a result with the given rates whose cumulative publish
// (and end-to-end, 1.5× slower) histogram holds 1000 values spread evenly
// up to p99/0.99, so its p99 is about p99; the summaries are the
// histograms'.
func handResult(driver string, c loadgen.Combo, target, achieved float64, p99 time.Duration) *loadgen.Result {
	w := c.Apply(cmpWorkload)
	w.Sweep = nil
	r := &loadgen.Result{
		Driver: driver, Workload: w, Loop: loadgen.LoopOpen, TargetRate: target, AchievedRate: achieved,
		Mapping: loadgen.Mapping{Acks: "acks " + string(c.Acks), Sync: "sync " + string(c.Sync), Replication: "none"},
		Start:   cmpStart, Duration: time.Second,
	}
	if target == 0 {
		r.Loop = loadgen.LoopClosed
	}
	for _, k := range []struct {
		tag   string
		scale float64
		dst   *loadgen.Latency
	}{{loadgen.TagPublishCumulative, 1, &r.Publish}, {loadgen.TagE2ECumulative, 1.5, &r.EndToEnd}} {
		h := loadgen.NewHistogram()
		for i := 1; i <= 1000; i++ {
			if err := h.RecordValue(int64(float64(p99) * k.scale * float64(i) / 990)); err != nil {
				panic(err) // the values are in range
			}
		}
		*k.dst = loadgen.Summarize(h)
		v2, err := h.EncodeV2()
		if err != nil {
			panic(err)
		}
		r.Histograms = append(r.Histograms, loadgen.TaggedHistogram{Tag: k.tag, StartMs: cmpStart.UnixMilli(), EndMs: cmpStart.Add(time.Second).UnixMilli(), V2: v2})
	}
	r.Counts = loadgen.Counts{Scheduled: int64(target), Sent: int64(achieved), Acked: int64(achieved), Received: int64(achieved)}
	return r
}

// handSweeps: sluice reaches 2000 msgs/s with acks=all, nats 1000 (ratio
// 2); nats skips acks=1 and its last acks=all step fails.
func handSweeps() (sluice, nats *loadgen.SweepResult) {
	ms := time.Millisecond
	step := func(r *loadgen.Result, c loadgen.Combo, f float64) loadgen.Step {
		return loadgen.Step{Combo: c, Probe: f == 0, Fraction: f, Result: r}
	}
	sluice = &loadgen.SweepResult{Workload: cmpWorkload, Spec: *cmpWorkload.Sweep, Steps: []loadgen.Step{
		step(handResult("sluice", comboOne, 0, 4000, ms), comboOne, 0),
		step(handResult("sluice", comboOne, 1200, 1200, ms), comboOne, 0.3),
		step(handResult("sluice", comboOne, 2800, 2800, 3*ms), comboOne, 0.7),
		step(handResult("sluice", comboAll, 0, 2000, 2*ms), comboAll, 0),
		step(handResult("sluice", comboAll, 600, 600, ms), comboAll, 0.3),
		step(handResult("sluice", comboAll, 1400, 1400, 2*ms), comboAll, 0.7),
		step(handResult("sluice", comboAll, 2000, 1900, 8*ms), comboAll, 1),
	}}
	nats = &loadgen.SweepResult{Workload: cmpWorkload, Spec: *cmpWorkload.Sweep, Steps: []loadgen.Step{
		step(handResult("nats", comboAll, 0, 1000, 3*ms), comboAll, 0),
		step(handResult("nats", comboAll, 300, 300, 2*ms), comboAll, 0.3),
		step(handResult("nats", comboAll, 700, 700, 4*ms), comboAll, 0.7),
		{Combo: comboAll, Fraction: 1, Error: "connection refused", Stop: "the step failed"},
	}, Skipped: []loadgen.Skipped{{Combo: comboOne, Reason: "acks=1 with R>1: unsupported"}}}
	return sluice, nats
}

// compareOnce stores the hand-made comparison once, under testRoot; the
// tests only read it (Redraw works on a copy).
var compareOnce = sync.OnceValues(func() (string, error) {
	sl, na := handSweeps()
	info := NewInfo(Header{Args: []string{"compare", "--quick"}, DataDir: testRoot})
	return WriteCompare(testRoot, info, []*loadgen.SweepResult{sl, na})
})

func writeCompare(t *testing.T) (string, *loadgen.SweepResult, *loadgen.SweepResult) {
	t.Helper()
	dir, err := compareOnce()
	if err != nil {
		t.Fatal(err)
	}
	sl, na := handSweeps()
	return dir, sl, na
}

func TestCompareRoundTrip(t *testing.T) {
	dir, sl, na := writeCompare(t)
	st, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Info.Kind != KindCompare || st.Info.Driver != "sluice vs nats" || !reflect.DeepEqual(st.Info.Drivers, []string{"sluice", "nats"}) {
		t.Fatalf("info: kind %q driver %q drivers %q", st.Info.Kind, st.Info.Driver, st.Info.Drivers)
	}
	want := append(append([]loadgen.Step{}, sl.Steps...), na.Steps...)
	if len(st.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(st.Steps), len(want))
	}
	for i, w := range want {
		si, got := st.Info.Steps[i], st.Steps[i]
		wantDriver := "sluice"
		if i >= len(sl.Steps) {
			wantDriver = "nats"
		}
		if si.Driver != wantDriver || si.ID != fmt.Sprintf("%03d", i+1) || got.Combo != w.Combo || got.Error != w.Error {
			t.Errorf("step %d: %+v (driver %q), want %+v of %s", i, got, si.Driver, w, wantDriver)
		}
		if (got.Result == nil) != (w.Result == nil) {
			t.Fatalf("step %d: result %v, want %v", i, got.Result, w.Result)
		}
		if w.Result != nil && (got.Result.Driver != wantDriver || got.Result.AchievedRate != w.Result.AchievedRate ||
			got.Result.Publish != w.Result.Publish || !got.Result.E2EHistogram.Equals(mustDecode(t, w.Result.Histograms[1]))) {
			t.Errorf("step %d: result differs after the round trip", i)
		}
	}
	if len(st.Info.Skipped) != 1 || st.Info.Skipped[0].Driver != "nats" || st.Info.Skipped[0].Combo != comboOne {
		t.Errorf("skipped %+v", st.Info.Skipped)
	}
	data, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateRunJSON(data); err != nil {
		t.Fatal(err)
	}

	// summary.csv names each step's driver.
	rows, err := readCSV(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var drivers []string
	for _, r := range rows[1:] {
		drivers = append(drivers, r[1])
	}
	if want := strings.Fields("sluice sluice sluice sluice sluice sluice sluice nats nats nats nats"); !reflect.DeepEqual(drivers, want) {
		t.Errorf("summary.csv drivers %q, want %q", drivers, want)
	}
}

func mustDecode(t *testing.T, th loadgen.TaggedHistogram) *hdr.Histogram {
	t.Helper()
	h, err := th.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// compare.csv holds the ratio of the maxima and each driver's p99 at half
// its own maximum.
func TestCompareCSV(t *testing.T) {
	dir, sl, na := writeCompare(t)
	rows, err := readCSV(filepath.Join(dir, CompareFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], compareHeader) || len(rows) != 2 {
		t.Fatalf("compare.csv: %q", rows)
	}
	// sluice: max 2000 (the probe), half 1000, between the steps at 600
	// and 1400: the midpoint. nats: max 1000, half 500, between 300 and
	// 700: the midpoint too.
	mid := func(a, b loadgen.Step) string {
		return strconv.FormatFloat(float64(a.Result.Publish.P99+b.Result.Publish.P99)/2/1e6, 'f', 3, 64)
	}
	want := []string{"all", "isr", "never", "sluice", "2000.0", mid(sl.Steps[4], sl.Steps[5]), "nats", "1000.0", mid(na.Steps[1], na.Steps[2]), "2.000"}
	if !reflect.DeepEqual(rows[1], want) {
		t.Errorf("compare.csv row\n got %q\nwant %q", rows[1], want)
	}

	// curve.csv: every driver × combination, acks=1 by sluice alone.
	rows, err = readCSV(filepath.Join(dir, CurveFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], curveHeader) || len(rows) != 4 {
		t.Fatalf("curve.csv: %q", rows)
	}
	// sluice acks=1: max 4000, half 2000 between 1200 and 2800.
	if got := rows[1][:9]; !reflect.DeepEqual(got, []string{"sluice", "1", "isr", "never", "4000.0", "001", "2000.0", "002", "003"}) {
		t.Errorf("curve.csv row 1: %q", rows[1])
	}
	if got := rows[3]; got[0] != "nats" || got[7] != "009" || got[8] != "010" || got[9] == "" || got[10] == "" {
		t.Errorf("curve.csv row 3: %q", got)
	}
}

// The 50%-load figures interpolate linearly between the steps whose
// achieved rates are nearest below and above half the maximum.
func TestHalfLoadInterpolation(t *testing.T) {
	ms := time.Millisecond
	pt := func(loop string, rate float64, p99, e2e time.Duration) loadgen.Step {
		r := &loadgen.Result{Loop: loop, AchievedRate: rate, Publish: loadgen.Latency{Count: 1, P99: p99}}
		if e2e > 0 {
			r.EndToEnd = loadgen.Latency{Count: 1, P99: e2e}
		}
		return loadgen.Step{Result: r}
	}
	mk := func(steps ...loadgen.Step) *curve {
		c := &curve{curveKey: curveKey{Driver: "d", Combo: comboAll}, Steps: steps}
		for i := range steps {
			c.IDs = append(c.IDs, fmt.Sprintf("%03d", i+1))
		}
		return c
	}
	cases := []struct {
		name         string
		c            *curve
		max, half    float64
		maxStep      string
		below, above string
		p99, e2e     time.Duration
	}{
		{
			// Out of rate order on purpose: half = 400 lies between 300
			// (3 ms) and 500 (10 ms): 3 + (100/200)·7 = 6.5 ms.
			name: "between",
			c: mk(pt(loadgen.LoopClosed, 800, 50*ms, 0), pt(loadgen.LoopOpen, 100, ms, 0),
				pt(loadgen.LoopOpen, 500, 10*ms, 20*ms), pt(loadgen.LoopOpen, 300, 3*ms, 4*ms)),
			max: 800, half: 400, maxStep: "001", below: "004", above: "003", p99: 6500 * time.Microsecond, e2e: 12 * ms,
		},
		{
			// 1:3 of the way from 200 to 600; no end-to-end figures at 600.
			name: "quarter",
			c:    mk(pt(loadgen.LoopClosed, 600, 0, 0), pt(loadgen.LoopOpen, 200, 2*ms, 5*ms), pt(loadgen.LoopOpen, 600, 6*ms, 0)),
			max:  600, half: 300, maxStep: "001", below: "002", above: "003", p99: 3 * ms,
		},
		{
			// An open-loop step beat the probe: it is the maximum, and the
			// step at exactly half is the answer.
			name: "exact",
			c:    mk(pt(loadgen.LoopClosed, 700, 0, 0), pt(loadgen.LoopOpen, 450, 2*ms, 3*ms), pt(loadgen.LoopOpen, 900, 9*ms, 0)),
			max:  900, half: 450, maxStep: "003", below: "002", above: "002", p99: 2 * ms, e2e: 3 * ms,
		},
		{
			// Half the maximum is below every open-loop step: unknown,
			// not extrapolated.
			name: "outside",
			c:    mk(pt(loadgen.LoopClosed, 1000, 0, 0), pt(loadgen.LoopOpen, 700, 2*ms, 0), pt(loadgen.LoopOpen, 900, 3*ms, 0)),
			max:  1000, half: 500, maxStep: "001",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := figuresOf(c.c)
			if f.MaxRate != c.max || f.HalfRate != c.half || f.MaxStep != c.maxStep || f.Below != c.below || f.Above != c.above ||
				f.PublishP99 != c.p99 || f.E2EP99 != c.e2e {
				t.Errorf("figures %+v\nwant max %v (%s) half %v between %q and %q: p99 %v e2e %v", f, c.max, c.maxStep, c.half, c.below, c.above, c.p99, c.e2e)
			}
		})
	}
}

// distribution.csv: 17 percentile rows per non-empty cumulative histogram,
// non-decreasing, matching the summaries of run.json.
func TestDistributionCSV(t *testing.T) {
	for _, name := range []string{"sweep", "compare"} {
		t.Run(name, func(t *testing.T) {
			var dir string
			if name == "sweep" {
				dir, _ = writeSweep(t)
			} else {
				dir, _, _ = writeCompare(t)
			}
			st, err := Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := readCSV(filepath.Join(dir, DistributionFile))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows[0], distributionHeader) {
				t.Fatalf("header %q", rows[0])
			}
			type key struct{ step, kind string }
			values := map[key][]int64{}
			var order []key
			for _, r := range rows[1:] {
				k := key{r[0], r[6]}
				if _, ok := values[k]; !ok {
					order = append(order, k)
				}
				want := distributionPercentiles[len(values[k])]
				if p, err := strconv.ParseFloat(r[7], 64); err != nil || p != want {
					t.Fatalf("row %q: percentile %q, want %v", r, r[7], want)
				}
				v, err := strconv.ParseInt(r[8], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				values[k] = append(values[k], v)
			}
			var wantKeys []key
			for i, si := range st.Info.Steps {
				res := st.Steps[i].Result
				if res == nil {
					continue
				}
				for _, h := range []struct {
					kind string
					l    loadgen.Latency
				}{{"publish", res.Publish}, {"e2e", res.EndToEnd}} {
					if h.l.Count == 0 {
						continue
					}
					k := key{si.ID, h.kind}
					wantKeys = append(wantKeys, k)
					v := values[k]
					if len(v) != len(distributionPercentiles) || !slices.IsSorted(v) || v[0] <= 0 {
						t.Errorf("%v: values %v, want %d non-decreasing", k, v, len(distributionPercentiles))
						continue
					}
					at := func(p float64) time.Duration { return time.Duration(v[slices.Index(distributionPercentiles, p)]) }
					if at(50) != h.l.P50 || at(99) != h.l.P99 || at(99.9) != h.l.P999 || at(100) != h.l.Max {
						t.Errorf("%v: p50 %v p99 %v p99.9 %v max %v, want %+v", k, at(50), at(99), at(99.9), at(100), h.l)
					}
				}
			}
			if !reflect.DeepEqual(order, wantKeys) {
				t.Errorf("histograms %v, want %v", order, wantKeys)
			}
			// The driver and combination columns are the step's.
			for _, r := range rows[1:] {
				i := slices.IndexFunc(st.Info.Steps, func(si StepInfo) bool { return si.ID == r[0] })
				si := st.Info.Steps[i]
				if r[1] != si.Driver || r[2] != string(si.Combo.Acks) || r[4] != string(si.Combo.Sync) {
					t.Fatalf("row %q for step %+v", r, si)
				}
			}
		})
	}
}

// Redraw of a copy holding only the stored files (run.json, series.csv,
// hdr/) makes the comparison charts, the report and the derived tables,
// the same as written.
func TestCompareRedrawFromStoredFiles(t *testing.T) {
	dir, _, _ := writeCompare(t)
	cp := filepath.Join(t.TempDir(), "copy")
	st, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{RunFile, SeriesFile}
	for _, si := range st.Info.Steps {
		if si.HDRLog != "" {
			files = append(files, si.HDRLog)
		}
	}
	copyFiles(t, dir, cp, files)
	if err := Redraw(cp); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CurveFile, CompareFile, DistributionFile} {
		a, err1 := os.ReadFile(filepath.Join(dir, f))
		b, err2 := os.ReadFile(filepath.Join(cp, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the written and the redrawn directory (%v, %v)", f, err1, err2)
		}
	}
	for _, name := range []string{"curve-acks-all_isr_never", "curve-acks-1_isr_never", "curves-p99",
		"curve-sluice-acks-all_isr_never", "curve-nats-acks-all_isr_never", "curve-sluice-acks-1_isr_never"} {
		svg, err := os.ReadFile(filepath.Join(cp, ChartsDir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		orig, err := os.ReadFile(filepath.Join(dir, ChartsDir, name+".svg"))
		if err != nil || !bytes.Equal(orig, svg) {
			t.Errorf("%s.svg differs between the written and the redrawn directory", name)
		}
		if _, err := os.Stat(filepath.Join(cp, ChartsDir, name+".png")); err != nil {
			t.Error(err)
		}
	}
	// One chart per combination compares the drivers: both in its legend.
	svg, _ := os.ReadFile(filepath.Join(cp, ChartsDir, "curve-acks-all_isr_never.svg"))
	for _, s := range []string{"sluice p99", "nats p99", "nats p99.9"} {
		if !bytes.Contains(svg, []byte(s)) {
			t.Errorf("the comparison chart lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(cp, ChartsDir, "curve-nats-acks-1_isr_never.svg")); err == nil {
		t.Error("a chart for a combination nats skipped")
	}
	html, err := os.ReadFile(filepath.Join(cp, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"cmp: sluice and nats compared", "Comparison at equal durability", "2.00×", "p99 at 50% of max load",
		"steps 005 and 006", "Run by one driver only: sluice: acks=1 isr sync=never", "nats: 1 / isr / never", "connection refused"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("report.html lacks %q", s)
		}
	}
}

func copyFiles(t *testing.T, from, to string, files []string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(to, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteCompareRefuses(t *testing.T) {
	sl, na := handSweeps()
	other := *na
	w := cmpWorkload
	w.Producers = 7
	other.Workload = w
	nameless := &loadgen.SweepResult{Workload: cmpWorkload, Spec: *cmpWorkload.Sweep,
		Steps: []loadgen.Step{{Combo: comboAll, Probe: true, Error: "no server", Stop: "the probe failed"}}}
	cases := []struct {
		name    string
		drivers []string
		sweeps  []*loadgen.SweepResult
		want    string
	}{
		{"one sweep", nil, []*loadgen.SweepResult{sl}, "at least two sweeps"},
		{"same driver", nil, []*loadgen.SweepResult{sl, sl}, "distinct drivers"},
		{"other workload", nil, []*loadgen.SweepResult{sl, &other}, "another workload"},
		{"no name", nil, []*loadgen.SweepResult{sl, nameless}, "set Info.Drivers"},
		{"wrong name", []string{"sluice", "kafka"}, []*loadgen.SweepResult{sl, na}, "run by the nats driver, not kafka"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := NewInfo(Header{})
			info.Drivers = c.drivers
			_, err := WriteCompare(t.TempDir(), info, c.sweeps)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("WriteCompare = %v, want an error containing %q", err, c.want)
			}
		})
	}
	// A sweep without any result is stored when Info.Drivers names it.
	info := NewInfo(Header{})
	info.Drivers = []string{"sluice", "nats"}
	small := *sl
	small.Steps = sl.Steps[:1]
	dir, err := WriteCompare(t.TempDir(), info, []*loadgen.SweepResult{&small, nameless})
	if err != nil {
		t.Fatal(err)
	}
	st, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if last := st.Info.Steps[len(st.Info.Steps)-1]; last.Driver != "nats" || last.Error != "no server" {
		t.Errorf("last step %+v", last)
	}
}

func TestValidateCompareJSON(t *testing.T) {
	dir, _, _ := writeCompare(t)
	good, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"one driver", func(m map[string]any) { m["drivers"] = []any{"sluice"} }, "a comparison names at least two drivers"},
		{"twice", func(m map[string]any) { m["drivers"] = []any{"sluice", "nats", "sluice"} }, `drivers[2]: "sluice" is listed twice`},
		{"step without driver", func(m map[string]any) { delete(step(m, 0), "driver") }, "steps[0]: a comparison's step must name its driver"},
		{"step of another driver", func(m map[string]any) { step(m, 0)["driver"] = "nats" }, `steps[0].driver: "nats", but its result is the sluice driver's`},
		{"unlisted driver", func(m map[string]any) { step(m, 10)["driver"] = "kafka" }, `steps[10].driver: "kafka" is not one of drivers`},
		{"empty driver", func(m map[string]any) { step(m, 10)["driver"] = "" }, `steps[10].driver: "" is shorter than 1`},
		{"skipped without driver", func(m map[string]any) { delete(m["skipped"].([]any)[0].(map[string]any), "driver") }, `skipped[0].driver: "" is not one of drivers`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			if m["git"] == nil {
				m["git"] = map[string]any{"revision": "0123456789abcdef", "dirty": false}
			}
			c.mutate(m)
			data, _ := json.Marshal(m)
			err := ValidateRunJSON(data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ValidateRunJSON = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// A directory written before steps named their driver (no drivers, no
// step driver) still validates, and Read and Redraw fill the drivers in.
func TestOlderDirectory(t *testing.T) {
	dir, _ := writeSweep(t)
	data, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "drivers")
	for _, s := range m["steps"].([]any) {
		delete(s.(map[string]any), "driver")
	}
	old, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "old")
	copyFiles(t, dir, cp, []string{SeriesFile, "hdr/001.hlog", "hdr/002.hlog", "hdr/003.hlog"})
	if err := os.WriteFile(filepath.Join(cp, RunFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Redraw(cp); err != nil {
		t.Fatal(err)
	}
	st, err := Read(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Info.Drivers, []string{"fake"}) {
		t.Errorf("drivers %q", st.Info.Drivers)
	}
	for _, si := range st.Info.Steps {
		if si.Driver != "fake" {
			t.Errorf("step %s driver %q", si.ID, si.Driver)
		}
	}
	for _, f := range []string{CurveFile, DistributionFile} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, err := os.ReadFile(filepath.Join(cp, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s of the older directory differs (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cp, CompareFile)); err == nil {
		t.Errorf("%s in a sweep directory", CompareFile)
	}
}
