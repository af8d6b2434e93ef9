package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestReassignUnderLoad: 4 brokers, a topic with RF=3 on three of them.
// While an idempotent acks=all producer writes, the partition moves to the
// fourth broker and away from its current leader (copy, catch up, move
// leadership, drop). Afterwards the removed broker holds no copy, and every
// acknowledged record is on each new replica, in order, once; the replicas'
// logs are identical. Both replication modes.
func TestReassignUnderLoad(t *testing.T) {
	for _, mode := range []string{"isr", "quorum"} {
		t.Run(mode, func(t *testing.T) {
			c := brokertest.Start(t, brokertest.Options{Brokers: 4, Logger: testLog()})
			cl := dial(t, c.Addrs())
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			info, err := cl.CreateTopic(ctx, "mv", 1, 3, map[string]string{
				broker.CfgMinInsyncReplicas: "2", broker.CfgReplicationMode: mode,
			})
			if err != nil {
				t.Fatal(err)
			}
			old := info.Partitions[0].Replicas
			leader := brokertest.Leader(t, ctx, cl, "mv", 0)
			brokertest.WaitISR(t, ctx, cl, "mv", 0, 3)
			var spare int32
			for id := int32(1); id <= 4; id++ {
				if !slices.Contains(old, id) {
					spare = id
				}
			}
			// The target drops the leader and adds the spare broker.
			target := []int32{spare}
			for _, id := range old {
				if id != leader {
					target = append(target, id)
				}
			}

			p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			w := brokertest.StartWriter(ctx, p, "mv", 0, "v")
			w.WaitAcked(t, ctx, 200)
			began := time.Now()
			after, err := cl.ReassignPartitions(ctx, "mv", map[int32][]int32{0: target})
			if err != nil {
				t.Fatal(err)
			}
			if got := after.Partitions[0].TargetReplicas; !slices.Equal(got, target) {
				t.Fatalf("recorded target %v, want %v", got, target)
			}
			for {
				r, err := cl.Reassignments(ctx, "mv")
				if err != nil {
					t.Fatal(err)
				}
				if len(r) == 0 {
					break
				}
				w.WaitAcked(t, ctx, w.Count()+1) // and the producer goes on meanwhile
			}
			t.Logf("%s: %v -> %v (leader %d) in %v with %d records acknowledged so far", mode, old, target, leader, time.Since(began), w.Count())
			w.WaitAcked(t, ctx, w.Count()+100)
			acked := w.Stop(t)
			pi := partitionOf(t, ctx, cl, "mv", 0)
			if !slices.Equal(pi.Replicas, target) || !slices.Contains(target, pi.Leader) {
				t.Fatalf("after the reassignment: replicas %v leader %d, want replicas %v", pi.Replicas, pi.Leader, target)
			}
			waitReplicasEqual(t, ctx, c, "mv", 0, target...)
			gone := filepath.Join(c.Config(c.Index(leader)).DataDir, "logs", "mv-0")
			waitGone(t, ctx, gone)
			for i := range c.Len() {
				c.Stop(i)
			}
			var first []string
			for _, id := range target {
				got := brokertest.ReadValues(t, filepath.Join(c.Config(c.Index(id)).DataDir, "logs", "mv-0"))
				brokertest.CheckAcked(t, fmt.Sprintf("broker %d", id), got, acked)
				if first == nil {
					first = got
				} else if !slices.Equal(got, first) {
					t.Fatalf("broker %d's log differs from broker %d's", id, target[0])
				}
			}
		})
	}
}

// TestReassignCancel: a bad request changes nothing; a reassignment onto
// a broker that crashed right after it was named waits for it (the new
// replica cannot catch up), and cancelling it goes back to the old
// replicas, dropping the stranded one.
func TestReassignCancel(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{Brokers: 5, Logger: testLog()})
	cl := dial(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := cl.CreateTopic(ctx, "cx", 1, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := info.Partitions[0].Replicas
	brokertest.WaitISR(t, ctx, cl, "cx", 0, 3)
	md, err := cl.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spare := int32(-1)
	for id := int32(1); id <= 5; id++ {
		if !slices.Contains(old, id) && id != md.Controller {
			spare = id
		}
	}
	for _, bad := range []struct {
		name    string
		targets map[int32][]int32
		code    brokerpb.ErrorCode
	}{
		{"wrong count", map[int32][]int32{0: {spare, old[0]}}, brokerpb.ErrorCode_INVALID_REQUEST},
		{"duplicate", map[int32][]int32{0: {spare, spare, old[0]}}, brokerpb.ErrorCode_INVALID_REQUEST},
		{"unknown broker", map[int32][]int32{0: {spare, old[0], 99}}, brokerpb.ErrorCode_INVALID_REQUEST},
		{"no partition", map[int32][]int32{7: {spare, old[0], old[1]}}, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION},
	} {
		if _, err := cl.ReassignPartitions(ctx, "cx", bad.targets); client.Code(err) != bad.code {
			t.Errorf("%s: %v, want %v", bad.name, err, bad.code)
		}
	}
	if _, err := cl.CancelReassignments(ctx, "cx", 0); client.Code(err) != brokerpb.ErrorCode_NO_REASSIGNMENT_IN_PROGRESS {
		t.Errorf("cancel with nothing in progress: %v", err)
	}
	if pi := partitionOf(t, ctx, cl, "cx", 0); !slices.Equal(pi.Replicas, old) || len(pi.TargetReplicas) != 0 {
		t.Fatalf("refused requests changed the partition: %+v", pi)
	}

	// The spare crashes; its registration outlives it for a session TTL,
	// long enough to be named.
	c.Crash(c.Index(spare))
	target := []int32{old[0], old[1], spare}
	if _, err := cl.ReassignPartitions(ctx, "cx", map[int32][]int32{0: target}); err != nil {
		t.Fatal(err)
	}
	for {
		pi := partitionOf(t, ctx, cl, "cx", 0)
		if len(pi.TargetReplicas) == 0 {
			t.Fatalf("the reassignment finished onto a crashed broker: %+v", pi)
		}
		if slices.Contains(pi.Replicas, spare) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if r, err := cl.Reassignments(ctx, "cx"); err != nil || !slices.Equal(r[0], target) {
		t.Fatalf("in progress: %v %v, want partition 0 -> %v", r, err, target)
	}
	cancelled, err := cl.CancelReassignments(ctx, "cx", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := cancelled.Partitions[0].TargetReplicas; !slices.Equal(got, old) {
		t.Fatalf("a cancel heads for %v, want the replicas it began with %v", got, old)
	}
	for {
		pi := partitionOf(t, ctx, cl, "cx", 0)
		if len(pi.TargetReplicas) == 0 {
			if !slices.Equal(pi.Replicas, old) {
				t.Fatalf("after the cancel: replicas %v, want %v", pi.Replicas, old)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the cancel never completed: %+v", pi)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	// The partition still takes acks=all writes on its old replicas.
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Send(ctx, client.Message{Topic: "cx", Partition: 0, Value: []byte("after-cancel")}); err != nil {
		t.Fatal(err)
	}
}

func partitionOf(t *testing.T, ctx context.Context, cl *client.Client, topic string, part int32) *brokerpb.PartitionInfo {
	t.Helper()
	md, err := cl.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range md.Topics {
		if ti.Name == topic {
			return ti.Partitions[part]
		}
	}
	t.Fatalf("no topic %q", topic)
	return nil
}

func waitGone(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	for ctx.Err() == nil {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s was not deleted after its replica was reassigned away", dir)
}
