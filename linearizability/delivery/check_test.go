package delivery

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
	"github.com/sluice-mq/sluice/linearizability/internal/fixture"
)

var (
	v0, v1, v2, v3 = fixture.V(1, 1), fixture.V(1, 2), fixture.V(2, 1), fixture.V(2, 2)
	stranger       = fixture.V(99, 1)
	ok, unknown    = history.OK, history.Unknown
	R, PR, Off     = fixture.R, fixture.PR, fixture.Off
)

// healthy is a run with nothing wrong: four values acknowledged, read,
// consumed once by a group member, committed, and identical on every
// replica.
func healthy() (*fixture.B, *history.FinalReads) {
	b := fixture.New()
	b.Send(1, v0, 0, 10, ok, 0)
	b.Send(1, v1, 11, 20, ok, 1)
	b.Send(2, v2, 5, 25, ok, 2)
	b.Send(2, v3, 26, 30, ok, 3)
	b.Read(5, 0, 31, 32, R(0, v0), R(1, v1))
	b.Scan(5, 33, 34, 4, R(0, v0), R(1, v1), R(2, v2), R(3, v3))
	b.Assign(6, "g", 1, 35)
	b.Poll(6, "g", 36, 37, PR(0, v0), PR(1, v1))
	b.Commit(6, "g", 1, 38, 39, ok, Off(2))
	b.Poll(6, "g", 40, 41, PR(2, v2), PR(3, v3))
	b.Commit(6, "g", 1, 42, 43, ok, Off(4))
	b.Fetch(7, "g", 44, 45, Off(4))
	b.Claim(1, 1, 1).Claim(20, 2, 2)
	return b, fixture.Final(4, R(0, v0), R(1, v1), R(2, v2), R(3, v3))
}

// extend appends recs to the final log L, raises the high watermark past
// them and gives every replica the same log.
func extend(f *history.FinalReads, recs ...history.Record) {
	p := &f.Partitions[0]
	p.Log = append(p.Log, recs...)
	p.HighWatermark = recs[len(recs)-1].Offset + 1
	for i := range p.Replicas {
		p.Replicas[i].Records = p.Log
	}
}

