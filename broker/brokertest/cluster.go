// Package brokertest starts an in-process Sluice cluster for tests: one
// embedded etcd and N brokers on loopback with free ports, fast timings
// (10 ms etcd ticks, short sessions and replication lag), each broker in
// its own temporary directory. Brokers can be stopped, crashed (their etcd
// session frozen and their data left without a clean shutdown) and
// restarted on the same data.
package brokertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/coord"
)

// Options configure a Cluster. Zero values take the defaults noted.
type Options struct {
	// Brokers is the number of brokers (default 3), with ids 1..Brokers.
	Brokers int
	// Configure adjusts each broker's configuration before it starts.
	Configure func(*broker.Config)
	// Logger receives every broker's log (default: discarded).
	Logger *slog.Logger
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t       testing.TB
	etcd    *coord.Embedded
	cfgs    []broker.Config
	brokers []*broker.Broker // nil while stopped
}

// Start starts etcd and the brokers; everything stops at the end of the
// test.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Brokers <= 0 {
		opts.Brokers = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	etcd, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: filepath.Join(t.TempDir(), "etcd"), TickMs: 10, ElectionMs: 100, Logger: opts.Logger})
	if err != nil {
		t.Fatalf("brokertest: start etcd: %v", err)
	}
	c := &Cluster{t: t, etcd: etcd}
	// Registered first, so it runs last: brokers stop before etcd does.
	t.Cleanup(func() {
		for i := range c.brokers {
			c.Stop(i)
		}
		_ = etcd.Close()
	})
	for i := range opts.Brokers {
		cfg := broker.Config{
			ID: int32(i + 1), DataDir: t.TempDir(), Rack: "",
			Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			EtcdEndpoints: etcd.Endpoints(), SessionTTL: 2 * time.Second,
			ShutdownTimeout: 5 * time.Second, Logger: opts.Logger.With("broker", i+1),
			ReplicaTick: 20 * time.Millisecond, ReplicaLagMax: 2 * time.Second, ReplicaFetchWait: 200 * time.Millisecond,
			LeaderRebalanceInterval: -1,
		}
		if opts.Configure != nil {
			opts.Configure(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.brokers = append(c.brokers, nil)
		c.Restart(i)
	}
	return c
}

// Len is the number of brokers (running or not).
func (c *Cluster) Len() int { return len(c.cfgs) }

// Broker returns broker i (0-based; its id is i+1), nil while stopped.
func (c *Cluster) Broker(i int) *broker.Broker { return c.brokers[i] }

// Index returns the index of the broker with the given id.
func (c *Cluster) Index(id int32) int { return int(id) - 1 }

// Config returns broker i's configuration (its DataDir survives restarts).
func (c *Cluster) Config(i int) broker.Config { return c.cfgs[i] }

// EtcdEndpoints are the cluster's etcd client URLs.
func (c *Cluster) EtcdEndpoints() []string { return c.etcd.Endpoints() }

// Addrs are the gRPC addresses of the running brokers (a client's
// bootstrap list).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, b := range c.brokers {
		if b != nil {
			out = append(out, b.Addr())
		}
	}
	return out
}

// Stop stops broker i gracefully (clean shutdown, lease revoked).
func (c *Cluster) Stop(i int) {
	if b := c.brokers[i]; b != nil {
		c.brokers[i] = nil
		if err := b.Stop(context.Background()); err != nil {
			c.t.Logf("brokertest: stop broker %d: %v", i+1, err)
		}
	}
}

// Crash stops broker i the way a killed process stops, as far as an
// in-process broker can: its etcd session is frozen first (no revoke, so
// the lease expires on its own after the session TTL, and other brokers
// learn of the loss only then), its listeners close, and its partitions
// are left without the clean-shutdown marker.
func (c *Cluster) Crash(i int) {
	b := c.brokers[i]
	if b == nil {
		return
	}
	c.brokers[i] = nil
	b.Crash()
}

// Restart starts broker i (again) on its data directory.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.brokers[i] != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, c.cfgs[i])
	if err != nil {
		c.t.Fatalf("brokertest: start broker %d: %v", i+1, err)
	}
	c.brokers[i] = b
}

// RestartAll starts every stopped broker at once, as a whole cluster
// coming back does: a broker's start waits (bounded) for the partitions it
// led to have a leader again, which may take the others being back.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(c.brokers))
	var wg sync.WaitGroup
	for i, b := range c.brokers {
		if b != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.brokers[i], errs[i] = broker.Start(ctx, c.cfgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("brokertest: start broker %d: %v", i+1, err)
		}
	}
}

// String describes the cluster (for failure messages).
func (c *Cluster) String() string {
	s := "cluster:"
	for i, b := range c.brokers {
		if b == nil {
			s += fmt.Sprintf(" %d=down", i+1)
		} else {
			s += fmt.Sprintf(" %d=%s", i+1, b.Addr())
		}
	}
	return s
}
