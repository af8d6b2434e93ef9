package broker

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// freeAddr returns a loopback address that was free a moment ago, for an
// etcd that must come back on the same address after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func startExternalEtcd(t *testing.T, dir, clientAddr, peerAddr string) *coord.Embedded {
	t.Helper()
	e, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: dir, ClientAddr: clientAddr, PeerAddr: peerAddr, TickMs: 10, ElectionMs: 100, Logger: testLogger})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	return e
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
	return time.Since(start)
}

func produceOne(c brokerpb.SluiceClient, topic, v string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Produce(ctx, &brokerpb.ProduceRequest{Topic: topic, Batch: batchOf(v), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1})
	return err
}

// TestExternalEtcdAndControllerFailover runs two brokers on one external
// etcd. The controller freezes (its etcd client halts, as if the process
// stopped); the other broker must take over within a few seconds, and the
// frozen one must stop acting as leader before its lease could expire.
func TestExternalEtcdAndControllerFailover(t *testing.T) {
	etcd := startExternalEtcd(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
	// Closed after the brokers stop (cleanups run last in, first out).
	t.Cleanup(func() { etcd.Close() })
	cfg1, cfg2 := testConfig(t), testConfig(t)
	cfg1.ID, cfg2.ID = 1, 2
	cfg1.EtcdEndpoints, cfg2.EtcdEndpoints = etcd.Endpoints(), etcd.Endpoints()
	b1 := startTestBroker(t, cfg1)
	waitController(t, b1)
	b2 := startTestBroker(t, cfg2)
	c1, c2 := dialBroker(t, b1), dialBroker(t, b2)
	// Admin calls on the non-controller are forwarded to the controller.
	createTopic(t, c2, "fo", 2, nil)
	md, err := c1.Metadata(context.Background(), &brokerpb.MetadataRequest{})
	if err != nil || len(md.Brokers) != 2 || md.Controller != 1 || len(md.Topics) != 1 {
		t.Fatalf("metadata %v %v", md, err)
	}
	// Placement spreads the two leaders over the two brokers: write to
	// the partition broker 1 leads.
	part := int32(-1)
	for _, pi := range md.Topics[0].Partitions {
		if pi.Leader == 1 {
			part = pi.Partition
		}
	}
	if part < 0 {
		t.Fatalf("broker 1 leads no partition: %v", md.Topics[0].Partitions)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c1.Produce(ctx, &brokerpb.ProduceRequest{Topic: "fo", Partition: part, Batch: batchOf("before"), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	b1.coord.(coord.Halter).Halt()
	halted := time.Now()
	fenced := eventually(t, 10*time.Second, "frozen broker fences itself", func() bool { return !b1.sessionValid() })
	_, err = c1.Produce(context.Background(), &brokerpb.ProduceRequest{Topic: "fo", Partition: part, Batch: batchOf("x"), LeaderEpoch: -1})
	expectCode(t, err, brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, codes.Unavailable)
	fencedAfter := fenced // eventually started right after the halt
	eventually(t, 10*time.Second, "second broker becomes controller", func() bool { return b2.controller() != nil })
	took := time.Since(halted)
	t.Logf("fenced %v after the freeze, controller failover %v after it (session TTL %v)", fencedAfter, took, cfg1.SessionTTL)
	if fencedAfter >= took {
		t.Fatalf("broker 1 fenced itself %v after the freeze, not before broker 2 took over (%v)", fencedAfter, took)
	}
	if took > 5*time.Second {
		t.Fatalf("controller failover took %v", took)
	}
}

// TestSurvivesEtcdRestart: etcd stops and comes back on the same address;
// the broker fences itself meanwhile, then registers again and serves, and
// nothing acknowledged is lost.
func TestSurvivesEtcdRestart(t *testing.T) {
	dir := t.TempDir()
	clientAddr, peerAddr := freeAddr(t), freeAddr(t)
	etcd := startExternalEtcd(t, filepath.Join(dir, "etcd"), clientAddr, peerAddr)
	cfg := testConfig(t)
	cfg.EtcdEndpoints = etcd.Endpoints()
	b := startTestBroker(t, cfg)
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "er", 1, nil)
	if err := produceOne(c, "er", "one"); err != nil {
		t.Fatal(err)
	}
	if err := etcd.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "broker fences itself while etcd is down", func() bool { return !b.sessionValid() })
	if err := produceOne(c, "er", "refused"); err == nil {
		t.Fatal("a fenced broker acknowledged a write")
	}
	etcd = startExternalEtcd(t, filepath.Join(dir, "etcd"), clientAddr, peerAddr)
	// Closed after the brokers stop (cleanups run last in, first out).
	t.Cleanup(func() { etcd.Close() })
	eventually(t, 20*time.Second, "broker serves again after etcd returns", func() bool { return produceOne(c, "er", "two") == nil })
	res, err := c.Fetch(context.Background(), &brokerpb.FetchRequest{Topic: "er", Offset: 0, MaxBytes: 1 << 20, LeaderEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.HighWatermark < 2 {
		t.Fatalf("high watermark %d after restart", res.HighWatermark)
	}
}

// TestStartSeesItself: Start returns only once the broker's metadata lists
// the broker itself, so an admin call right after Start counts it as live
// (a CreateTopic racing the watch used to see no live brokers).
func TestStartSeesItself(t *testing.T) {
	for i := range 3 {
		b := startTestBroker(t, testConfig(t))
		if _, ok := b.coord.Snapshot().Brokers[b.ID()]; !ok {
			t.Fatalf("start %d: the broker's own registration is not in its metadata yet", i)
		}
	}
}
