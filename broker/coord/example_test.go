package coord_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
)

// A broker registers, becomes controller, and creates a topic; another
// broker's coordinator reads it back after WaitRevision. The same code runs
// against etcd (coord.NewEtcd over coord.Dial or coord.StartEmbedded).
func Example() {
	store := coord.NewMemory()
	ctx := context.Background()

	c := store.Coordinator() // broker 1's handle
	s, err := c.Register(ctx, coord.BrokerInfo{ID: 1, Addr: "127.0.0.1:9092"}, 10*time.Second)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	l, err := c.Campaign(ctx, s, 1)
	if err != nil {
		panic(err)
	}
	rev, err := c.CreateTopic(ctx, l,
		coord.TopicSpec{Name: "orders", ID: "7f3a", Partitions: 2, ReplicationFactor: 1},
		[]coord.PartitionState{
			{Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
			{Partition: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
		})
	if err != nil {
		panic(err)
	}

	other := store.Coordinator() // broker 2's handle
	if err := other.WaitRevision(ctx, rev); err != nil {
		panic(err)
	}
	snap := other.Snapshot()
	p1, _ := snap.Partition("orders", 1)
	fmt.Println("controller:", snap.Controller)
	fmt.Println("partitions:", len(snap.Partitions["orders"]), "leader of 1:", p1.Leader)
	fmt.Println("session valid:", s.Valid())
	// Output:
	// controller: 1
	// partitions: 2 leader of 1: 1
	// session valid: true
}
