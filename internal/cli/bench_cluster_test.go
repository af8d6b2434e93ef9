package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerbench"
)

func TestBenchClusterUsage(t *testing.T) {
	code, out, errOut := run("bench", "cluster", "-h")
	if code != exitOK || errOut != "" || !strings.Contains(out, "--quick") || !strings.Contains(out, "--messages") ||
		!strings.Contains(out, "Usage: sluice bench cluster") {
		t.Errorf("bench cluster -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = run("bench", "-h")
	if code != exitOK || !strings.Contains(out, "cluster") {
		t.Errorf("bench -h does not list cluster: %q", out)
	}
	for _, args := range [][]string{
		{"bench", "cluster", "--bogus"},
		{"bench", "cluster", "--runs", "-1"},
		{"bench", "cluster", "--messages", "-5"},
		{"bench", "cluster", "extra"},
	} {
		code, out, errOut := run(args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "sluice: bench cluster: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
	}
}

// TestBenchClusterTable prints a made-up report: every row, the failover
// table and the setup appear. (The benchmark itself is run by
// brokerbench's TestRunClusterTiny.)
func TestBenchClusterTable(t *testing.T) {
	rep := &brokerbench.ClusterReport{
		Rows: []brokerbench.ClusterRow{
			{Name: "isr sync=never acks=1", Baseline: true, MsgsPerSec: 20000, P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond, P999: 12 * time.Millisecond, Kept: 3},
			{Name: "isr sync=never acks=all", MsgsPerSec: 9000, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond, P999: 20 * time.Millisecond,
				Ratio: 0.45, RatioMin: 0.4, RatioMax: 0.5, P99Ratio: 2.25, P99RatioMin: 2, P99RatioMax: 2.5, Kept: 2, Discarded: 1},
			{Name: "isr sync=never acks=all, follower stalled", Stalled: true, MsgsPerSec: 3000, P50: 3 * time.Millisecond, P99: time.Second, P999: 1010 * time.Millisecond,
				Ratio: 0.15, P99Ratio: 250, Noisy: true, Detail: "stalled follower: broker [3]"},
		},
		Failovers: []brokerbench.FailoverRow{
			{Mode: "isr", Failover: brokerbench.DurationStats{Median: 2100 * time.Millisecond, Min: 2 * time.Second, Max: 2200 * time.Millisecond, N: 3},
				Resumed: brokerbench.DurationStats{Median: 3 * time.Second, N: 3}, Samples: make([]brokerbench.FailoverSample, 3)},
			{Mode: "quorum", Failover: brokerbench.DurationStats{Median: 1900 * time.Millisecond, N: 3}, Samples: make([]brokerbench.FailoverSample, 3)},
		},
		Setup: []string{"produce: something"}, SessionTTL: 2 * time.Second, ReplicaLagMax: 10 * time.Second, Messages: 100, RunsTotal: 9, Dir: "/tmp/x",
	}
	var b strings.Builder
	printClusterReport(&b, rep)
	out := b.String()
	for _, want := range []string{
		"configuration", "isr sync=never acks=1 ", "baseline", "20000", "1.5 ms", "12 ms",
		"isr sync=never acks=all ", "0.45 (0.40..0.50)", "2.25 (2.00..2.50)", "2/1",
		"follower stalled", "1.00 s", "noisy", "stalled follower: broker [3]",
		"failover", "session TTL 2s, replica.lag.time.max 10s", "2.10 s (2.00 s..2.20 s)", "not seen", "setup:", "produce: something", "9 runs of 100 messages",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
