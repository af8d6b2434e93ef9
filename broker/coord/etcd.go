package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Etcd is the Coordinator over an etcd cluster. It keeps a cache of
// everything under its prefix (etcd_cache.go), registers brokers on leases
// it renews itself (etcd_session.go), and elects the controller with
// clientv3/concurrency.
type Etcd struct {
	cli    *clientv3.Client
	keys   keys
	view   view
	logger *slog.Logger

	// ctx is cancelled by Close and Halt; it is the parent of the watch,
	// of every session's keepalive loop, of the concurrency sessions that
	// hold election keys, and of background revokes.
	ctx    context.Context
	cancel context.CancelFunc
	// watchCtx is ctx with the require-leader metadata: the watch and
	// RequestProgress must use the same metadata to share a gRPC stream.
	watchCtx context.Context
	wg       sync.WaitGroup

	mu   sync.Mutex
	snap *Snapshot
	// changed is closed when the content of snap changes; advanced when
	// snap is replaced at all (including a bare revision advance).
	changed, advanced chan struct{}
	closed            bool
	sessions          map[*etcdSession]struct{}
	// abandoned holds leases of sessions this coordinator ended without a
	// confirmed revoke; Register may take brokers/<id> over from them.
	abandoned map[clientv3.LeaseID]struct{}
}

var _ Coordinator = (*Etcd)(nil)
var _ Halter = (*Etcd)(nil)

// NewEtcd loads everything under prefix (DefaultPrefix(cluster), say) and
// keeps it cached by watching. It creates the cluster id if this is the
// first coordinator of the cluster. cli stays the caller's: Close does not
// close it. logger may be nil.
func NewEtcd(ctx context.Context, cli *clientv3.Client, prefix string, logger *slog.Logger) (*Etcd, error) {
	prefix = normalizePrefix(prefix)
	if prefix == "" {
		return nil, fmt.Errorf("%w: empty key prefix", ErrInvalid)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Etcd{
		cli:       cli,
		keys:      keys{prefix: prefix},
		view:      view{prefix: prefix, logger: logger},
		logger:    logger,
		changed:   make(chan struct{}),
		advanced:  make(chan struct{}),
		sessions:  map[*etcdSession]struct{}{},
		abandoned: map[clientv3.LeaseID]struct{}{},
	}

	// The first writer wins; everyone else reads its id in the listing.
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	k := c.keys.clusterID()
	_, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, hex.EncodeToString(id))).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("coord: create cluster id: %w", err)
	}
	get, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("coord: load %s: %w", prefix, err)
	}
	c.snap = c.view.load(get.Header.Revision, kvEvents(get.Kvs))

	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.watchCtx = clientv3.WithRequireLeader(c.ctx)
	c.wg.Add(1)
	go c.run(get.Header.Revision)
	return c, nil
}

// Close closes (revokes) every session of this coordinator, ends its
// leaderships and stops the watch. It does not close the client.
func (c *Etcd) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	sessions := make([]*etcdSession, 0, len(c.sessions))
	for s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()

	var errs []error
	for _, s := range sessions {
		errs = append(errs, s.Close())
	}
	c.cancel()
	c.wg.Wait()
	return errors.Join(errs...)
}

// Halt stops the coordinator as if its process had frozen: keepalives stop
// (its own and the election sessions'), nothing is revoked, Lost is not
// closed. Leases then expire in etcd after their TTL. For fault tests.
func (c *Etcd) Halt() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (c *Etcd) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// Campaign implements Coordinator.
func (c *Etcd) Campaign(ctx context.Context, s Session, id int32) (Leadership, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	es, ok := s.(*etcdSession)
	if !ok || es.c != c {
		return nil, fmt.Errorf("%w: session of another coordinator", ErrInvalid)
	}
	if es.isLost() {
		return nil, ErrSessionLost
	}
	// The concurrency session reuses the broker's lease, so the election
	// key dies with the registration. It also runs clientv3's own
	// KeepAlive on that lease; that only ever extends the lease, so the
	// session's deadline (computed from its own renewals) stays safe.
	cs, err := concurrency.NewSession(c.cli, concurrency.WithLease(es.id), concurrency.WithContext(c.ctx))
	if err != nil {
		return nil, fmt.Errorf("coord: campaign: %w", err)
	}
	e := concurrency.NewElection(cs, c.keys.controllerDir())

	cctx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	go func() {
		select {
		case <-es.lost:
		case <-cs.Done():
		case <-stop:
		}
		cancel()
	}()
	err = e.Campaign(cctx, strconv.FormatInt(int64(id), 10))
	close(stop)
	cancel()
	if err == nil && es.isLost() {
		_ = e.Resign(c.ctx)
		err = ErrSessionLost
	}
	if err != nil {
		cs.Orphan()
		switch {
		case es.isLost():
			return nil, ErrSessionLost
		case c.checkOpen() != nil:
			return nil, ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("coord: campaign: %w", err)
	}

	l := &etcdLeadership{c: c, s: es, cs: cs, e: e, key: e.Key(), rev: e.Rev(), done: make(chan struct{})}
	if !c.background(l.watch) {
		l.lose()
		cs.Orphan()
		return nil, ErrClosed
	}
	return l, nil
}

// etcdLeadership is an elected concurrency.Election.
type etcdLeadership struct {
	c   *Etcd
	s   *etcdSession
	cs  *concurrency.Session
	e   *concurrency.Election
	key string // the election key, prefix/controller/<lease hex>
	rev int64  // its create revision

	once sync.Once
	done chan struct{}
}

func (l *etcdLeadership) Done() <-chan struct{} { return l.done }
func (l *etcdLeadership) Epoch() int64          { return l.rev }

// fence is the comparison every controller write carries: the election key
// still exists with the create revision it had when we won. A deposed
// controller's key is gone (lease expired, resigned), and a key created
// again later has a new create revision, so its writes fail.
func (l *etcdLeadership) fence() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(l.key), "=", l.rev)
}

