package broker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestUncleanElection: the ISR has shrunk to the leader, which then goes
// away; the only live replica is out of sync. With unclean leader election
// off (the default) the partition stays without a leader; once the topic
// allows it, that replica leads and the records only the old leader had
// are gone: exactly what the setting trades.
func TestUncleanElection(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{Logger: testLog()})
	cl := dial(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cl.CreateTopic(ctx, "uc", 1, 3, map[string]string{broker.CfgMinInsyncReplicas: "1"}); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitISR(t, ctx, cl, "uc", 0, 3)
	leader := brokertest.Leader(t, ctx, cl, "uc", 0)
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 100, RetryBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(v string) {
		t.Helper()
		if _, err := p.Send(ctx, client.Message{Topic: "uc", Partition: 0, Value: []byte(v)}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
	for i := range 20 {
		send(fmt.Sprintf("in-sync-%02d", i))
	}
	var followers []int32
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			followers = append(followers, id)
			c.Stop(c.Index(id))
		}
	}
	brokertest.WaitISR(t, ctx, cl, "uc", 0, 1)
	for i := range 10 {
		send(fmt.Sprintf("leader-only-%02d", i))
	}
	c.Stop(c.Index(leader))
	survivor := followers[0]
	c.Restart(c.Index(survivor))
	cl2 := dial(t, []string{c.Broker(c.Index(survivor)).Addr()})
	fenced := waitPartition(t, ctx, cl2, "uc", func(pi *brokerpb.PartitionInfo) bool { return pi.Leader < 0 })
	if slices.Contains(fenced.Isr, survivor) {
		t.Fatalf("the out-of-sync replica %d is in the ISR: %+v", survivor, fenced)
	}
	strict, err := cl2.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if _, err := strict.Send(ctx, client.Message{Topic: "uc", Partition: 0, Value: []byte("x")}); err == nil {
		t.Fatal("a partition whose ISR is gone took a write with unclean election off")
	}

	if _, err := cl2.AlterConfig(ctx, "uc", map[string]string{broker.CfgUncleanLeaderElection: "true"}, nil); err != nil {
		t.Fatal(err)
	}
	elected := waitPartition(t, ctx, cl2, "uc", func(pi *brokerpb.PartitionInfo) bool { return pi.Leader >= 0 })
	if elected.Leader != survivor || elected.LeaderEpoch <= fenced.LeaderEpoch {
		t.Fatalf("unclean election: %+v, want broker %d in an epoch after %d", elected, survivor, fenced.LeaderEpoch)
	}
	if n := electionsByRule(t, c, "unclean"); n != 1 {
		t.Fatalf("%v elections by the unclean rule, want 1", n)
	}
	p2, err := cl2.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 100, RetryBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := p2.Send(ctx, client.Message{Topic: "uc", Partition: 0, Value: []byte("after-unclean")}); err != nil {
		t.Fatal(err)
	}
	c.Stop(c.Index(survivor))
	got := brokertest.ReadValues(t, filepath.Join(c.Config(c.Index(survivor)).DataDir, "logs", "uc-0"))
	if len(got) != 21 || got[19] != "in-sync-19" || got[20] != "after-unclean" {
		t.Fatalf("the unclean leader's log: %v\nwant the 20 in-sync records, then the new one (the leader-only ones lost)", got)
	}
}

// TestAllReplicasCrashRecover: every replica crashes (no clean-shutdown
// marker, sync.policy=never), so none is eligible when it comes back.
// Once all of them are back the controller elects the most complete
// (KIP-966's recovery) instead of leaving the partition offline, and every
// acknowledged record survives (the page cache outlived the crash).
func TestAllReplicasCrashRecover(t *testing.T) {
	for _, mode := range []string{"isr", "quorum"} {
		t.Run(mode, func(t *testing.T) {
			c := brokertest.Start(t, brokertest.Options{Logger: testLog()})
			cl := dial(t, c.Addrs())
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if _, err := cl.CreateTopic(ctx, "all", 1, 3, map[string]string{
				broker.CfgMinInsyncReplicas: "2", broker.CfgReplicationMode: mode, broker.CfgSyncPolicy: "never",
			}); err != nil {
				t.Fatal(err)
			}
			brokertest.WaitISR(t, ctx, cl, "all", 0, 3)
			p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var acked []string
			for i := range 50 {
				v := fmt.Sprintf("v%03d", i)
				if _, err := p.Send(ctx, client.Message{Topic: "all", Partition: 0, Value: []byte(v)}); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, v)
			}
			before := partitionOf(t, ctx, cl, "all", 0)
			for i := range c.Len() {
				c.Crash(i)
			}
			c.RestartAll()
			cl2 := dial(t, c.Addrs())
			after := waitPartition(t, ctx, cl2, "all", func(pi *brokerpb.PartitionInfo) bool {
				return pi.Leader >= 0 && pi.LeaderEpoch > before.LeaderEpoch
			})
			t.Logf("%s: after the crash of every replica: leader %d epoch %d isr %v", mode, after.Leader, after.LeaderEpoch, after.Isr)
			if n := electionsByRule(t, c, "recovery"); n < 1 {
				t.Fatalf("%v elections by the recovery rule, want one (no replica is eligible after an unclean restart with sync.policy=never)", n)
			}
			p2, err := cl2.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p2.Close()
			if _, err := p2.Send(ctx, client.Message{Topic: "all", Partition: 0, Value: []byte("after")}); err != nil {
				t.Fatal(err)
			}
			acked = append(acked, "after")
			brokertest.WaitISR(t, ctx, cl2, "all", 0, 3)
			waitReplicasEqual(t, ctx, c, "all", 0)
			for i := range c.Len() {
				c.Stop(i)
			}
			for i := range c.Len() {
				got := brokertest.ReadValues(t, filepath.Join(c.Config(i).DataDir, "logs", "all-0"))
				brokertest.CheckAcked(t, fmt.Sprintf("broker %d", i+1), got, acked)
			}
		})
	}
}

// waitPartition polls the metadata until ok holds for the partition.
func waitPartition(t *testing.T, ctx context.Context, cl *client.Client, topic string, ok func(*brokerpb.PartitionInfo) bool) *brokerpb.PartitionInfo {
	t.Helper()
	var last *brokerpb.PartitionInfo
	for ctx.Err() == nil {
		if md, err := cl.Metadata(ctx, topic); err == nil {
			for _, ti := range md.Topics {
				if ti.Name == topic && len(ti.Partitions) > 0 {
					last = ti.Partitions[0]
					if ok(last) {
						return last
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s-0 never reached the state wanted; last %+v", topic, last)
	return nil
}

var electionsMetric = regexp.MustCompile(`(?m)^sluice_leader_elections_total\{reason="[^"]*",rule="([^"]*)"\} (\S+)$`)

// electionsByRule sums, over the running brokers' /metrics, the elections
// the controller made by one rule.
func electionsByRule(t *testing.T, c *brokertest.Cluster, rule string) float64 {
	t.Helper()
	total := 0.0
	for i := range c.Len() {
		b := c.Broker(i)
		if b == nil {
			continue
		}
		for _, m := range electionsMetric.FindAllStringSubmatch(scrape(t, b), -1) {
			if m[1] == rule {
				v, _ := strconv.ParseFloat(m[2], 64)
				total += v
			}
		}
	}
	return total
}

// scrape returns broker b's /metrics page.
func scrape(t *testing.T, b *broker.Broker) string {
	t.Helper()
	resp, err := http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
