package coordtest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
)

// NewCoords returns n coordinators (one per simulated broker) over one
// fresh shared store or cluster, with nothing registered, no topics and no
// controller. They are closed by the test's cleanup.
type NewCoords func(t *testing.T, n int) []coord.Coordinator

// Run runs the suite. Tests of lease expiry need the coordinators to
// implement coord.Halter; they are skipped otherwise.
func Run(t *testing.T, newCoords NewCoords) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newCoords NewCoords)
	}{
		{"ClusterID", testClusterID},
		{"RegisterVisible", testRegisterVisible},
		{"DuplicateBrokerID", testDuplicateBrokerID},
		{"CloseDeregisters", testCloseDeregisters},
		{"LeaseExpiry", testLeaseExpiry},
		{"CreateTopic", testCreateTopic},
		{"DeleteTopic", testDeleteTopic},
		{"UpdatePartitionCAS", testUpdatePartitionCAS},
		{"UpdateTopicConfigs", testUpdateTopicConfigs},
		{"StaleControllerRefused", testStaleControllerRefused},
		{"FailoverOnResign", testFailoverOnResign},
		{"FailoverOnSessionClose", testFailoverOnSessionClose},
		{"FailoverOnLeaseExpiry", testFailoverOnLeaseExpiry},
		{"CampaignCancelled", testCampaignCancelled},
		{"WaitRevision", testWaitRevision},
		{"Sync", testSync},
		{"NextProducerID", testNextProducerID},
		{"ChangedFires", testChangedFires},
		{"Closed", testClosed},
		{"Groups", testGroups},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newCoords) })
	}
}

// shortTTL is the lease TTL of the expiry tests: etcd's least with fast
// ticks is 1 s; 2 s leaves the keepalives of a loaded (-race, 2-core)
// machine some room.
const shortTTL = 2 * time.Second

// longTTL is the TTL of sessions that must not expire during a test.
const longTTL = 30 * time.Second

// slack bounds how long after a lease's TTL the store may take to act on
// it (etcd checks expiry every 500 ms) and the watch to deliver it.
const slack = 3 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func broker(id int32) coord.BrokerInfo {
	return coord.BrokerInfo{ID: id, Addr: "127.0.0.1:9000", DataAddr: "127.0.0.1:9001", AdminAddr: "127.0.0.1:9002", Rack: "r1"}
}

func register(t *testing.T, c coord.Coordinator, id int32, ttl time.Duration) coord.Session {
	t.Helper()
	s, err := c.Register(testCtx(t), broker(id), ttl)
	if err != nil {
		t.Fatalf("Register(%d): %v", id, err)
	}
	return s
}

func campaign(t *testing.T, c coord.Coordinator, s coord.Session, id int32) coord.Leadership {
	t.Helper()
	l, err := c.Campaign(testCtx(t), s, id)
	if err != nil {
		t.Fatalf("Campaign(%d): %v", id, err)
	}
	return l
}

// spec and states for a topic whose partitions are led by broker 1.
func topic(name string, n int32) (coord.TopicSpec, []coord.PartitionState) {
	spec := coord.TopicSpec{Name: name, ID: name + "-id", Partitions: n, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "60000"}}
	parts := make([]coord.PartitionState, n)
	for i := range parts {
		parts[i] = coord.PartitionState{Topic: name, Partition: int32(i), Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, ELR: []int32{}}
	}
	return spec, parts
}

func createTopic(t *testing.T, c coord.Coordinator, l coord.Leadership, name string, n int32) int64 {
	t.Helper()
	spec, parts := topic(name, n)
	rev, err := c.CreateTopic(testCtx(t), l, spec, parts)
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return rev
}

// waitFor waits until cond holds for c's snapshot, on Changed, never by
// sleeping a fixed time.
func waitFor(t *testing.T, c coord.Coordinator, what string, timeout time.Duration, cond func(*coord.Snapshot) bool) *coord.Snapshot {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := c.Changed()
		snap := c.Snapshot()
		if cond(snap) {
			return snap
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("not %s within %v (snapshot at revision %d)", what, timeout, snap.Revision)
		}
	}
}

