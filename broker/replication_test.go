package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestLeaderCrashLosesNoAcknowledgedWrite: 3 brokers, RF=3,
// min.insync.replicas=2, acks=all with the idempotent producer, in both
// replication modes, with sync.policy never and always (then the high
// watermark counts durable offsets only). The leader crashes (its lease expires on its own)
// while a producer writes; a follower takes over, the producer carries on,
// and afterwards every acknowledged record is on every replica, in order,
// once, and the replicas' logs are identical.
func TestLeaderCrashLosesNoAcknowledgedWrite(t *testing.T) {
	for _, tc := range []struct{ mode, sync string }{{"isr", "never"}, {"quorum", "never"}, {"isr", "always"}, {"quorum", "always"}} {
		mode := tc.mode
		t.Run(mode+"/sync="+tc.sync, func(t *testing.T) {
			c := brokertest.Start(t, brokertest.Options{Logger: testLog()})
			cl := dial(t, c.Addrs())
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if _, err := cl.CreateTopic(ctx, "rep", 1, 3, map[string]string{
				broker.CfgMinInsyncReplicas: "2", broker.CfgReplicationMode: mode, broker.CfgSyncPolicy: tc.sync,
			}); err != nil {
				t.Fatal(err)
			}
			p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var acked []string
			send := func(v string) {
				t.Helper()
				res, err := p.Send(ctx, client.Message{Topic: "rep", Partition: 0, Value: []byte(v)})
				if err != nil {
					t.Fatalf("send %s: %v", v, err)
				}
				if len(res.Receipt.Replicas) < 2 {
					t.Fatalf("acks=all answered with receipt %+v: fewer replicas than min.insync.replicas", res.Receipt)
				}
				acked = append(acked, v)
			}
			for i := range 100 {
				send(fmt.Sprintf("v%04d", i))
			}
			leader := brokertest.Leader(t, ctx, cl, "rep", 0)
			c.Crash(c.Index(leader))
			crashed := time.Now()
			send("after-crash")
			failover := time.Since(crashed)
			t.Logf("%s: first acks=all write after the leader crashed: %v (session TTL %v)", mode, failover, c.Config(0).SessionTTL)
			newLeader := brokertest.Leader(t, ctx, cl, "rep", 0)
			if newLeader == leader {
				t.Fatalf("broker %d still leads after it crashed", leader)
			}
			for i := 100; i < 200; i++ {
				send(fmt.Sprintf("v%04d", i))
			}
			// The crashed broker comes back, catches up and rejoins the ISR.
			c.Restart(c.Index(leader))
			brokertest.WaitISR(t, ctx, cl, "rep", 0, 3)
			for i := 200; i < 220; i++ {
				send(fmt.Sprintf("v%04d", i))
			}
			waitReplicasEqual(t, ctx, c, "rep", 0)
			for i := range c.Len() {
				c.Stop(i)
			}
			var first []string
			for i := range c.Len() {
				got := brokertest.ReadValues(t, filepath.Join(c.Config(i).DataDir, "logs", "rep-0"))
				brokertest.CheckAcked(t, fmt.Sprintf("broker %d", i+1), got, acked)
				if i == 0 {
					first = got
				} else if !slices.Equal(got, first) {
					t.Fatalf("broker %d's log differs from broker 1's:\n%v\n%v", i+1, got, first)
				}
			}
		})
	}
}

// TestMinISRRefusesBeforeAppend: with min.insync.replicas=2 and both
// followers gone, the leader shrinks the ISR to itself and refuses acks=all
// with NOT_ENOUGH_REPLICAS (nothing written), while acks=1 still works.
func TestMinISRRefusesBeforeAppend(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{})
	cl := dial(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cl.CreateTopic(ctx, "misr", 1, 3, map[string]string{broker.CfgMinInsyncReplicas: "2"}); err != nil {
		t.Fatal(err)
	}
	leader := brokertest.Leader(t, ctx, cl, "misr", 0)
	for i := range c.Len() {
		if int32(i+1) != leader {
			c.Stop(i)
		}
	}
	brokertest.WaitISR(t, ctx, cl, "misr", 0, 1)
	raw := brokerClient(t, c.Broker(c.Index(leader)).Addr())
	before := logEnd(t, ctx, raw, "misr")
	strict, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: -1, DisableIdempotence: true})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	_, err = strict.Send(ctx, client.Message{Topic: "misr", Partition: 0, Value: []byte("x")})
	if code := client.Code(err); code != brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS || client.IsIndefinite(err) {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v (code %v)", err, code)
	}
	if after := logEnd(t, ctx, raw, "misr"); after != before {
		t.Fatalf("a refused acks=all produce was written: log end %d -> %d", before, after)
	}
	one, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksLeader, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := one.Send(ctx, client.Message{Topic: "misr", Partition: 0, Value: []byte("y")}); err != nil {
		t.Fatalf("acks=1 refused: %v", err)
	}
}

func dial(t *testing.T, addrs []string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// waitReplicasEqual waits until every running replica (of the brokers
// named, or all) reports the same log end offset and high watermark.
func waitReplicasEqual(t *testing.T, ctx context.Context, c *brokertest.Cluster, topic string, part int32, ids ...int32) {
	t.Helper()
	if len(ids) == 0 {
		for i := range c.Len() {
			ids = append(ids, int32(i+1))
		}
	}
	var ends []string
	for ctx.Err() == nil {
		ends = ends[:0]
		for _, id := range ids {
			b := c.Broker(c.Index(id))
			if b == nil {
				continue
			}
			resp, err := brokerClient(t, b.Addr()).DescribeReplicas(ctx, &brokerpb.DescribeReplicasRequest{Partitions: []*brokerpb.ReplicaRef{{Topic: topic, Partition: part}}})
			if err != nil || len(resp.Replicas) != 1 {
				ends = append(ends, fmt.Sprintf("broker %d: %v", id, err))
				continue
			}
			r := resp.Replicas[0]
			ends = append(ends, fmt.Sprintf("end=%d hw=%d", r.LogEndOffset, r.HighWatermark))
		}
		if len(ends) == len(ids) && allSame(ends) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("replicas never converged: %v", ends)
}

func allSame(s []string) bool {
	for _, v := range s {
		if v != s[0] {
			return false
		}
	}
	return true
}

var (
	connsMu sync.Mutex
	conns   = map[string]brokerpb.SluiceClient{}
)

func brokerClient(t *testing.T, addr string) brokerpb.SluiceClient {
	t.Helper()
	connsMu.Lock()
	defer connsMu.Unlock()
	if c, ok := conns[addr]; ok {
		return c
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := brokerpb.NewSluiceClient(cc)
	conns[addr] = c
	return c
}

func logEnd(t *testing.T, ctx context.Context, c brokerpb.SluiceClient, topic string) int64 {
	t.Helper()
	resp, err := c.DescribeReplicas(ctx, &brokerpb.DescribeReplicasRequest{Partitions: []*brokerpb.ReplicaRef{{Topic: topic}}})
	if err != nil || len(resp.Replicas) != 1 {
		t.Fatalf("describe replicas: %v %v", resp, err)
	}
	return resp.Replicas[0].LogEndOffset
}

func testLog() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}
