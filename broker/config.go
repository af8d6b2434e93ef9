package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Config is one broker's configuration. `sluice serve` fills it from flags,
// SLUICE_* environment variables and an optional YAML file.
type Config struct {
	ID      int32
	DataDir string
	Rack    string

	// Listen is the gRPC address, DataListen the fetch data plane's,
	// AdminListen the HTTP address of /metrics, /healthz and pprof. Use
	// 127.0.0.1:0 for a free port; the bound addresses are advertised
	// unless AdvertiseAddr and AdvertiseDataAddr say otherwise.
	Listen      string
	DataListen  string
	AdminListen string

	// AdvertiseAddr and AdvertiseDataAddr are the gRPC and data-plane
	// addresses the broker registers in etcd, so what other brokers and
	// clients (through metadata) connect to, instead of the bound ones:
	// Kafka's advertised.listeners, for a proxy or NAT in front of the
	// broker. Empty: the bound address. host:port, with a port.
	AdvertiseAddr     string
	AdvertiseDataAddr string
	// SourceIP is the local address of every connection the broker opens:
	// gRPC to other brokers, replica fetches from leaders, the etcd client.
	// A proxy in front of the other brokers and etcd then tells brokers
	// apart by their source address and can cut one link (fault-injection
	// tests, linearizability/). A loopback IP such as 127.0.0.12 — every
	// address of 127/8 is local on Linux — since a loopback source reaches
	// loopback destinations only. Empty: the system's choice.
	SourceIP string

	// EtcdEndpoints of an existing etcd cluster. Empty starts an embedded
	// single-member etcd in DataDir/etcd listening on EtcdListen.
	EtcdEndpoints []string
	EtcdListen    string
	// Cluster names the key prefix /sluice/<Cluster>/.
	Cluster string
	// SessionTTL is the etcd lease of the broker's registration; a broker
	// that cannot renew it stops acting as leader before it expires.
	SessionTTL time.Duration

	DefaultReplicationFactor int32
	// TopicDefaults override the built-in topic config defaults on this
	// broker (for example sync.policy=always).
	TopicDefaults map[string]string

	MaxRequestBytes int           // largest gRPC request
	MaxFetchBytes   int32         // cap on a fetch's max_bytes
	MaxFetchWait    time.Duration // cap on a fetch's max_wait_ms
	ProduceTimeout  time.Duration // default acks=all wait
	BlockCacheBytes int64         // copy-path block cache; 0 disables it
	ShutdownTimeout time.Duration // how long SIGTERM waits for in-flight requests
	RetentionCheck  time.Duration // retention cleaner interval
	// Replication timing: ReplicaTick is the replication state machine's
	// clock, ReplicaLagMax Kafka's replica.lag.time.max (a follower not
	// caught up for longer leaves the ISR), ReplicaFetchWait how long a
	// leader holds a follower fetch that has nothing new.
	ReplicaTick      time.Duration
	ReplicaLagMax    time.Duration
	ReplicaFetchWait time.Duration
	// LeaderRebalanceInterval: how often the controller moves leadership
	// back to each partition's preferred replica (the first) when it is in
	// sync (Kafka's auto.leader.rebalance.enable); negative disables it.
	LeaderRebalanceInterval time.Duration
	FS                      vfs.FS // vfs.Default unless a test injects faults
	Logger                  *slog.Logger
	FastEmbeddedEtcd        bool // 10 ms ticks for tests and local trials
}