func waitRev(t *testing.T, c coord.Coordinator, rev int64) *coord.Snapshot {
	t.Helper()
	if err := c.WaitRevision(testCtx(t), rev); err != nil {
		t.Fatalf("WaitRevision(%d): %v", rev, err)
	}
	snap := c.Snapshot()
	if snap.Revision < rev {
		t.Fatalf("WaitRevision(%d) returned with the snapshot at %d", rev, snap.Revision)
	}
	return snap
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testClusterID(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 3)
	id := cs[0].Snapshot().ClusterID
	if id == "" {
		t.Fatal("empty cluster id")
	}
	for i, c := range cs {
		s := c.Snapshot()
		if s.ClusterID != id {
			t.Errorf("coordinator %d: cluster id %q, want %q", i, s.ClusterID, id)
		}
		if s.Controller != -1 || len(s.Brokers) != 0 || len(s.Topics) != 0 || s.Revision <= 0 {
			t.Errorf("coordinator %d: fresh snapshot %+v", i, s)
		}
	}
}

func testRegisterVisible(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	before := time.Now()
	s := register(t, cs[0], 1, 10*time.Second)
	after := time.Now()
	if !s.Valid() || closed(s.Lost()) {
		t.Fatal("fresh session not valid, or lost")
	}
	if s.TTL() < 10*time.Second || s.Epoch() <= 0 || s.LeaseID() == 0 {
		t.Fatalf("session TTL %v, epoch %d, lease %x", s.TTL(), s.Epoch(), s.LeaseID())
	}
	// The deadline is at most TTL - margin after the registration started.
	d, margin := s.Deadline(), coord.SafetyMargin(s.TTL())
	if !d.After(after) || d.After(time.Now().Add(s.TTL()-margin)) || d.Before(before.Add(s.TTL()-margin-time.Second)) {
		t.Fatalf("deadline %v after registering at %v..%v with TTL %v", d, before, after, s.TTL())
	}
	snap := waitRev(t, cs[1], s.Epoch())
	got, ok := snap.Brokers[1]
	want := broker(1)
	want.Epoch = s.Epoch()
	if !ok || got != want {
		t.Fatalf("other coordinator sees broker 1 = %+v (%v), want %+v", got, ok, want)
	}
}

func testDuplicateBrokerID(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	s := register(t, cs[0], 1, longTTL)
	_, err := cs[1].Register(ctx, broker(1), longTTL)
	wantErr(t, "Register of a live id from another coordinator", err, coord.ErrBrokerIDInUse)
	_, err = cs[0].Register(ctx, broker(1), longTTL)
	wantErr(t, "Register of a live id from the same coordinator", err, coord.ErrBrokerIDInUse)
	register(t, cs[1], 2, longTTL)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := register(t, cs[1], 1, longTTL)
	if s2.Epoch() <= s.Epoch() {
		t.Fatalf("new registration's epoch %d not after the old one's %d", s2.Epoch(), s.Epoch())
	}
	if got := waitRev(t, cs[0], s2.Epoch()).Brokers[1].Epoch; got != s2.Epoch() {
		t.Fatalf("snapshot epoch %d, want %d", got, s2.Epoch())
	}
}

func testCloseDeregisters(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	s := register(t, cs[0], 3, longTTL)
	waitFor(t, cs[1], "registered", 5*time.Second, func(s *coord.Snapshot) bool { _, ok := s.Brokers[3]; return ok })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(s.Lost()) || s.Valid() || !s.Deadline().IsZero() {
		t.Fatal("closed session not lost, or still valid")
	}
	waitFor(t, cs[1], "deregistered", 5*time.Second, func(s *coord.Snapshot) bool { _, ok := s.Brokers[3]; return !ok })
	_, err := cs[0].Campaign(testCtx(t), s, 3)
	wantErr(t, "Campaign with a closed session", err, coord.ErrSessionLost)
}

// testLeaseExpiry: a halted broker's registration goes away after its TTL,
// and its session stops being Valid before that, by the margin.
func testLeaseExpiry(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	h, ok := cs[0].(coord.Halter)
	if !ok {
		t.Skip("coordinator does not implement coord.Halter")
	}
	s := register(t, cs[0], 7, shortTTL)
	waitFor(t, cs[1], "registered", 5*time.Second, func(s *coord.Snapshot) bool { _, ok := s.Brokers[7]; return ok })

	halted := time.Now()
	h.Halt()
	haltReturned := time.Now()
	deadline := s.Deadline() // no renewal moves it any more
	invalidAt, goneAt := watchExpiry(t, s, cs[1], func(snap *coord.Snapshot) bool { _, ok := snap.Brokers[7]; return !ok })
	t.Logf("TTL %v: deadline %v, invalid %v, deregistered %v after the halt", s.TTL(), deadline.Sub(halted), invalidAt.Sub(halted), goneAt.Sub(halted))
	if !invalidAt.Before(goneAt) || !deadline.Before(goneAt) {
		t.Fatalf("session valid until %v (deadline %v), registration gone at %v: not fenced before expiry", invalidAt, deadline, goneAt)
	}
	if margin := coord.SafetyMargin(s.TTL()); deadline.After(haltReturned.Add(s.TTL() - margin)) {
		t.Fatalf("deadline %v later than halt + TTL - margin = %v", deadline, haltReturned.Add(s.TTL()-margin))
	}
	register(t, cs[1], 7, longTTL) // the id is free again
}

