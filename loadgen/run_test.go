package loadgen

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func fakeWorkload(rate float64, warmUp, dur time.Duration) Workload {
	return Workload{
		Name: "t", Rate: rate, Producers: 2, Partitions: 4, MessageSize: SizeDist{Fixed: 200},
		Consumers: Consumers{Count: 2}, WarmUp: DurationOf(warmUp), Duration: Duration(dur),
	}
}

func runFake(t *testing.T, w Workload, fo FakeOptions, opts Options) *Result {
	t.Helper()
	f := NewFake(fo)
	t.Cleanup(func() { f.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opts.Drain == 0 {
		opts.Drain = 5 * time.Second
	}
	res, err := Run(ctx, w, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The open-loop scheduler achieves the scheduled rate on a sink that keeps
// up, every message is sent, acknowledged and received once, and the
// latency is the sink's service time.
func TestRunAchievesScheduledRate(t *testing.T) {
	const rate = 2000.0
	var progress []Progress
	res := runFake(t, fakeWorkload(rate, 500*time.Millisecond, 2*time.Second),
		FakeOptions{ServiceTime: 2 * time.Millisecond},
		Options{Progress: func(p Progress) { progress = append(progress, p) }})

	if res.Loop != LoopOpen {
		t.Fatalf("loop = %s", res.Loop)
	}
	if d := math.Abs(res.AchievedRate-rate) / rate; d > 0.03 {
		t.Errorf("achieved %.0f msgs/s, scheduled %.0f (off by %.1f%%)", res.AchievedRate, rate, 100*d)
	}
	c := res.Counts
	// 2.5 s at 2000/s: the schedule's count is exact.
	if c.Scheduled != 5000 || c.Sent != c.Scheduled || c.Acked != c.Sent || c.Unsent != 0 || c.Unacked != 0 {
		t.Errorf("counts %+v", c)
	}
	if c.Received != c.Acked || c.Duplicates != 0 || c.Missing != 0 || c.Foreign != 0 {
		t.Errorf("delivery counts %+v", c)
	}
	// Measured messages only: 2 s of the 2.5 s.
	if n := res.Publish.Count; n < 3900 || n > 4100 {
		t.Errorf("cumulative publish count %d, want about 4000 (warm-up excluded)", n)
	}
	if res.Publish.P50 < 2*time.Millisecond || res.Publish.P50 > 20*time.Millisecond {
		t.Errorf("publish p50 %v, want the 2ms service time plus a little", res.Publish.P50)
	}
	if res.EndToEnd.P50 < res.Publish.P50/2 || res.EndToEnd.Count != res.Publish.Count {
		t.Errorf("e2e %+v vs publish %+v", res.EndToEnd, res.Publish)
	}
	var perSecond int64
	for _, iv := range res.Intervals {
		if iv.Phase == PhaseMeasure {
			perSecond += iv.Scheduled
			if d := math.Abs(float64(iv.Acked)-rate*iv.Seconds()) / rate; d > 0.05 {
				t.Errorf("interval %v-%v acked %d", iv.Start, iv.End, iv.Acked)
			}
		}
	}
	if perSecond != 4000 {
		t.Errorf("scheduled in the measured intervals %d, want 4000", perSecond)
	}
	if len(progress) < 2 || progress[len(progress)-1].Elapsed < 2*time.Second {
		t.Errorf("progress callbacks: %+v", progress)
	}
}

// Coordinated omission: a sink that stops answering for 300 ms must show
// up as latency of at least the stall for the messages due during it (not
// as one slow message), and as pending sends in the per-second series.
func TestRunStallShowsAsLatency(t *testing.T) {
	const (
		rate  = 1000.0
		stall = 300 * time.Millisecond
	)
	res := runFake(t, fakeWorkload(rate, 0, 2*time.Second),
		FakeOptions{ServiceTime: time.Millisecond, Stalls: []FakeStall{{After: time.Second, For: stall}}},
		Options{})

	// The first message due after the stall started waits for all of it.
	if res.Publish.Max < stall-10*time.Millisecond {
		t.Errorf("publish max %v, want at least the %v stall", res.Publish.Max, stall)
	}
	if res.EndToEnd.Max < stall-10*time.Millisecond {
		t.Errorf("e2e max %v, want at least the stall", res.EndToEnd.Max)
	}
	// 15% of the messages are due inside the stall, their latencies spread
	// over 0..300ms, so the p99 is near the stall; a closed-loop tool would
	// report a p99 of about the service time.
	if res.Publish.P99 < stall*3/4 {
		t.Errorf("publish p99 %v, want near the stall %v", res.Publish.P99, stall)
	}
	if res.Publish.P50 > 50*time.Millisecond {
		t.Errorf("publish p50 %v: the stall should not move the median", res.Publish.P50)
	}
	var peak int64
	for _, iv := range res.Intervals {
		peak = max(peak, iv.PendingMax)
	}
	// 300 ms at 1000/s: about 300 sends due and unanswered at the peak.
	if peak < 240 {
		t.Errorf("largest pending count %d, want about %v", peak, rate*stall.Seconds())
	}
	if res.Counts.Acked != res.Counts.Scheduled {
		t.Errorf("counts %+v", res.Counts)
	}
}

// A full in-flight window delays sends without skipping them: the wait is
// latency, the series shows the backlog.
func TestRunFullWindowCountsAsLatency(t *testing.T) {
	w := fakeWorkload(1000, 0, 2*time.Second)
	w.InFlight = 10
	w.Producers = 1
	res := runFake(t, w,
		FakeOptions{ServiceTime: time.Millisecond, Stalls: []FakeStall{{After: 500 * time.Millisecond, For: 300 * time.Millisecond}}},
		Options{})
	if res.Counts.Sent != res.Counts.Scheduled || res.Counts.Unsent != 0 {
		t.Fatalf("counts %+v: every scheduled send must be made", res.Counts)
	}
	if res.SendLag.Max < 250*time.Millisecond {
		t.Errorf("send lag max %v: the window was full for most of the stall", res.SendLag.Max)
	}
	if res.Publish.Max < 290*time.Millisecond {
		t.Errorf("publish max %v", res.Publish.Max)
	}
	// The ~300 messages due during the stall all waited (for the window,
	// then for the sink): 15% of the run, so the p99 is near the stall. A
	// tool timing from the actual send would see ~10 slow messages and a
	// p99 of about the service time.
	if res.Publish.P99 < 200*time.Millisecond {
		t.Errorf("publish p99 %v: the wait for the window must count as latency", res.Publish.P99)
	}
	var backlog int64
	for _, iv := range res.Intervals {
		backlog = max(backlog, iv.PendingMax)
	}
	if backlog < 200 {
		t.Errorf("pending max %d, want about 300", backlog)
	}
}

func TestRunClosedLoop(t *testing.T) {
	w := fakeWorkload(0, 0, time.Second)
	w.InFlight = 5
	res := runFake(t, w, FakeOptions{ServiceTime: time.Millisecond}, Options{})
	if res.Loop != LoopClosed || len(res.Notes) == 0 {
		t.Fatalf("loop %s notes %q", res.Loop, res.Notes)
	}
	// Two producers with 5 in flight and 1ms of service: ~10k/s at most.
	if res.AchievedRate < 500 || res.AchievedRate > 11000 {
		t.Errorf("achieved %.0f msgs/s", res.AchievedRate)
	}
	for _, iv := range res.Intervals {
		if iv.InFlight > 10 || iv.Backlog != 0 {
			t.Errorf("interval %+v exceeds the window", iv)
		}
	}
	if res.Counts.Missing != 0 || res.Counts.Received != res.Counts.Acked {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestRunCountsErrors(t *testing.T) {
	w := fakeWorkload(1000, 0, time.Second)
	res := runFake(t, w, FakeOptions{FailEvery: 10}, Options{})
	c := res.Counts
	if c.Errors != c.Sent/10 || c.Acked+c.Errors != c.Sent {
		t.Errorf("counts %+v", c)
	}
	if len(res.ErrorSamples) == 0 || res.ErrorSamples[0] != ErrFakeFailure.Error() {
		t.Errorf("error samples %q", res.ErrorSamples)
	}
	if res.Publish.Count >= c.Sent {
		t.Errorf("failed sends must not be recorded as latencies: %d of %d", res.Publish.Count, c.Sent)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	f := NewFake(FakeOptions{})
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	w := fakeWorkload(100, 0, time.Hour)
	res, err := Run(ctx, w, f, Options{Progress: func(Progress) { cancel() }})
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("Run = %v, %v", res, err)
	}
	if res.Counts.Sent == 0 || res.Elapsed > 10*time.Second {
		t.Errorf("stopped run: %+v after %v", res.Counts, res.Elapsed)
	}
}
