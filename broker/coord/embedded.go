package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// EmbeddedConfig configures a single-member etcd inside the process.
type EmbeddedConfig struct {
	Dir string // data directory; reusing it restarts the same member
	// ClientAddr and PeerAddr are host:port on a loopback address; default
	// "127.0.0.1:0" (a free port; Endpoints tells which). Restarting on the
	// same Dir with fixed addresses brings back the same endpoint.
	ClientAddr string
	PeerAddr   string
	Name       string // member name; default "default"
	// TickMs and ElectionMs are etcd's heartbeat interval and election
	// timeout; 0 means etcd's own defaults (100 and 1000), which take up to
	// about a second to become ready. Tests and dev pass 10 and 100: ready in
	// about 70 ms, and leases as short as one second (etcd's least lease TTL
	// is 1.5 election timeouts, rounded up to a second).
	TickMs, ElectionMs uint
	Logger             *slog.Logger // our own lines; etcd's zap logger is silenced
}

// Embedded is a running embedded etcd.
type Embedded struct {
	etcd      *embed.Etcd
	logger    *slog.Logger
	closeOnce sync.Once
}

// embeddedMaxTxnOps raises etcd's limit on operations per transaction (128)
// so CreateTopic can write a topic with that many partitions and more in
// one transaction. An external etcd needs --max-txn-ops to match.
const embeddedMaxTxnOps = 4096

// startTimeout bounds the wait for the embedded member to become ready.
const startTimeout = 60 * time.Second

// StartEmbedded starts a single-member etcd listening on loopback only (it
// runs without TLS or auth), and returns once it serves. Its metrics go to
// the default Prometheus registry, which etcd's packages register into once
// at init, so several embedded etcds in one process are fine; Sluice's own
// metrics use a private registry.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: embedded etcd needs a data directory", ErrInvalid)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	clientURL, err := loopbackURL(cfg.ClientAddr)
	if err != nil {
		return nil, err
	}
	peerURL, err := loopbackURL(cfg.PeerAddr)
	if err != nil {
		return nil, err
	}

	ec := embed.NewConfig()
	ec.Dir = cfg.Dir
	if cfg.Name != "" {
		ec.Name = cfg.Name
	}
	if cfg.TickMs != 0 {
		ec.TickMs = cfg.TickMs
	}
	if cfg.ElectionMs != 0 {
		ec.ElectionMs = cfg.ElectionMs
	}
	// etcd logs "error" lines on a normal Close (mux: server closed, use
	// of closed network connection); keep it quiet.
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*clientURL}, []url.URL{*clientURL}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peerURL}, []url.URL{*peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.MaxTxnOps = embeddedMaxTxnOps
	// Keep an hour of history: enough for watches to resume across a
	// restart or a slow consumer, bounded so the database does not grow
	// with every partition update forever. The cache lists again if its
	// watch falls behind a compaction.
	ec.AutoCompactionMode, ec.AutoCompactionRetention = embed.CompactorModePeriodic, "1h"

	start := time.Now()
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("coord: start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("coord: start embedded etcd in %s: %w", cfg.Dir, err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, fmt.Errorf("coord: start embedded etcd in %s: stopped while starting", cfg.Dir)
	case <-time.After(startTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("coord: start embedded etcd in %s: not ready after %v", cfg.Dir, startTimeout)
	}
	m := &Embedded{etcd: e, logger: cfg.Logger}
	m.logger.Info("coord: embedded etcd ready", "dir", cfg.Dir, "endpoints", m.Endpoints(), "took", time.Since(start))
	return m, nil
}

// Endpoints returns the client endpoints etcd actually bound (so a ":0"
// port is resolved).
func (m *Embedded) Endpoints() []string {
	eps := make([]string, 0, len(m.etcd.Clients))
	for _, l := range m.etcd.Clients {
		eps = append(eps, "http://"+l.Addr().String())
	}
	return eps
}

// Close stops the member; its data stays in Dir. etcd lets open client
// streams (watches, lease keepalives) finish for up to its request timeout
// (5 s + 2 election timeouts) before cutting them, so for a quick stop
// close the coordinators and clients first. Close is idempotent.
func (m *Embedded) Close() error {
	m.closeOnce.Do(func() {
		start := time.Now()
		m.etcd.Close()
		<-m.etcd.Server.StopNotify()
		m.logger.Info("coord: embedded etcd stopped", "took", time.Since(start))
	})
	return nil
}

func loopbackURL(addr string) (*url.URL, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: embedded etcd address %q: %v", ErrInvalid, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: embedded etcd address %q is not loopback (it has no TLS or auth)", ErrInvalid, addr)
	}
	return &url.URL{Scheme: "http", Host: addr}, nil
}

// defaultDialTimeout is Dial's timeout when given none.
const defaultDialTimeout = 5 * time.Second

// Dial connects a client to etcd and checks that the cluster answers a
// linearizable read within dialTimeout (0: 5 s). The client's own logging is
// silenced; the coordinator logs what matters through slog. dialOpts are
// added to the client's gRPC options (the broker's dialer binding its
// source IP).
func Dial(endpoints []string, dialTimeout time.Duration, dialOpts ...grpc.DialOption) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no etcd endpoints", ErrInvalid)
	}
	if dialTimeout <= 0 {
		dialTimeout = defaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		// Notice a dead connection (a peer that vanished without a
		// FIN) in seconds rather than at TCP timeouts. etcd allows
		// pings every 5 s by default.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Logger:               zap.NewNop(),
		// Reconnect within a couple of seconds once etcd is back (a
		// restart of the embedded member, a rolling restart of the
		// cluster), instead of gRPC's default backoff of up to 2 min.
		DialOptions: append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: dialTimeout,
		})}, dialOpts...),
	})
	if err != nil {
		return nil, fmt.Errorf("coord: dial etcd %v: %w", endpoints, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, "health", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v: %w", dialTimeout, err)
		}
		return nil, fmt.Errorf("coord: dial etcd %v: %w", endpoints, err)
	}
	return cli, nil
}
