package broker_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/netproxy"
)

// sourceIP is broker id's source address in these tests.
func sourceIP(id int32) string { return fmt.Sprintf("127.0.0.%d", 10+id) }

// proxiedCluster is a brokertest cluster wired the way the fault-injection
// harness wires processes: every broker advertises a proxy in front of its
// gRPC and data-plane listeners, reaches etcd through a proxy, and opens
// its connections from a source IP of its own (127.0.0.11..13).
type proxiedCluster struct {
	*brokertest.Cluster
	etcd       *netproxy.Proxy
	grpc, data []*netproxy.Proxy // by broker index
}

func startProxiedCluster(t *testing.T, n int) *proxiedCluster {
	t.Helper()
	newProxy := func() *netproxy.Proxy {
		p, err := netproxy.New("", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	pc := &proxiedCluster{etcd: newProxy()}
	for range n {
		pc.grpc = append(pc.grpc, newProxy())
		pc.data = append(pc.data, newProxy())
	}
	pc.Cluster = brokertest.Start(t, brokertest.Options{Brokers: n, Logger: testLog(), Configure: func(cfg *broker.Config) {
		if pc.etcd.Target() == "" {
			pc.etcd.SetTarget(strings.TrimPrefix(cfg.EtcdEndpoints[0], "http://"))
		}
		cfg.EtcdEndpoints = []string{"http://" + pc.etcd.Addr()}
		i := cfg.ID - 1
		cfg.AdvertiseAddr, cfg.AdvertiseDataAddr = pc.grpc[i].Addr(), pc.data[i].Addr()
		cfg.SourceIP = sourceIP(cfg.ID)
	}})
	// The listeners' ports are known once the brokers run. Until then
	// nothing needs another broker: there are no topics yet.
	for i := range n {
		pc.grpc[i].SetTarget(pc.Broker(i).Addr())
		pc.data[i].SetTarget(pc.Broker(i).DataAddr())
	}
	return pc
}

// TestAdvertisedAddressesAndSourceIP: brokers register the advertised
// addresses (metadata shows them, and clients and other brokers use them),
// and every connection a broker opens — to etcd, to another broker's gRPC
// (a forwarded admin call), to a leader's data plane (replica fetches) —
// comes from its source IP. Then a one-link partition through the proxies
// takes a follower out of the ISR while clients still reach every broker,
// and healing brings it back.
func TestAdvertisedAddressesAndSourceIP(t *testing.T) {
	pc := startProxiedCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := dial(t, pc.Addrs())

	md, err := cl.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata shows %d brokers, want 3", len(md.Brokers))
	}
	for _, bi := range md.Brokers {
		i := pc.Index(bi.Id)
		if bi.Addr != pc.grpc[i].Addr() || bi.DataAddr != pc.data[i].Addr() {
			t.Errorf("broker %d: metadata addr=%s data=%s, want the advertised %s and %s (bound: %s, %s)",
				bi.Id, bi.Addr, bi.DataAddr, pc.grpc[i].Addr(), pc.data[i].Addr(), pc.Broker(i).Addr(), pc.Broker(i).DataAddr())
		}
		if got := pc.Broker(i).AdvertisedAddr(); got != bi.Addr {
			t.Errorf("broker %d: AdvertisedAddr %s, metadata %s", bi.Id, got, bi.Addr)
		}
	}

	// An admin call to a broker that is not the controller is forwarded to
	// the controller over gRPC.
	ctrl := md.Controller
	other := int32(1)
	if ctrl == other {
		other = 2
	}
	cc, err := grpc.NewClient(pc.Broker(pc.Index(other)).Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := brokerpb.NewSluiceClient(cc).CreateTopic(ctx, &brokerpb.CreateTopicRequest{
		Name: "adv", Partitions: 1, ReplicationFactor: 3, Configs: map[string]string{broker.CfgMinInsyncReplicas: "2"},
	}); err != nil {
		t.Fatalf("create topic through broker %d (controller %d): %v", other, ctrl, err)
	}
	if st := pc.grpc[pc.Index(ctrl)].Stats(sourceIP(other)); st.Accepted == 0 || st.BytesToTarget == 0 {
		t.Errorf("controller %d's proxy saw no forwarded call from %s: %+v", ctrl, sourceIP(other), st)
	}

	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func(v string) {
		t.Helper()
		if _, err := p.Send(ctx, client.Message{Topic: "adv", Partition: 0, Value: []byte(v)}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
	for i := range 10 {
		send(fmt.Sprintf("v%d", i))
	}
	brokertest.WaitISR(t, ctx, cl, "adv", 0, 3)
	leader := brokertest.Leader(t, ctx, cl, "adv", 0)
	li := pc.Index(leader)
	var followers []int32
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			followers = append(followers, id)
			if st := pc.data[li].Stats(sourceIP(id)); st.BytesToTarget == 0 || st.BytesFromTarget == 0 {
				t.Errorf("follower %d fetched nothing through leader %d's data-plane proxy from %s: %+v", id, leader, sourceIP(id), st)
			}
		}
	}

	// Each broker reached etcd from its own source and nothing else did.
	want := []string{sourceIP(1), sourceIP(2), sourceIP(3)}
	if got := pc.etcd.Sources(); !slices.Equal(got, want) {
		t.Errorf("etcd proxy sources %v, want %v", got, want)
	}
	// The broker proxies saw the brokers' sources and this test's client.
	allowed := append([]string{"127.0.0.1"}, want...)
	for i := range 3 {
		for _, p := range []*netproxy.Proxy{pc.grpc[i], pc.data[i]} {
			for _, src := range p.Sources() {
				if !slices.Contains(allowed, src) {
					t.Errorf("proxy of broker %d saw a connection from %s", i+1, src)
				}
			}
		}
	}
	if t.Failed() {
		return
	}

	// Cut one follower from the leader's data plane, only it: it leaves
	// the ISR, writes go on with the other two, clients (127.0.0.1) pass.
	cut := followers[0]
	cutAt := time.Now()
	pc.data[li].Blackhole(sourceIP(cut))
	send("during")
	brokertest.WaitISR(t, ctx, cl, "adv", 0, 2)
	pi := partition(t, ctx, cl, "adv")
	if slices.Contains(pi.Isr, cut) {
		t.Fatalf("ISR %v still holds the cut follower %d", pi.Isr, cut)
	}
	healAt := time.Now()
	pc.data[li].Heal(sourceIP(cut))
	brokertest.WaitISR(t, ctx, cl, "adv", 0, 3)
	send("after")
	t.Logf("follower %d cut from leader %d: out of the ISR after %v, back %v after healing",
		cut, leader, healAt.Sub(cutAt).Round(time.Millisecond), time.Since(healAt).Round(time.Millisecond))
}

func partition(t *testing.T, ctx context.Context, cl *client.Client, topic string) *brokerpb.PartitionInfo {
	t.Helper()
	md, err := cl.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range md.Topics {
		if ti.Name == topic && len(ti.Partitions) > 0 {
			return ti.Partitions[0]
		}
	}
	t.Fatalf("no topic %s in metadata", topic)
	return nil
}

// TestAdvertiseAndSourceValidation: malformed settings fail Start before
// it binds anything.
func TestAdvertiseAndSourceValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*broker.Config)
		want string
	}{
		{"no port", func(c *broker.Config) { c.AdvertiseAddr = "127.0.0.1" }, "advertised address"},
		{"port 0", func(c *broker.Config) { c.AdvertiseAddr = "127.0.0.1:0" }, "advertised address"},
		{"no host", func(c *broker.Config) { c.AdvertiseDataAddr = ":9401" }, "advertised data address"},
		{"unspecified host", func(c *broker.Config) { c.AdvertiseAddr = "0.0.0.0:9400" }, "advertised address"},
		{"source not an IP", func(c *broker.Config) { c.SourceIP = "localhost" }, "source IP"},
		{"source not loopback", func(c *broker.Config) { c.SourceIP = "10.1.2.3" }, "source IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A listener on the broker's address shows Start failed before
			// binding: it would fail differently otherwise.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfg := broker.Config{DataDir: t.TempDir(), Listen: ln.Addr().String()}
			tc.cfg(&cfg)
			b, err := broker.Start(context.Background(), cfg)
			if err == nil {
				_ = b.Stop(context.Background())
				t.Fatal("Start accepted the configuration")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want an error about the %s", err, tc.want)
			}
		})
	}
}
