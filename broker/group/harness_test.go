package group

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

// harness drives a Coordinator with a fake clock and checks, after every
// call, the ownership invariant twice: by replaying the events (no
// EventAssigned of a partition someone owns, no EventRevoked by a
// non-owner) and against each group's own state (checkInvariants, and the
// replayed owners equal the members' Assigned ∪ Revoking).
type harness struct {
	t      testing.TB
	c      *Coordinator
	cfg    Config
	now    time.Time
	counts map[string]int32
	nextID int
	owner  map[string]map[TopicPartition]MemberID // group -> partition -> owner, from events
	events []Event                                // all of them, for failure messages
	where  string                                 // what the test is doing, for failure messages
}

func newHarness(t testing.TB, cfg Config) *harness {
	h := &harness{
		t:      t,
		now:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		counts: map[string]int32{},
		owner:  map[string]map[TopicPartition]MemberID{},
	}
	cfg.NewMemberID = func() string { h.nextID++; return fmt.Sprintf("m%03d", h.nextID) }
	cfg.PartitionCounts = func(topic string) (int32, bool) { n, ok := h.counts[topic]; return n, ok }
	h.cfg = cfg
	h.c = New(cfg)
	return h
}

// failover moves every group to a new Coordinator through its persisted
// state, as a broker that becomes the coordinator does.
func (h *harness) failover() {
	h.t.Helper()
	next := New(h.cfg)
	for _, s := range h.c.List() {
		gs, _ := h.c.Describe(s.Group)
		if e := next.Restore(gs, h.now); e != ErrNone {
			h.fatalf("Restore of %s: %v", s.Group, e)
		}
		if again, _ := next.Describe(s.Group); !snapshotsEqual(again, gs) {
			h.fatalf("Restore of %s changed it:\n%+v\n%+v", s.Group, gs, again)
		}
	}
	h.c = next
	h.apply(Changes{})
}

func (h *harness) heartbeat(req HeartbeatRequest) HeartbeatResponse {
	h.t.Helper()
	resp, ch := h.c.Heartbeat(req, h.now)
	h.apply(ch)
	return resp
}

func (h *harness) tick() Changes {
	h.t.Helper()
	ch := h.c.Tick(h.now)
	h.apply(ch)
	return ch
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

func (h *harness) apply(ch Changes) {
	h.t.Helper()
	for _, ev := range ch.Events {
		h.events = append(h.events, ev)
		own := h.owner[ev.Group]
		if own == nil {
			own = map[TopicPartition]MemberID{}
			h.owner[ev.Group] = own
		}
		switch ev.Kind {
		case EventAssigned:
			if prev, ok := own[ev.Partition]; ok {
				h.fatalf("%s given to %s while %s owns it", ev.Partition, ev.Member, prev)
			}
			own[ev.Partition] = ev.Member
		case EventRevoked:
			if own[ev.Partition] != ev.Member {
				h.fatalf("%s revoked from %s but owned by %q", ev.Partition, ev.Member, own[ev.Partition])
			}
			delete(own, ev.Partition)
		}
	}
	for _, gs := range ch.Groups {
		if d, ok := h.c.Describe(gs.Group); !ok || !snapshotsEqual(d, gs) {
			h.fatalf("Changes snapshot of %s differs from Describe", gs.Group)
		}
	}
	for id, g := range h.c.groups {
		if err := g.checkInvariants(); err != nil {
			h.fatalf("invariant: %v", err)
		}
		want := map[TopicPartition]MemberID{}
		for _, m := range g.members {
			for _, tp := range concatTPs(m.assigned, m.revoking) {
				want[tp] = m.id
			}
		}
		if got := h.owner[id]; !maps.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			h.fatalf("group %s: owners from events %v, from state %v", id, got, want)
		}
	}
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	n := max(0, len(h.events)-30)
	for _, ev := range h.events[n:] {
		h.t.Log(ev)
	}
	h.t.Fatalf("%s: %s", h.where, fmt.Sprintf(format, args...))
}

func snapshotsEqual(a, b GroupState) bool { return reflect.DeepEqual(a, b) }

// client is a simulated consumer that obeys the protocol: it heartbeats,
// fetches what its last response assigned, and on a revocation stops
// fetching, commits and reports Owned without the partitions (at once, or
// after delayRevoke more heartbeats).
type client struct {
	group   string
	id      MemberID
	epoch   int32
	topics  []string
	owned   []TopicPartition // what it fetches
	joined  bool
	changed bool // subscription changed: send Topics

	delayRevoke int  // heartbeats to wait before acknowledging a revocation
	commits     bool // commit revoked partitions (ValidateCommit must accept)
	history     [][]TopicPartition
}

func newClient(group string, topics ...string) *client {
	return &client{group: group, topics: topics, commits: true}
}

