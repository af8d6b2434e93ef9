package results

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// sweepOnce runs one small sweep on the fake driver, shared by the tests
// of this file (it takes a few seconds).
var sweepOnce = sync.OnceValues(func() (*loadgen.SweepResult, error) {
	f := loadgen.NewFake(loadgen.FakeOptions{ServiceTime: time.Millisecond})
	defer f.Close()
	w := loadgen.Workload{
		// The probe's rate is bounded by the window: 2 × 10 in flight with
		// 1 ms of service time, so the steps are a few hundred msgs/s.
		Name: "roundtrip", Producers: 2, Partitions: 2, MessageSize: loadgen.SizeDist{Fixed: 100}, InFlight: 10,
		Consumers: loadgen.Consumers{Count: 1}, Duration: loadgen.Duration(time.Second),
		Sweep: &loadgen.SweepSpec{
			Fractions: []float64{0.1, 0.2}, Probe: loadgen.Duration(time.Second),
			StepWarmUp: loadgen.DurationOf(0), StepDuration: loadgen.Duration(time.Second),
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return loadgen.Sweep(ctx, w, f, loadgen.SweepOptions{Run: loadgen.Options{Drain: 3 * time.Second}})
})

// writtenOnce stores the sweep once, in a directory TestMain removes; the
// tests only read it (Redraw works on a copy).
var (
	testRoot    string
	writtenOnce = sync.OnceValues(func() (string, error) {
		sw, err := sweepOnce()
		if err != nil {
			return "", err
		}
		info := NewInfo(Header{Driver: "fake", Args: []string{"--quick"}, Quick: true, DataDir: testRoot})
		return WriteSweep(testRoot, info, sw)
	})
)

func TestMain(m *testing.M) {
	var err error
	if testRoot, err = os.MkdirTemp("", "loadgen-results-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(testRoot)
	os.Exit(code)
}

func writeSweep(t *testing.T) (string, *loadgen.SweepResult) {
	t.Helper()
	sw, err := sweepOnce()
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Steps) != 3 {
		t.Fatalf("sweep steps: %+v", sw.Steps)
	}
	dir, err := writtenOnce()
	if err != nil {
		t.Fatal(err)
	}
	return dir, sw
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir, sw := writeSweep(t)
	st, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Info.Kind != KindSweep || st.Info.Name != "roundtrip" || st.Info.Driver != "fake" || len(st.Steps) != len(sw.Steps) {
		t.Fatalf("info %+v", st.Info)
	}
	if st.Info.Machine.CPUs != runtime.NumCPU() || st.Info.Sweep == nil || !st.Info.Quick {
		t.Errorf("machine %+v sweep %v quick %v", st.Info.Machine, st.Info.Sweep, st.Info.Quick)
	}
	for i, want := range sw.Steps {
		got := st.Steps[i]
		if got.Combo != want.Combo || got.Probe != want.Probe || got.Fraction != want.Fraction || got.Stop != want.Stop {
			t.Errorf("step %d: %+v, want %+v", i, got, want)
		}
		g, w := got.Result, want.Result
		if !reflect.DeepEqual(g.Intervals, w.Intervals) {
			t.Errorf("step %d intervals differ:\n got %+v\nwant %+v", i, g.Intervals, w.Intervals)
		}
		if g.Counts != w.Counts || g.Publish != w.Publish || g.EndToEnd != w.EndToEnd || g.AchievedRate != w.AchievedRate ||
			!g.Start.Equal(w.Start) || !reflect.DeepEqual(g.Workload, w.Workload) || g.Mapping.Acks != w.Mapping.Acks {
			t.Errorf("step %d result differs:\n got %+v\nwant %+v", i, g, w)
		}
		if len(g.Histograms) != len(w.Histograms) {
			t.Fatalf("step %d: %d histograms, want %d", i, len(g.Histograms), len(w.Histograms))
		}
		for j := range w.Histograms {
			gh, err := g.Histograms[j].Decode()
			if err != nil {
				t.Fatal(err)
			}
			wh, _ := w.Histograms[j].Decode()
			if gh.Tag() != wh.Tag() || !gh.Equals(wh) || abs(gh.StartTimeMs()-wh.StartTimeMs()) > 1 || abs(gh.EndTimeMs()-wh.EndTimeMs()) > 1 {
				t.Errorf("step %d histogram %d (%s) differs after the round trip", i, j, wh.Tag())
			}
		}
		if g.PublishHistogram == nil || !g.PublishHistogram.Equals(w.PublishHistogram) || !g.E2EHistogram.Equals(w.E2EHistogram) {
			t.Errorf("step %d: cumulative histograms differ", i)
		}
	}

	// summary.csv: one row per step with the figures of run.json.
	rows, err := readCSV(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sw.Steps)+1 || !reflect.DeepEqual(rows[0], summaryHeader) {
		t.Fatalf("summary rows %q", rows)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for i, s := range sw.Steps {
		row := rows[i+1]
		p99, _ := strconv.ParseFloat(row[col["publish_p99_ms"]], 64)
		if d := p99 - toMs(s.Result.Publish.P99); d > 0.001 || d < -0.001 || row[col["acks"]] != "all" || row[col["driver"]] != "fake" {
			t.Errorf("summary row %d: %q (p99 %v)", i, row, s.Result.Publish.P99)
		}
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Redraw makes the charts and report from the stored files alone: a copy
// of the directory without them gets them back.
func TestRedrawFromStoredFiles(t *testing.T) {
	dir, _ := writeSweep(t)
	cp := filepath.Join(t.TempDir(), "copy")
	for _, f := range []string{RunFile, SeriesFile, SummaryFile, filepath.Join(HDRDir, "001.hlog"), filepath.Join(HDRDir, "002.hlog"), filepath.Join(HDRDir, "003.hlog")} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(cp, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Redraw(cp); err != nil {
		t.Fatal(err)
	}
	want := []string{"curve-acks-all_isr_never", "latency-001", "throughput-001", "latency-003", "throughput-003"}
	for _, name := range want {
		svg, err := os.ReadFile(filepath.Join(cp, ChartsDir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg is not SVG", name)
		}
		f, err := os.Open(filepath.Join(cp, ChartsDir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s.png: %v", name, err)
		}
		// The same data draws the same chart.
		orig, err := os.ReadFile(filepath.Join(dir, ChartsDir, name+".svg"))
		if err != nil || !bytes.Equal(orig, svg) {
			t.Errorf("%s.svg differs between the written and the redrawn directory", name)
		}
	}
	html, err := os.ReadFile(filepath.Join(cp, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"data:image/svg&#43;xml;base64,", "roundtrip", "acks=all isr sync=never", "Summary"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	// Self-contained: nothing is fetched.
	for _, s := range []string{"http://", "https://", "<script", "<link"} {
		if bytes.Contains(html, []byte(s)) {
			t.Errorf("report.html contains %q; it must need no network", s)
		}
	}
	// One curve, and latency and throughput over time for each of the 3 steps.
	if n := bytes.Count(html, []byte("<img ")); n != 7 {
		t.Errorf("report.html has %d images, want 7", n)
	}
}

func TestValidateRunJSON(t *testing.T) {
	dir, _ := writeSweep(t)
	good, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateRunJSON(good); err != nil {
		t.Fatalf("a written run.json must validate: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"missing cpus", func(m map[string]any) { delete(obj(m, "machine"), "cpus") }, `machine: missing required field "cpus"`},
		{"zero cpus", func(m map[string]any) { obj(m, "machine")["cpus"] = 0 }, "machine.cpus: 0 is below the minimum 1"},
		{"fractional cpus", func(m map[string]any) { obj(m, "machine")["cpus"] = 1.5 }, "machine.cpus: 1.5 is not of type integer"},
		{"bad kind", func(m map[string]any) { m["kind"] = "walk" }, `kind: "walk" is not one of ["run","sweep","compare"]`},
		{"unknown field", func(m map[string]any) { m["extra"] = 1 }, `unknown field "extra"`},
		{"wrong schema", func(m map[string]any) { m["schema"] = "other/9" }, `schema: "other/9", want "sluice-loadgen-run/1"`},
		{"bad revision", func(m map[string]any) { obj(m, "git")["revision"] = "main" }, `git.revision: "main" does not match`},
		{"bad acks", func(m map[string]any) { obj(step(m, 0), "combo")["acks"] = "2" }, `steps[0].combo.acks: "2" is not one of`},
		{"negative count", func(m map[string]any) { obj(obj(step(m, 1), "result"), "counts")["acked"] = -1 }, "steps[1].result.counts.acked: -1 is below the minimum 0"},
		{"bad workload", func(m map[string]any) { obj(m, "workload")["partitions"] = -1 }, "workload: partitions: -1 is outside [1, 1024]"},
		{"unknown workload field", func(m map[string]any) { obj(m, "workload")["partitons"] = 2 }, `workload: unknown field "partitons"`},
		{"log without result", func(m map[string]any) { delete(step(m, 0), "result") }, "steps[0]: a step has an hdrLog exactly when it has a result"},
		{"not json", nil, "run.json: not JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte("{nope")
			if c.mutate != nil {
				var m map[string]any
				if err := json.Unmarshal(good, &m); err != nil {
					t.Fatal(err)
				}
				if m["git"] == nil {
					m["git"] = map[string]any{"revision": "0123456789abcdef", "dirty": false}
				}
				c.mutate(m)
				data, _ = json.Marshal(m)
			}
			err := ValidateRunJSON(data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ValidateRunJSON = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func obj(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }

func step(m map[string]any, i int) map[string]any { return m["steps"].([]any)[i].(map[string]any) }

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine(t.TempDir())
	if m.CPUs < 1 || m.GoVersion != runtime.Version() || m.CPUModel == "" || m.Kernel == "" {
		t.Errorf("machine %+v", m)
	}
	if runtime.GOOS == "linux" && (m.FileSystem == unknown || m.Kernel == unknown) {
		t.Errorf("on Linux the file system and kernel are known: %+v", m)
	}
	if m := DescribeMachine(""); m.DataDir != unknown || m.FileSystem != unknown {
		t.Errorf("no data dir: %+v", m)
	}
}
