package brokerbench

import (
	"encoding/json"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"os"
	"testing"
)

// TestRunTiny runs every measurement once in a tiny configuration and
// checks the report's shape and that nothing is left behind; never a
// timing.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and two nats-servers")
	}
	dir := t.TempDir()
	rep, err := Run(TinyConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"produce": false, "durable": false, "fetch": false}
	for _, r := range rep.Rows {
		want[r.Group] = true
		if r.Sluice <= 0 || r.Baseline <= 0 || r.Ratio <= 0 {
			t.Errorf("row %q has a non-positive figure: %+v", r.Name, r)
		}
		if r.Verdict == "" {
			t.Errorf("row %q has no verdict", r.Name)
		}
	}
	for g, seen := range want {
		if !seen {
			t.Errorf("no row for group %s", g)
		}
	}
	if len(rep.Rows) != 9 || rep.RunsTotal != 11 {
		t.Errorf("%d rows and %d runs; want 9 and 11", len(rep.Rows), rep.RunsTotal)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("left behind in %s: %v (%v)", dir, names, err)
	}
}

func TestUnknownGroup(t *testing.T) {
	if _, err := Run(Config{Only: []string{"nope"}}); err == nil {
		t.Error("Run accepted an unknown group")
	}
}

func TestMedianAndQuota(t *testing.T) {
	if m, lo, hi := benchutil.Median([]float64{3, 1, 2, 10}); m != 2.5 || lo != 1 || hi != 10 {
		t.Errorf("median = %v %v %v", m, lo, hi)
	}
	p := ProduceParams{Producers: 3, Messages: 10}
	var sum int64
	for i := range 3 {
		sum += p.quota(i)
	}
	if sum != 10 || p.quota(0) != 4 || (ProduceParams{}).quota(0) != -1 {
		t.Errorf("quotas sum to %d, first %d", sum, p.quota(0))
	}
}
