package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Option configures a Client.
type Option func(*options)

type options struct {
	dialOptions []grpc.DialOption
	logger      *slog.Logger
	dataDialer  func(ctx context.Context, network, addr string) (net.Conn, error)
}

// WithDialOptions adds gRPC dial options (credentials, interceptors, …) for
// every broker connection. Without a credentials option, connections are
// plaintext.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// WithLogger sets where the client logs notable events (metadata refreshes,
// data-plane fallbacks). The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithDataPlaneDialer replaces the dialer of fetch data-plane connections,
// for tests and fault injection. The default is a net.Dialer.
func WithDataPlaneDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.dataDialer = dial }
}

// Client is a connection to a Sluice cluster: one gRPC connection per broker
// and a cache of the cluster metadata, refreshed when a broker says it is
// stale. Producers and consumers are made from it. A Client is safe for
// concurrent use.
type Client struct {
	opts      options
	bootstrap []string

	mu sync.Mutex
	// conns holds one gRPC connection per address: the bootstrap addresses
	// and each broker's BrokerInfo.addr. Connections are closed only by
	// Close, because an RPC may be running on any of them.
	conns      map[string]*grpc.ClientConn
	brokers    map[int32]*brokerpb.BrokerInfo
	topics     map[string]*brokerpb.TopicInfo
	controller int32
	// coordinators caches the coordinator address of each group used.
	coordinators map[string]string
	refreshing   chan struct{} // non-nil while a refresh runs; closed when it ends
	refreshErr   error
	closed       bool
}

// Dial connects to the cluster through any of the bootstrap addresses
// (host:port of brokers' gRPC listeners) and fetches its metadata, which
// names every broker. It fails if no bootstrap broker answers before ctx
// ends.
func Dial(ctx context.Context, bootstrap []string, opts ...Option) (*Client, error) {
	if len(bootstrap) == 0 {
		return nil, errors.New("sluice: no bootstrap addresses")
	}
	c := &Client{
		bootstrap:  append([]string(nil), bootstrap...),
		conns:      make(map[string]*grpc.ClientConn),
		brokers:    make(map[int32]*brokerpb.BrokerInfo),
		topics:     make(map[string]*brokerpb.TopicInfo),
		controller: -1,

		coordinators: make(map[string]string),
	}
	for _, o := range opts {
		o(&c.opts)
	}
	if c.opts.logger == nil {
		c.opts.logger = slog.New(slog.DiscardHandler)
	}
	if c.opts.dataDialer == nil {
		var d net.Dialer
		c.opts.dataDialer = d.DialContext
	}
	if err := c.refreshMetadata(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every broker connection. Producers and consumers made from
// the client stop working; close them first.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, cc := range c.conns {
		errs = append(errs, cc.Close())
	}
	c.conns = nil
	return errors.Join(errs...)
}

// connLocked returns the connection to addr, creating it (lazily
// connecting) if needed. c.mu must be held.
func (c *Client) connLocked(addr string) (*grpc.ClientConn, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	dopts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	dopts = append(dopts, c.opts.dialOptions...)
	cc, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("sluice: connect %s: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// brokerClient returns the gRPC client for broker id.
func (c *Client) brokerClient(id int32) (brokerpb.SluiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.brokers[id]
	if !ok {
		return nil, newError(brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, "broker %d is not in the metadata", id)
	}
	cc, err := c.connLocked(b.GetAddr())
	if err != nil {
		return nil, err
	}
	return brokerpb.NewSluiceClient(cc), nil
}

// anyAddrs lists addresses to try for a request any broker can answer: the
// controller first, then the other brokers by id, then the bootstrap
// addresses not already listed.
func (c *Client) anyAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	seen := make(map[string]bool)
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	if b, ok := c.brokers[c.controller]; ok {
		add(b.GetAddr())
	}
	ids := make([]int32, 0, len(c.brokers))
	for id := range c.brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		add(c.brokers[id].GetAddr())
	}
	for _, a := range c.bootstrap {
		add(a)
	}
	return addrs
}

