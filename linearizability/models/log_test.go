package models

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
	"github.com/sluice-mq/sluice/linearizability/internal/fixture"
)

const timeout = 10 * time.Second

var (
	v1, v2, v3  = fixture.V(1, 1), fixture.V(2, 1), fixture.V(3, 1)
	ok, unknown = history.OK, history.Unknown
	R           = fixture.R
)

// checkLog runs the log model and returns the one partition's result.
func checkLog(t *testing.T, h *history.History, final *history.FinalReads, gaps bool) PartitionResult {
	t.Helper()
	r := CheckLog(h, final, gaps, timeout)
	if len(r.Partitions) != 1 {
		t.Fatalf("%d partitions, want 1", len(r.Partitions))
	}
	return r.Partitions[0]
}

func TestLogModelLinearizable(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Send(2, v2, 5, 20, ok, 1) // concurrent with v1, after it in the log
	b.HWM(3, 21, 22, 2)
	b.Read(3, 0, 23, 24, R(0, v1), R(1, v2))
	b.Read(3, 2, 25, 26) // nothing past the end
	b.Scan(3, 27, 30, 2, R(0, v1), R(1, v2))
	b.Poll(4, "g", 31, 32, fixture.PR(1, v2))
	if p := checkLog(t, b.History(), nil, false); p.Result != porcupine.Ok {
		t.Fatalf("linearizable history: %s (stuck %v)", p.Result, p.Stuck)
	}
}

func TestLogModelIllegal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *fixture.B)
	}{
		{"two appends acknowledged at one offset", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Send(2, v2, 11, 20, ok, 0)
		}},
		{"acknowledged append lost before a later read", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Read(3, 0, 11, 12)
		}},
		{"read of a value at the wrong offset", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Send(1, v2, 11, 20, ok, 1)
			b.Read(3, 0, 21, 22, R(0, v2))
		}},
		{"scan digest sees a duplicate", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Send(1, v2, 11, 20, ok, 1)
			b.Scan(3, 21, 22, 2, R(0, v1), R(1, v1))
		}},
		{"poll sees a value nobody appended there", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Poll(4, "g", 11, 12, fixture.PR(0, v3))
		}},
		{"a read sees v2 at 1, then the HWM says 3 with one more append acked at 1", func(b *fixture.B) {
			b.Send(1, v1, 0, 10, ok, 0)
			b.Send(2, v2, 0, 10, unknown, 0)
			b.Read(3, 1, 11, 12, R(1, v2))
			b.Send(1, v3, 13, 20, ok, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture.New()
			tc.build(b)
			p := checkLog(t, b.History(), nil, false)
			if p.Result != porcupine.Illegal {
				t.Fatalf("non-linearizable history: %s", p.Result)
			}
			if len(p.Stuck) == 0 {
				t.Fatal("no stuck operations reported")
			}
		})
	}
}

// An append with an unknown outcome may or may not have happened; both
// must check Ok, without the final log (Return = Infinity) and patched
// against it.
func TestLogModelUnknownAppends(t *testing.T) {
	happened := func() *fixture.B {
		b := fixture.New()
		b.Send(1, v1, 0, 10, ok, 0)
		b.Send(2, v2, 5, 15, unknown, 0) // timed out, but was written at 1
		b.Send(1, v3, 20, 30, ok, 2)
		b.Read(3, 1, 31, 32, R(1, v2), R(2, v3))
		b.HWM(3, 33, 34, 3)
		return b
	}
	notHappened := func() *fixture.B {
		b := fixture.New()
		b.Send(1, v1, 0, 10, ok, 0)
		b.Send(2, v2, 5, 15, unknown, 0) // timed out and never written
		b.Send(1, v3, 20, 30, ok, 1)
		b.Scan(3, 31, 32, 2, R(0, v1), R(1, v3))
		b.HWM(3, 33, 34, 2)
		return b
	}
	for _, tc := range []struct {
		name  string
		b     *fixture.B
		final *history.FinalReads
	}{
		{"happened, unpatched", happened(), nil},
		{"happened, patched", happened(), fixture.Final(3, R(0, v1), R(1, v2), R(2, v3))},
		{"did not happen, unpatched", notHappened(), nil},
		{"did not happen, patched", notHappened(), fixture.Final(2, R(0, v1), R(1, v3))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p := checkLog(t, tc.b.History(), tc.final, false); p.Result != porcupine.Ok {
				t.Fatalf("%s (stuck %v)", p.Result, p.Stuck)
			}
		})
	}
}

// A patched unknown append is placed before its first reader: an HWM query
// after that reader that misses it is a stale read.
func TestLogPatchOrdersUnknownBeforeItsReaders(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Send(2, v2, 5, 15, unknown, 0)
	b.Read(3, 1, 16, 17, R(1, v2))
	b.HWM(4, 18, 19, 1) // after a read saw offset 1: stale
	final := fixture.Final(2, R(0, v1), R(1, v2))
	p := checkLog(t, b.History(), final, false)
	if p.Result != porcupine.Illegal || p.Relaxed != porcupine.Ok {
		t.Fatalf("stale HWM after a read: strict %s, relaxed %s; want Illegal, Ok", p.Result, p.Relaxed)
	}
	// acks=leader appends are patched the same way.
	b = fixture.New()
	b.SendAcks(1, history.AcksLeader, v1, 0, 10, ok, 0)
	b.SendAcks(1, history.AcksLeader, v2, 11, 20, ok, 1) // acknowledged, then lost
	b.Scan(3, 30, 31, 1, R(0, v1))
	if p := checkLog(t, b.History(), fixture.Final(1, R(0, v1)), false); p.Result != porcupine.Ok {
		t.Fatalf("acks=leader loss is for the set checks, not the model: %s", p.Result)
	}
}

