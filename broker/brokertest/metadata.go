package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

// partitionInfo is the partition as the metadata shows it (nil on error).
func partitionInfo(t testing.TB, ctx context.Context, cl *client.Client, topic string, part int32) *brokerpb.PartitionInfo {
	t.Helper()
	md, err := cl.Metadata(ctx, topic)
	if err != nil {
		return nil
	}
	for _, ti := range md.Topics {
		if ti.Name == topic && int(part) < len(ti.Partitions) {
			return ti.Partitions[part]
		}
	}
	return nil
}

// Leader waits until the partition has a leader and returns its id.
func Leader(t testing.TB, ctx context.Context, cl *client.Client, topic string, part int32) int32 {
	t.Helper()
	for ctx.Err() == nil {
		if pi := partitionInfo(t, ctx, cl, topic, part); pi != nil && pi.Leader >= 0 {
			return pi.Leader
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s-%d has no leader", topic, part)
	return -1
}

// WaitISR waits until the partition has a leader and an ISR of exactly
// n members.
func WaitISR(t testing.TB, ctx context.Context, cl *client.Client, topic string, part int32, n int) {
	t.Helper()
	var last *brokerpb.PartitionInfo
	for ctx.Err() == nil {
		if last = partitionInfo(t, ctx, cl, topic, part); last != nil && len(last.Isr) == n && last.Leader >= 0 {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s-%d: ISR never reached %d members: %v", topic, part, n, last)
}