// callAny runs call against brokers in anyAddrs order until one answers
// with something other than a connection failure.
func (c *Client) callAny(ctx context.Context, call func(brokerpb.SluiceClient) error) error {
	var last error
	for _, addr := range c.anyAddrs() {
		c.mu.Lock()
		cc, err := c.connLocked(addr)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		err = fromStatus(call(brokerpb.NewSluiceClient(cc)), true)
		if err == nil || Code(err) != brokerpb.ErrorCode_BROKER_NOT_AVAILABLE || ctx.Err() != nil {
			return err
		}
		last = err
	}
	if last == nil {
		last = newError(brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, "no broker to ask")
	}
	return last
}

// refreshMetadata fetches the metadata of all topics and replaces the
// cache. Concurrent callers share one request: a caller that arrives while
// a refresh runs waits for it and returns its result.
func (c *Client) refreshMetadata(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if ch := c.refreshing; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.refreshErr
		case <-ctx.Done():
			return fromStatus(ctx.Err(), false)
		}
	}
	ch := make(chan struct{})
	c.refreshing = ch
	c.mu.Unlock()

	var resp *brokerpb.MetadataResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.Metadata(ctx, &brokerpb.MetadataRequest{})
		return err
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.applyMetadataLocked(resp, true)
		c.opts.logger.Debug("sluice: metadata refreshed", "brokers", len(resp.GetBrokers()), "topics", len(resp.GetTopics()))
	}
	c.refreshErr = err
	c.refreshing = nil
	close(ch)
	return err
}

// applyMetadataLocked stores resp in the cache. all says resp describes
// every topic, so topics missing from it are gone.
func (c *Client) applyMetadataLocked(resp *brokerpb.MetadataResponse, all bool) {
	if len(resp.GetBrokers()) > 0 {
		c.brokers = make(map[int32]*brokerpb.BrokerInfo, len(resp.GetBrokers()))
		for _, b := range resp.GetBrokers() {
			c.brokers[b.GetId()] = b
		}
		c.controller = resp.GetController()
	}
	if all {
		c.topics = make(map[string]*brokerpb.TopicInfo, len(resp.GetTopics()))
	}
	for _, t := range resp.GetTopics() {
		c.topics[t.GetName()] = t
	}
}

// partitionMeta is what the client knows of a partition's leadership.
type partitionMeta struct {
	leader      int32
	leaderEpoch int32
}

// knowsTopic reports whether topic's metadata is cached.
func (c *Client) knowsTopic(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.topics[topic]
	return ok
}

// partitionCount returns the number of partitions of topic, refreshing the
// metadata once if the topic is not cached.
func (c *Client) partitionCount(ctx context.Context, topic string) (int32, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		t, ok := c.topics[topic]
		c.mu.Unlock()
		if ok {
			return int32(len(t.GetPartitions())), nil
		}
		if attempt > 0 {
			e := newError(brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, "topic %q does not exist", topic)
			e.cause = errNotInMetadata
			return 0, e
		}
		if err := c.refreshMetadata(ctx); err != nil {
			return 0, err
		}
	}
}

// leaderOf returns the cached leader of tp, refreshing the metadata once if
// tp is not cached. A partition without a leader is LEADER_NOT_AVAILABLE.
func (c *Client) leaderOf(ctx context.Context, tp TopicPartition) (partitionMeta, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		pm, found := c.lookupLocked(tp)
		c.mu.Unlock()
		if found {
			if pm.leader < 0 {
				return pm, newError(brokerpb.ErrorCode_LEADER_NOT_AVAILABLE, "%s/%d has no leader", tp.Topic, tp.Partition)
			}
			return pm, nil
		}
		if attempt > 0 {
			e := newError(brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, "%s/%d does not exist", tp.Topic, tp.Partition)
			e.cause = errNotInMetadata
			return pm, e
		}
		if err := c.refreshMetadata(ctx); err != nil {
			return pm, err
		}
	}
}

func (c *Client) lookupLocked(tp TopicPartition) (partitionMeta, bool) {
	t, ok := c.topics[tp.Topic]
	if !ok {
		return partitionMeta{leader: -1, leaderEpoch: -1}, false
	}
	for _, p := range t.GetPartitions() {
		if p.GetPartition() == tp.Partition {
			return partitionMeta{leader: p.GetLeader(), leaderEpoch: p.GetLeaderEpoch()}, true
		}
	}
	return partitionMeta{leader: -1, leaderEpoch: -1}, false
}