// watchExpiry polls s and other's view until s is not Valid and gone(view)
// holds, and returns when each first happened.
func watchExpiry(t *testing.T, s coord.Session, other coord.Coordinator, gone func(*coord.Snapshot) bool) (invalidAt, goneAt time.Time) {
	t.Helper()
	limit := time.Now().Add(s.TTL() + slack)
	for invalidAt.IsZero() || goneAt.IsZero() {
		now := time.Now()
		if now.After(limit) {
			t.Fatalf("after TTL %v + %v: valid=%v, gone=%v", s.TTL(), slack, s.Valid(), !goneAt.IsZero())
		}
		if invalidAt.IsZero() && !s.Valid() {
			invalidAt = now
		}
		if goneAt.IsZero() && gone(other.Snapshot()) {
			goneAt = now
		}
		time.Sleep(2 * time.Millisecond) // polling two clocks; a wait on Changed would miss Valid
	}
	return invalidAt, goneAt
}

func testCreateTopic(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	spec, parts := topic("orders", 3)
	rev, err := cs[0].CreateTopic(ctx, nil, spec, parts)
	if err != nil {
		t.Fatal(err)
	}
	snap := waitRev(t, cs[1], rev)
	got, ok := snap.Topics["orders"]
	if !ok || got.Revision != rev || got.ID != spec.ID || got.Partitions != 3 || got.ReplicationFactor != 2 || !maps.Equal(got.Configs, spec.Configs) {
		t.Fatalf("topic = %+v (%v), want %+v at revision %d", got, ok, spec, rev)
	}
	if n := len(snap.Partitions["orders"]); n != 3 {
		t.Fatalf("%d partitions in the snapshot, want 3", n)
	}
	for p := range int32(3) {
		st, ok := snap.Partition("orders", p)
		want := parts[p]
		want.Revision = rev
		if !ok || st.Topic != want.Topic || st.Partition != p || st.Leader != 1 || st.Revision != rev ||
			!slices.Equal(st.Replicas, want.Replicas) || !slices.Equal(st.ISR, want.ISR) {
			t.Fatalf("partition %d = %+v (%v), want %+v", p, st, ok, want)
		}
	}
	if _, ok := snap.Partition("orders", 3); ok {
		t.Fatal("partition 3 of a 3-partition topic exists")
	}

	spec.ID = "other"
	_, err = cs[1].CreateTopic(ctx, nil, spec, parts)
	wantErr(t, "CreateTopic of an existing name", err, coord.ErrTopicExists)
	_, err = cs[0].CreateTopic(ctx, nil, spec, parts[:2])
	wantErr(t, "CreateTopic with too few partition states", err, coord.ErrInvalid)
	bad, badParts := topic("a/b", 1)
	_, err = cs[0].CreateTopic(ctx, nil, bad, badParts)
	wantErr(t, "CreateTopic of a name with '/'", err, coord.ErrInvalid)
	if got := waitRev(t, cs[0], rev).Topics["orders"]; got.ID != "orders-id" || got.Revision != rev {
		t.Fatalf("refused create changed the topic: %+v", got)
	}
}

