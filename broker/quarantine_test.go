package broker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestCorruptReplicaIsQuarantinedAndRefetched: a bit flipped in the middle
// of a crashed follower's log (not a torn tail: valid batches follow) makes
// its log fail to open. With other replicas holding the data, the broker
// moves the damaged directory to quarantine/, starts the replica empty,
// refetches everything from the leader and rejoins the ISR, instead of
// leaving the replica offline for an operator (Kafka's behaviour).
func TestCorruptReplicaIsQuarantinedAndRefetched(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{Logger: testLog()})
	cl := dial(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cl.CreateTopic(ctx, "qt", 1, 3, map[string]string{broker.CfgMinInsyncReplicas: "2"}); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitISR(t, ctx, cl, "qt", 0, 3)
	leader := brokertest.Leader(t, ctx, cl, "qt", 0)
	follower := leader%3 + 1
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 40 {
		if _, err := p.Send(ctx, client.Message{Topic: "qt", Partition: 0, Value: fmt.Appendf(nil, "value-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicasEqual(t, ctx, c, "qt", 0)
	fi := c.Index(follower)
	c.Crash(fi)
	seg := filepath.Join(c.Config(fi).DataDir, "logs", "qt-0", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit in the records of the first batch (61-byte header).
	first := 12 + int(binary.BigEndian.Uint32(data[8:12]))
	if first >= len(data) {
		t.Fatalf("one batch only (%d bytes): nothing follows the damage", len(data))
	}
	data[61] ^= 0x10
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Restart(fi)
	waitReplicasEqual(t, ctx, c, "qt", 0)
	brokertest.WaitISR(t, ctx, cl, "qt", 0, 3)
	q, err := os.ReadDir(filepath.Join(c.Config(fi).DataDir, "quarantine"))
	if err != nil || len(q) != 1 || !strings.HasPrefix(q[0].Name(), "qt-0-") {
		t.Fatalf("quarantine/: %v, %v; want the damaged qt-0 directory", q, err)
	}
	got, err := os.ReadFile(filepath.Join(c.Config(fi).DataDir, "quarantine", q[0].Name(), "00000000000000000000.log"))
	if err != nil || len(got) != len(data) || got[61] != data[61] {
		t.Fatalf("the quarantined copy is not the damaged log as found (%v)", err)
	}
	if n := metricValue(t, c.Broker(fi), "sluice_replicas_quarantined_total"); n != 1 {
		t.Fatalf("sluice_replicas_quarantined_total = %v, want 1", n)
	}
	// The refetched replica holds the leader's log, and the records read
	// back intact.
	co, err := cl.NewConsumer(client.ConsumerOptions{MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: "qt", Partition: 0}
	co.Assign(tp)
	co.Seek(tp, 0)
	var vals []string
	for len(vals) < 40 {
		rs, err := co.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			vals = append(vals, string(r.Value))
		}
	}
	if vals[0] != "value-00" || vals[39] != "value-39" {
		t.Fatalf("read back %q … %q", vals[0], vals[39])
	}
}

// metricValue reads one unlabelled metric from broker b's admin endpoint.
func metricValue(t *testing.T, b *broker.Broker, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, b), "\n") {
		var v float64
		if strings.HasPrefix(line, name+" ") {
			if _, err := fmt.Sscan(strings.TrimPrefix(line, name+" "), &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
