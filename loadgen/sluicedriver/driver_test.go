package sluicedriver

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/drivertest"
)

// The conformance suite against a 3-broker in-process cluster, with
// replicated topics, over both fetch paths.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-broker cluster")
	}
	c := brokertest.Start(t, brokertest.Options{Brokers: 3})
	replicated := func(w *loadgen.Workload) { w.ReplicationFactor = 3 }
	for _, fetch := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		t.Run(fetch.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := New(ctx, Options{Bootstrap: c.Addrs(), Fetch: fetch})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var cases []drivertest.Case
			if fetch == client.TransportDataPlane {
				// One partition per consumer and no group, so no consumer
				// polls two leaders at once: see
				// TestDataPlaneConsumerSeveralLeaders.
				layout := func(w *loadgen.Workload) { replicated(w); w.Topics, w.Partitions = 1, 2 }
				cases = []drivertest.Case{
					{Name: "acks=all/isr/always", Change: func(w *loadgen.Workload) {
						layout(w)
						w.SyncPolicy = loadgen.SyncAlways
					}},
					{Name: "acks=0", Change: func(w *loadgen.Workload) { layout(w); w.Acks = loadgen.Acks0 }, Lossy: true},
				}
			} else {
				cases = []drivertest.Case{
					{Name: "acks=all/isr/interval", Change: func(w *loadgen.Workload) {
						replicated(w)
						w.SyncPolicy = "interval=5ms"
					}},
					{Name: "acks=1/quorum/group", Change: func(w *loadgen.Workload) {
						replicated(w)
						w.Acks, w.ReplicationMode, w.Consumers.Group = loadgen.Acks1, loadgen.ModeQuorum, "lg"
					}},
				}
			}
			drivertest.Run(t, d, cases)
			m, _ := d.Describe(drivertest.Workload().WithDefaults())
			if want := map[client.Transport]string{client.TransportDataPlane: "data plane", client.TransportGRPC: "gRPC"}[fetch]; m.Fetch[:len(want)] != want {
				t.Errorf("mapping says fetch %q", m.Fetch)
			}
			// The run deleted its topics.
			topics, err := d.c.ListTopics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(topics) != 0 {
				t.Errorf("topics left behind: %v", topics)
			}
		})
	}
}

// A data-plane consumer whose partitions have different leaders. It finds
// a data race in broker/client's Consumer.Poll, fixed: the loop that took
// each leader's cached connection (takeDataConn) ran while the goroutines
// already started put theirs back into the same map, which without -race
// could end the process with "concurrent map writes". The race detector
// reported it in about one run of four.
func TestDataPlaneConsumerSeveralLeaders(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{Brokers: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, Options{Bootstrap: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	drivertest.Run(t, d, []drivertest.Case{{Name: "one consumer, 6 partitions", Change: func(w *loadgen.Workload) {
		w.ReplicationFactor, w.Topics, w.Partitions, w.Consumers.Count = 3, 1, 6, 1
	}}})
}