func testDeleteTopic(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	createTopic(t, cs[0], nil, "orders", 3)
	createTopic(t, cs[0], nil, "orders2", 2) // a name that extends the first
	rev, err := cs[1].DeleteTopic(ctx, nil, "orders")
	if err != nil {
		t.Fatal(err)
	}
	snap := waitRev(t, cs[0], rev)
	if _, ok := snap.Topics["orders"]; ok || len(snap.Partitions["orders"]) != 0 {
		t.Fatalf("deleted topic still in the snapshot: %+v %+v", snap.Topics["orders"], snap.Partitions["orders"])
	}
	if _, ok := snap.Topics["orders2"]; !ok || len(snap.Partitions["orders2"]) != 2 {
		t.Fatal("deleting orders touched orders2")
	}
	_, err = cs[0].DeleteTopic(ctx, nil, "orders")
	wantErr(t, "DeleteTopic of a deleted topic", err, coord.ErrUnknownTopic)

	spec, parts := topic("orders", 1)
	spec.ID = "second-incarnation"
	rev, err = cs[0].CreateTopic(ctx, nil, spec, parts)
	if err != nil {
		t.Fatalf("CreateTopic after delete: %v", err)
	}
	snap = waitRev(t, cs[1], rev)
	if snap.Topics["orders"].ID != spec.ID || len(snap.Partitions["orders"]) != 1 {
		t.Fatalf("recreated topic = %+v with %d partitions", snap.Topics["orders"], len(snap.Partitions["orders"]))
	}
}

func testUpdatePartitionCAS(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	rev := createTopic(t, cs[0], nil, "orders", 1)
	st, _ := waitRev(t, cs[1], rev).Partition("orders", 0)

	next := st
	next.Leader, next.LeaderEpoch, next.ISR = 2, st.LeaderEpoch+1, []int32{2}
	rev2, err := cs[1].UpdatePartition(ctx, nil, next)
	if err != nil {
		t.Fatal(err)
	}
	// Another writer that read the same revision loses.
	other := st
	other.Leader, other.LeaderEpoch = 1, st.LeaderEpoch+1
	_, err = cs[0].UpdatePartition(ctx, nil, other)
	wantErr(t, "UpdatePartition at a stale revision", err, coord.ErrConflict)
	other.Revision = 0
	_, err = cs[0].UpdatePartition(ctx, nil, other)
	wantErr(t, "UpdatePartition with revision 0 of an existing key", err, coord.ErrConflict)

	got, ok := waitRev(t, cs[0], rev2).Partition("orders", 0)
	if !ok || got.Leader != 2 || got.LeaderEpoch != st.LeaderEpoch+1 || got.Revision != rev2 || !slices.Equal(got.ISR, []int32{2}) {
		t.Fatalf("partition = %+v, want leader 2 at revision %d", got, rev2)
	}

	// Revision 0 creates a key that does not exist, in a topic that does.
	add := coord.PartitionState{Topic: "orders", Partition: 1, Leader: -1, Replicas: []int32{1}}
	rev3, err := cs[0].UpdatePartition(ctx, nil, add)
	if err != nil {
		t.Fatalf("UpdatePartition creating partition 1: %v", err)
	}
	if got, ok := waitRev(t, cs[1], rev3).Partition("orders", 1); !ok || got.Leader != -1 || got.Revision != rev3 {
		t.Fatalf("new partition = %+v (%v)", got, ok)
	}
	_, err = cs[0].UpdatePartition(ctx, nil, coord.PartitionState{Topic: "nope", Partition: 0, Leader: -1})
	wantErr(t, "UpdatePartition of an unknown topic", err, coord.ErrUnknownTopic)
}

func testUpdateTopicConfigs(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	rev := createTopic(t, cs[0], nil, "orders", 2)
	want := map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"}
	rev2, err := cs[1].UpdateTopicConfigs(ctx, nil, "orders", want, rev)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs[0].UpdateTopicConfigs(ctx, nil, "orders", map[string]string{}, rev)
	wantErr(t, "UpdateTopicConfigs at a stale revision", err, coord.ErrConflict)
	got := waitRev(t, cs[0], rev2).Topics["orders"]
	if got.Revision != rev2 || !maps.Equal(got.Configs, want) || got.Partitions != 2 || got.ID != "orders-id" {
		t.Fatalf("topic = %+v, want configs %v at revision %d", got, want, rev2)
	}
	rev3, err := cs[0].UpdateTopicConfigs(ctx, nil, "orders", nil, 0)
	if err != nil {
		t.Fatalf("UpdateTopicConfigs at whatever revision: %v", err)
	}
	if got := waitRev(t, cs[1], rev3).Topics["orders"]; len(got.Configs) != 0 {
		t.Fatalf("configs after clearing: %v", got.Configs)
	}
	_, err = cs[0].UpdateTopicConfigs(ctx, nil, "nope", want, 0)
	wantErr(t, "UpdateTopicConfigs of an unknown topic", err, coord.ErrUnknownTopic)
}

