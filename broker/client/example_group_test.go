package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/client"
)

// exampleCluster starts a broker in this process (embedded etcd, free
// loopback ports), connects to it and creates a topic with the given
// values in partition 0. stop ends it all.
func exampleCluster(ctx context.Context, topic string, values ...string) (c *client.Client, stop func()) {
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	b, err := broker.Start(ctx, broker.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	if c, err = client.Dial(ctx, []string{b.Addr()}); err != nil {
		log.Fatal(err)
	}
	for {
		_, err = c.CreateTopic(ctx, topic, 1, 1, nil)
		if err == nil || !client.IsRetryable(err) { // retryable while the broker elects itself controller
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll}) // idempotent
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range values {
		if _, err := p.Send(ctx, client.Message{Topic: topic, Partition: 0, Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}
	p.Close()
	return c, func() {
		c.Close()
		_ = b.Stop(context.Background())
		os.RemoveAll(dir)
	}
}

// At-least-once, the default: Process hands each record to the handler and
// commits after the handler returned (a crash before the commit repeats
// the records, never skips one). Close commits what was processed and
// leaves the group.
func Example_atLeastOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, stop := exampleCluster(ctx, "orders", "book", "pen", "lamp")
	defer stop()

	co, err := c.NewConsumer(client.ConsumerOptions{
		Group: "billing", Topics: []string{"orders"},
		Delivery:        client.AtLeastOnce,
		AutoOffsetReset: client.Earliest, // no committed offset yet: start at the beginning
	})
	if err != nil {
		log.Fatal(err)
	}
	for n := 0; n < 3; {
		k, err := co.Process(ctx, func(r client.Record) error {
			fmt.Printf("bill %s (offset %d)\n", r.Value, r.Offset)
			return nil // an error stops the batch: the record comes again
		})
		if err != nil {
			log.Fatal(err)
		}
		n += k
	}
	if err := co.Close(); err != nil {
		log.Fatal(err)
	}
	committed, err := c.CommittedOffsets(ctx, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", committed[client.TopicPartition{Topic: "orders", Partition: 0}])
	// Output:
	// bill book (offset 0)
	// bill pen (offset 1)
	// bill lamp (offset 2)
	// committed: 3
}

// At-most-once: Poll commits the positions after the records it returns
// before returning them, so a crash while handling them loses them, and
// none is ever handled twice.
func Example_atMostOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, stop := exampleCluster(ctx, "metrics", "cpu=3", "cpu=5")
	defer stop()

	co, err := c.NewConsumer(client.ConsumerOptions{
		Group: "dashboard", Topics: []string{"metrics"},
		Delivery: client.AtMostOnce, AutoOffsetReset: client.Earliest,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer co.Close()
	for n := 0; n < 2; {
		recs, err := co.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if len(recs) == 0 {
			continue
		}
		committed, err := c.CommittedOffsets(ctx, "dashboard")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("got %d records; already committed up to %d\n", len(recs), committed[client.TopicPartition{Topic: "metrics", Partition: 0}])
		for _, r := range recs {
			fmt.Printf("show %s\n", r.Value)
			n++
		}
	}
	// Output:
	// got 2 records; already committed up to 2
	// show cpu=3
	// show cpu=5
}

// memStore stands for the application's own store (a database, or a file
// written with fsync and rename): the output and the next offset of each
// partition change together, atomically.
type memStore struct {
	mu        sync.Mutex
	output    []string
	positions map[client.TopicPartition]int64
}

// Positions implements client.PositionStore.
func (s *memStore) Positions(_ context.Context, tps []client.TopicPartition) (map[client.TopicPartition]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[client.TopicPartition]int64{}
	for _, tp := range tps {
		if off, ok := s.positions[tp]; ok {
			out[tp] = off
		}
	}
	return out, nil
}

// apply stores a batch's output and positions in one step.
func (s *memStore) apply(recs []client.Record) map[client.TopicPartition]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.output = append(s.output, string(r.Value))
		s.positions[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	}
	return s.positions
}

// Exactly-once: the application stores output and offsets atomically in
// its own store; on assignment the consumer starts from the positions that
// store reports (PositionStore), whatever the group's committed offsets
// say. The commit is only a mirror for lag reporting. Here the first
// consumer "crashes" right after storing a batch, before mirroring it; the
// second still starts after that batch.
func Example_exactlyOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, stop := exampleCluster(ctx, "payments", "pay-1", "pay-2")
	defer stop()
	store := &memStore{positions: map[client.TopicPartition]int64{}}
	opts := client.ConsumerOptions{
		Group: "ledger", Topics: []string{"payments"},
		Delivery: client.ExactlyOnce, PositionStore: store,
		AutoOffsetReset: client.Earliest,
	}
	run := func(want int, mirror bool) {
		co, err := c.NewConsumer(opts)
		if err != nil {
			log.Fatal(err)
		}
		defer co.Close()
		for n := 0; n < want; {
			recs, err := co.Poll(ctx)
			if err != nil {
				log.Fatal(err)
			}
			n += len(recs)
			positions := store.apply(recs)
			if mirror {
				if err := co.CommitOffsets(ctx, positions); err != nil {
					log.Fatal(err)
				}
			}
		}
	}
	run(2, false) // stores both records, never commits to the group
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := p.Send(ctx, client.Message{Topic: "payments", Partition: 0, Value: []byte("pay-3")}); err != nil {
		log.Fatal(err)
	}
	p.Close()
	run(1, true) // starts at the stored position 2, not at the committed (none: earliest)
	fmt.Println(store.output)
	committed, err := c.CommittedOffsets(ctx, "ledger")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("mirror:", committed[client.TopicPartition{Topic: "payments", Partition: 0}])
	// Output:
	// [pay-1 pay-2 pay-3]
	// mirror: 3
}
