package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/loadgen/results"
)

// oneCombo is a quick sweep of one combination: the whole path (embedded
// cluster processes, probe, open-loop steps, results, charts) in ~20 s.
const oneCombo = `name: ci-sweep
topics: 1
partitions: 2
replicationFactor: 3
messageSize: 512
producers: 1
inFlight: 200
consumers:
  count: 1
rate: 1000
acks: all
syncPolicy: never
warmUp: 1s
duration: 2s
sweep:
  acks: [all]
  modes: [isr]
  syncPolicies: [never]
`

// benchCLI runs the real binary and returns stdout; it fails the test on a
// non-zero exit.
func benchCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %v: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

func resultDir(t *testing.T, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if dir, ok := strings.CutPrefix(line, "results: "); ok {
			return strings.TrimSpace(dir)
		}
	}
	t.Fatalf("no results line in %q", stdout)
	return ""
}

// TestBenchQuickSweepEmbedded: `sluice bench sweep --quick` with no
// --brokers starts etcd and three brokers as processes, sweeps, stores a
// valid result directory with charts and a report, tears the cluster down;
// `sluice chart` redraws it from the stored data.
func TestBenchQuickSweepEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary and a cluster of processes")
	}
	dir := t.TempDir()
	wl := filepath.Join(dir, "ci.yaml")
	if err := os.WriteFile(wl, []byte(oneCombo), 0o644); err != nil {
		t.Fatal(err)
	}
	clusters := filepath.Join(dir, "clusters")
	if err := os.Mkdir(clusters, 0o755); err != nil {
		t.Fatal(err)
	}
	out := benchCLI(t, "bench", "sweep", "--quick", "--results", filepath.Join(dir, "results"), "--dir", clusters, wl)
	rd := resultDir(t, out)
	st, err := results.Read(rd)
	if err != nil {
		t.Fatal(err)
	}
	if st.Info.Kind != results.KindSweep || len(st.Steps) < 2 {
		t.Fatalf("stored %s with %d steps, want a sweep with a probe and steps", st.Info.Kind, len(st.Steps))
	}
	for _, s := range st.Steps {
		if s.Error != "" || s.Result == nil || s.Result.AchievedRate <= 0 || s.Result.Publish.Count == 0 {
			t.Fatalf("step %+v: failed or measured nothing", s)
		}
	}
	data, err := os.ReadFile(filepath.Join(rd, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := results.ValidateRunJSON(data); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"summary.csv", "series.csv", "report.html"} {
		if fi, err := os.Stat(filepath.Join(rd, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(rd, "charts", "*.svg"))
	pngs, _ := filepath.Glob(filepath.Join(rd, "charts", "*.png"))
	if len(svgs) == 0 || len(pngs) == 0 {
		t.Errorf("charts: %d SVG, %d PNG", len(svgs), len(pngs))
	}
	if left, _ := os.ReadDir(clusters); len(left) != 0 {
		t.Errorf("the embedded cluster's directory was left behind: %v", left)
	}

	report := filepath.Join(rd, "report.html")
	if err := os.Remove(report); err != nil {
		t.Fatal(err)
	}
	benchCLI(t, "chart", rd)
	if _, err := os.Stat(report); err != nil {
		t.Fatalf("sluice chart did not redraw the report: %v", err)
	}
}

// TestBenchRunAndRerun: `bench run` stores one open-loop run;
// `bench --rerun DIR` repeats it (same workload, same flags) into a new
// directory.
func TestBenchRunAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary and a cluster of processes")
	}
	dir := t.TempDir()
	wl := filepath.Join(dir, "run.yaml")
	short := strings.Replace(oneCombo, "name: ci-sweep", "name: ci-run", 1)
	if err := os.WriteFile(wl, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(dir, "results")
	first := resultDir(t, benchCLI(t, "bench", "run", "--results", res, "--name", "first", "--dir", dir, wl))
	a, err := results.Read(first)
	if err != nil {
		t.Fatal(err)
	}
	if a.Info.Kind != results.KindRun || len(a.Steps) != 1 || a.Steps[0].Result == nil || a.Steps[0].Result.Counts.Acked == 0 {
		t.Fatalf("bench run stored %+v", a.Info)
	}
	if r := a.Steps[0].Result; r.TargetRate != 1000 || r.Loop != "open" {
		t.Errorf("the run was not open loop at the workload's 1000 msgs/s: %s at %v", r.Loop, r.TargetRate)
	}
	second := resultDir(t, benchCLI(t, "bench", "--rerun", first))
	if second == first {
		t.Fatal("--rerun wrote over the run it repeats")
	}
	b, err := results.Read(second)
	if err != nil {
		t.Fatal(err)
	}
	if b.Info.Kind != results.KindRun || b.Info.Workload.Name != "ci-run" || b.Info.Workload.Rate != a.Info.Workload.Rate ||
		!slices.Equal(b.Info.Args, a.Info.Args) || b.Steps[0].Result == nil || b.Steps[0].Result.Counts.Acked == 0 {
		t.Fatalf("rerun stored %+v, want the workload and args of %+v", b.Info, a.Info)
	}
}
