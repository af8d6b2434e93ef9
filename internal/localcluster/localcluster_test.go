package localcluster_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/localcluster"
)

// TestClusterKillRestart: etcd and three broker processes come up, take an
// acks=all write, survive the kill -9 of one broker (it restarts on its old
// addresses and data) and shut down cleanly.
func TestClusterKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-mq/sluice/cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Binary: bin, Dir: t.TempDir(), FastEtcd: true,
		ServeArgs: []string{"--session-ttl", "2s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		for i := range c.Len() {
			if p := c.Broker(i); !p.Exited() {
				t.Errorf("broker %d (pid %d) still runs after Close", i+1, p.PID())
			}
		}
		if !c.Etcd.Exited() {
			t.Errorf("etcd (pid %d) still runs after Close", c.Etcd.PID())
		}
	}()
	if got := len(c.Addrs()); got != 3 {
		t.Fatalf("%d brokers running, want 3", got)
	}
	cl, err := client.Dial(ctx, c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateTopic(ctx, "lc", 1, 3, map[string]string{"min.insync.replicas": "2"}); err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Send(ctx, client.Message{Topic: "lc", Partition: 0, Value: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	addr := c.Broker(1).Ready["addr"]
	if err := c.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !c.Broker(1).Exited() || len(c.Addrs()) != 2 {
		t.Fatalf("broker 2 still listed after kill -9: %v", c.Addrs())
	}
	if _, err := p.Send(ctx, client.Message{Topic: "lc", Partition: 0, Value: []byte("two")}); err != nil {
		t.Fatalf("acks=all with one of three brokers killed: %v", err)
	}
	if err := c.StartBroker(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := c.Broker(1).Ready["addr"]; got != addr {
		t.Errorf("restarted on %s, want its old address %s", got, addr)
	}
	if err := c.StartBroker(ctx, 1); err == nil {
		t.Error("starting a running broker again: no error")
	}
}

// TestProxiedIsolate: with every link proxied, clients reach the brokers
// through the advertised proxy addresses; isolating the leader of a
// partition from the others and etcd gets it a new leader while the
// isolated broker stays reachable; healing brings it back in sync.
func TestProxiedIsolate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-mq/sluice/cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Binary: bin, Dir: t.TempDir(), FastEtcd: true, Proxied: true,
		ServeArgs: []string{"--session-ttl", "2s", "--replica-lag-max", "2s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := client.Dial(ctx, c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	info, err := cl.CreateTopic(ctx, "px", 1, 3, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	md, err := cl.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		if !slices.Contains(c.Addrs(), b.Addr) {
			t.Fatalf("broker %d advertises %s, not one of the proxies %v", b.Id, b.Addr, c.Addrs())
		}
	}
	// The isolated broker's own metadata is stale (it is cut from etcd
	// too), so the state is read from the others, each asked directly
	// (the raw API, not the client, which may route to any broker); the
	// highest leader epoch wins.
	var ask []brokerpb.SluiceClient
	for _, a := range c.Addrs() {
		cc, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ask = append(ask, brokerpb.NewSluiceClient(cc))
	}
	skip := -1
	state := func() (leader, epoch int32, isr int) {
		leader, epoch = -1, -1
		for i, sc := range ask {
			if i == skip {
				continue
			}
			mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			md, err := sc.Metadata(mctx, &brokerpb.MetadataRequest{Topics: []string{"px"}})
			cancel()
			if err != nil || len(md.Topics) == 0 {
				t.Logf("broker %d: metadata: %v", i+1, err)
				continue
			}
			if p := md.Topics[0].Partitions[0]; p.LeaderEpoch > epoch {
				leader, epoch, isr = p.Leader, p.LeaderEpoch, len(p.Isr)
			}
		}
		return leader, epoch, isr
	}
	waitFor := func(what string, ok func(leader, epoch int32, isr int) bool) {
		t.Helper()
		for ctx.Err() == nil {
			if ok(state()) {
				return
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
		l, e, n := state()
		t.Fatalf("%s: never (leader %d epoch %d isr %d)", what, l, e, n)
	}
	waitFor("full ISR", func(l, _ int32, n int) bool { return l >= 0 && n == 3 })
	leader, epoch, _ := state()
	skip = int(leader) - 1
	if err := c.Isolate(int(leader) - 1); err != nil {
		t.Fatal(err)
	}
	waitFor("a new leader", func(l, e int32, _ int) bool { return l >= 0 && l != leader && e > epoch })
	if err := c.HealNetwork(); err != nil {
		t.Fatal(err)
	}
	waitFor("the isolated broker back in sync", func(l, _ int32, n int) bool { return l >= 0 && n == 3 })
	_ = info
}
