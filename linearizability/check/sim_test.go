package check

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// toyLog is an in-memory, linearizable single-partition log standing in
// for a broker, with one planted bug: acknowledge every dropEvery-th
// produce without appending it (TESTING.md §6, the first planted bug).
type toyLog struct {
	mu        sync.Mutex
	values    []history.ValueID
	produces  int
	dropEvery int
}

var errTimedOut = &client.Error{Code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, Indefinite: true}

// produce appends v. Every 7th produce "times out": it is appended or not
// (alternately), and the client sees an indefinite error either way.
func (l *toyLog) produce(v history.ValueID) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.produces++
	n := l.produces
	if l.dropEvery > 0 && n%l.dropEvery == 0 {
		return int64(len(l.values)), nil // the bug: acknowledged, not appended
	}
	if n%7 == 0 {
		if n%14 == 0 {
			l.values = append(l.values, v)
		}
		return -1, errTimedOut
	}
	l.values = append(l.values, v)
	return int64(len(l.values) - 1), nil
}

func (l *toyLog) read(from int64, max int) []history.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []history.Record
	for o := from; o < int64(len(l.values)) && len(out) < max; o++ {
		out = append(out, history.Record{Topic: "t", Offset: o, Value: l.values[o]})
	}
	return out
}

func (l *toyLog) hwm() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.values))
}

// simulate runs producers and a reader concurrently against the toy log,
// then a group consumer that drains it with commits, and returns the
// history and final reads, recorded as a harness would.
func simulate(l *toyLog) (*history.History, *history.FinalReads) {
	r := history.NewRecorder()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.NewClient(w)
			for range 40 {
				op := c.Invoke(history.Op{Kind: history.Produce, Topic: "t", Acks: history.AcksAll, Value: c.NextValue()})
				off, err := l.produce(op.Value)
				op.Offset = off
				c.Complete(op, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := r.NewClient(3)
		for i := range 60 {
			switch i % 3 {
			case 0:
				op := c.Invoke(history.Op{Kind: history.HWM, Topic: "t"})
				op.HWM = l.hwm()
				c.Complete(op, nil)
			case 1:
				op := c.Invoke(history.Op{Kind: history.Read, Topic: "t", Offset: int64(i)})
				op.Records = l.read(op.Offset, 3)
				for j := range op.Records {
					op.Records[j].Topic = "" // a read's records are the op's partition
				}
				c.Complete(op, nil)
			case 2:
				op := c.Invoke(history.Op{Kind: history.Scan, Topic: "t"})
				op.HWM = l.hwm()
				op.Records = l.read(0, int(op.HWM))
				for j := range op.Records {
					op.Records[j].Topic = ""
				}
				c.Complete(op, nil)
			}
		}
	}()
	wg.Wait()

	c := r.NewClient(4)
	tp := history.TP{Topic: "t"}
	c.Event(history.Op{Kind: history.Assign, Group: "g", MemberEpoch: 1, TPs: []history.TP{tp}})
	pos := int64(0)
	for {
		op := c.Invoke(history.Op{Kind: history.Poll, Group: "g"})
		op.Records = l.read(pos, 10)
		c.Complete(op, nil)
		if len(op.Records) == 0 {
			break
		}
		pos = op.Records[len(op.Records)-1].Offset + 1
		cm := c.Invoke(history.Op{Kind: history.Commit, Group: "g", MemberEpoch: 1, Offsets: []history.TPOffset{{Topic: "t", Offset: pos}}})
		c.Complete(cm, nil)
	}

	log := l.read(0, 1<<30)
	for i := range log {
		log[i].Topic = ""
	}
	p := history.PartitionRead{Topic: "t", HighWatermark: int64(len(log)), Log: log}
	for b := int32(1); b <= 3; b++ {
		p.Replicas = append(p.Replicas, history.ReplicaRead{Broker: b, Source: "fetch", Records: log})
	}
	return r.History(), &history.FinalReads{Partitions: []history.PartitionRead{p}}
}

// The whole pipeline on recorded concurrent histories: a correct log
// passes (with its unknown outcomes resolved both ways), the planted bug is
// caught, as a lost write and by Porcupine.
func TestSimulatedBroker(t *testing.T) {
	exp := expect.Expectations{Config: expect.Strong("toy", expect.ModeISR)}

	h, final := simulate(&toyLog{})
	v := Check(h, final, exp)
	if !v.Pass {
		t.Fatalf("correct toy log:\n%s%v", v.Summary(), v.Anomalies)
	}
	if n := v.Ops.ByKind[history.Produce][history.Unknown]; n == 0 {
		t.Fatal("no unknown outcomes exercised")
	}

	h, final = simulate(&toyLog{dropEvery: 10})
	v = Check(h, final, exp)
	if v.Pass || v.Count(anomaly.LostWrite) == 0 {
		t.Fatalf("planted bug not detected:\n%s", v.Summary())
	}
	for _, a := range v.Anomalies {
		if a.Kind == anomaly.LostWrite && a.Where != "on no replica" {
			t.Errorf("lost write %v: %s", a.Values, a.Where)
		}
	}
	if testing.Verbose() {
		fmt.Print(v.Summary())
	}
}