// brokerInfo returns the cached BrokerInfo of id.
func (c *Client) brokerInfo(id int32) (*brokerpb.BrokerInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.brokers[id]
	return b, ok
}

// handleError updates the metadata after a failed partition request: it
// applies a leader hint from a NOT_LEADER/epoch error when the hint is newer
// than the cache and names a known broker, and refreshes the whole metadata
// otherwise, for the errors that mean it is stale.
func (c *Client) handleError(ctx context.Context, tp TopicPartition, err error) {
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	switch e.Code {
	case brokerpb.ErrorCode_NOT_LEADER, brokerpb.ErrorCode_FENCED_LEADER_EPOCH, brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH:
		if e.Leader >= 0 && c.applyLeaderHint(tp, e.Leader, e.LeaderEpoch) {
			return
		}
	case brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, brokerpb.ErrorCode_LEADER_NOT_AVAILABLE,
		brokerpb.ErrorCode_BROKER_NOT_AVAILABLE:
	default:
		return
	}
	if rerr := c.refreshMetadata(ctx); rerr != nil {
		c.opts.logger.Debug("sluice: metadata refresh failed", "err", rerr)
	}
}

// applyLeaderHint records leader/epoch for tp if epoch is newer than the
// cached one and the broker is known. The cached TopicInfo is replaced, not
// modified, because callers may hold the old one.
func (c *Client) applyLeaderHint(tp TopicPartition, leader, epoch int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.brokers[leader]; !ok {
		return false
	}
	t, ok := c.topics[tp.Topic]
	if !ok {
		return false
	}
	for i, p := range t.GetPartitions() {
		if p.GetPartition() != tp.Partition {
			continue
		}
		if epoch <= p.GetLeaderEpoch() {
			return false
		}
		nt := cloneTopicInfo(t)
		np := nt.Partitions[i]
		np.Leader, np.LeaderEpoch = leader, epoch
		c.topics[tp.Topic] = nt
		return true
	}
	return false
}

// cloneTopicInfo copies t and its partitions deeply enough to change the
// partitions' leader fields.
func cloneTopicInfo(t *brokerpb.TopicInfo) *brokerpb.TopicInfo {
	nt := &brokerpb.TopicInfo{
		Name:              t.GetName(),
		ReplicationFactor: t.GetReplicationFactor(),
		Configs:           t.GetConfigs(),
		Id:                t.GetId(),
	}
	for _, p := range t.GetPartitions() {
		nt.Partitions = append(nt.Partitions, &brokerpb.PartitionInfo{
			Partition:   p.GetPartition(),
			Leader:      p.GetLeader(),
			LeaderEpoch: p.GetLeaderEpoch(),
			Replicas:    p.GetReplicas(),
			Isr:         p.GetIsr(),
			Elr:         p.GetElr(),
		})
	}
	return nt
}

// backoff returns the wait before retry attempt (0-based): base doubled per
// attempt, capped at maxBackoff, with jitter in [d/2, d].
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + randDuration(d/2)
}

const maxBackoff = 2 * time.Second

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withLeader runs call against the leader of tp, retrying retryable errors
// (after updating the metadata) up to retries times with backoff. call
// returns a raw gRPC error.
func (c *Client) withLeader(ctx context.Context, tp TopicPartition, retries int, call func(sc brokerpb.SluiceClient, pm partitionMeta) error) error {
	for attempt := 0; ; attempt++ {
		pm, err := c.leaderOf(ctx, tp)
		if err == nil {
			var sc brokerpb.SluiceClient
			if sc, err = c.brokerClient(pm.leader); err == nil {
				err = fromStatus(call(sc, pm), true)
			}
		}
		if err == nil {
			return nil
		}
		if !IsRetryable(err) || attempt >= retries || ctx.Err() != nil {
			return err
		}
		c.handleError(ctx, tp, err)
		if serr := sleep(ctx, backoff(defaultRetryBackoff, attempt)); serr != nil {
			return err
		}
	}
}

// randDuration returns a random duration in [0, d].
func randDuration(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(d) + 1))
}
