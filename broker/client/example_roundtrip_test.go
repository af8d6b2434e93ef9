package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/client"
)

// A complete round trip against a broker started in this process (with an
// embedded etcd, on free loopback ports): create a topic, produce with
// acks=all, consume from the beginning over the zero-copy data plane.
func Example_roundTrip() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := broker.Start(ctx, broker.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Stop(context.Background())

	c, err := client.Dial(ctx, []string{b.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for {
		_, err = c.CreateTopic(ctx, "greetings", 1, 1, nil)
		if err == nil || !client.IsRetryable(err) { // retryable while the broker elects itself controller
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		log.Fatal(err)
	}

	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"hello", "hallo", "bonjour"} {
		r, err := p.Send(ctx, client.Message{Topic: "greetings", Partition: 0, Value: []byte(v)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sent %q at offset %d\n", v, r.Offset)
	}
	p.Close()

	co, err := c.NewConsumer(client.ConsumerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: "greetings", Partition: 0}
	co.Assign(tp)
	co.SeekToBeginning(tp)
	for n := 0; n < 3; {
		recs, err := co.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("read %q at offset %d\n", r.Value, r.Offset)
			n++
		}
	}
	// Output:
	// sent "hello" at offset 0
	// sent "hallo" at offset 1
	// sent "bonjour" at offset 2
	// read "hello" at offset 0
	// read "hallo" at offset 1
	// read "bonjour" at offset 2
}
