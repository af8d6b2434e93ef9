package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Combo is one point of a sweep's settings cross product.
type Combo struct {
	Acks Acks            `json:"acks"`
	Mode ReplicationMode `json:"mode"`
	Sync SyncPolicy      `json:"sync"`
}

func (c Combo) String() string {
	return fmt.Sprintf("acks=%s mode=%s sync=%s", c.Acks, c.Mode, c.Sync)
}

// Apply returns w with c's settings.
func (c Combo) Apply(w Workload) Workload {
	w.Acks, w.ReplicationMode, w.SyncPolicy = c.Acks, c.Mode, c.Sync
	return w
}

// SweepOptions tune Sweep.
type SweepOptions struct {
	// Quick replaces the workload's sweep fractions and timings by
	// QuickSweep's (keeping its combinations), sized so a sweep of eight
	// combinations takes about two minutes.
	Quick bool
	// Run is passed to every run (its Drain is shortened in quick mode).
	Run Options
	// OnStep is called after every step, e.g. to print or store it.
	OnStep func(Step)
}

// QuickSweep is the sweep section used in quick mode: per combination a
// 2 s probe and up to three 2 s steps (30%, 70% and 100% of the probed
// rate), each after a 1 s warm-up — about 15 s per combination on a
// 2-core machine against a local 3-broker cluster, topic setup and drain
// included (measured: workloads/quick.yaml's 8 combinations in about two
// minutes).
var QuickSweep = SweepSpec{
	Fractions:    []float64{0.3, 0.7, 1.0},
	Probe:        Duration(2 * time.Second),
	StepWarmUp:   DurationOf(time.Second),
	StepDuration: Duration(2 * time.Second),
	MinAchieved:  0.95,
	P99Factor:    10,
}

// quickDrain bounds each quick run's drain.
const quickDrain = 3 * time.Second

// Step is one run of a sweep: the closed-loop probe of a combination or
// an open-loop step at Fraction of the probed rate.
type Step struct {
	Combo    Combo   `json:"combo"`
	Probe    bool    `json:"probe"`
	Fraction float64 `json:"fraction,omitempty"`
	Result   *Result `json:"result,omitempty"`
	// Error is why the run failed (no Result then).
	Error string `json:"error,omitempty"`
	// Stop says why the curve ended after this step: it saturated the
	// system (achieved rate below target, latency exploded, sends left
	// unsent) or failed.
	Stop string `json:"stop,omitempty"`
}

// Skipped is a combination the driver cannot run honestly.
type Skipped struct {
	Combo  Combo  `json:"combo"`
	Reason string `json:"reason"`
}

// SweepResult is the outcome of Sweep.
type SweepResult struct {
	Workload Workload  `json:"workload"`
	Spec     SweepSpec `json:"spec"`
	Quick    bool      `json:"quick"`
	Steps    []Step    `json:"steps"`
	Skipped  []Skipped `json:"skipped,omitempty"`
}

// Combos returns the cross product of the sweep's settings, sync policy
// outermost (a driver that restarts a server to change it does so once per
// policy), then mode, then acks. Empty lists take the workload's value.
func (w Workload) Combos() []Combo {
	var s SweepSpec
	if w.Sweep != nil {
		s = *w.Sweep
	}
	acks, modes, syncs := s.Acks, s.Modes, s.SyncPolicies
	if len(acks) == 0 {
		acks = []Acks{w.Acks}
	}
	if len(modes) == 0 {
		modes = []ReplicationMode{w.ReplicationMode}
	}
	if len(syncs) == 0 {
		syncs = []SyncPolicy{w.SyncPolicy}
	}
	var out []Combo
	for _, sp := range syncs {
		for _, m := range modes {
			for _, a := range acks {
				out = append(out, Combo{Acks: a, Mode: m, Sync: sp})
			}
		}
	}
	return out
}