func testStaleControllerRefused(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	s0 := register(t, cs[0], 1, longTTL)
	l0 := campaign(t, cs[0], s0, 1)
	waitFor(t, cs[1], "controller 1", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == 1 })
	createTopic(t, cs[0], l0, "a", 1)

	if err := l0.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if !closed(l0.Done()) {
		t.Fatal("Done not closed by Resign")
	}
	spec, parts := topic("b", 1)
	_, err := cs[0].CreateTopic(ctx, l0, spec, parts)
	wantErr(t, "CreateTopic by a resigned controller", err, coord.ErrNotController)
	_, err = cs[1].DeleteTopic(ctx, l0, "a")
	wantErr(t, "DeleteTopic by a resigned controller (through another coordinator)", err, coord.ErrNotController)

	s1 := register(t, cs[1], 2, longTTL)
	l1 := campaign(t, cs[1], s1, 2)
	if l1.Epoch() <= l0.Epoch() {
		t.Fatalf("new controller's epoch %d not after the old one's %d", l1.Epoch(), l0.Epoch())
	}
	snap := waitFor(t, cs[0], "controller 2", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == 2 })
	st, _ := snap.Partition("a", 0)
	st.LeaderEpoch++
	_, err = cs[0].UpdatePartition(ctx, l0, st)
	wantErr(t, "UpdatePartition by a deposed controller", err, coord.ErrNotController)
	_, err = cs[0].UpdateTopicConfigs(ctx, l0, "a", nil, 0)
	wantErr(t, "UpdateTopicConfigs by a deposed controller", err, coord.ErrNotController)
	if _, err := cs[1].UpdatePartition(ctx, l1, st); err != nil {
		t.Fatalf("UpdatePartition by the controller: %v", err)
	}
	createTopic(t, cs[1], l1, "b", 1)
}

// campaignAsync campaigns in the background; the result arrives on the
// returned channel.
func campaignAsync(ctx context.Context, c coord.Coordinator, s coord.Session, id int32) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		l, err := c.Campaign(ctx, s, id)
		ch <- campaignResult{l, err, time.Now()}
	}()
	return ch
}

type campaignResult struct {
	l   coord.Leadership
	err error
	at  time.Time
}

func awaitCampaign(t *testing.T, ch <-chan campaignResult, timeout time.Duration) campaignResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Campaign: %v", r.err)
		}
		return r
	case <-time.After(timeout):
		t.Fatalf("no controller within %v", timeout)
		panic("unreachable")
	}
}

// notYet checks a campaign is still waiting. The wait is bounded and
// short: it can only let a wrong result through, never fail a right one.
func notYet(t *testing.T, ch <-chan campaignResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("second campaigner won while the first leads (err %v)", r.err)
	case <-time.After(200 * time.Millisecond):
	}
}

func testFailoverOnResign(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	l0 := campaign(t, cs[0], register(t, cs[0], 1, longTTL), 1)
	ch := campaignAsync(ctx, cs[1], register(t, cs[1], 2, longTTL), 2)
	notYet(t, ch)
	if err := l0.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	r := awaitCampaign(t, ch, 5*time.Second)
	if closed(r.l.Done()) {
		t.Fatal("new controller's Done already closed")
	}
	waitFor(t, cs[0], "controller 2", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == 2 })
}

func testFailoverOnSessionClose(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx := testCtx(t)
	s0 := register(t, cs[0], 1, longTTL)
	l0 := campaign(t, cs[0], s0, 1)
	ch := campaignAsync(ctx, cs[1], register(t, cs[1], 2, longTTL), 2)
	notYet(t, ch)
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l0.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Leadership.Done not closed after its session closed")
	}
	awaitCampaign(t, ch, 5*time.Second)
	waitFor(t, cs[0], "controller 2", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == 2 })
}

// testFailoverOnLeaseExpiry: the controller's process freezes; the next
// campaigner wins once the lease expires, and the frozen controller's
// session had stopped being Valid before that.
func testFailoverOnLeaseExpiry(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	h, ok := cs[0].(coord.Halter)
	if !ok {
		t.Skip("coordinator does not implement coord.Halter")
	}
	ctx := testCtx(t)
	s0 := register(t, cs[0], 1, shortTTL)
	l0 := campaign(t, cs[0], s0, 1)
	ch := campaignAsync(ctx, cs[1], register(t, cs[1], 2, longTTL), 2)
	notYet(t, ch)
	halted := time.Now()
	h.Halt()
	deadline := s0.Deadline() // no renewal moves it any more
	r := awaitCampaign(t, ch, s0.TTL()+slack)
	t.Logf("TTL %v: old session's deadline %v, new controller %v after the halt", s0.TTL(), deadline.Sub(halted), r.at.Sub(halted))
	if !deadline.Before(r.at) || s0.Valid() {
		t.Fatalf("old controller's session valid until %v, new controller elected at %v", deadline, r.at)
	}
	if !closed(l0.Done()) {
		t.Fatal("old Leadership.Done not closed after a new controller was elected")
	}
	waitFor(t, cs[1], "controller 2", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == 2 })
}

