package benchutil

import "testing"

func TestMedianRatiosVerdict(t *testing.T) {
	if m, lo, hi := Median([]float64{3, 1, 2}); m != 2 || lo != 1 || hi != 3 {
		t.Fatalf("Median odd: %v %v %v", m, lo, hi)
	}
	if m, _, _ := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("Median even: %v", m)
	}
	if m, lo, hi := Median(nil); m != 0 || lo != 0 || hi != 0 {
		t.Fatal("Median of nothing")
	}
	r := Ratios([]float64{90, 80, 100}, []float64{100, 100, 0})
	if !near(r.Median, 0.85) || !near(r.Min, 0.8) || !near(r.Max, 0.9) || r.Candidate != 90 || r.Baseline != 100 {
		t.Fatalf("Ratios: %+v", r)
	}
	for _, c := range []struct {
		ratio, goal float64
		atMost      bool
		want        string
	}{{1, 0, false, "info"}, {0.9, 0.9, false, "pass"}, {0.89, 0.9, false, "short"}, {1.2, 1.2, true, "pass"}, {1.3, 1.2, true, "short"}} {
		if got := Verdict(c.ratio, c.goal, c.atMost); got != c.want {
			t.Errorf("Verdict(%v, %v, %v) = %s", c.ratio, c.goal, c.atMost, got)
		}
	}
	type pr struct{ dirty bool }
	kept, discarded, noisy := KeepClean([]pr{{false}, {true}, {false}}, func(p pr) bool { return !p.dirty })
	if len(kept) != 2 || discarded != 1 || noisy {
		t.Fatalf("KeepClean: %v %d %v", kept, discarded, noisy)
	}
	kept, discarded, noisy = KeepClean([]pr{{true}, {true}}, func(p pr) bool { return !p.dirty })
	if len(kept) != 2 || discarded != 2 || !noisy {
		t.Fatalf("KeepClean with no clean pair: %v %d %v", kept, discarded, noisy)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
