package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// TestAdminSyncsBeforeRefusing: an admin request that counts a broker
// registered a moment ago is served even when this broker's watch has not
// delivered the registration yet, because the broker syncs its metadata
// cache with etcd before refusing. CI caught the race this guards against:
// the first CreateTopic with RF 3 on a 3-broker cluster that had just
// started failed with "replication factor 3 exceeds the 2 live brokers".
// Each round registers a second broker from another etcd client and at
// once asks for a topic (then a reassignment) that needs it; without the
// sync some round is refused.
func TestAdminSyncsBeforeRefusing(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	other, err := coord.NewEtcd(ctx, b.etcd, "/sluice/"+b.cfg.Cluster+"/", testLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// The second broker is only a registration: nothing listens on port 1,
	// so this broker never gets anything from it.
	peer := coord.BrokerInfo{ID: 2, Addr: "127.0.0.1:1", DataAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1:1"}
	for i := range 20 {
		s, err := other.Register(ctx, peer, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("fresh%02d", i)
		if _, err := b.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 2}); err != nil {
			t.Fatalf("round %d: CreateTopic with RF 2 right after broker 2 registered: %v", i, err)
		}
		if i%4 == 0 {
			// A reassignment naming broker 2 is accepted too (what becomes
			// of it does not matter here).
			move := &brokerpb.ReassignPartitionsRequest{Topic: name, Partitions: []*brokerpb.PartitionReassignment{{Partition: 0, Replicas: []int32{2, b.ID()}}}}
			if _, err := b.ReassignPartitions(ctx, move); err != nil {
				t.Fatalf("round %d: reassignment naming broker 2 right after it registered: %v", i, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// This broker must see broker 2 gone before the next round, or the
		// next registration would find a current cache.
		for {
			changed := b.coord.Changed()
			if _, ok := b.coord.Snapshot().Brokers[2]; !ok {
				break
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("round %d: the broker still lists broker 2 after its session closed", i)
			}
		}
	}
	// With broker 2 gone for good the refusal stands, after the sync.
	_, err = b.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "toowide", Partitions: 1, ReplicationFactor: 2})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_REQUEST, codes.InvalidArgument)
}