func (l *etcdLeadership) lose() { l.once.Do(func() { close(l.done) }) }

func (l *etcdLeadership) lost() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Resign implements Leadership. Done is closed (and writes refused) before
// the key is deleted, so no write of ours can land after the next
// controller is elected.
func (l *etcdLeadership) Resign(ctx context.Context) error {
	l.lose()
	err := l.e.Resign(ctx)
	l.cs.Orphan()
	if err != nil {
		return fmt.Errorf("coord: resign: %w", err)
	}
	return nil
}

// watch closes Done when the controllership ends: the broker session ends,
// the election session's keepalive stops, the coordinator stops, or the
// cache shows the election key gone (deleted by hand, or expired before
// the session noticed).
func (l *etcdLeadership) watch() {
	defer l.cs.Orphan()
	defer l.lose()
	for {
		snap, changed := l.c.current()
		if snap.Revision >= l.rev && !snap.hasElectionKey(l.key) {
			return
		}
		select {
		case <-changed:
		case <-l.done:
			return
		case <-l.s.lost:
			return
		case <-l.cs.Done():
			return
		case <-l.c.ctx.Done():
			return
		}
	}
}

// commit runs the transaction If(cmps) Then(then) Else(els), inside a
// transaction on l's fence when l != nil, so the outcome tells a deposed
// controller (ErrNotController) from a failed comparison (ok == false).
// resps are the responses of the branch taken; rev the revision after it.
func (c *Etcd) commit(ctx context.Context, l Leadership, cmps []clientv3.Cmp, then, els []clientv3.Op) (ok bool, resps []*pb.ResponseOp, rev int64, err error) {
	if err := c.checkOpen(); err != nil {
		return false, nil, 0, err
	}
	if l == nil {
		resp, err := c.cli.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
		if err != nil {
			return false, nil, 0, err
		}
		return resp.Succeeded, resp.Responses, resp.Header.Revision, nil
	}
	el, isEtcd := l.(*etcdLeadership)
	if !isEtcd || el.c.keys != c.keys {
		return false, nil, 0, fmt.Errorf("%w: leadership of another coordinator", ErrInvalid)
	}
	if el.lost() {
		return false, nil, 0, ErrNotController
	}
	resp, err := c.cli.Txn(ctx).If(el.fence()).Then(clientv3.OpTxn(cmps, then, els)).Commit()
	if err != nil {
		return false, nil, 0, err
	}
	if !resp.Succeeded {
		el.lose()
		return false, nil, 0, ErrNotController
	}
	inner := resp.Responses[0].GetResponseTxn()
	return inner.Succeeded, inner.Responses, resp.Header.Revision, nil
}

// CreateTopic implements Coordinator. The topic key and all partition
// keys go in one transaction, so etcd's max-txn-ops (128 by default,
// raised by StartEmbedded) bounds the partitions per topic to one less.
func (c *Etcd) CreateTopic(ctx context.Context, l Leadership, spec TopicSpec, parts []PartitionState) (int64, error) {
	if err := checkNewTopic(spec, parts); err != nil {
		return 0, err
	}
	tk := c.keys.topic(spec.Name)
	spec.Configs = maps.Clone(spec.Configs)
	then := []clientv3.Op{clientv3.OpPut(tk, string(encode(spec)))}
	for i, st := range parts {
		then = append(then, clientv3.OpPut(c.keys.partition(spec.Name, int32(i)), string(encode(st))))
	}
	ok, _, rev, err := c.commit(ctx, l, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(tk), "=", 0)}, then, nil)
	switch {
	case err != nil:
		return 0, fmt.Errorf("coord: create topic %q: %w", spec.Name, err)
	case !ok:
		return 0, fmt.Errorf("coord: create topic %q: %w", spec.Name, ErrTopicExists)
	}
	return rev, nil
}

