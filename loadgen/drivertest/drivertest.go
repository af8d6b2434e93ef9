// Package drivertest is the conformance suite every loadgen.Driver passes
// (STYLE.md habit 4): the fake, the sluice driver against an in-process
// cluster and the nats driver against an embedded nats-server run the same
// checks, so the drivers keep the same workload semantics.
package drivertest

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// Workload is the suite's base workload: two producers at 400 msgs/s into
// two topics of two partitions, keyed, mixed sizes, two consumers, one
// second measured after half a second of warm-up.
func Workload() loadgen.Workload {
	return loadgen.Workload{
		Name: "conformance", Topics: 2, Partitions: 2, Producers: 2, Rate: 400,
		MessageSize: loadgen.SizeDist{Weighted: []loadgen.WeightedSize{{Size: 100, Weight: 3}, {Size: 2000, Weight: 1}}},
		Keys:        loadgen.KeyDist{Distribution: loadgen.KeysUniform, Count: 50},
		Consumers:   loadgen.Consumers{Count: 2}, Compressibility: 0.5,
		WarmUp: loadgen.DurationOf(500 * time.Millisecond), Duration: loadgen.Duration(time.Second),
	}
}

// Case is one run of the suite: a name, workload changes and what the run
// promises.
type Case struct {
	Name   string
	Change func(*loadgen.Workload)
	// Lossy: messages may be lost (acks 0): Missing may be non-zero.
	Lossy bool
}

// DefaultCases cover every ack level, both consumer modes and a closed
// loop.
func DefaultCases() []Case {
	return []Case{
		{Name: "acks=all", Change: func(w *loadgen.Workload) { w.Acks = loadgen.AcksAll }},
		{Name: "acks=1/group", Change: func(w *loadgen.Workload) { w.Acks = loadgen.Acks1; w.Consumers.Group = "conformance" }},
		{Name: "acks=0", Change: func(w *loadgen.Workload) { w.Acks = loadgen.Acks0 }, Lossy: true},
		{Name: "closed-loop", Change: func(w *loadgen.Workload) { w.Rate = 0; w.InFlight = 20; w.Consumers.Count = 0 }},
	}
}

// Run runs each case against d and checks the result. Cases the driver
// declares unsupported (loadgen.ErrUnsupported) are skipped.
func Run(t *testing.T, d loadgen.Driver, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			w := Workload()
			if c.Change != nil {
				c.Change(&w)
			}
			w = w.WithDefaults()
			if _, err := d.Describe(w); errors.Is(err, loadgen.ErrUnsupported) {
				t.Skipf("%s: %v", d.Name(), err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := loadgen.Run(ctx, w, d, loadgen.Options{Drain: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			Check(t, w, res, c.Lossy)
		})
	}
}

// Check asserts what every driver promises for a run of w on a healthy
// system.
func Check(t *testing.T, w loadgen.Workload, res *loadgen.Result, lossy bool) {
	t.Helper()
	c := res.Counts
	if res.Mapping.Acks == "" || res.Mapping.Sync == "" || res.Mapping.Replication == "" {
		t.Errorf("mapping incomplete: %+v", res.Mapping)
	}
	if c.Errors != 0 || c.Unacked != 0 || c.Unsent != 0 || c.Foreign != 0 {
		t.Errorf("counts %+v, errors %q, consumer errors %q", c, res.ErrorSamples, res.ConsumerErrors)
	}
	if c.Acked != c.Sent || c.Sent == 0 {
		t.Errorf("sent %d, acked %d", c.Sent, c.Acked)
	}
	if w.Rate > 0 {
		if c.Sent != c.Scheduled {
			t.Errorf("scheduled %d, sent %d", c.Scheduled, c.Sent)
		}
		if d := math.Abs(res.AchievedRate-w.Rate) / w.Rate; d > 0.1 {
			t.Errorf("achieved %.0f msgs/s of %.0f", res.AchievedRate, w.Rate)
		}
	} else if res.Loop != loadgen.LoopClosed || res.AchievedRate <= 0 {
		t.Errorf("closed loop: %s at %.0f msgs/s", res.Loop, res.AchievedRate)
	}
	if res.Publish.Count == 0 || res.Publish.P50 <= 0 || res.Publish.Max < res.Publish.P99 {
		t.Errorf("publish latency %+v", res.Publish)
	}
	if w.Consumers.Count == 0 {
		if c.Received != 0 || res.EndToEnd.Count != 0 {
			t.Errorf("no consumers, yet %+v / %+v", c, res.EndToEnd)
		}
		return
	}
	if c.Duplicates != 0 {
		t.Errorf("%d duplicates", c.Duplicates)
	}
	if !lossy && (c.Missing != 0 || c.Received != c.Acked) {
		t.Errorf("received %d of %d acknowledged (missing %d)", c.Received, c.Acked, c.Missing)
	}
	if lossy && c.Received == 0 {
		t.Errorf("nothing received")
	}
	if res.EndToEnd.Count == 0 || res.EndToEnd.P50 <= 0 {
		t.Errorf("end-to-end latency %+v", res.EndToEnd)
	}
}
