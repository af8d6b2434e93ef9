package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
)

// Keyed messages go where Kafka's default partitioner would put them.
func ExampleKafkaPartition() {
	for _, key := range []string{"user-1", "user-2", "user-3"} {
		fmt.Println(key, client.KafkaPartition([]byte(key), 12))
	}
	// Output:
	// user-1 8
	// user-2 8
	// user-3 11
}

// Producing with acks=all and waiting for each acknowledgement.
func ExampleProducer_Send() {
	ctx := context.Background()
	c, err := client.Dial(ctx, []string{"127.0.0.1:9400"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	r, err := p.Send(ctx, client.Message{Topic: "orders", Partition: -1, Key: []byte("user-1"), Value: []byte("book")})
	switch {
	case err == nil:
		fmt.Printf("written at %s/%d offset %d\n", r.Topic, r.Partition, r.Offset)
	case client.IsIndefinite(err):
		fmt.Println("may or may not have been written:", err)
	default:
		fmt.Println("not written:", err)
	}
}

// Producing many messages without waiting for each: callbacks arrive in send
// order per partition; Flush waits for all of them.
func ExampleProducer_SendAsync() {
	ctx := context.Background()
	c, err := client.Dial(ctx, []string{"127.0.0.1:9400"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.NewProducer(client.ProducerOptions{Profile: client.ProfileThroughput})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for i := range 1000 {
		p.SendAsync(client.Message{Topic: "events", Partition: -1, Value: fmt.Appendf(nil, "event %d", i)},
			func(r client.Result, err error) {
				if err != nil {
					log.Printf("event lost: %v", err)
				}
			})
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
}

// Reading a partition from the beginning.
func ExampleConsumer_Poll() {
	ctx := context.Background()
	c, err := client.Dial(ctx, []string{"127.0.0.1:9400"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	co, err := c.NewConsumer(client.ConsumerOptions{MaxWait: time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: "orders", Partition: 0}
	co.Assign(tp)
	co.SeekToBeginning(tp)
	for {
		records, err := co.Poll(ctx)
		for _, r := range records {
			fmt.Printf("%d: %s=%s\n", r.Offset, r.Key, r.Value)
		}
		var oor *client.OffsetOutOfRangeError
		if errors.As(err, &oor) {
			// Retention deleted the records at our position: skip ahead.
			co.Seek(tp, oor.LogStartOffset)
		} else if err != nil {
			log.Fatal(err)
		}
	}
}

// Creating a topic and listing its offsets.
func ExampleClient_CreateTopic() {
	ctx := context.Background()
	c, err := client.Dial(ctx, []string{"127.0.0.1:9400"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	t, err := c.CreateTopic(ctx, "orders", 6, 3, map[string]string{"retention.ms": "86400000"})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range t.GetPartitions() {
		end, err := c.ListOffsets(ctx, "orders", p.GetPartition(), client.Latest, time.Time{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("partition %d: leader %d, high watermark %d\n", p.GetPartition(), p.GetLeader(), end)
	}
}
