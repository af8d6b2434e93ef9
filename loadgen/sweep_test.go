package loadgen

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// quorumless refuses the quorum mode, to test skipping.
type quorumless struct{ *Fake }

func (q quorumless) Describe(w Workload) (Mapping, error) {
	if w.ReplicationMode == ModeQuorum {
		return Mapping{}, fmt.Errorf("%w: no quorum here", ErrUnsupported)
	}
	return q.Fake.Describe(w)
}

// The sweep finds the saturation point of a sink that serves at most
// ~2000 msgs/s: the probe measures it, the steps rise until one falls
// short, and the unsupported combination is listed, not run.
func TestSweepFindsSaturation(t *testing.T) {
	f := NewFake(FakeOptions{ServiceTime: time.Millisecond, PerMessage: 500 * time.Microsecond})
	defer f.Close()
	w := Workload{
		Name: "sweep", Producers: 2, MessageSize: SizeDist{Fixed: 64}, InFlight: 50,
		Sweep: &SweepSpec{
			Modes: []ReplicationMode{ModeISR, ModeQuorum}, Fractions: []float64{0.5, 1.5, 2, 3},
			Probe: Duration(time.Second), StepWarmUp: DurationOf(0), StepDuration: Duration(time.Second),
		},
	}
	var seen []Step
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sw, err := Sweep(ctx, w, quorumless{f}, SweepOptions{Run: Options{Drain: 2 * time.Second}, OnStep: func(s Step) { seen = append(seen, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Skipped) != 1 || sw.Skipped[0].Combo.Mode != ModeQuorum || !strings.Contains(sw.Skipped[0].Reason, "no quorum") {
		t.Errorf("skipped %+v", sw.Skipped)
	}
	if len(seen) != len(sw.Steps) {
		t.Errorf("OnStep saw %d of %d steps", len(seen), len(sw.Steps))
	}
	probe := sw.Steps[0]
	if !probe.Probe || probe.Result.Loop != LoopClosed || probe.Result.AchievedRate < 1000 || probe.Result.AchievedRate > 2200 {
		t.Fatalf("probe %+v at %.0f msgs/s, want about 2000", probe, probe.Result.AchievedRate)
	}
	steps := sw.Steps[1:]
	// 50% keeps up; 150% cannot; the curve ends there.
	if len(steps) != 2 {
		t.Fatalf("steps after the probe: %d, want 2 (50%%, then 150%% saturates)", len(steps))
	}
	if s := steps[0]; s.Stop != "" || s.Result.TargetRate != 0.5*probe.Result.AchievedRate || s.Result.Loop != LoopOpen {
		t.Errorf("first step %+v (%s)", s.Result.TargetRate, s.Stop)
	}
	if s := steps[1]; !strings.Contains(s.Stop, "below 95% of the") || s.Fraction != 1.5 {
		t.Errorf("the 150%% step should stop the curve: %q", s.Stop)
	}
}

func TestSaturatedRules(t *testing.T) {
	spec := SweepSpec{}.withDefaults()
	ok := &Result{TargetRate: 1000, AchievedRate: 990, Publish: Latency{P99: 4 * time.Millisecond}}
	if s := saturated(ok, spec, time.Millisecond); s != "" {
		t.Errorf("a 4ms p99 is under the floor: %q", s)
	}
	slow := *ok
	slow.Publish.P99 = 11 * time.Millisecond
	if s := saturated(&slow, spec, time.Millisecond); !strings.Contains(s, "p99") {
		t.Errorf("p99 11× the first: %q", s)
	}
	unsent := *ok
	unsent.Counts.Unsent = 3
	if s := saturated(&unsent, spec, time.Millisecond); !strings.Contains(s, "could not be made") {
		t.Errorf("unsent: %q", s)
	}
}

func TestCombos(t *testing.T) {
	w := Workload{Acks: Acks1, ReplicationMode: ModeISR, SyncPolicy: SyncNever, Sweep: &SweepSpec{
		Acks: []Acks{Acks1, AcksAll}, SyncPolicies: []SyncPolicy{SyncNever, SyncAlways},
	}}
	got := w.Combos()
	want := []Combo{{Acks1, ModeISR, SyncNever}, {AcksAll, ModeISR, SyncNever}, {Acks1, ModeISR, SyncAlways}, {AcksAll, ModeISR, SyncAlways}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("combos %v, want %v", got, want)
	}
}