func TestLogModelStaleReads(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Send(1, v2, 11, 20, ok, 1)
	b.HWM(3, 21, 22, 1)  // stale: misses v2
	b.Read(3, 1, 23, 24) // stale: nothing at 1
	b.Scan(3, 25, 26, 1, R(0, v1))
	r := CheckLog(b.History(), nil, false, timeout)
	p := r.Partitions[0]
	if p.Result != porcupine.Illegal || p.Relaxed != porcupine.Ok {
		t.Fatalf("strict %s, relaxed %s; want Illegal, Ok", p.Result, p.Relaxed)
	}
	as := r.Anomalies(b.History())
	if len(as) != 1 || as[0].Kind != anomaly.StaleRead {
		t.Fatalf("anomalies %v, want one stale-read", as)
	}
	// A read of a wrong value is not made legal by staleness.
	b.Read(3, 0, 27, 28, R(0, v2))
	r = CheckLog(b.History(), nil, false, timeout)
	if as := r.Anomalies(b.History()); len(as) != 1 || as[0].Kind != anomaly.Nonlinearizable {
		t.Fatalf("anomalies %v, want one nonlinearizable", as)
	}
}

// Quorum mode: a leader-change control record takes offset 1.
func TestLogModelGaps(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Send(1, v2, 11, 20, ok, 2)
	b.Read(3, 1, 21, 22, R(2, v2))
	b.HWM(3, 23, 24, 3)
	b.Scan(3, 25, 26, 3, R(0, v1), R(2, v2))
	if p := checkLog(t, b.History(), nil, true); p.Result != porcupine.Ok {
		t.Fatalf("gaps allowed: %s", p.Result)
	}
	if p := checkLog(t, b.History(), nil, false); p.Result != porcupine.Illegal {
		t.Fatalf("dense offsets: %s, want Illegal", p.Result)
	}
	// A marker after the last record: the HWM runs ahead, and the next
	// append must be above it.
	b = fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.HWM(3, 11, 12, 2)
	b.Send(1, v2, 13, 20, ok, 1)
	if p := checkLog(t, b.History(), nil, true); p.Result != porcupine.Illegal {
		t.Fatalf("append below an observed HWM: %s, want Illegal", p.Result)
	}
}

// Partitions are checked separately, and the result says which failed.
func TestLogModelPartitions(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Read(1, 0, 11, 12, R(0, v1))
	other := history.TP{Topic: "t", Partition: 1}
	b.Add(history.Op{Client: 2, Kind: history.Produce, Topic: other.Topic, Partition: other.Partition, Acks: history.AcksAll, Value: v2, Call: 0, Return: 10, Offset: 0})
	b.Add(history.Op{Client: 2, Kind: history.Read, Topic: other.Topic, Partition: other.Partition, Offset: 0, Call: 11, Return: 12, Records: []history.Record{R(0, v3)}})
	r := CheckLog(b.History(), nil, false, timeout)
	if r.Result != porcupine.Illegal || len(r.Partitions) != 2 {
		t.Fatalf("result %s with %d partitions", r.Result, len(r.Partitions))
	}
	if r.Partitions[0].Key != "t/0" || r.Partitions[0].Result != porcupine.Ok {
		t.Fatalf("partition 0: %+v", r.Partitions[0])
	}
	if r.Partitions[1].Key != "t/1" || r.Partitions[1].Result != porcupine.Illegal || r.Partitions[1].Relaxed != porcupine.Illegal {
		t.Fatalf("partition 1: %+v", r.Partitions[1])
	}
	as := r.Anomalies(b.History())
	if len(as) != 1 || as[0].Kind != anomaly.Nonlinearizable || as[0].TP() != other {
		t.Fatalf("anomalies %+v", as)
	}
}

// Porcupine's Unknown (timeout) is a CheckTimeout anomaly, never a pass.
// Twelve concurrent appends of unknown outcome and a scan no order can
// satisfy make Porcupine try every order: far beyond a 20 ms budget.
func TestLogModelTimeoutIsAnomaly(t *testing.T) {
	b := fixture.New()
	for c := 1; c <= 12; c++ {
		b.Send(history.ClientID(c), fixture.V(c, 1), 0, 10, unknown, 0)
	}
	b.Scan(20, 11, 12, 13) // HWM 13: more than was ever appended
	start := time.Now()
	r := CheckLog(b.History(), nil, false, 20*time.Millisecond)
	if r.Result != porcupine.Unknown {
		t.Fatalf("result %s, want Unknown", r.Result)
	}
	as := r.Anomalies(b.History())
	if len(as) != 1 || as[0].Kind != anomaly.CheckTimeout {
		t.Fatalf("anomalies %v, want one check-timeout", as)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout did not stop the check: %v", d)
	}
}

func TestVisualizeAnnotatesFaults(t *testing.T) {
	b := fixture.New()
	b.Send(1, v1, 0, 10, ok, 0)
	b.Send(2, v2, 5, 15, unknown, 0)
	b.Read(3, 0, 11, 12, R(0, v1))
	b.Fault(history.F1KillLeader, "broker 2", 3, 8).Fault(history.F4IsolateLeader, "broker 3", 9, history.Infinity)
	b.Claim(4, 3, 2)
	h := b.History()
	r := CheckLog(h, nil, false, timeout)
	var buf bytes.Buffer
	if err := r.Visualize(&buf, h); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"<html", "F1 broker 2", "F4 broker 3", "nemesis", "b3 e2", "append(2:1) -\\u003e ?"} {
		if !strings.Contains(html, want) {
			t.Errorf("the HTML lacks %q", want)
		}
	}
}
