package group

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestHeartbeatValidation(t *testing.T) {
	ok := HeartbeatRequest{Group: "g", Topics: []string{"t"}}
	for _, tc := range []struct {
		name string
		edit func(*HeartbeatRequest)
		want ErrorKind
	}{
		{"valid join", func(*HeartbeatRequest) {}, ErrNone},
		{"group id of 249 bytes", func(r *HeartbeatRequest) { r.Group = strings.Repeat("g", 249) }, ErrNone},
		{"group id of 250 bytes", func(r *HeartbeatRequest) { r.Group = strings.Repeat("g", 250) }, ErrInvalidRequest},
		{"empty group id", func(r *HeartbeatRequest) { r.Group = "" }, ErrInvalidRequest},
		{"group id with a slash", func(r *HeartbeatRequest) { r.Group = "a/b" }, ErrInvalidRequest},
		{"group id ..", func(r *HeartbeatRequest) { r.Group = ".." }, ErrInvalidRequest},
		{"join without a subscription", func(r *HeartbeatRequest) { r.Topics = nil }, ErrInvalidRequest},
		{"join with an empty subscription", func(r *HeartbeatRequest) { r.Topics = []string{} }, ErrNone},
		{"bad topic name", func(r *HeartbeatRequest) { r.Topics = []string{"a b"} }, ErrInvalidRequest},
		{"too many topics", func(r *HeartbeatRequest) { r.Topics = make([]string, 1001) }, ErrInvalidRequest},
		{"epoch -2", func(r *HeartbeatRequest) { r.MemberEpoch = -2 }, ErrInvalidRequest},
		{"epoch without member id", func(r *HeartbeatRequest) { r.MemberEpoch = 3 }, ErrInvalidRequest},
		{"member id with a space", func(r *HeartbeatRequest) { r.MemberID = "a b" }, ErrInvalidRequest},
		{"member id too long", func(r *HeartbeatRequest) { r.MemberID = MemberID(strings.Repeat("x", 129)) }, ErrInvalidRequest},
		{"chosen member id", func(r *HeartbeatRequest) { r.MemberID = "mine" }, ErrNone},
		{"unknown assignor", func(r *HeartbeatRequest) { r.Assignor = "uniform" }, ErrInvalidRequest},
		{"range assignor", func(r *HeartbeatRequest) { r.Assignor = "range" }, ErrNone},
		{"session timeout too short", func(r *HeartbeatRequest) { r.SessionTimeout = time.Millisecond }, ErrInvalidRequest},
		{"session timeout too long", func(r *HeartbeatRequest) { r.SessionTimeout = 31 * time.Minute }, ErrInvalidRequest},
		{"rebalance timeout too long", func(r *HeartbeatRequest) { r.RebalanceTimeout = 2 * time.Hour }, ErrInvalidRequest},
		{"tag filter too long", func(r *HeartbeatRequest) { r.TagFilter = ptr(strings.Repeat("x", 4097)) }, ErrInvalidRequest},
		{"negative owned partition", func(r *HeartbeatRequest) { r.Owned = []TopicPartition{{"t", -1}} }, ErrInvalidRequest},
		{"unknown member", func(r *HeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", 1 }, ErrUnknownMember},
		{"leave of an unknown member", func(r *HeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", LeaveEpoch }, ErrUnknownMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{})
			req := ok
			req.Topics = slices.Clone(ok.Topics)
			tc.edit(&req)
			resp, ch := c.Heartbeat(req, time.Unix(0, 0))
			if resp.Error != tc.want {
				t.Fatalf("%v, want %v", resp.Error, tc.want)
			}
			if tc.want != ErrNone && (!ch.Empty() || len(c.List()) != 0) {
				t.Fatalf("a refused request changed something: %+v %v", ch, c.List())
			}
		})
	}
}

func TestGroupMaxSize(t *testing.T) {
	h := newHarness(t, Config{MaxGroupSize: 2})
	for i, want := range []ErrorKind{ErrNone, ErrNone, ErrGroupMaxSize} {
		if r := h.heartbeat(HeartbeatRequest{Group: "g", Topics: []string{"t"}}); r.Error != want {
			t.Fatalf("join %d: %v, want %v", i, r.Error, want)
		}
	}
	// Another group is not affected.
	if r := h.heartbeat(HeartbeatRequest{Group: "other", Topics: []string{"t"}}); r.Error != ErrNone {
		t.Fatalf("join of another group: %v", r.Error)
	}
}

// TestSteadyHeartbeatsPersistNothing: once stable, heartbeats change
// nothing the broker must write.
func TestSteadyHeartbeatsPersistNothing(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 3
	a := newClient("g", "t")
	converge(t, h, []*client{a})
	resp, ch := h.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: a.id, MemberEpoch: a.epoch}, h.now)
	if resp.Error != ErrNone || !ch.Empty() {
		t.Fatalf("steady heartbeat: %+v, changes %+v", resp, ch)
	}
	if resp.HeartbeatInterval != 10*time.Second/15 {
		t.Fatalf("interval %v, want session/15", resp.HeartbeatInterval)
	}
	if ch := h.tick(); !ch.Empty() {
		t.Fatalf("steady tick: %+v", ch)
	}
	// A tag filter change is persisted but does not rebalance.
	epoch := h.c.groups["g"].groupEpoch
	_, ch = h.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: a.id, MemberEpoch: a.epoch, TagFilter: ptr("region=eu")}, h.now)
	if len(ch.Groups) != 1 || ch.Groups[0].Members[0].TagFilter != "region=eu" || ch.Groups[0].GroupEpoch != epoch {
		t.Fatalf("tag filter change: %+v", ch)
	}
	def, _ := New(Config{}).Heartbeat(HeartbeatRequest{Group: "g", Topics: []string{}}, h.now)
	if def.HeartbeatInterval != 3*time.Second {
		t.Fatalf("default interval %v, want 3s", def.HeartbeatInterval)
	}
}

