package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/broker/coord"
)

// TestReplicatedKillLeader runs three real broker processes on one etcd:
// RF=3, min.insync.replicas=2, acks=all with the idempotent producer, a
// producer writing throughout. The partition leader is killed with SIGKILL;
// a follower takes over within seconds, the producer carries on, the
// killed broker restarts, catches up and rejoins the ISR. Afterwards every
// acknowledged record is on every replica, in order, exactly once, and the
// three logs are identical (read offline with the engine).
func TestReplicatedKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes' worth of work")
	}
	etcd, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: filepath.Join(t.TempDir(), "etcd"), TickMs: 10, ElectionMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = etcd.Close() })
	endpoints := etcd.Endpoints()[0]
	dirs := make([]string, 3)
	servers := make([]*server, 3)
	start := func(i int) {
		servers[i] = startServe(t, dirs[i], "--broker-id", strconv.Itoa(i+1), "--etcd-endpoints", endpoints,
			"--replica-lag-max", "3s", "--replica-fetch-wait", "200ms", "--leader-rebalance-interval", "1h")
	}
	for i := range dirs {
		dirs[i] = t.TempDir()
		start(i)
	}
	addrs := func() []string {
		var out []string
		for _, s := range servers {
			if s != nil && s.cmd.ProcessState == nil {
				out = append(out, s.addr)
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateTopic(ctx, "kill", 1, 3, map[string]string{"min.insync.replicas": "2"}); err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	w := brokertest.StartWriter(ctx, p, "kill", 0, "r")
	w.WaitAcked(t, ctx, 200)
	leader := brokertest.Leader(t, ctx, cl, "kill", 0)
	victim := servers[leader-1]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-victim.done
	before := w.Count()
	w.WaitAcked(t, ctx, before+1)
	failover := w.AckTime(before).Sub(killed)
	t.Logf("leader %d killed; first acks=all record acknowledged %v later (session TTL 2s)", leader, failover)
	if failover > 20*time.Second {
		t.Fatalf("failover took %v", failover)
	}
	w.WaitAcked(t, ctx, before+200)
	// The killed broker restarts on its data and rejoins.
	start(int(leader - 1))
	brokertest.WaitISR(t, ctx, cl, "kill", 0, 3)
	w.WaitAcked(t, ctx, w.Count()+50)
	acked := w.Stop(t)
	// Let every follower fetch the last records, then stop cleanly.
	brokertest.WaitISR(t, ctx, cl, "kill", 0, 3)
	for _, s := range servers {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.done
	}
	var first []string
	for i, d := range dirs {
		got := brokertest.ReadValues(t, filepath.Join(d, "logs", "kill-0"))
		brokertest.CheckAcked(t, fmt.Sprintf("broker %d", i+1), got, acked)
		if i == 0 {
			first = got
		} else if !slices.Equal(first, got) {
			t.Fatalf("broker %d holds %d records, broker 1 %d: the replicas differ", i+1, len(got), len(first))
		}
	}
	t.Logf("%d acknowledged records on all three replicas", len(acked))
}
