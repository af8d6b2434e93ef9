package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/engine"
)

// Broker is one broker process: partition replicas, the gRPC server, the
// fetch data plane, the admin HTTP server, and its etcd session.
type Broker struct {
	brokerpb.UnimplementedSluiceServer

	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	cache   *engine.BlockCache

	embedded *coord.Embedded
	etcd     *clientv3.Client
	coord    coord.Coordinator

	session    atomic.Pointer[sessionBox]
	leadership atomic.Pointer[leadershipBox]

	grpcLn, dataLn, adminLn net.Listener
	grpcSrv                 *grpc.Server
	adminSrv                *http.Server
	health                  *health.Server
	data                    *dataPlane
	groups                  *groupService

	mu         sync.RWMutex
	partitions map[topicPartition]*partition
	appliedRev int64
	applied    chan struct{} // closed when appliedRev moves

	forwardMu sync.Mutex
	forward   map[string]*grpc.ClientConn

	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	shuttingDown atomic.Bool
	crashed      atomic.Bool
	// controllerWake pokes the controller loop when this broker becomes
	// the controller (buffered; a pending poke is enough).
	controllerWake chan struct{}
	stopOnce       sync.Once
	stopErr        error
}

type sessionBox struct{ s coord.Session }
type leadershipBox struct{ l coord.Leadership }

type topicPartition struct {
	topic     string
	partition int32
}

// Start brings a broker up: it binds its listeners, connects to etcd (or
// starts an embedded one), registers, and starts serving. It returns once
// the broker is registered and has applied the current metadata.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:        cfg,
		logger:     cfg.Logger.With("broker", cfg.ID),
		partitions: map[topicPartition]*partition{},
		applied:    make(chan struct{}),
		forward:    map[string]*grpc.ClientConn{},

		controllerWake: make(chan struct{}, 1),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if err := b.start(ctx); err != nil {
		_ = b.Stop(context.Background())
		return nil, err
	}
	return b, nil
}

func (b *Broker) start(ctx context.Context) error {
	var err error
	if err = b.cfg.FS.MkdirAll(b.logsDir()); err != nil {
		return fmt.Errorf("broker: data dir: %w", err)
	}
	if b.cfg.BlockCacheBytes > 0 {
		if b.cache, err = engine.NewBlockCache(b.cfg.BlockCacheBytes); err != nil {
			return err
		}
	}
	b.metrics = newMetrics(b)
	if b.grpcLn, err = net.Listen("tcp", b.cfg.Listen); err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Listen, err)
	}
	if b.dataLn, err = net.Listen("tcp", b.cfg.DataListen); err != nil {
		return fmt.Errorf("broker: data plane listen %s: %w", b.cfg.DataListen, err)
	}
	if b.adminLn, err = net.Listen("tcp", b.cfg.AdminListen); err != nil {
		return fmt.Errorf("broker: admin listen %s: %w", b.cfg.AdminListen, err)
	}
	endpoints := b.cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		ec := coord.EmbeddedConfig{Dir: filepath.Join(b.cfg.DataDir, "etcd"), ClientAddr: b.cfg.EtcdListen, Name: fmt.Sprintf("sluice-%d", b.cfg.ID), Logger: b.logger}
		if b.cfg.FastEmbeddedEtcd {
			ec.TickMs, ec.ElectionMs = 10, 100
		}
		if b.embedded, err = coord.StartEmbedded(ec); err != nil {
			return fmt.Errorf("broker: embedded etcd: %w", err)
		}
		endpoints = b.embedded.Endpoints()
		b.logger.Info("embedded etcd started", "endpoints", endpoints)
	}
	if b.etcd, err = coord.Dial(endpoints, 5*time.Second, b.cfg.grpcDialOptions()...); err != nil {
		return fmt.Errorf("broker: etcd %v: %w", endpoints, err)
	}
	if b.coord, err = coord.NewEtcd(ctx, b.etcd, "/sluice/"+b.cfg.Cluster+"/", b.logger); err != nil {
		return fmt.Errorf("broker: etcd %v: %w", endpoints, err)
	}
	s, err := b.register(ctx)
	if err != nil {
		return fmt.Errorf("broker: register broker %d: %w", b.cfg.ID, err)
	}
	b.session.Store(&sessionBox{s})
	// Serve only once the cached metadata shows this broker: until then a
	// CreateTopic here would count no live brokers.
	if err := b.waitSelfVisible(ctx); err != nil {
		return fmt.Errorf("broker: waiting to see its own registration: %w", err)
	}

	b.health = health.NewServer()
	b.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(b.cfg.MaxRequestBytes), grpc.MaxSendMsgSize(int(b.cfg.MaxFetchBytes)+(1<<20)))
	brokerpb.RegisterSluiceServer(b.grpcSrv, b)
	healthpb.RegisterHealthServer(b.grpcSrv, b.health)
	b.data = newDataPlane(b)
	b.groups = newGroupService(b)
	b.adminSrv = &http.Server{Handler: b.adminMux(), ReadHeaderTimeout: 10 * time.Second}

	b.reconcile(b.coord.Snapshot())
	b.goLoop(b.reconcileLoop)
	b.goLoop(b.groups.tickLoop)
	b.goLoop(b.controllerLoop)
	b.goLoop(b.sessionLoop)
	b.goLoop(func() { _ = b.grpcSrv.Serve(b.grpcLn) })
	b.goLoop(func() { b.data.serve(b.dataLn) })
	b.goLoop(func() { _ = b.adminSrv.Serve(b.adminLn) })
	b.awaitLeaderships(ctx)
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	b.logger.Info("broker started", "addr", b.Addr(), "data", b.DataAddr(), "admin", b.AdminAddr(),
		"advertised", b.AdvertisedAddr(), "advertisedData", b.AdvertisedDataAddr(), "sourceIP", b.cfg.SourceIP)
	return nil
}