// TestPartitionCounts: topics that do not exist are ignored until they
// appear; a count change reassigns on the next Tick.
func TestPartitionCounts(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := newClient("g", "old", "new"), newClient("g", "new")
	h.counts["old"] = 2
	converge(t, h, []*client{a, b})
	if len(a.owned) != 2 || len(b.owned) != 0 {
		t.Fatalf("before 'new' exists: a=%v b=%v", a.owned, b.owned)
	}
	h.counts["new"] = 4
	if ch := h.tick(); len(ch.Groups) != 1 || ch.Groups[0].PartitionCounts["new"] != 4 {
		t.Fatalf("tick after the topic appeared: %+v", ch)
	}
	converge(t, h, []*client{a, b})
	if len(a.owned)+len(b.owned) != 6 || len(a.owned) != 3 {
		t.Fatalf("after 'new' appeared: a=%v b=%v", a.owned, b.owned)
	}
	h.counts["new"] = 8
	converge(t, h, []*client{a, b})
	if len(a.owned) != 5 || len(b.owned) != 5 {
		t.Fatalf("after 'new' grew to 8: a=%v b=%v", a.owned, b.owned)
	}
	delete(h.counts, "new")
	converge(t, h, []*client{a, b})
	if len(a.owned) != 2 || len(b.owned) != 0 {
		t.Fatalf("after 'new' was deleted: a=%v b=%v", a.owned, b.owned)
	}
}

// TestAssignorChoice: the group uses its members' most common preference.
func TestAssignorChoice(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 4
	join := func(a string) {
		if r := h.heartbeat(HeartbeatRequest{Group: "g", Topics: []string{"t"}, Assignor: a}); r.Error != ErrNone {
			t.Fatal(r.Error)
		}
	}
	join("")
	if gs, _ := h.c.Describe("g"); gs.Assignor != Sticky {
		t.Fatalf("default assignor %q", gs.Assignor)
	}
	join("range")
	join("roundrobin")
	join("range")
	if gs, _ := h.c.Describe("g"); gs.Assignor != Range {
		t.Fatalf("assignor %q, want range", gs.Assignor)
	}
}

