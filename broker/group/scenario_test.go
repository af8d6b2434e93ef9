package group

import (
	"slices"
	"testing"
	"time"
)

// converge heartbeats every client in turn until the group is stable,
// checking the clients after every heartbeat, and returns the rounds used.
func converge(t *testing.T, h *harness, clients []*client) int {
	t.Helper()
	for round := 1; round <= 20; round++ {
		for _, cl := range clients {
			cl.beat(h)
			checkClients(h, clients)
		}
		h.advance(time.Second)
		h.tick()
		if l := h.c.List(); len(l) == 1 && l[0].State == StatusStable {
			// One more round so every client has heard its final assignment.
			for _, cl := range clients {
				cl.beat(h)
			}
			checkStable(h, clients)
			return round
		}
	}
	gs, _ := h.c.Describe("g")
	t.Fatalf("no convergence in 20 rounds: %+v", gs)
	return 0
}

// keptNeverDropped asserts that the partitions a client owned before a
// rebalance and owns after it are in every assignment it got in between.
func keptNeverDropped(t *testing.T, cl *client, before []TopicPartition, from int) {
	t.Helper()
	after := cl.history[len(cl.history)-1]
	kept := toSet(before)
	for _, tp := range before {
		if !slices.Contains(after, tp) {
			delete(kept, tp)
		}
	}
	for i, a := range cl.history[from:] {
		for tp := range kept {
			if !slices.Contains(a, tp) {
				t.Fatalf("%s kept %s through the rebalance but response %d left it out: %v", cl.id, tp, from+i, a)
			}
		}
	}
}

// TestScenarioOneThreeOne drives 1 → 3 → 1 members over 6 partitions with
// clients that obey the protocol: a join, two more joins, a crash (expiry
// after the session timeout), a leave, and the zombie that comes back.
func TestScenarioOneThreeOne(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["orders"] = 6
	a, b, c := newClient("g", "orders"), newClient("g", "orders"), newClient("g", "orders")

	// 1 member: a gets all six at once.
	converge(t, h, []*client{a})
	if len(a.owned) != 6 {
		t.Fatalf("a owns %v, want 6 partitions", a.owned)
	}

	// 1 → 3: a gives up four, keeping two throughout; b and c get theirs
	// only once a has let them go (checked by the harness on every call).
	before, from := slices.Clone(a.owned), len(a.history)
	converge(t, h, []*client{a, b, c})
	keptNeverDropped(t, a, before, from)
	for _, cl := range []*client{a, b, c} {
		if len(cl.owned) != 2 {
			t.Fatalf("%s owns %v, want 2", cl.id, cl.owned)
		}
	}

	// b crashes (no leave). Until its session times out nobody else gets
	// its partitions; then it expires and they move.
	bOwned, bEpoch := slices.Clone(b.owned), b.epoch
	for range 9 {
		for _, cl := range []*client{a, c} {
			cl.beat(h)
		}
		h.advance(time.Second)
		h.tick()
		if got := h.c.groups["g"].owner[bOwned[0]]; got != b.id {
			t.Fatalf("b's %s went to %q before b's session timed out", bOwned[0], got)
		}
	}
	h.advance(time.Second)
	if ch := h.tick(); !hasEvent(ch, EventExpired, b.id) {
		t.Fatalf("b not expired after its 10s session: %v", ch.Events)
	}
	before, from = slices.Clone(a.owned), len(a.history)
	converge(t, h, []*client{a, c})
	keptNeverDropped(t, a, before, from)
	if len(a.owned) != 3 || len(c.owned) != 3 {
		t.Fatalf("after b's expiry a=%v c=%v, want 3 each", a.owned, c.owned)
	}

	// The zombie b comes back with its old epoch: refused, and so are its
	// commits.
	if e := h.c.ValidateCommit("g", b.id, bEpoch); e != ErrUnknownMember {
		t.Fatalf("zombie commit: %v, want unknown member", e)
	}
	resp := h.heartbeat(HeartbeatRequest{Group: "g", MemberID: b.id, MemberEpoch: bEpoch, Owned: bOwned})
	if resp.Error != ErrUnknownMember || resp.Assignment != nil {
		t.Fatalf("zombie heartbeat: %+v", resp)
	}

	// 3 → 1 (well, 2 → 1): c leaves; a gets everything back.
	leave := h.heartbeat(HeartbeatRequest{Group: "g", MemberID: c.id, MemberEpoch: LeaveEpoch})
	if leave.Error != ErrNone || leave.MemberEpoch != LeaveEpoch {
		t.Fatalf("leave: %+v", leave)
	}
	converge(t, h, []*client{a})
	if len(a.owned) != 6 {
		t.Fatalf("a owns %v after c left, want 6", a.owned)
	}
	if e := h.c.ValidateCommit("g", c.id, c.epoch); e != ErrUnknownMember {
		t.Fatalf("commit after leave: %v", e)
	}
}

