package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/localcluster"
)

// topic is the one topic every scenario writes.
const topic = "chk"

// serveArgs are the brokers' settings for checker runs: short sessions and
// lag bounds so faults play out within seconds.
var serveArgs = []string{
	"--session-ttl", "2s", "--replica-lag-max", "2s", "--replica-fetch-wait", "200ms",
	"--leader-rebalance-interval", "1h",
}

// partitionMeta returns the metadata of every partition of the topic.
func partitionMeta(ctx context.Context, cl *client.Client) ([]*brokerpb.PartitionInfo, error) {
	md, err := cl.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			return t.Partitions, nil
		}
	}
	return nil, fmt.Errorf("no topic %q in the metadata", topic)
}

// waitHealthy waits until every partition has a leader and all rf
// replicas in sync.
func waitHealthy(ctx context.Context, cl *client.Client, rf int) error {
	var last []*brokerpb.PartitionInfo
	var err error
	for {
		last, err = partitionMeta(ctx, cl)
		if err == nil {
			ok := len(last) > 0
			for _, p := range last {
				ok = ok && p.Leader >= 0 && len(p.Isr) == rf && len(p.TargetReplicas) == 0
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster did not become healthy (every partition led, %d in sync): last %v, %v", rf, last, err)
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// brokerIndex maps a broker id to its localcluster index.
func brokerIndex(id int32) int { return int(id) - 1 }

// dialCluster connects a client to the running brokers.
func dialCluster(ctx context.Context, c *localcluster.Cluster) (*client.Client, error) {
	return client.Dial(ctx, c.Addrs())
}