// Sweep runs, for every combination of the workload's sweep section, a
// closed-loop probe to find the maximum rate and then open-loop steps at
// the listed fractions of it, from low to high, until a step saturates:
// its achieved rate is below MinAchieved of the target, its publish p99 is
// above P99Factor times the first step's (and above 5 ms), or it could
// not send everything it scheduled. Combinations the driver has no honest
// mapping for are skipped and listed. A failed run ends its curve; ctx
// ending stops the sweep with what was measured so far.
func Sweep(ctx context.Context, w Workload, d Driver, opts SweepOptions) (*SweepResult, error) {
	w = w.WithDefaults()
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("loadgen: workload %s: %w", w.Name, err)
	}
	spec := SweepSpec{}.withDefaults()
	if w.Sweep != nil {
		spec = *w.Sweep
	}
	runOpts := opts.Run
	if opts.Quick {
		q := QuickSweep
		q.Acks, q.Modes, q.SyncPolicies = spec.Acks, spec.Modes, spec.SyncPolicies
		spec = q
		if runOpts.Drain == 0 || runOpts.Drain > quickDrain {
			runOpts.Drain = quickDrain
		}
	}
	out := &SweepResult{Workload: w, Spec: spec, Quick: opts.Quick}
	add := func(s Step) {
		out.Steps = append(out.Steps, s)
		if opts.OnStep != nil {
			opts.OnStep(s)
		}
	}
	for _, c := range w.Combos() {
		wc := c.Apply(w)
		wc.Sweep = nil
		wc.WarmUp = spec.StepWarmUp
		if _, err := d.Describe(wc); err != nil {
			if !errors.Is(err, ErrUnsupported) {
				return out, fmt.Errorf("loadgen: %s driver: %w", d.Name(), err)
			}
			out.Skipped = append(out.Skipped, Skipped{Combo: c, Reason: err.Error()})
			continue
		}
		probe := wc
		probe.Rate, probe.Duration = 0, spec.Probe
		res, err := Run(ctx, probe, d, runOpts)
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if err != nil || res.AchievedRate <= 0 {
			s := Step{Combo: c, Probe: true, Result: res, Stop: "the probe acknowledged nothing"}
			if err != nil {
				s.Error, s.Stop, s.Result = err.Error(), "the probe failed", nil
			}
			add(s)
			continue
		}
		add(Step{Combo: c, Probe: true, Result: res})
		maxRate := res.AchievedRate
		var firstP99 time.Duration
		for i, f := range spec.Fractions {
			st := wc
			st.Rate, st.Duration = f*maxRate, spec.StepDuration
			res, err := Run(ctx, st, d, runOpts)
			if err := ctx.Err(); err != nil {
				return out, err
			}
			s := Step{Combo: c, Fraction: f, Result: res}
			if err != nil {
				s.Error, s.Stop, s.Result = err.Error(), "the step failed", nil
				add(s)
				break
			}
			if i == 0 {
				firstP99 = res.Publish.P99
			}
			s.Stop = saturated(res, spec, firstP99)
			add(s)
			if s.Stop != "" {
				break
			}
		}
	}
	return out, nil
}

// p99Floor keeps the latency rule from firing on tiny absolute values (a
// p99 going from 100µs to 1.1ms is noise on a shared machine, not
// saturation).
const p99Floor = 5 * time.Millisecond

// saturated says why a step ended its curve, or "".
func saturated(res *Result, spec SweepSpec, firstP99 time.Duration) string {
	switch {
	case res.AchievedRate < spec.MinAchieved*res.TargetRate:
		return fmt.Sprintf("achieved %.0f msgs/s, below %.0f%% of the %.0f target", res.AchievedRate, 100*spec.MinAchieved, res.TargetRate)
	case res.Counts.Unsent > 0:
		return fmt.Sprintf("%d scheduled sends could not be made in time", res.Counts.Unsent)
	case res.Publish.P99 > p99Floor && float64(res.Publish.P99) > spec.P99Factor*float64(firstP99):
		return fmt.Sprintf("publish p99 %v is over %.0f× the first step's %v", res.Publish.P99, spec.P99Factor, firstP99)
	}
	return ""
}
