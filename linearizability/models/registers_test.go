package models

import (
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
	"github.com/sluice-mq/sluice/linearizability/internal/fixture"
)

func TestGroupOffsetsModel(t *testing.T) {
	off := fixture.Off
	for _, tc := range []struct {
		name  string
		want  porcupine.CheckResult
		build func(b *fixture.B)
	}{
		{"commits and fetches", porcupine.Ok, func(b *fixture.B) {
			b.Assign(1, "g", 1, 0)
			b.Commit(1, "g", 1, 1, 2, ok, off(5))
			b.Fetch(3, "g", 3, 4, off(5))
			b.Commit(1, "g", 1, 5, 6, ok, off(9))
			b.Fetch(3, "g", 7, 8, off(9))
		}},
		{"fetch misses the last commit", porcupine.Illegal, func(b *fixture.B) {
			b.Commit(1, "g", 1, 1, 2, ok, off(5))
			b.Commit(1, "g", 1, 3, 4, ok, off(9))
			b.Fetch(3, "g", 5, 6, off(5))
		}},
		{"zombie commit accepted after the partition moved on", porcupine.Illegal, func(b *fixture.B) {
			b.Assign(1, "g", 1, 0)
			b.Commit(1, "g", 1, 1, 2, ok, off(5))
			b.Assign(2, "g", 3, 10) // the partition now belongs to member 2 at epoch 3
			b.Commit(1, "g", 1, 11, 12, ok, off(4))
		}},
		{"zombie commit concurrent with the reassignment", porcupine.Ok, func(b *fixture.B) {
			b.Assign(1, "g", 1, 0)
			b.Commit(1, "g", 1, 9, 12, ok, off(4))
			b.Assign(2, "g", 3, 10)
		}},
		{"an explicit reset is not fenced", porcupine.Ok, func(b *fixture.B) {
			b.Assign(1, "g", 4, 0)
			b.Commit(1, "g", 4, 1, 2, ok, off(9))
			b.Add(history.Op{Client: 5, Kind: history.Commit, Group: "g", MemberEpoch: -1, Reset: true, Offsets: []history.TPOffset{off(0)}, Call: 3, Return: 4})
			b.Fetch(3, "g", 5, 6, off(0))
		}},
		{"unknown commit that applied", porcupine.Ok, func(b *fixture.B) {
			b.Commit(1, "g", 1, 1, 2, ok, off(5))
			b.Commit(1, "g", 1, 3, 4, unknown, off(7))
			b.Fetch(3, "g", 5, 6, off(7))
		}},
		{"unknown commit that did not apply", porcupine.Ok, func(b *fixture.B) {
			b.Commit(1, "g", 1, 1, 2, ok, off(5))
			b.Commit(1, "g", 1, 3, 4, unknown, off(7))
			b.Fetch(3, "g", 5, 6, off(5))
		}},
		{"unknown zombie commit cannot apply", porcupine.Illegal, func(b *fixture.B) {
			b.Assign(2, "g", 3, 0)
			b.Commit(1, "g", 1, 3, 4, unknown, off(7))
			b.Fetch(3, "g", 5, 6, off(7))
		}},
		{"a failed commit did not apply", porcupine.Illegal, func(b *fixture.B) {
			b.Commit(1, "g", 1, 3, 4, history.Fail, off(7))
			b.Fetch(3, "g", 5, 6, off(7))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture.New()
			tc.build(b)
			r := CheckGroupOffsets(b.History(), timeout)
			if r.Result != tc.want || len(r.Partitions) != 1 || r.Partitions[0].Key != "g@t/0" {
				t.Fatalf("result %s, partitions %+v; want %s", r.Result, r.Partitions, tc.want)
			}
			as := r.Anomalies(b.History())
			if (tc.want == porcupine.Illegal) != (len(as) == 1 && as[0].Kind == anomaly.GroupOffsetsNonlinearizable && as[0].Group == "g") {
				t.Fatalf("anomalies %+v", as)
			}
		})
	}
}

func TestLeadershipModel(t *testing.T) {
	rec := func(epoch, leader int32, isr ...int32) *history.LeaderRecord {
		return &history.LeaderRecord{Epoch: epoch, Leader: leader, ISR: isr}
	}
	cas := func(b *fixture.B, c history.ClientID, expect int32, r *history.LeaderRecord, call, ret history.Time, out history.Outcome) {
		b.Add(history.Op{Client: c, Kind: history.LeaderCAS, ExpectEpoch: expect, Leader: r, Call: call, Return: ret, Outcome: out})
	}
	read := func(b *fixture.B, c history.ClientID, r *history.LeaderRecord, call, ret history.Time) {
		b.Add(history.Op{Client: c, Kind: history.LeaderRead, Leader: r, Call: call, Return: ret})
	}
	for _, tc := range []struct {
		name  string
		want  porcupine.CheckResult
		build func(b *fixture.B)
	}{
		{"elections", porcupine.Ok, func(b *fixture.B) {
			read(b, 9, nil, 0, 1)
			cas(b, 1, -1, rec(1, 1, 1, 2, 3), 2, 3, ok)
			read(b, 9, rec(1, 1, 3, 2, 1), 4, 5) // ISR order does not matter
			cas(b, 2, 1, rec(2, 2, 2, 3), 6, 7, ok)
			cas(b, 3, 1, rec(2, 3, 3), 6, 8, history.Fail) // lost the race
			read(b, 9, rec(2, 2, 2, 3), 9, 10)
		}},
		{"two CAS from one epoch both succeed", porcupine.Illegal, func(b *fixture.B) {
			cas(b, 1, -1, rec(1, 1, 1, 2, 3), 0, 1, ok)
			cas(b, 2, 1, rec(2, 2, 2, 3), 2, 3, ok)
			cas(b, 3, 1, rec(2, 3, 3), 2, 4, ok)
		}},
		{"epoch does not grow", porcupine.Illegal, func(b *fixture.B) {
			cas(b, 1, -1, rec(5, 1, 1), 0, 1, ok)
			cas(b, 2, 5, rec(5, 2, 2), 2, 3, ok)
		}},
		{"stale read", porcupine.Illegal, func(b *fixture.B) {
			cas(b, 1, -1, rec(1, 1, 1), 0, 1, ok)
			cas(b, 2, 1, rec(2, 2, 2), 2, 3, ok)
			read(b, 9, rec(1, 1, 1), 4, 5)
		}},
		{"a CAS reported failed although it matched", porcupine.Illegal, func(b *fixture.B) {
			cas(b, 1, -1, rec(1, 1, 1), 0, 1, ok)
			cas(b, 2, 1, rec(2, 2, 2), 2, 3, history.Fail)
			read(b, 9, rec(1, 1, 1), 4, 5)
		}},
		{"unknown CAS applied", porcupine.Ok, func(b *fixture.B) {
			cas(b, 1, -1, rec(1, 1, 1), 0, 1, ok)
			cas(b, 2, 1, rec(2, 2, 2), 2, 3, unknown)
			read(b, 9, rec(2, 2, 2), 4, 5)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture.New()
			tc.build(b)
			r := CheckLeadership(b.History(), timeout)
			if r.Result != tc.want {
				t.Fatalf("result %s, want %s", r.Result, tc.want)
			}
			as := r.Anomalies(b.History())
			if (tc.want == porcupine.Illegal) != (len(as) == 1 && as[0].Kind == anomaly.LeadershipNonlinearizable) {
				t.Fatalf("anomalies %+v", as)
			}
		})
	}
}
