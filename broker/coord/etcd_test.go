package coord_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/broker/coord/coordtest"
)

// testLogger logs through t, so lines land with the test that made them.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startEtcd starts an embedded etcd with fast ticks (ready in ~100 ms,
// leases down to 1 s), closed by the test's cleanup unless closed before.
func startEtcd(t *testing.T, dir, clientAddr, peerAddr string) *coord.Embedded {
	t.Helper()
	start := time.Now()
	e, err := coord.StartEmbedded(coord.EmbeddedConfig{
		Dir: dir, ClientAddr: clientAddr, PeerAddr: peerAddr,
		TickMs: 10, ElectionMs: 100,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded etcd at %v ready in %v", e.Endpoints(), time.Since(start))
	var closed atomic.Bool
	t.Cleanup(func() {
		if !closed.Swap(true) {
			e.Close()
		}
	})
	return e
}

func dial(t *testing.T, e *coord.Embedded) *clientv3.Client {
	t.Helper()
	cli, err := coord.Dial(e.Endpoints(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func newEtcd(t *testing.T, cli *clientv3.Client, prefix string) *coord.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := coord.NewEtcd(ctx, cli, prefix, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestEtcdConformance(t *testing.T) {
	e := startEtcd(t, t.TempDir(), "", "")
	var clusters atomic.Int64
	coordtest.Run(t, func(t *testing.T, n int) []coord.Coordinator {
		// A fresh prefix is a fresh cluster; each coordinator has its own
		// client, as each broker would.
		prefix := coord.DefaultPrefix(fmt.Sprintf("test%d", clusters.Add(1)))
		cs := make([]coord.Coordinator, n)
		for i := range cs {
			cs[i] = newEtcd(t, dial(t, e), prefix)
		}
		return cs
	})
}

// TestEmbeddedDefault: the one-command default, an embedded etcd with
// etcd's own timing, serves a broker end to end.
func TestEmbeddedDefault(t *testing.T) {
	start := time.Now()
	e, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() }) // after the coordinator's and client's cleanups
	t.Logf("embedded etcd with default ticks ready in %v", time.Since(start))
	eps := e.Endpoints()
	if len(eps) != 1 || strings.HasSuffix(eps[0], ":0") || !strings.HasPrefix(eps[0], "http://127.0.0.1:") {
		t.Fatalf("endpoints %v", eps)
	}
	c := newEtcd(t, dial(t, e), coord.DefaultPrefix("default"))
	ctx := ctxFor(t, 20*time.Second)
	s, err := c.Register(ctx, coord.BrokerInfo{ID: 1, Addr: "127.0.0.1:9092"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Campaign(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := c.CreateTopic(ctx, l, coord.TopicSpec{Name: "orders", ID: "x", Partitions: 1, ReplicationFactor: 1},
		[]coord.PartitionState{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot()
	if snap.Controller != 1 || snap.Brokers[1].Addr != "127.0.0.1:9092" || snap.Topics["orders"].Revision != rev {
		t.Fatalf("snapshot: controller %d, brokers %v, topics %v", snap.Controller, snap.Brokers, snap.Topics)
	}
	if _, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: t.TempDir(), ClientAddr: "0.0.0.0:0"}); !errors.Is(err, coord.ErrInvalid) {
		t.Fatalf("embedded etcd on a non-loopback address: %v", err)
	}
}

// TestExternalEtcd: coordinators on an external cluster (here a second
// embedded etcd) share it, and are apart from the broker's embedded one.
func TestExternalEtcd(t *testing.T) {
	embedded := startEtcd(t, t.TempDir(), "", "")
	external := startEtcd(t, t.TempDir(), "", "")
	prefix := coord.DefaultPrefix("prod")
	local := newEtcd(t, dial(t, embedded), prefix)
	a := newEtcd(t, dial(t, external), prefix)
	b := newEtcd(t, dial(t, external), prefix)
	if a.Snapshot().ClusterID != b.Snapshot().ClusterID || a.Snapshot().ClusterID == local.Snapshot().ClusterID {
		t.Fatalf("cluster ids: external %q and %q, embedded %q", a.Snapshot().ClusterID, b.Snapshot().ClusterID, local.Snapshot().ClusterID)
	}
	ctx := ctxFor(t, 20*time.Second)
	rev, err := a.CreateTopic(ctx, nil, coord.TopicSpec{Name: "t", Partitions: 1}, []coord.PartitionState{{Leader: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Snapshot().Topics["t"]; !ok {
		t.Fatal("write on the external cluster not seen by its other coordinator")
	}
	if len(local.Snapshot().Topics) != 0 {
		t.Fatal("write on the external cluster seen by the embedded one")
	}

	// Dial fails, within its timeout, when nothing answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	if cli, err := coord.Dial([]string{dead}, 500*time.Millisecond); err == nil {
		cli.Close()
		t.Fatal("Dial of a closed port succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Dial of a closed port took %v", took)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestEtcdRestart: etcd stops and comes back on the same address and data.
// The cache recovers (its watch resumes) and sees new writes; a session
// whose deadline passed while etcd was down reports Lost and the broker
// registers again; a session with a longer TTL rides through.
func TestEtcdRestart(t *testing.T) {
	dir, clientAddr, peerAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	e := startEtcd(t, dir, clientAddr, peerAddr)
	prefix := coord.DefaultPrefix("restart")
	c := newEtcd(t, dial(t, e), prefix)
	writer := newEtcd(t, dial(t, e), prefix)
	ctx := ctxFor(t, 60*time.Second)
	// Close them before the restarted etcd's cleanup, which would
	// otherwise wait out their open streams.
	defer c.Close()
	defer writer.Close()

	short, err := c.Register(ctx, coord.BrokerInfo{ID: 1}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// etcd's Close lets open streams run for up to ~5 s, so the outage
	// lasts that long: a 20 s TTL (deadline at least 13 s after each
	// renewal, renewals every 6.7 s) rides through it.
	long, err := c.Register(ctx, coord.BrokerInfo{ID: 2}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := writer.CreateTopic(ctx, nil, coord.TopicSpec{Name: "before", Partitions: 1}, []coord.PartitionState{{Leader: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}

	stopped := time.Now()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd closed in %v", time.Since(stopped))
	select {
	case <-short.Lost():
		t.Logf("short session lost %v after etcd stopped", time.Since(stopped))
	case <-time.After(short.TTL() + 3*time.Second):
		t.Fatal("session not lost while etcd was down past its deadline")
	}
	if !long.Valid() {
		t.Fatal("long session invalid after a short outage")
	}

	restarted := time.Now()
	startEtcd(t, dir, clientAddr, peerAddr)
	t.Logf("etcd down for %v", restarted.Sub(stopped))

	rev, err = writer.CreateTopic(ctx, nil, coord.TopicSpec{Name: "after", Partitions: 1}, []coord.PartitionState{{Leader: -1}})
	if err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatalf("cache did not recover: %v", err)
	}
	snap := c.Snapshot()
	if _, ok := snap.Topics["after"]; !ok {
		t.Fatal("write after restart not in the cache")
	}
	if _, ok := snap.Topics["before"]; !ok {
		t.Fatal("write before restart lost from the cache")
	}
	t.Logf("cache caught up %v after restart", time.Since(restarted))

	again, err := c.Register(ctx, coord.BrokerInfo{ID: 1}, 2*time.Second)
	if err != nil {
		t.Fatalf("Register again after the session was lost: %v", err)
	}
	if again.Epoch() <= short.Epoch() {
		t.Fatalf("new epoch %d not after %d", again.Epoch(), short.Epoch())
	}
	if err := writer.WaitRevision(ctx, again.Epoch()); err != nil {
		t.Fatal(err)
	}
	if got := writer.Snapshot().Brokers[1].Epoch; got != again.Epoch() {
		t.Fatalf("other coordinator sees broker 1 at epoch %d, want %d", got, again.Epoch())
	}

	// The long session renews again: its deadline moves past the restart.
	margin := coord.SafetyMargin(long.TTL())
	for !long.Deadline().After(restarted.Add(long.TTL() - margin)) {
		if time.Since(restarted) > long.TTL()/3+5*time.Second {
			t.Fatalf("long session not renewed after restart (deadline %v)", long.Deadline())
		}
		select {
		case <-long.Lost():
			t.Fatal("long session lost across the restart")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestEtcdLeaseRevokedElsewhere: a lease that etcd no longer has (expired
// or revoked by someone else) ends the session at the next renewal.
func TestEtcdLeaseRevokedElsewhere(t *testing.T) {
	e := startEtcd(t, t.TempDir(), "", "")
	cli := dial(t, e)
	c := newEtcd(t, cli, coord.DefaultPrefix("revoked"))
	ctx := ctxFor(t, 20*time.Second)
	s, err := c.Register(ctx, coord.BrokerInfo{ID: 1}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(s.LeaseID())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Lost():
	case <-time.After(s.TTL()):
		t.Fatal("session not lost after its lease was revoked")
	}
	if s.Valid() {
		t.Fatal("lost session still valid")
	}
	if _, err := c.Register(ctx, coord.BrokerInfo{ID: 1}, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestEtcdControllerFailover: two brokers with 1 s sessions; the
// controller's etcd client dies (its keepalives stop); the other broker is
// controller within a few seconds, and the old controller's session had
// stopped being valid before that.
func TestEtcdControllerFailover(t *testing.T) {
	e := startEtcd(t, t.TempDir(), "", "")
	prefix := coord.DefaultPrefix("failover")
	cli1 := dial(t, e)
	c1 := newEtcd(t, cli1, prefix)
	c2 := newEtcd(t, dial(t, e), prefix)
	ctx := ctxFor(t, 30*time.Second)

	s1, err := c1.Register(ctx, coord.BrokerInfo{ID: 1}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c2.Register(ctx, coord.BrokerInfo{ID: 2}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := c1.Campaign(ctx, s1, 1)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   coord.Leadership
		err error
		at  time.Time
	}
	won := make(chan result, 1)
	go func() {
		l, err := c2.Campaign(ctx, s2, 2)
		won <- result{l, err, time.Now()}
	}()

	killed := time.Now()
	cli1.Close()
	var r result
	select {
	case r = <-won:
	case <-time.After(5 * time.Second):
		t.Fatal("no new controller within 5 s of the old one's client dying")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	took := r.at.Sub(killed)
	t.Logf("new controller %v after the old one's client died", took)
	if took >= 5*time.Second {
		t.Fatalf("failover took %v", took)
	}
	select {
	case <-l1.Done():
	case <-time.After(time.Second):
		t.Fatal("old controller's Done not closed")
	}
	select {
	case <-s1.Lost():
	case <-time.After(time.Second):
		t.Fatal("old controller's session not Lost")
	}
	if s1.Valid() {
		t.Fatal("old controller's session still valid")
	}
	// The new election key was created before the old one expired, so
	// waiting for its revision is not enough: follow the cache until it
	// has seen the old key go.
	for c2.Snapshot().Controller != 2 {
		select {
		case <-c2.Changed():
		case <-ctx.Done():
			t.Fatalf("snapshot controller %d, want 2", c2.Snapshot().Controller)
		}
	}
	if _, err := c2.CreateTopic(ctx, r.l, coord.TopicSpec{Name: "t", Partitions: 1}, []coord.PartitionState{{Leader: 2}}); err != nil {
		t.Fatalf("new controller's write: %v", err)
	}
}
