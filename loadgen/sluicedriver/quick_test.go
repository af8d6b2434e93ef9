package sluicedriver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/results"
)

// TestQuickSweepBudget runs workloads/quick.yaml as a quick sweep against
// a 3-broker in-process cluster and checks it stays near its two-minute
// budget. It takes that long, so it runs only when LOADGEN_QUICK_SWEEP is
// set (to a directory: the results are written there).
//
//	LOADGEN_QUICK_SWEEP=/tmp/results go test -run QuickSweepBudget -v ./loadgen/sluicedriver/
func TestQuickSweepBudget(t *testing.T) {
	out := os.Getenv("LOADGEN_QUICK_SWEEP")
	if out == "" {
		t.Skip("set LOADGEN_QUICK_SWEEP=<results dir> to run the quick sweep (about 2 minutes)")
	}
	w, err := loadgen.LoadWorkload("../workloads/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, brokertest.Options{Brokers: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := New(ctx, Options{Bootstrap: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	sw, err := loadgen.Sweep(ctx, w, d, loadgen.SweepOptions{Quick: true, OnStep: func(s loadgen.Step) {
		if s.Result != nil {
			t.Logf("%s probe=%v target %.0f achieved %.0f p99 %v e2e p99 %v %s", s.Combo, s.Probe, s.Result.TargetRate, s.Result.AchievedRate, s.Result.Publish.P99, s.Result.EndToEnd.P99, s.Stop)
		} else {
			t.Logf("%s: %s", s.Combo, s.Error)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	t.Logf("quick sweep: %d steps in %v", len(sw.Steps), elapsed)
	dir, err := results.WriteSweep(out, results.NewInfo(results.Header{Driver: d.Name(), Args: []string{"--quick"}, Quick: true, DataDir: c.Config(0).DataDir}), sw)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("results in %s (written in %v)", dir, time.Since(start)-elapsed)
	if elapsed > 150*time.Second {
		t.Errorf("the quick sweep took %v; its budget is about 2 minutes", elapsed)
	}
}