// TestRevocationTimeoutFences: a member that never acknowledges a
// revocation is fenced after its rebalance timeout; its partitions move,
// and its old epoch is refused for heartbeats and commits.
func TestRevocationTimeoutFences(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 4
	a, b := newClient("g", "t"), newClient("g", "t")
	converge(t, h, []*client{a})
	a.delayRevoke = 1000 // never lets go
	b.beat(h)
	a.beat(h) // told to revoke two
	if m := h.c.groups["g"].members[a.id]; m.state != MemberUnrevoked || len(m.revoking) != 2 {
		t.Fatalf("a: state %s revoking %v", m.state, m.revoking)
	}
	aEpoch := a.epoch
	// a keeps heartbeating (its session stays alive) but does not revoke.
	for range 4 {
		h.advance(time.Second)
		a.beat(h)
		b.beat(h)
		if ch := h.tick(); len(ch.Events) > 0 && hasEvent(ch, EventFenced, a.id) {
			t.Fatalf("a fenced before its 5s rebalance timeout")
		}
	}
	h.advance(time.Second)
	if ch := h.tick(); !hasEvent(ch, EventFenced, a.id) {
		t.Fatalf("a not fenced after its rebalance timeout: %v", ch.Events)
	}
	if e := h.c.ValidateCommit("g", a.id, aEpoch); e != ErrUnknownMember {
		t.Fatalf("fenced member's commit: %v", e)
	}
	if r := h.heartbeat(HeartbeatRequest{Group: "g", MemberID: a.id, MemberEpoch: aEpoch, Owned: a.owned}); r.Error != ErrUnknownMember {
		t.Fatalf("fenced member's heartbeat: %+v", r)
	}
	b.beat(h)
	if len(b.owned) != 4 {
		t.Fatalf("b owns %v after a was fenced, want all 4", b.owned)
	}
}

// TestEpochFencing covers the epochs a heartbeat and a commit may carry.
func TestEpochFencing(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 2
	a, b := newClient("g", "t"), newClient("g", "t")
	converge(t, h, []*client{a})
	e0 := a.epoch
	h.counts["t"] = 4
	converge(t, h, []*client{a})
	e1 := a.epoch
	converge(t, h, []*client{a, b})
	e2 := a.epoch
	if e0 >= e1 || e1 >= e2 {
		t.Fatalf("a's epoch did not move: %d -> %d -> %d", e0, e1, e2)
	}
	for _, tc := range []struct {
		name  string
		epoch int32
		owned []TopicPartition
		want  ErrorKind
	}{
		{"current", e2, a.owned, ErrNone},
		{"previous, owning a subset", e1, a.owned[:1], ErrNone},
		{"previous, owning a revoked partition", e1, b.owned, ErrFencedMemberEpoch},
		{"previous, Owned unchanged (nil)", e1, nil, ErrFencedMemberEpoch},
		{"future", e2 + 1, a.owned, ErrFencedMemberEpoch},
		{"older than previous", e0, a.owned, ErrFencedMemberEpoch},
	} {
		r := h.heartbeat(HeartbeatRequest{Group: "g", MemberID: a.id, MemberEpoch: tc.epoch, Owned: tc.owned})
		if r.Error != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r.Error, tc.want)
		}
		if tc.want == ErrNone && (r.MemberEpoch != e2 || !slices.Equal(r.Assignment, a.owned)) {
			t.Errorf("%s: %+v, want epoch %d and %v", tc.name, r, e2, a.owned)
		}
	}
	for _, tc := range []struct {
		name  string
		id    MemberID
		epoch int32
		want  ErrorKind
	}{
		{"current", a.id, e2, ErrNone},
		{"stale", a.id, e1, ErrStaleMemberEpoch},
		{"future", a.id, e2 + 1, ErrFencedMemberEpoch},
		{"unknown member", "nobody", e2, ErrUnknownMember},
		{"simple commit to a group with members", "", LeaveEpoch, ErrUnknownMember},
	} {
		if got := h.c.ValidateCommit("g", tc.id, tc.epoch); got != tc.want {
			t.Errorf("commit %s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := h.c.ValidateCommit("nogroup", "", LeaveEpoch); got != ErrNone {
		t.Errorf("simple commit to an unknown group: %v", got)
	}
	// Rejoin with the old id and epoch 0 replaces the old incarnation.
	old := a.epoch
	r := h.heartbeat(HeartbeatRequest{Group: "g", MemberID: a.id, MemberEpoch: JoinEpoch, Topics: []string{"t"}})
	if r.Error != ErrNone || r.MemberID != a.id || r.MemberEpoch <= old {
		t.Fatalf("rejoin: %+v", r)
	}
	if got := h.c.ValidateCommit("g", a.id, old); got != ErrStaleMemberEpoch {
		t.Errorf("commit of the old incarnation: %v", got)
	}
}

func hasEvent(ch Changes, kind EventKind, id MemberID) bool {
	for _, ev := range ch.Events {
		if ev.Kind == kind && ev.Member == id {
			return true
		}
	}
	return false
}
