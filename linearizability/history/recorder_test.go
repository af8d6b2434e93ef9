package history

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestRecorderConcurrentClients drives several sequential clients from
// their own goroutines (run with -race) and checks what comes out: a valid
// history, per-client times in order, unique values, and a new client id
// after every unknown outcome.
func TestRecorderConcurrentClients(t *testing.T) {
	r := NewRecorder()
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.NewClient(w)
			for i := range perWorker {
				op := c.Invoke(Op{Kind: Produce, Topic: "t", Acks: AcksAll, Value: c.NextValue()})
				var err error
				switch i % 5 {
				case 3:
					err = &client.Error{Code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, Indefinite: true}
				case 4:
					err = &client.Error{Code: brokerpb.ErrorCode_NOT_LEADER}
				default:
					op.Offset = int64(i)
				}
				before := c.ID()
				out := c.Complete(op, err)
				if (out == Unknown) != (c.ID() != before) {
					panic(fmt.Sprintf("outcome %s: client id %d -> %d", out, before, c.ID()))
				}
			}
		}()
	}
	f := r.StartFault(F1KillLeader, "broker 1", "")
	wg.Wait()
	r.EndFault(f)
	h := r.History()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(h.Ops) != workers*perWorker {
		t.Fatalf("%d ops, want %d", len(h.Ops), workers*perWorker)
	}
	counts := map[Outcome]int{}
	for i, o := range h.Ops {
		if o.ID != i {
			t.Fatalf("op %d has id %d", i, o.ID)
		}
		if i > 0 && o.Call < h.Ops[i-1].Call {
			t.Fatalf("op %d called at %v, before op %d at %v: ids must follow call order", i, o.Call, i-1, h.Ops[i-1].Call)
		}
		if o.Outcome == Unknown && o.Offset != -1 {
			t.Fatalf("unknown produce keeps offset %d", o.Offset)
		}
		counts[o.Outcome]++
	}
	if want := workers * perWorker / 5; counts[Unknown] != want || counts[Fail] != want {
		t.Fatalf("outcomes %v, want %d unknown and %d fail", counts, want, want)
	}
	if fl := h.Faults[0]; fl.End == Infinity || fl.End < fl.Start {
		t.Fatalf("fault window %+v not closed", fl)
	}
}

func TestRecorderPendingOpsAreUnknown(t *testing.T) {
	r := NewRecorder()
	c := r.NewClient(0)
	op := c.Invoke(Op{Kind: HWM, Topic: "t"})
	h := r.History()
	if len(h.Ops) != 1 || h.Ops[0].Outcome != Unknown || h.Ops[0].ID != op.ID {
		t.Fatalf("pending op in the history: %+v", h.Ops)
	}
	op.HWM = 5
	c.Complete(op, nil)
	h = r.History()
	if len(h.Ops) != 1 || h.Ops[0].Outcome != OK || h.Ops[0].HWM != 5 {
		t.Fatalf("completed op: %+v", h.Ops)
	}
}

func TestRecorderSequentialClient(t *testing.T) {
	r := NewRecorder()
	c := r.NewClient(0)
	c.Invoke(Op{Kind: HWM, Topic: "t"})
	defer func() {
		if recover() == nil {
			t.Fatal("a second Invoke while an op is open did not panic")
		}
	}()
	c.Invoke(Op{Kind: HWM, Topic: "t"})
}

func TestRecorderEvents(t *testing.T) {
	r := NewRecorder()
	c := r.NewClient(0)
	c.Event(Op{Kind: Assign, Group: "g", MemberEpoch: 3, TPs: []TP{{"t", 0}}})
	op := c.Invoke(Op{Kind: Commit, Group: "g", MemberEpoch: 3, Offsets: []TPOffset{{"t", 0, 5}}})
	c.Complete(op, errors.New("boom"))
	h := r.History()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Ops[0].Call != h.Ops[0].Return || h.Ops[0].Outcome != OK {
		t.Fatalf("event %+v", h.Ops[0])
	}
	if h.Ops[1].Outcome != Unknown || h.Ops[1].Err != "boom" {
		t.Fatalf("commit %+v", h.Ops[1])
	}
}
