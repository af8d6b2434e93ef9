package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
)

// BenchmarkGroupCommit measures offset commits against the coordinator
// (one etcd transaction each, conditional on the member epoch) with 1, 10
// and 100 partitions per commit. Run with
//
//	go test -run '^$' -bench GroupCommit ./broker/client/
func BenchmarkGroupCommit(b *testing.B) {
	br := startBroker(b)
	c := dialBroker(b, br)
	mkTopic(b, c, "commits", 100)
	assigned := make(chan struct{})
	var once sync.Once
	co, err := c.NewConsumer(client.ConsumerOptions{Group: "gbench", Topics: []string{"commits"},
		OnAssigned: func(tps []client.TopicPartition) {
			if len(tps) == 100 {
				once.Do(func() { close(assigned) })
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer co.Close()
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		b.Fatal("no assignment")
	}
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			offsets := make(map[client.TopicPartition]int64, n)
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				for p := range n {
					offsets[client.TopicPartition{Topic: "commits", Partition: int32(p)}] = int64(i)
				}
				if err := co.CommitOffsets(ctx, offsets); err != nil {
					b.Fatal(err)
				}
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/secs, "commits/s")
			b.ReportMetric(float64(b.N*n)/secs, "offsets/s")
		})
	}
}

// TestRebalancePause measures what a member that keeps partitions sees when
// a second member joins: the longest gap between the records it receives
// (before and during the rebalance; the goal is no pause at all), and how
// long the new member takes from NewConsumer to its first record.
func TestRebalancePause(t *testing.T) {
	if testing.Short() {
		t.Skip("timing figures")
	}
	b := startBroker(t)
	c := dialBroker(t, b)
	mkTopic(t, c, "pause", 6)
	startProducer(t, c, "pause", 6, time.Millisecond)

	var mu sync.Mutex
	var arrivals []time.Time
	var bFirst time.Time
	own := newOwnership()
	run := func(name string) *client.Consumer {
		co, err := c.NewConsumer(client.ConsumerOptions{Group: "gpause", Topics: []string{"pause"}, SessionTimeout: 6 * time.Second,
			MaxWait: 100 * time.Millisecond, AutoCommit: true,
			OnAssigned: func(tps []client.TopicPartition) { own.assigned(name, tps) },
			OnRevoked:  func(tps []client.TopicPartition, lost bool) { own.revoked(name, tps, lost) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				recs, _ := co.Poll(ctx)
				now := time.Now()
				mu.Lock()
				for range recs {
					if name == "a" {
						arrivals = append(arrivals, now)
					} else if bFirst.IsZero() {
						bFirst = now
					}
				}
				mu.Unlock()
			}
		}()
		t.Cleanup(func() { cancel(); <-done; co.Close() })
		return co
	}
	run("a")
	waitFor(t, 20*time.Second, "a owns all", func() bool { return own.count("a") == 6 })
	time.Sleep(2 * time.Second) // a baseline of steady consumption
	joined := time.Now()
	run("b")
	waitFor(t, 20*time.Second, "b receives a record", func() bool { mu.Lock(); defer mu.Unlock(); return !bFirst.IsZero() })
	settled := time.Now()
	time.Sleep(time.Second)

	mu.Lock()
	defer mu.Unlock()
	maxGap := func(from, to time.Time) time.Duration {
		var gap time.Duration
		var prev time.Time
		for _, a := range arrivals {
			if a.Before(from) || a.After(to) {
				continue
			}
			if !prev.IsZero() {
				gap = max(gap, a.Sub(prev))
			}
			prev = a
		}
		return gap
	}
	base := maxGap(joined.Add(-1500*time.Millisecond), joined)
	during := maxGap(joined, settled.Add(500*time.Millisecond))
	t.Logf("member keeping its partitions: longest gap between records %v during the rebalance (%v in the 1.5 s before it)", during.Round(time.Millisecond), base.Round(time.Millisecond))
	t.Logf("new member: first record %v after NewConsumer", bFirst.Sub(joined).Round(time.Millisecond))
	if during > 2*time.Second {
		t.Errorf("the member that keeps its partitions stopped receiving for %v during the rebalance", during)
	}
	own.check(t)
}