// DeleteTopic implements Coordinator.
func (c *Etcd) DeleteTopic(ctx context.Context, l Leadership, name string) (int64, error) {
	if err := checkTopicName(name); err != nil {
		return 0, err
	}
	tk := c.keys.topic(name)
	ok, _, rev, err := c.commit(ctx, l,
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(tk), ">", 0)},
		[]clientv3.Op{clientv3.OpDelete(tk), clientv3.OpDelete(c.keys.partitionsOf(name), clientv3.WithPrefix())},
		nil)
	switch {
	case err != nil:
		return 0, fmt.Errorf("coord: delete topic %q: %w", name, err)
	case !ok:
		return 0, fmt.Errorf("coord: delete topic %q: %w", name, ErrUnknownTopic)
	}
	return rev, nil
}

// UpdateTopicConfigs implements Coordinator. It reads the topic to keep
// the rest of its spec, and writes with a CAS on the revision it read;
// with expectRevision 0 it retries when it loses that race.
func (c *Etcd) UpdateTopicConfigs(ctx context.Context, l Leadership, name string, configs map[string]string, expectRevision int64) (int64, error) {
	if err := checkTopicName(name); err != nil {
		return 0, err
	}
	tk := c.keys.topic(name)
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("coord: update configs of topic %q: %w", name, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		get, err := c.cli.Get(ctx, tk)
		if err != nil {
			return fail(err)
		}
		if len(get.Kvs) == 0 {
			return fail(ErrUnknownTopic)
		}
		kv := get.Kvs[0]
		if expectRevision != 0 && kv.ModRevision != expectRevision {
			return fail(ErrConflict)
		}
		var spec TopicSpec
		if err := json.Unmarshal(kv.Value, &spec); err != nil {
			return fail(err)
		}
		spec.Name, spec.Configs = name, maps.Clone(configs)
		ok, resps, rev, err := c.commit(ctx, l,
			[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(tk), "=", kv.ModRevision)},
			[]clientv3.Op{clientv3.OpPut(tk, string(encode(spec)))},
			[]clientv3.Op{clientv3.OpGet(tk, clientv3.WithCountOnly())})
		switch {
		case err != nil:
			return fail(err)
		case ok:
			return rev, nil
		case resps[0].GetResponseRange().Count == 0:
			return fail(ErrUnknownTopic)
		case expectRevision != 0:
			return fail(ErrConflict)
		}
	}
}

// UpdatePartition implements Coordinator.
func (c *Etcd) UpdatePartition(ctx context.Context, l Leadership, st PartitionState) (int64, error) {
	if err := checkPartition(st); err != nil {
		return 0, err
	}
	tk, pk := c.keys.topic(st.Topic), c.keys.partition(st.Topic, st.Partition)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(pk), "=", st.Revision)}
	if st.Revision == 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(tk), ">", 0))
	}
	ok, resps, rev, err := c.commit(ctx, l, cmps,
		[]clientv3.Op{clientv3.OpPut(pk, string(encode(st)))},
		[]clientv3.Op{clientv3.OpGet(tk, clientv3.WithCountOnly())})
	switch {
	case err != nil:
		return 0, fmt.Errorf("coord: update partition %s/%d: %w", st.Topic, st.Partition, err)
	case ok:
		return rev, nil
	case resps[0].GetResponseRange().Count == 0:
		return 0, fmt.Errorf("coord: update partition %s/%d: %w", st.Topic, st.Partition, ErrUnknownTopic)
	}
	return 0, fmt.Errorf("coord: update partition %s/%d at revision %d: %w", st.Topic, st.Partition, st.Revision, ErrConflict)
}

// NextProducerID implements Coordinator: a CAS increment of
// producers/next-id, which holds the last id allocated.
func (c *Etcd) NextProducerID(ctx context.Context) (int64, error) {
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	k := c.keys.nextProducerID()
	fail := func(err error) (int64, error) { return 0, fmt.Errorf("coord: allocate producer id: %w", err) }
	get, err := c.cli.Get(ctx, k)
	if err != nil {
		return fail(err)
	}
	kvs := get.Kvs
	for {
		var last, modRev int64
		if len(kvs) > 0 {
			if last, err = strconv.ParseInt(string(kvs[0].Value), 10, 64); err != nil {
				return fail(err)
			}
			modRev = kvs[0].ModRevision
		}
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
			Then(clientv3.OpPut(k, strconv.FormatInt(last+1, 10))).
			Else(clientv3.OpGet(k)).
			Commit()
		if err != nil {
			return fail(err)
		}
		if resp.Succeeded {
			return last + 1, nil
		}
		kvs = resp.Responses[0].GetResponseRange().Kvs
	}
}

// attemptTimeout bounds one background attempt (revoke, relist).
const attemptTimeout = 5 * time.Second