func testCampaignCancelled(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	l0 := campaign(t, cs[0], register(t, cs[0], 1, longTTL), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := cs[1].Campaign(ctx, register(t, cs[1], 2, longTTL), 2)
	wantErr(t, "Campaign past its context's deadline", err, context.DeadlineExceeded)
	if err := l0.Resign(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The cancelled campaign left nothing queued behind.
	waitFor(t, cs[1], "no controller", 5*time.Second, func(s *coord.Snapshot) bool { return s.Controller == -1 })
}

func testWaitRevision(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	for i := range 20 {
		rev := createTopic(t, cs[i%2], nil, "t"+string(rune('a'+i)), 1)
		if _, ok := waitRev(t, cs[(i+1)%2], rev).Topics["t"+string(rune('a'+i))]; !ok {
			t.Fatalf("topic written at revision %d not in the snapshot after WaitRevision", rev)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := cs[0].WaitRevision(ctx, cs[0].Snapshot().Revision+1000)
	wantErr(t, "WaitRevision of a future revision", err, context.DeadlineExceeded)
}

// testSync: a write through one handle is in another handle's snapshot as
// soon as that handle's Sync returns, without knowing the write's revision
// (a broker refusing on its cache syncs first).
func testSync(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	for i := range 20 {
		name := "sync" + string(rune('a'+i))
		createTopic(t, cs[0], nil, name, 1)
		if err := cs[1].Sync(testCtx(t)); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if _, ok := cs[1].Snapshot().Topics[name]; !ok {
			t.Fatalf("topic %s, written before Sync was called, not in the snapshot after it returned (snapshot at revision %d)", name, cs[1].Snapshot().Revision)
		}
	}
}

func testNextProducerID(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 3)
	ctx := testCtx(t)
	const callers, calls = 4, 25
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for i := range len(cs) * callers {
		wg.Go(func() {
			c := cs[i%len(cs)]
			var last int64
			for range calls {
				id, err := c.NextProducerID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if id <= last {
					t.Errorf("caller %d: id %d after %d", i, id, last)
				}
				last = id
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d allocated twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != len(cs)*callers*calls {
		t.Fatalf("%d distinct ids, want %d", len(seen), len(cs)*callers*calls)
	}
	if seen[0] {
		t.Fatal("id 0 allocated")
	}
	// Strictly increasing across coordinators for calls in sequence.
	last := int64(0)
	for i := range 6 {
		id, err := cs[i%len(cs)].NextProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id <= last {
			t.Fatalf("id %d after %d", id, last)
		}
		last = id
	}
}

func testChangedFires(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	changed := cs[1].Changed()
	before := cs[1].Snapshot()
	rev := createTopic(t, cs[0], nil, "orders", 1)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed after a write")
	}
	waitFor(t, cs[1], "the topic", 5*time.Second, func(s *coord.Snapshot) bool { return s.Revision >= rev && len(s.Topics) == 1 })
	if len(before.Topics) != 0 {
		t.Fatal("an earlier snapshot was modified")
	}
}

func testClosed(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 1)
	c := cs[0]
	s := register(t, c, 1, longTTL)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(s.Lost()) || s.Valid() {
		t.Fatal("session survived its coordinator's Close")
	}
	ctx := testCtx(t)
	_, err := c.Register(ctx, broker(2), longTTL)
	wantErr(t, "Register after Close", err, coord.ErrClosed)
	spec, parts := topic("orders", 1)
	_, err = c.CreateTopic(ctx, nil, spec, parts)
	wantErr(t, "CreateTopic after Close", err, coord.ErrClosed)
	_, err = c.NextProducerID(ctx)
	wantErr(t, "NextProducerID after Close", err, coord.ErrClosed)
	wantErr(t, "Sync after Close", c.Sync(ctx), coord.ErrClosed)
	if c.Snapshot() == nil {
		t.Fatal("nil snapshot after Close")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
