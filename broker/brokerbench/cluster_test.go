package brokerbench

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// TestRunClusterTiny runs the cluster benchmark once in a tiny
// configuration (a few hundred messages per run, one crash per mode) and
// checks that the report has every configuration with a non-zero
// throughput and a failover per mode, and that nothing is left behind;
// never a timing.
func TestRunClusterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three brokers")
	}
	dir := t.TempDir()
	cfg := TinyClusterConfig(dir)
	cfg.Progress = os.Stderr // DEBUG
	rep, err := RunCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]bool)
	for _, mode := range ClusterModes {
		for _, policy := range ClusterSyncPolicies {
			for _, v := range clusterVariants {
				want[mode+" sync="+policy+" "+v.String()] = false
			}
		}
	}
	for _, r := range rep.Rows {
		if _, ok := want[r.Name]; !ok {
			t.Errorf("unexpected row %q", r.Name)
		}
		want[r.Name] = true
		if r.MsgsPerSec <= 0 || r.Ratio <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.P999 < r.P99 || len(r.Runs) != 1 {
			t.Errorf("row %q: %+v", r.Name, r)
		}
		if r.Stalled && r.Runs[0].StalledBroker == 0 {
			t.Errorf("row %q stalled no broker", r.Name)
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no row %q", name)
		}
	}
	if len(rep.Failovers) != len(ClusterModes) {
		t.Fatalf("%d failover rows, want %d", len(rep.Failovers), len(ClusterModes))
	}
	for _, f := range rep.Failovers {
		if len(f.Samples) != 1 || f.Failover.N != 1 || f.Failover.Median <= 0 || f.Resumed.N != 1 {
			t.Errorf("failover %s: %+v", f.Mode, f)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("left behind in %s: %v (%v)", dir, names, err)
	}
}

func TestRunClusterRefusesManyPartitions(t *testing.T) {
	if _, err := RunCluster(ClusterConfig{Partitions: clusterBrokers}); err == nil {
		t.Error("RunCluster accepted a partition count that leaves no broker without a leadership")
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 1; i <= 1000; i++ {
		xs = append(xs, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := percentile(xs, c.q); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestGate(t *testing.T) {
	g := &gate{}
	g.wait() // open: returns at once
	g.shut()
	g.shut()
	done := make(chan struct{})
	go func() { g.wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("wait returned while the gate was shut")
	default:
	}
	g.open()
	<-done
	g.open()
	g.wait()
}
