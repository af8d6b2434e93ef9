package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/client"
)

const demoDescription = `Starts a broker with an embedded etcd in a temporary directory (loopback,
free ports), creates a topic, produces messages through the Go client with
acks=all, consumes them back over the zero-copy data plane, checks that every
message came back once and in order, prints what happened, and shuts the
broker down. Nothing outside the machine is touched.`

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "[flags]", demoDescription)
	n := fs.Int("messages", 10000, "messages to produce and consume")
	size := fs.Int("size", 1024, "value size in bytes")
	partitions := fs.Int("partitions", 3, "partitions of the demo topic")
	sync := fs.String("sync", "never", "sync.policy of the demo topic: always, never, interval=<d>, bytes=<n>")
	keep := fs.Bool("keep", false, "keep the broker running after the round trip (until SIGINT)")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return parseFailed(stderr, "demo", err)
	}
	if *n < 1 || *size < 1 || *partitions < 1 {
		return failf(stderr, exitUsage, "demo: --messages, --size and --partitions must be positive")
	}
	dir, err := os.MkdirTemp("", "sluice-demo-")
	if err != nil {
		return failf(stderr, exitFailure, "demo: %v", err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fmt.Fprintf(stdout, "starting a broker with an embedded etcd in %s\n", dir)
	b, err := broker.Start(ctx, broker.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true, SessionTTL: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return failf(stderr, exitFailure, "demo: %v", err)
	}
	defer b.Stop(context.Background())
	fmt.Fprintf(stdout, "broker %d: grpc %s, data plane %s, metrics http://%s/metrics, etcd %v\n", b.ID(), b.Addr(), b.DataAddr(), b.AdminAddr(), b.EtcdEndpoints())

	c, err := client.Dial(ctx, []string{b.Addr()})
	if err != nil {
		return failf(stderr, exitFailure, "demo: %v", err)
	}
	defer c.Close()
	if err := waitForController(ctx, c, int32(*partitions), *sync); err != nil {
		return failf(stderr, exitFailure, "demo: create topic: %v", err)
	}
	fmt.Fprintf(stdout, "created topic demo: %d partitions, sync.policy=%s\n", *partitions, *sync)

	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		return failf(stderr, exitFailure, "demo: %v", err)
	}
	value := make([]byte, *size)
	start := time.Now()
	errs := make(chan error, 1)
	for i := range *n {
		v := append([]byte(fmt.Sprintf("%08d:", i)), value[min(9, len(value)):]...)
		p.SendAsync(client.Message{Topic: "demo", Key: []byte(fmt.Sprint(i)), Value: v[:max(*size, 9)]}, func(_ client.Result, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		return failf(stderr, exitFailure, "demo: produce: %v", err)
	}
	select {
	case err := <-errs:
		return failf(stderr, exitFailure, "demo: produce: %v", err)
	default:
	}
	produced := time.Since(start)
	_ = p.Close()
	fmt.Fprintf(stdout, "produced %d messages of %d bytes with acks=all in %v (%.0f msg/s)\n", *n, *size, produced.Round(time.Millisecond), float64(*n)/produced.Seconds())

	co, err := c.NewConsumer(client.ConsumerOptions{})
	if err != nil {
		return failf(stderr, exitFailure, "demo: %v", err)
	}
	defer co.Close()
	var tps []client.TopicPartition
	for i := range int32(*partitions) {
		tps = append(tps, client.TopicPartition{Topic: "demo", Partition: i})
	}
	co.Assign(tps...)
	co.SeekToBeginning(tps...)
	seen := make([]bool, *n)
	last := map[int32]int64{}
	got := 0
	start = time.Now()
	for got < *n {
		recs, err := co.Poll(ctx)
		if err != nil {
			return failf(stderr, exitFailure, "demo: consume after %d messages: %v", got, err)
		}
		for _, r := range recs {
			var i int
			if _, err := fmt.Sscanf(string(r.Value[:8]), "%08d", &i); err != nil || i >= *n || seen[i] {
				return failf(stderr, exitFailure, "demo: unexpected or duplicate record at %s/%d offset %d", r.Topic, r.Partition, r.Offset)
			}
			if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
				return failf(stderr, exitFailure, "demo: partition %d skipped from offset %d to %d", r.Partition, prev, r.Offset)
			}
			last[r.Partition] = r.Offset
			seen[i] = true
			got++
		}
	}
	consumed := time.Since(start)
	fmt.Fprintf(stdout, "consumed all %d messages back over the data plane in %v (%.0f msg/s): each exactly once, offsets dense per partition\n", got, consumed.Round(time.Millisecond), float64(got)/consumed.Seconds())
	if *keep {
		fmt.Fprintf(stdout, "broker keeps running: try `go run ./cmd/sluice consume demo --brokers %s --from-beginning --max-messages 5`; Ctrl-C stops it\n", b.Addr())
		waitForSignal()
	}
	fmt.Fprintln(stdout, "stopping the broker")
	return exitOK
}

// waitForController creates the demo topic, retrying while the broker is
// still electing itself controller.
func waitForController(ctx context.Context, c *client.Client, partitions int32, sync string) error {
	for {
		_, err := c.CreateTopic(ctx, "demo", partitions, 1, map[string]string{"sync.policy": sync})
		if err == nil || !client.IsRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