// Defaults for Config's zero fields.
const (
	DefaultListen         = "127.0.0.1:9400"
	DefaultDataListen     = "127.0.0.1:9401"
	DefaultAdminListen    = "127.0.0.1:9402"
	DefaultEtcdListen     = "127.0.0.1:2379"
	DefaultCluster        = "default"
	DefaultSessionTTL     = 6 * time.Second
	DefaultMaxRequest     = 16 << 20
	DefaultMaxFetchBytes  = 64 << 20
	DefaultMaxFetchWait   = 30 * time.Second
	DefaultProduceTimeout = 30 * time.Second
	DefaultBlockCache     = 64 << 20
	DefaultShutdown       = 15 * time.Second
	DefaultReplicaTick    = 50 * time.Millisecond
	DefaultReplicaLagMax  = 10 * time.Second
	DefaultReplicaFetch   = 500 * time.Millisecond
	DefaultRebalance      = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataListen == "" {
		c.DataListen = DefaultDataListen
	}
	if c.AdminListen == "" {
		c.AdminListen = DefaultAdminListen
	}
	if c.EtcdListen == "" {
		c.EtcdListen = DefaultEtcdListen
	}
	if c.Cluster == "" {
		c.Cluster = DefaultCluster
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.DefaultReplicationFactor <= 0 {
		c.DefaultReplicationFactor = 1
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequest
	}
	if c.MaxFetchBytes <= 0 {
		c.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if c.MaxFetchWait <= 0 {
		c.MaxFetchWait = DefaultMaxFetchWait
	}
	if c.ProduceTimeout <= 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.BlockCacheBytes < 0 {
		c.BlockCacheBytes = 0
	} else if c.BlockCacheBytes == 0 {
		c.BlockCacheBytes = DefaultBlockCache
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdown
	}
	if c.RetentionCheck <= 0 {
		c.RetentionCheck = 5 * time.Minute
	}
	if c.ReplicaTick <= 0 {
		c.ReplicaTick = DefaultReplicaTick
	}
	if c.ReplicaLagMax <= 0 {
		c.ReplicaLagMax = DefaultReplicaLagMax
	}
	if c.ReplicaFetchWait <= 0 {
		c.ReplicaFetchWait = DefaultReplicaFetch
	}
	if c.LeaderRebalanceInterval == 0 {
		c.LeaderRebalanceInterval = DefaultRebalance
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	c.FS = plantedFS(c.FS)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.ID < 0 {
		return fmt.Errorf("broker: id %d is negative", c.ID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("broker: data dir is empty")
	}
	if err := validateConfigs(c.TopicDefaults); err != nil {
		return fmt.Errorf("broker: topic defaults: %w", err)
	}
	for _, a := range []struct{ name, addr string }{{"advertised address", c.AdvertiseAddr}, {"advertised data address", c.AdvertiseDataAddr}} {
		if a.addr == "" {
			continue
		}
		if err := validateAdvertised(a.addr); err != nil {
			return fmt.Errorf("broker: %s %q: %w", a.name, a.addr, err)
		}
	}
	if c.SourceIP != "" {
		if ip := net.ParseIP(c.SourceIP); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("broker: source IP %q: want a loopback IP such as 127.0.0.12", c.SourceIP)
		}
	}
	return nil
}

// validateAdvertised checks an address others can dial: a host (not the
// unspecified 0.0.0.0 or ::) and a port (not 0).
func validateAdvertised(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "" {
		return errors.New("no host")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return errors.New("an unspecified host cannot be dialed")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}

// dialContext opens the broker's outgoing connections: from SourceIP when
// set. Unix-socket addresses (an etcd endpoint unix://path, handed over by
// gRPC as unix:path or unix:///path) are dialed as such, without a source.
func (c Config) dialContext(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		return d.DialContext(ctx, "unix", strings.TrimPrefix(rest, "//"))
	}
	if c.SourceIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.SourceIP)}
	}
	return d.DialContext(ctx, "tcp", addr)
}

// grpcDialOptions are the options of the broker's gRPC connections (to
// brokers and etcd): a dialer binding SourceIP when set, else gRPC's own.
func (c Config) grpcDialOptions() []grpc.DialOption {
	if c.SourceIP == "" {
		return nil
	}
	return []grpc.DialOption{grpc.WithContextDialer(c.dialContext)}
}