func kinds(as []anomaly.Anomaly) []anomaly.Kind {
	set := map[anomaly.Kind]bool{}
	for _, a := range as {
		set[a.Kind] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func TestHealthyRunHasNoAnomalies(t *testing.T) {
	b, final := healthy()
	res := Check(b.History(), final)
	if len(res.Anomalies) != 0 {
		t.Fatalf("anomalies in a healthy run: %v", res.Anomalies)
	}
	if len(res.Partitions) != 1 {
		t.Fatalf("stats %+v", res.Partitions)
	}
	s := res.Partitions[0]
	if s.Attempted != 4 || s.Acked != 4 || s.FinalLog != 4 || s.HighWatermark != 4 || !s.FinalRead {
		t.Fatalf("stats %+v", s)
	}
}

// Each case changes the healthy run in one way: bad cases must report
// exactly the listed kinds, good cases (want empty) nothing.
func TestEveryAnomalyGoodAndBad(t *testing.T) {
	replica := func(f *history.FinalReads, broker int32) *history.ReplicaRead {
		return &f.Partitions[0].Replicas[broker-1]
	}
	for _, tc := range []struct {
		name  string
		edit  func(b *fixture.B, f *history.FinalReads)
		want  []anomaly.Kind
		check func(t *testing.T, as []anomaly.Anomaly)
	}{
		{"lost write, on no replica", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, ok, 4)
		}, []anomaly.Kind{anomaly.LostWrite}, func(t *testing.T, as []anomaly.Anomaly) {
			if as[0].Where != "on no replica" || len(as[0].AbsentOn) != 3 {
				t.Errorf("where: %q, absent on %v", as[0].Where, as[0].AbsentOn)
			}
		}},
		{"lost write, still on replica 2", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, ok, 4)
			r := replica(f, 2)
			r.Records = append(r.Records, R(4, v)) // above the HWM: not committed
		}, []anomaly.Kind{anomaly.LostWrite}, func(t *testing.T, as []anomaly.Anomaly) {
			if !strings.HasPrefix(as[0].Where, "on replica 2 (offset 4); absent on 1, 3") {
				t.Errorf("where: %q", as[0].Where)
			}
			if len(as[0].FoundOn) != 1 || as[0].FoundOn[0] != (anomaly.Location{Broker: 2, Offset: 4}) {
				t.Errorf("found on %v", as[0].FoundOn)
			}
		}},
		{"lost write: a middle value of its worker", func(b *fixture.B, f *history.FinalReads) {
			f.Partitions[0].Log = slices.Delete(f.Partitions[0].Log, 0, 1) // v0 gone
			f.Partitions[0].LogStartOffset = 1
			for i := range f.Partitions[0].Replicas {
				f.Partitions[0].Replicas[i].Records = f.Partitions[0].Log
			}
		}, []anomaly.Kind{anomaly.LostWrite, anomaly.CommittedVanished}, func(t *testing.T, as []anomaly.Anomaly) {
			for _, a := range as {
				if a.Kind == anomaly.LostWrite && !strings.Contains(a.Detail, "lost-prefix") {
					t.Errorf("detail %q", a.Detail)
				}
			}
		}},
		{"unknown produce absent from the log is fine", func(b *fixture.B, f *history.FinalReads) {
			b.Send(3, fixture.V(3, 1), 50, 60, unknown, 0)
		}, nil, nil},
		{"unexpected value", func(b *fixture.B, f *history.FinalReads) {
			b.Read(5, 4, 50, 51, R(4, stranger))
		}, []anomaly.Kind{anomaly.Unexpected}, nil},
		{"value produced to another partition", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Add(history.Op{Client: 3, Kind: history.Produce, Topic: "t", Partition: 1, Acks: history.AcksAll, Value: v, Call: 50, Return: 60, Offset: 0})
			b.Read(5, 4, 61, 62, R(4, v))
			f.Partitions = append(f.Partitions, fixture.Final(1, R(0, v)).Partitions[0])
			f.Partitions[1].Partition = 1
		}, []anomaly.Kind{anomaly.Unexpected}, nil},
		{"corrupt value", func(b *fixture.B, f *history.FinalReads) {
			b.Read(5, 0, 50, 51, history.Record{Offset: 0, Corrupt: "crc32c mismatch"})
		}, []anomaly.Kind{anomaly.CorruptValue}, nil},
		{"failed write visible", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, history.Fail, 0)
			b.Poll(6, "g", 61, 62, PR(4, v))
			extend(f, R(4, v))
		}, []anomaly.Kind{anomaly.FailedWriteVisible}, nil},
		{"failed write invisible is fine", func(b *fixture.B, f *history.FinalReads) {
			b.Send(3, fixture.V(3, 1), 50, 60, history.Fail, 0)
		}, nil, nil},
		{"duplicate", func(b *fixture.B, f *history.FinalReads) {
			extend(f, R(4, v3))
		}, []anomaly.Kind{anomaly.Duplicate}, func(t *testing.T, as []anomaly.Anomaly) {
			if !slices.Equal(as[0].Offsets, []int64{3, 4}) {
				t.Errorf("offsets %v", as[0].Offsets)
			}
		}},
		{"idempotent retry answered with the original offset is fine", func(b *fixture.B, f *history.FinalReads) {
			b.Add(history.Op{Client: 1, Kind: history.Read, Offset: 3, Call: 50, Return: 51, Records: []history.Record{R(3, v3)}})
		}, nil, nil},
		{"inconsistent offset", func(b *fixture.B, f *history.FinalReads) {
			// v3 read at 2 but kept at 3 only: also a rewrite's shape.
			b.Read(5, 2, 50, 51, R(2, v3))
		}, []anomaly.Kind{anomaly.Rewritten, anomaly.InconsistentOffset}, nil},
		{"rewritten: one copy went with a lost tail", func(b *fixture.B, f *history.FinalReads) {
			// v's first copy, read at 4, went with a lost tail; x took
			// offset 4 and v's retry was appended again at 5.
			v, x := fixture.V(3, 1), fixture.V(4, 1)
			b.Send(3, v, 50, 70, ok, 5)
			b.Poll(8, "", 55, 56, PR(4, v))
			b.Send(4, x, 57, 69, ok, 4)
			extend(f, R(4, x), R(5, v))
			b.Poll(6, "g", 71, 72, PR(4, x), PR(5, v))
		}, []anomaly.Kind{anomaly.Rewritten, anomaly.InconsistentOffset}, func(t *testing.T, as []anomaly.Anomaly) {
			for _, a := range as {
				if a.Kind == anomaly.Rewritten && (!slices.Equal(a.Offsets, []int64{4, 5}) || !strings.Contains(a.Detail, "in the final logs at offset 5 only")) {
					t.Errorf("rewrite %+v", a)
				}
			}
		}},
		{"committed value vanished", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, unknown, 0)
			b.Poll(8, "", 61, 62, PR(4, v))
		}, []anomaly.Kind{anomaly.CommittedVanished}, func(t *testing.T, as []anomaly.Anomaly) {
			if as[0].Where != "on no replica" {
				t.Errorf("where %q", as[0].Where)
			}
		}},
		{"nonmonotonic send", func(b *fixture.B, f *history.FinalReads) {
			w, x := fixture.V(3, 1), fixture.V(3, 2)
			b.Send(3, w, 50, 60, ok, 5)
			b.Send(3, x, 61, 70, ok, 4)
			extend(f, R(4, x), R(5, w))
			b.Poll(6, "g", 71, 72, PR(4, x), PR(5, w))
		}, []anomaly.Kind{anomaly.NonmonotonicSend}, nil},
		{"offset gap", func(b *fixture.B, f *history.FinalReads) {
			p := &f.Partitions[0]
			p.Log = slices.Delete(p.Log, 1, 2)
			for i := range p.Replicas {
				p.Replicas[i].Records = p.Log
			}
		}, []anomaly.Kind{anomaly.LostWrite, anomaly.CommittedVanished, anomaly.OffsetGap}, nil},
		{"gap explained by a control record", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, ok, 5)
			b.Poll(6, "g", 61, 62, PR(5, v))
			extend(f, R(5, v))
			replica(f, 3).Source = "dump"
			replica(f, 3).Records = append(slices.Clone(f.Partitions[0].Log[:4]), history.Record{Offset: 4, Control: true}, R(5, v))
		}, nil, nil},
		{"replica divergence", func(b *fixture.B, f *history.FinalReads) {
			r := replica(f, 3)
			r.Records = []history.Record{R(0, v0), R(1, v2), R(2, v1)}
		}, []anomaly.Kind{anomaly.Duplicate, anomaly.InconsistentOffset, anomaly.ReplicaDivergence}, func(t *testing.T, as []anomaly.Anomaly) {
			for _, a := range as {
				if a.Kind == anomaly.ReplicaDivergence && (!slices.Equal(a.AbsentOn, []int32{3}) || !strings.Contains(a.Detail, "2 offsets differ [1-2], 1 missing [3]")) {
					t.Errorf("divergence %+v", a)
				}
			}
		}},
		{"replica tails above the HWM may differ", func(b *fixture.B, f *history.FinalReads) {
			r := replica(f, 3)
			r.Records = append(slices.Clone(r.Records), R(4, fixture.V(3, 9)))
		}, nil, nil},
		{"two leaders in one epoch", func(b *fixture.B, f *history.FinalReads) {
			b.Claim(21, 3, 2)
		}, []anomaly.Kind{anomaly.SplitBrain}, nil},
		{"delivery loss", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, ok, 4)
			w := fixture.V(3, 2)
			b.Send(3, w, 61, 70, ok, 5)
			extend(f, R(4, v), R(5, w))
			b.Assign(8, "g", 2, 71) // a new member skips offset 4
			b.Poll(8, "g", 72, 73, PR(5, w))
		}, []anomaly.Kind{anomaly.DeliveryLoss}, func(t *testing.T, as []anomaly.Anomaly) {
			if as[0].Values[0] != fixture.V(3, 1) || as[0].Offsets[0] != 4 || as[0].Group != "g" {
				t.Errorf("%+v", as[0])
			}
		}},
		{"unseen tail", func(b *fixture.B, f *history.FinalReads) {
			v := fixture.V(3, 1)
			b.Send(3, v, 50, 60, ok, 4)
			extend(f, R(4, v))
		}, []anomaly.Kind{anomaly.Unseen}, nil},
		{"delivery duplicate", func(b *fixture.B, f *history.FinalReads) {
			b.Assign(8, "g", 2, 50)
			b.Poll(8, "g", 51, 52, PR(3, v3))
		}, []anomaly.Kind{anomaly.DeliveryDuplicate}, nil},
		{"poll skip", func(b *fixture.B, f *history.FinalReads) {
			b.Poll(8, "", 50, 51, PR(0, v0))
			b.Poll(8, "", 52, 53, PR(2, v2))
		}, []anomaly.Kind{anomaly.PollSkip}, func(t *testing.T, as []anomaly.Anomaly) {
			if !slices.Equal(as[0].Offsets, []int64{0, 1, 2}) || as[0].Values[0] != v1 {
				t.Errorf("%+v", as[0])
			}
		}},
		{"poll skip within one read", func(b *fixture.B, f *history.FinalReads) {
			b.Read(8, 0, 50, 51, R(0, v0), R(2, v2))
		}, []anomaly.Kind{anomaly.PollSkip}, nil},
		{"a seek between polls is fine", func(b *fixture.B, f *history.FinalReads) {
			b.Poll(8, "", 50, 51, PR(0, v0))
			b.Add(history.Op{Client: 8, Kind: history.Seek, Offset: 2, Call: 52, Return: 52})
			b.Poll(8, "", 53, 54, PR(2, v2))
		}, nil, nil},
		{"nonmonotonic poll", func(b *fixture.B, f *history.FinalReads) {
			b.Poll(8, "", 50, 51, PR(1, v1))
			b.Poll(8, "", 52, 53, PR(0, v0))
		}, []anomaly.Kind{anomaly.NonmonotonicPoll}, nil},
		{"a rebalance between polls is fine", func(b *fixture.B, f *history.FinalReads) {
			b.Poll(8, "", 50, 51, PR(1, v1))
			b.Assign(8, "", 3, 52)
			b.Poll(8, "", 53, 54, PR(0, v0))
		}, nil, nil},
		{"committed offset regression", func(b *fixture.B, f *history.FinalReads) {
			b.Commit(6, "g", 1, 50, 51, ok, Off(2))
		}, []anomaly.Kind{anomaly.OffsetRegression}, func(t *testing.T, as []anomaly.Anomaly) {
			if !slices.Equal(as[0].Offsets, []int64{4, 2}) {
				t.Errorf("offsets %v", as[0].Offsets)
			}
		}},
		{"an explicit reset moves back", func(b *fixture.B, f *history.FinalReads) {
			b.Add(history.Op{Client: 9, Kind: history.Commit, Group: "g", MemberEpoch: -1, Reset: true, Offsets: []history.TPOffset{Off(0)}, Call: 50, Return: 51})
			b.Fetch(7, "g", 52, 53, Off(0))
		}, nil, nil},
		{"concurrent commits are not ordered", func(b *fixture.B, f *history.FinalReads) {
			b.Commit(9, "g", 1, 40, 47, ok, Off(3))
		}, nil, nil},
		{"unreadable replica", func(b *fixture.B, f *history.FinalReads) {
			replica(f, 2).Err = "connection refused"
		}, []anomaly.Kind{anomaly.IncompleteInput}, nil},
		{"partition without a final read", func(b *fixture.B, f *history.FinalReads) {
			b.Add(history.Op{Client: 3, Kind: history.Produce, Topic: "u", Acks: history.AcksAll, Value: fixture.V(3, 1), Call: 50, Return: 60, Offset: 0})
		}, []anomaly.Kind{anomaly.IncompleteInput}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, final := healthy()
			tc.edit(b, final)
			h := b.History()
			if err := h.Validate(); err != nil {
				t.Fatalf("the fixture is not a valid history: %v", err)
			}
			as := Check(h, final).Anomalies
			got := kinds(as)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("kinds %v, want %v:\n%v", got, want, as)
			}
			for _, a := range as {
				if a.Detail == "" {
					t.Errorf("%s without a detail", a.Kind)
				}
			}
			if tc.check != nil {
				tc.check(t, as)
			}
		})
	}
}