// register takes this broker's id in etcd. After a crash the previous
// process's lease still holds the id until it expires; wait for that (up to
// two session TTLs) instead of failing, as Kafka waits for a dead broker's
// session to time out.
func (b *Broker) register(ctx context.Context) (coord.Session, error) {
	deadline := time.Now().Add(2*b.cfg.SessionTTL + time.Second)
	for {
		s, err := b.coord.Register(ctx, b.info(), b.cfg.SessionTTL)
		if err == nil || !errors.Is(err, coord.ErrBrokerIDInUse) || time.Now().After(deadline) {
			return s, err
		}
		b.logger.Info("broker id still held by a previous session; waiting for its lease to expire")
		select {
		case <-b.coord.Changed():
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// awaitLeaderships waits (bounded) until the partitions this broker led
// before it (re)started have a leader again: the controller must elect
// anew, with a new epoch, because a restarted replica never leads an epoch
// its log may already hold. Clients would retry NOT_LEADER meanwhile;
// waiting here makes a restarted broker ready when Start returns.
func (b *Broker) awaitLeaderships(ctx context.Context) {
	// Bounded: an election needs the controller (maybe this broker, once
	// its campaign wins) and one etcd write per partition; on a loaded
	// machine that can take several seconds.
	ctx, cancel := context.WithTimeout(ctx, max(2*b.cfg.SessionTTL+2*time.Second, 20*time.Second))
	defer cancel()
	for {
		changed := b.coord.Changed()
		if b.leadershipsSettled() {
			return
		}
		select {
		case <-changed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			b.logger.Warn("serving before every partition it led has a leader again", "controller", b.coord.Snapshot().Controller)
			return
		}
	}
}

func (b *Broker) leadershipsSettled() bool {
	snap := b.coord.Snapshot()
	session := b.sessionEpoch()
	for name, parts := range snap.Partitions {
		for _, ps := range parts {
			mine := ps.Leader == b.cfg.ID
			offline := ps.Leader < 0 && slices.Contains(ps.ISR, b.cfg.ID)
			if !mine && !offline {
				continue
			}
			if offline || ps.LeaderBrokerEpoch != session {
				return false
			}
			b.mu.RLock()
			p := b.partitions[topicPartition{name, ps.Partition}]
			b.mu.RUnlock()
			if p != nil {
				if st := p.snapshot(); st.role != roleLeader || st.leaderEpoch != ps.LeaderEpoch {
					return false
				}
			}
		}
	}
	return true
}

func (b *Broker) waitSelfVisible(ctx context.Context) error {
	for {
		changed := b.coord.Changed()
		if _, ok := b.coord.Snapshot().Brokers[b.cfg.ID]; ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *Broker) goLoop(fn func()) {
	b.wg.Add(1)
	go func() { defer b.wg.Done(); fn() }()
}

func (b *Broker) info() coord.BrokerInfo {
	return coord.BrokerInfo{ID: b.cfg.ID, Addr: b.AdvertisedAddr(), DataAddr: b.AdvertisedDataAddr(), AdminAddr: b.AdminAddr(), Rack: b.cfg.Rack}
}

// Addr is the bound gRPC address.
func (b *Broker) Addr() string { return addrOf(b.grpcLn) }

// DataAddr is the bound data-plane address.
func (b *Broker) DataAddr() string { return addrOf(b.dataLn) }

// AdvertisedAddr is the gRPC address registered in etcd and returned in
// metadata: Config.AdvertiseAddr, else the bound one.
func (b *Broker) AdvertisedAddr() string {
	if b.cfg.AdvertiseAddr != "" {
		return b.cfg.AdvertiseAddr
	}
	return b.Addr()
}

// AdvertisedDataAddr is the data-plane address registered in etcd:
// Config.AdvertiseDataAddr, else the bound one.
func (b *Broker) AdvertisedDataAddr() string {
	if b.cfg.AdvertiseDataAddr != "" {
		return b.cfg.AdvertiseDataAddr
	}
	return b.DataAddr()
}

// AdminAddr is the bound admin HTTP address.
func (b *Broker) AdminAddr() string { return addrOf(b.adminLn) }

// EtcdEndpoints are the endpoints this broker uses (the embedded etcd's
// when it started one), for other brokers to join.
func (b *Broker) EtcdEndpoints() []string {
	if b.embedded != nil {
		return b.embedded.Endpoints()
	}
	return b.cfg.EtcdEndpoints
}

// ID is the broker id.
func (b *Broker) ID() int32 { return b.cfg.ID }

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

func (b *Broker) logsDir() string { return filepath.Join(b.cfg.DataDir, "logs") }

// sessionValid reports whether this broker may act as a leader: its etcd
// registration is alive and will stay so until at least now.
func (b *Broker) sessionValid() bool {
	box := b.session.Load()
	return box != nil && box.s.Valid() && !b.shuttingDown.Load()
}

// sessionEpoch is the registration epoch of the current session (0 when
// there is none).
func (b *Broker) sessionEpoch() int64 {
	if box := b.session.Load(); box != nil {
		return box.s.Epoch()
	}
	return 0
}

// checkServing refuses leader work while fenced or shutting down.
func (b *Broker) checkServing() *Error {
	if b.shuttingDown.Load() {
		return errf(codeBrokerNotAvailable, "broker %d is shutting down", b.cfg.ID)
	}
	if !b.sessionValid() {
		return errf(codeBrokerNotAvailable, "broker %d lost its etcd session and is fenced", b.cfg.ID)
	}
	return nil
}

// sessionLoop keeps the broker registered: when the session is lost it
// registers again, and it campaigns for the controller role with each
// session.
func (b *Broker) sessionLoop() {
	for b.ctx.Err() == nil {
		s := b.session.Load().s
		campaignCtx, stopCampaign := context.WithCancel(b.ctx)
		done := make(chan struct{})
		go func() { defer close(done); b.campaign(campaignCtx, s) }()
		select {
		case <-s.Lost():
			b.logger.Warn("etcd session lost; registering again")
		case <-b.ctx.Done():
		}
		stopCampaign()
		<-done
		for b.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(b.ctx, b.cfg.SessionTTL)
			ns, err := b.coord.Register(ctx, b.info(), b.cfg.SessionTTL)
			cancel()
			if err == nil {
				b.session.Store(&sessionBox{ns})
				b.logger.Info("registered again", "lease", ns.LeaseID())
				break
			}
			b.logger.Warn("register failed", "err", err)
			select {
			case <-time.After(backoffDelay()):
			case <-b.ctx.Done():
			}
		}
	}
}

func backoffDelay() time.Duration { return 250 * time.Millisecond }

// campaign runs for the controller role while the session lasts.
func (b *Broker) campaign(ctx context.Context, s coord.Session) {
	for ctx.Err() == nil {
		l, err := b.coord.Campaign(ctx, s, b.cfg.ID)
		if err != nil {
			if ctx.Err() == nil {
				b.logger.Warn("controller campaign failed", "err", err)
				select {
				case <-time.After(backoffDelay()):
				case <-ctx.Done():
				}
			}
			continue
		}
		b.leadership.Store(&leadershipBox{l})
		b.logger.Info("became controller")
		select {
		case b.controllerWake <- struct{}{}:
		default:
		}
		select {
		case <-l.Done():
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.Resign(rctx)
			cancel()
		}
		b.leadership.Store(nil)
		b.logger.Info("no longer controller")
	}
}

// controller returns this broker's leadership when it is the controller.
func (b *Broker) controller() coord.Leadership {
	if box := b.leadership.Load(); box != nil {
		select {
		case <-box.l.Done():
			return nil
		default:
			return box.l
		}
	}
	return nil
}

// Stop shuts the broker down gracefully: it stops taking requests, lets
// in-flight ones finish (bounded by ShutdownTimeout and ctx), closes every
// partition (syncing it and writing the clean-shutdown marker), and
// deregisters.
func (b *Broker) Stop(ctx context.Context) error {
	b.stopOnce.Do(func() { b.stopErr = b.stop(ctx) })
	return b.stopErr
}

// Crash stops the broker the way a killed process stops, for fault tests
// of in-process clusters: the etcd session freezes first (no keepalives, no
// revoke: the lease expires on its own after its TTL), requests stop, and
// the partitions' logs are abandoned without syncing or the
// clean-shutdown marker, so a restart on the same data recovers as after a
// crash (unsynced writes survive, as the page cache does after kill -9).
func (b *Broker) Crash() {
	b.crashed.Store(true)
	if h, ok := b.coord.(coord.Halter); ok {
		h.Halt()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = b.Stop(ctx)
}

func (b *Broker) stop(ctx context.Context) error {
	b.shuttingDown.Store(true)
	if b.health != nil {
		b.health.Shutdown()
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ShutdownTimeout)
	defer cancel()
	if b.grpcSrv != nil {
		stopped := make(chan struct{})
		go func() { b.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			b.grpcSrv.Stop()
		}
	}
	if b.data != nil {
		b.data.close(ctx)
	}
	for _, l := range []net.Listener{b.grpcLn, b.dataLn, b.adminLn} {
		if l != nil {
			_ = l.Close()
		}
	}
	if b.adminSrv != nil {
		_ = b.adminSrv.Shutdown(ctx)
	}
	b.cancel()
	// The loops (reconcile above all) must be gone before the partitions
	// close, or a reconcile in progress could open one again.
	b.wg.Wait()
	var errs []error
	b.mu.Lock()
	for tp, p := range b.partitions {
		if b.crashed.Load() {
			p.abandon()
			delete(b.partitions, tp)
			continue
		}
		if err := p.close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s-%d: %w", tp.topic, tp.partition, err))
		}
		delete(b.partitions, tp)
	}
	b.mu.Unlock()
	if box := b.session.Load(); box != nil && !b.crashed.Load() {
		_ = box.s.Close()
	}
	if b.coord != nil {
		_ = b.coord.Close()
	}
	if b.etcd != nil {
		_ = b.etcd.Close()
	}
	b.forwardMu.Lock()
	for _, c := range b.forward {
		_ = c.Close()
	}
	b.forwardMu.Unlock()
	if b.embedded != nil {
		errs = append(errs, b.embedded.Close())
	}
	if b.cache != nil {
		b.cache.Close()
	}
	err := errors.Join(errs...)
	b.logger.Info("broker stopped", "err", err)
	return err
}