// beat sends one heartbeat and applies the response.
func (cl *client) beat(h *harness) HeartbeatResponse {
	h.t.Helper()
	req := HeartbeatRequest{Group: cl.group, MemberID: cl.id, MemberEpoch: cl.epoch, Owned: slices.Clone(cl.owned)}
	if req.Owned == nil {
		req.Owned = []TopicPartition{}
	}
	if !cl.joined || cl.changed {
		req.Topics = cl.topics
	}
	if !cl.joined {
		req.SessionTimeout = 10 * time.Second
		req.RebalanceTimeout = 5 * time.Second
	}
	resp := h.heartbeat(req)
	switch resp.Error {
	case ErrNone:
	case ErrGroupMaxSize:
		return resp
	case ErrUnknownMember, ErrFencedMemberEpoch:
		// Drop everything and rejoin on the next heartbeat, as a client does.
		cl.owned, cl.epoch, cl.joined = nil, 0, false
		return resp
	default:
		h.fatalf("heartbeat of %s: %v", cl.id, resp.Error)
	}
	cl.id, cl.joined, cl.changed = resp.MemberID, true, false
	if cl.epoch != 0 && resp.MemberEpoch < cl.epoch {
		h.fatalf("%s: epoch went back from %d to %d", cl.id, cl.epoch, resp.MemberEpoch)
	}
	cl.history = append(cl.history, resp.Assignment)
	now := toSet(resp.Assignment)
	var revoked []TopicPartition
	for _, tp := range cl.owned {
		if !now[tp] {
			revoked = append(revoked, tp)
		}
	}
	if len(revoked) > 0 && cl.commits {
		// The revoking member commits with the epoch it still has.
		if e := h.c.ValidateCommit(cl.group, cl.id, resp.MemberEpoch); e != ErrNone {
			h.fatalf("%s revoking at epoch %d: commit refused: %v", cl.id, resp.MemberEpoch, e)
		}
	}
	cl.epoch = resp.MemberEpoch
	if len(revoked) > 0 && cl.delayRevoke > 0 {
		cl.delayRevoke--
		cl.owned = concatTPs(resp.Assignment, revoked) // still busy with them
		return resp
	}
	cl.owned = slices.Clone(resp.Assignment)
	return resp
}

// live reports whether the coordinator still knows cl at its epoch (a
// client it does not is a zombie until its next heartbeat).
func (cl *client) live(h *harness) bool {
	return cl.joined && h.c.ValidateCommit(cl.group, cl.id, cl.epoch) == ErrNone
}

// checkClient verifies that a live client fetches only what the
// coordinator counts as its own (with the coordinator's invariant: no
// partition is fetched by two live clients).
func checkClient(h *harness, cl *client) {
	h.t.Helper()
	if !cl.live(h) {
		return
	}
	m := h.c.groups[cl.group].members[cl.id]
	if !subset(cl.owned, concatTPs(m.assigned, m.revoking)) {
		h.fatalf("%s fetches %v, the coordinator counts %v and %v as its", cl.id, cl.owned, m.assigned, m.revoking)
	}
}

// checkClients verifies what the clients fetch: live clients fetch only
// what the coordinator counts as theirs, hence no two live clients fetch
// the same partition.
func checkClients(h *harness, clients []*client) {
	h.t.Helper()
	fetching := map[string]map[TopicPartition]MemberID{}
	for _, cl := range clients {
		if !cl.live(h) {
			continue
		}
		if fetching[cl.group] == nil {
			fetching[cl.group] = map[TopicPartition]MemberID{}
		}
		m := h.c.groups[cl.group].members[cl.id]
		mine := toSet(concatTPs(m.assigned, m.revoking))
		for _, tp := range cl.owned {
			if !mine[tp] {
				h.fatalf("%s fetches %s, which the coordinator does not count as its", cl.id, tp)
			}
			if other, dup := fetching[cl.group][tp]; dup {
				h.fatalf("%s and %s both fetch %s", other, cl.id, tp)
			}
			fetching[cl.group][tp] = cl.id
		}
	}
}

// checkStable asserts that every group with members is stable and that
// each partition of a subscribed, existing topic is owned exactly once, by
// a subscriber, as the clients see it too.
func checkStable(h *harness, clients []*client) {
	h.t.Helper()
	for _, s := range h.c.List() {
		if s.Members > 0 && s.State != StatusStable {
			gs, _ := h.c.Describe(s.Group)
			h.fatalf("group %s is %s after the quiet period: %+v", s.Group, s.State, gs)
		}
		g := h.c.groups[s.Group]
		want := map[TopicPartition]bool{}
		for _, m := range g.members {
			for _, t := range m.topics {
				for p := range h.counts[t] {
					want[TopicPartition{t, p}] = true
				}
			}
			for _, tp := range m.assigned {
				if !slices.Contains(m.topics, tp.Topic) {
					h.fatalf("%s owns %s outside its subscription %v", m.id, tp, m.topics)
				}
			}
		}
		if !maps.Equal(toSetFromMap(g.owner), want) {
			h.fatalf("group %s owns %v, want every subscribed partition %v", s.Group, g.owner, want)
		}
	}
	for _, cl := range clients {
		if !cl.live(h) {
			h.fatalf("client %s not live after the quiet period", cl.id)
		}
		if m := h.c.groups[cl.group].members[cl.id]; !slices.Equal(cl.owned, m.assigned) {
			h.fatalf("client %s fetches %v, coordinator says %v", cl.id, cl.owned, m.assigned)
		}
	}
}

func toSetFromMap(m map[TopicPartition]MemberID) map[TopicPartition]bool {
	s := map[TopicPartition]bool{}
	for tp := range m {
		s[tp] = true
	}
	return s
}
