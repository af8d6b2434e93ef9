package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-mq/sluice/broker/client"
)

// dropResponses lets every third Produce reach the broker but loses its
// response, as a connection reset after the write would.
func dropResponses(dropped *atomic.Int64) grpc.DialOption {
	var n atomic.Int64
	return grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if method == "/sluice.v1.Sluice/Produce" && err == nil && n.Add(1)%3 == 0 {
			dropped.Add(1)
			return status.Error(codes.Unavailable, "injected: response lost after the write")
		}
		return err
	})
}

// produceWithLostResponses sends n values through a client whose produce
// responses are lost now and then, and returns how often each value is in
// the log.
func produceWithLostResponses(t *testing.T, b *Broker, topic string, n int, opts client.ProducerOptions) (map[string]int, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var dropped atomic.Int64
	c, err := client.Dial(ctx, []string{b.Addr()}, client.WithDialOptions(dropResponses(&dropped)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts.Acks, opts.RetryBackoff, opts.Linger = client.AcksAll, time.Millisecond, -1
	p, err := c.NewProducer(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := p.Send(ctx, client.Message{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "v%04d", i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	p.Close()
	co, err := c.NewConsumer(client.ConsumerOptions{MaxWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: topic, Partition: 0}
	co.Assign(tp)
	co.SeekToBeginning(tp)
	seen := map[string]int{}
	end, err := c.ListOffsets(ctx, topic, 0, client.Latest, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for co.Position(tp) < end {
		recs, err := co.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			seen[string(r.Value)]++
		}
	}
	return seen, dropped.Load()
}

func TestIdempotentRetriesNeverDuplicate(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "once", 1, nil)
	createTopic(t, c, "twice", 1, nil)
	const n = 60
	seen, dropped := produceWithLostResponses(t, b, "once", n, client.ProducerOptions{})
	if dropped == 0 {
		t.Fatal("no response was dropped: the test proves nothing")
	}
	for i := range n {
		if v := fmt.Sprintf("v%04d", i); seen[v] != 1 {
			t.Fatalf("idempotent producer: %s is in the log %d times (%d responses dropped)", v, seen[v], dropped)
		}
	}
	// The same lost responses without idempotence do write duplicates:
	// what the test above rules out is real.
	seen, dropped = produceWithLostResponses(t, b, "twice", n, client.ProducerOptions{DisableIdempotence: true})
	dups := 0
	for _, k := range seen {
		dups += k - 1
	}
	if dups == 0 {
		t.Fatalf("without idempotence %d lost responses wrote no duplicate", dropped)
	}
	t.Logf("without idempotence: %d duplicates from %d lost responses", dups, dropped)
}