func TestListDescribeDelete(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 2
	a, b := newClient("g", "t"), newClient("g", "t")
	converge(t, h, []*client{a})
	b.beat(h) // joins; a still owns both
	if l := h.c.List(); len(l) != 1 || l[0].State != StatusReconciling || l[0].Members != 2 {
		t.Fatalf("List = %+v", l)
	}
	if e := h.c.Delete("g"); e != ErrGroupNotEmpty {
		t.Fatalf("Delete of a group with members: %v", e)
	}
	if _, ok := h.c.Describe("nope"); ok {
		t.Fatal("Describe of an unknown group")
	}
	for _, cl := range []*client{a, b} {
		h.heartbeat(HeartbeatRequest{Group: "g", MemberID: cl.id, MemberEpoch: LeaveEpoch})
	}
	if l := h.c.List(); l[0].State != StatusEmpty {
		t.Fatalf("List = %+v", l)
	}
	gs, ok := h.c.Describe("g")
	if !ok || len(gs.Members) != 0 || gs.GroupEpoch == 0 {
		t.Fatalf("Describe = %+v %v", gs, ok)
	}
	if e := h.c.Delete("g"); e != ErrNone {
		t.Fatalf("Delete: %v", e)
	}
	if e := h.c.Delete("g"); e != ErrUnknownGroup {
		t.Fatalf("second Delete: %v", e)
	}
}

// TestRestoreAfterFailover: a new coordinator restored from the persisted
// state keeps the live members at their epochs (no rebalance), removes the
// dead one after its session timeout, and continues a revocation in
// flight.
func TestRestoreAfterFailover(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["t"] = 6
	a, b, c := newClient("g", "t"), newClient("g", "t"), newClient("g", "t")
	converge(t, h, []*client{a, b})
	c.beat(h) // joins: a and b must each give one up
	a.beat(h) // told to revoke one; does not answer before the failover
	var persisted GroupState
	persisted, _ = h.c.Describe("g")
	if m := persisted.Members[0]; m.ID != a.id || m.State != MemberUnrevoked {
		t.Fatalf("a in the snapshot: %+v", m)
	}

	// The new coordinator, one minute later (the old one's deadlines are
	// long past).
	h2 := newHarness(t, Config{})
	h2.counts["t"] = 6
	h2.now = h.now.Add(time.Minute)
	if e := h2.c.Restore(persisted, h2.now); e != ErrNone {
		t.Fatalf("Restore: %v", e)
	}
	h2.owner["g"] = map[TopicPartition]MemberID{}
	for _, m := range persisted.Members {
		for _, tp := range concatTPs(m.Assigned, m.Revoking) {
			h2.owner["g"][tp] = m.ID
		}
	}
	if ch := h2.tick(); !ch.Empty() {
		t.Fatalf("a tick right after Restore changed %+v", ch)
	}
	// b died with the old coordinator; a and c go on.
	for range 9 {
		a.beat(h2)
		c.beat(h2)
		h2.advance(time.Second)
		h2.tick()
	}
	if _, ok := h2.c.groups["g"].members[b.id]; !ok {
		t.Fatal("b removed before its session timeout")
	}
	h2.advance(time.Second)
	if ch := h2.tick(); !hasEvent(ch, EventExpired, b.id) {
		t.Fatalf("b not expired: %v", ch.Events)
	}
	converge(t, h2, []*client{a, c})
	if len(a.owned) != 3 || len(c.owned) != 3 {
		t.Fatalf("after failover a=%v c=%v", a.owned, c.owned)
	}

	// A snapshot with a partition owned twice is refused.
	bad, _ := h2.c.Describe("g")
	bad.Members[1].Assigned = append(bad.Members[1].Assigned, bad.Members[0].Assigned[0])
	if e := New(Config{}).Restore(bad, h2.now); e != ErrInvalidRequest {
		t.Fatalf("Restore of a double owner: %v", e)
	}
}

// TestMixedSubscriptions: members only get partitions of their topics.
func TestMixedSubscriptions(t *testing.T) {
	h := newHarness(t, Config{})
	h.counts["a"], h.counts["b"] = 4, 2
	x, y, z := newClient("g", "a"), newClient("g", "a", "b"), newClient("g", "b")
	converge(t, h, []*client{x, y, z})
	for _, cl := range []*client{x, y, z} {
		for _, tp := range cl.owned {
			if !slices.Contains(cl.topics, tp.Topic) {
				t.Fatalf("%s owns %s outside %v", cl.id, tp, cl.topics)
			}
		}
	}
	// y switches to "a" only: z takes all of "b".
	y.topics, y.changed = []string{"a"}, true
	converge(t, h, []*client{x, y, z})
	if len(z.owned) != 2 || len(x.owned) != 2 || len(y.owned) != 2 {
		t.Fatalf("x=%v y=%v z=%v", x.owned, y.owned, z.owned)
	}
}
