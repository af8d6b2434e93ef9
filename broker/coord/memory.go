package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the in-process twin of etcd: a shared store with revisions,
// leases and an election queue, over which every handle from Coordinator
// behaves like an Etcd coordinator on its own client. Several brokers in
// one test process each take a handle.
//
// It models etcd's data model directly (keys with create and mod
// revisions, one revision per write transaction, keys attached to leases,
// election keys ordered by create revision) and feeds the same snapshot
// code, so the two implementations differ only where etcd is remote.
//
// Leases: a live session counts as renewed continuously, so its Deadline
// is now + TTL - SafetyMargin. A lease ends by Close, by Expire or
// ExpireBroker, or, after its handle Halts (stops renewing), TTL after the
// halt: with the real clock on a timer, with a fake clock (WithNow) when
// the test calls ExpireDue.
type Memory struct {
	now       func() time.Time
	realClock bool
	keys      keys
	view      view

	mu        sync.Mutex
	rev       int64
	kvs       map[string]memKV
	leases    map[int64]*memLease
	nextLease int64
	snap      *Snapshot
	changed   chan struct{} // closed when snap's content changes
	advanced  chan struct{} // closed when snap is replaced
	// leaders holds the Leadership of each election key that won, so
	// deleting the key ends it.
	leaders map[string]*memLeadership
}

type memKV struct {
	value     []byte
	createRev int64
	modRev    int64
	lease     int64
}

type memLease struct {
	id     int64
	ttl    time.Duration
	margin time.Duration
	keys   map[string]struct{}
	// halted: renewals stopped at haltedAt (its handle halted); the lease
	// expires at haltedAt + ttl.
	halted   bool
	haltedAt time.Time
	gone     bool
	lost     chan struct{} // closed when gone
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithNow makes the store read time from now (a fake clock) instead of
// time.Now. Halted leases then expire only when the test calls ExpireDue.
func WithNow(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now, m.realClock = now, false }
}

// WithLogger sends the store's warnings (undecodable keys) to logger.
func WithLogger(logger *slog.Logger) MemoryOption {
	return func(m *Memory) { m.view.logger = logger }
}

// NewMemory returns an empty store with a cluster id.
func NewMemory(opts ...MemoryOption) *Memory {
	k := keys{prefix: DefaultPrefix("memory")}
	m := &Memory{
		now:       time.Now,
		realClock: true,
		keys:      k,
		view:      view{prefix: k.prefix, logger: slog.New(slog.DiscardHandler)},
		kvs:       map[string]memKV{},
		leases:    map[int64]*memLease{},
		snap:      emptySnapshot(),
		changed:   make(chan struct{}),
		advanced:  make(chan struct{}),
		leaders:   map[string]*memLeadership{},
	}
	for _, o := range opts {
		o(m)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	m.mu.Lock()
	m.txn(func(t *memTxn) { t.put(m.keys.clusterID(), []byte(hex.EncodeToString(id)), 0) })
	m.mu.Unlock()
	return m
}

// Coordinator returns a new handle over the store: one per broker.
func (m *Memory) Coordinator() Coordinator {
	return &memCoord{m: m, stopped: make(chan struct{}), sessions: map[*memSession]struct{}{}}
}

// Expire expires a lease now, as etcd would after its TTL: its keys are
// deleted in one revision and its session is Lost. It reports whether the
// lease was live.
func (m *Memory) Expire(leaseID int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.endLease(leaseID)
}

// ExpireBroker expires the lease holding brokers/<id>, if any.
func (m *Memory) ExpireBroker(id int32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.kvs[m.keys.broker(id)]
	return ok && m.endLease(kv.lease)
}

// ExpireDue expires every halted lease whose TTL has run out by now.
func (m *Memory) ExpireDue() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for id, l := range m.leases {
		if l.halted && !now.Before(l.haltedAt.Add(l.ttl)) {
			m.endLease(id)
		}
	}
}

// endLease deletes the lease's keys in one revision; m.mu held.
func (m *Memory) endLease(id int64) bool {
	l, ok := m.leases[id]
	if !ok {
		return false
	}
	delete(m.leases, id)
	l.gone = true
	close(l.lost)
	m.txn(func(t *memTxn) {
		for k := range l.keys {
			t.del(k)
		}
	})
	return true
}

// memTxn collects the writes of one transaction; they all get the same
// revision, as in etcd.
type memTxn struct {
	m   *Memory
	rev int64
	evs []kvEvent
}

func (t *memTxn) put(key string, value []byte, lease int64) {
	old, ok := t.m.kvs[key]
	kv := memKV{value: value, createRev: t.rev, modRev: t.rev, lease: lease}
	if ok {
		kv.createRev = old.createRev
		if old.lease != lease {
			if l := t.m.leases[old.lease]; l != nil {
				delete(l.keys, key)
			}
		}
	}
	if l := t.m.leases[lease]; l != nil {
		l.keys[key] = struct{}{}
	}
	t.m.kvs[key] = kv
	t.evs = append(t.evs, kvEvent{key: key, value: value, createRev: kv.createRev, modRev: t.rev})
}

func (t *memTxn) del(key string) {
	old, ok := t.m.kvs[key]
	if !ok {
		return
	}
	if l := t.m.leases[old.lease]; l != nil {
		delete(l.keys, key)
	}
	delete(t.m.kvs, key)
	t.evs = append(t.evs, kvEvent{key: key, modRev: t.rev, deleted: true})
}

func (t *memTxn) delPrefix(prefix string) {
	for k := range t.m.kvs {
		if strings.HasPrefix(k, prefix) {
			t.del(k)
		}
	}
}

// txn runs f as one write transaction and publishes the result; it
// returns the transaction's revision (the current one if f wrote
// nothing). m.mu held.
func (m *Memory) txn(f func(t *memTxn)) int64 {
	t := &memTxn{m: m, rev: m.rev + 1}
	f(t)
	if len(t.evs) == 0 {
		return m.rev
	}
	m.rev = t.rev
	next, changed := m.view.apply(m.snap, m.rev, t.evs)
	m.snap = next
	close(m.advanced)
	m.advanced = make(chan struct{})
	if changed {
		close(m.changed)
		m.changed = make(chan struct{})
	}
	for _, ev := range t.evs {
		if l := m.leaders[ev.key]; l != nil && ev.deleted {
			delete(m.leaders, ev.key)
			l.lose()
		}
	}
	return m.rev
}

// memCoord is one handle (one broker's coordinator) over a Memory.
type memCoord struct {
	m       *Memory
	stopped chan struct{} // closed by Close and Halt

	// guarded by m.mu
	closed   bool
	sessions map[*memSession]struct{}
}

var _ Coordinator = (*memCoord)(nil)
var _ Halter = (*memCoord)(nil)

func (c *memCoord) Snapshot() *Snapshot {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.snap
}

func (c *memCoord) Changed() <-chan struct{} {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.changed
}

func (c *memCoord) WaitRevision(ctx context.Context, rev int64) error {
	for {
		c.m.mu.Lock()
		cur, advanced, closed := c.m.snap.Revision, c.m.advanced, c.closed
		c.m.mu.Unlock()
		if cur >= rev {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("coord: wait for revision %d (store at %d): %w", rev, cur, ctx.Err())
		}
	}
}

// Sync implements Coordinator: every handle reads the one store, so the
// view is never behind.
func (c *memCoord) Sync(context.Context) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// Close closes (revokes) the handle's sessions.
func (c *memCoord) Close() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.stopped)
	for s := range c.sessions {
		c.m.endLease(s.lease.id)
	}
	clear(c.sessions)
	return nil
}

// Halt stops renewing the handle's leases, as if the broker froze; they
// expire TTL later (see Memory).
func (c *memCoord) Halt() {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.stopped)
	now := c.m.now()
	for s := range c.sessions {
		l := s.lease
		l.halted, l.haltedAt = true, now
		if c.m.realClock {
			time.AfterFunc(l.ttl, c.m.ExpireDue)
		}
	}
}

// open checks the handle is usable; m.mu held.
func (c *memCoord) open() error {
	if c.closed {
		return ErrClosed
	}
	return nil
}

func (c *memCoord) Register(ctx context.Context, info BrokerInfo, ttl time.Duration) (Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if info.ID < 0 {
		return nil, fmt.Errorf("%w: broker id %d", ErrInvalid, info.ID)
	}
	ttl = leaseTTL(ttl)
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.open(); err != nil {
		return nil, err
	}
	key := m.keys.broker(info.ID)
	if kv, ok := m.kvs[key]; ok {
		return nil, fmt.Errorf("coord: register broker %d (held by lease %x): %w", info.ID, kv.lease, ErrBrokerIDInUse)
	}
	m.nextLease++
	l := &memLease{id: m.nextLease, ttl: ttl, margin: SafetyMargin(ttl), keys: map[string]struct{}{}, lost: make(chan struct{})}
	m.leases[l.id] = l
	info.Epoch = 0
	rev := m.txn(func(t *memTxn) { t.put(key, encode(info), l.id) })
	s := &memSession{c: c, lease: l, epoch: rev}
	c.sessions[s] = struct{}{}
	return s, nil
}

type memSession struct {
	c     *memCoord
	lease *memLease
	epoch int64
}

func (s *memSession) LeaseID() int64        { return s.lease.id }
func (s *memSession) Epoch() int64          { return s.epoch }
func (s *memSession) TTL() time.Duration    { return s.lease.ttl }
func (s *memSession) Lost() <-chan struct{} { return s.lease.lost }

func (s *memSession) Deadline() time.Time {
	m := s.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.deadline()
}

// deadline: m.mu held.
func (s *memSession) deadline() time.Time {
	l := s.lease
	switch {
	case l.gone:
		return time.Time{}
	case l.halted:
		return l.haltedAt.Add(l.ttl - l.margin)
	}
	return s.c.m.now().Add(l.ttl - l.margin)
}

func (s *memSession) Valid() bool {
	m := s.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now().Before(s.deadline())
}

func (s *memSession) Close() error {
	m := s.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(s.c.sessions, s)
	m.endLease(s.lease.id)
	return nil
}

func (s *memSession) gone() bool {
	select {
	case <-s.lease.lost:
		return true
	default:
		return false
	}
}

// Campaign queues an election key for the session's lease, as
// concurrency.Election does, and waits until it has the lowest create
// revision under controller/.
func (c *memCoord) Campaign(ctx context.Context, s Session, id int32) (Leadership, error) {
	ms, ok := s.(*memSession)
	if !ok || ms.c != c {
		return nil, fmt.Errorf("%w: session of another coordinator", ErrInvalid)
	}
	m := c.m
	key := m.keys.controllerDir() + strconv.FormatInt(ms.lease.id, 16)
	m.mu.Lock()
	if err := c.open(); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if ms.gone() {
		m.mu.Unlock()
		return nil, ErrSessionLost
	}
	if _, ok := m.kvs[key]; !ok {
		m.txn(func(t *memTxn) { t.put(key, []byte(strconv.FormatInt(int64(id), 10)), ms.lease.id) })
	}
	rev := m.kvs[key].createRev
	for {
		if ms.gone() {
			m.mu.Unlock()
			return nil, ErrSessionLost
		}
		if c.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if _, ok := m.kvs[key]; !ok {
			m.mu.Unlock()
			return nil, fmt.Errorf("coord: campaign: election key %s deleted", key)
		}
		if lowestElectionKey(m.snap) == key {
			l := &memLeadership{c: c, key: key, rev: rev, done: make(chan struct{})}
			m.leaders[key] = l
			m.mu.Unlock()
			return l, nil
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-ms.lease.lost:
		case <-c.stopped:
		case <-ctx.Done():
			m.mu.Lock()
			if kv, ok := m.kvs[key]; ok && kv.createRev == rev && !c.closed {
				m.txn(func(t *memTxn) { t.del(key) })
			}
			m.mu.Unlock()
			return nil, ctx.Err()
		}
		m.mu.Lock()
	}
}

func lowestElectionKey(s *Snapshot) string {
	var key string
	var low int64
	for k, e := range s.elected {
		if low == 0 || e.createRev < low {
			key, low = k, e.createRev
		}
	}
	return key
}

type memLeadership struct {
	c    *memCoord
	key  string
	rev  int64
	once sync.Once
	done chan struct{}
}

func (l *memLeadership) Done() <-chan struct{} { return l.done }
func (l *memLeadership) Epoch() int64          { return l.rev }
func (l *memLeadership) lose()                 { l.once.Do(func() { close(l.done) }) }

func (l *memLeadership) Resign(ctx context.Context) error {
	m := l.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	l.lose()
	if kv, ok := m.kvs[l.key]; ok && kv.createRev == l.rev {
		m.txn(func(t *memTxn) { t.del(l.key) })
	}
	return nil
}

// fenced checks the handle is open and l (if any) still holds its
// election key with the create revision it won with; m.mu held.
func (c *memCoord) fenced(l Leadership) error {
	if err := c.open(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	ml, ok := l.(*memLeadership)
	if !ok || ml.c.m != c.m {
		return fmt.Errorf("%w: leadership of another coordinator", ErrInvalid)
	}
	if kv, ok := c.m.kvs[ml.key]; !ok || kv.createRev != ml.rev {
		ml.lose()
		return ErrNotController
	}
	select {
	case <-ml.done:
		return ErrNotController
	default:
		return nil
	}
}

func (c *memCoord) CreateTopic(ctx context.Context, l Leadership, spec TopicSpec, parts []PartitionState) (int64, error) {
	if err := checkNewTopic(spec, parts); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.fenced(l); err != nil {
		return 0, fmt.Errorf("coord: create topic %q: %w", spec.Name, err)
	}
	tk := m.keys.topic(spec.Name)
	if _, ok := m.kvs[tk]; ok {
		return 0, fmt.Errorf("coord: create topic %q: %w", spec.Name, ErrTopicExists)
	}
	spec.Configs = maps.Clone(spec.Configs)
	return m.txn(func(t *memTxn) {
		t.put(tk, encode(spec), 0)
		for i, st := range parts {
			t.put(m.keys.partition(spec.Name, int32(i)), encode(st), 0)
		}
	}), nil
}

func (c *memCoord) DeleteTopic(ctx context.Context, l Leadership, name string) (int64, error) {
	if err := checkTopicName(name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.fenced(l); err != nil {
		return 0, fmt.Errorf("coord: delete topic %q: %w", name, err)
	}
	tk := m.keys.topic(name)
	if _, ok := m.kvs[tk]; !ok {
		return 0, fmt.Errorf("coord: delete topic %q: %w", name, ErrUnknownTopic)
	}
	return m.txn(func(t *memTxn) {
		t.del(tk)
		t.delPrefix(m.keys.partitionsOf(name))
	}), nil
}

func (c *memCoord) UpdateTopicConfigs(ctx context.Context, l Leadership, name string, configs map[string]string, expectRevision int64) (int64, error) {
	if err := checkTopicName(name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("coord: update configs of topic %q: %w", name, err)
	}
	if err := c.fenced(l); err != nil {
		return fail(err)
	}
	tk := m.keys.topic(name)
	kv, ok := m.kvs[tk]
	switch {
	case !ok:
		return fail(ErrUnknownTopic)
	case expectRevision != 0 && kv.modRev != expectRevision:
		return fail(ErrConflict)
	}
	spec := m.snap.Topics[name].TopicSpec
	spec.Configs = maps.Clone(configs)
	return m.txn(func(t *memTxn) { t.put(tk, encode(spec), 0) }), nil
}

func (c *memCoord) UpdatePartition(ctx context.Context, l Leadership, st PartitionState) (int64, error) {
	if err := checkPartition(st); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("coord: update partition %s/%d: %w", st.Topic, st.Partition, err)
	}
	if err := c.fenced(l); err != nil {
		return fail(err)
	}
	pk := m.keys.partition(st.Topic, st.Partition)
	kv := m.kvs[pk] // zero when missing: modRev 0, as etcd compares it
	_, topicExists := m.kvs[m.keys.topic(st.Topic)]
	if kv.modRev != st.Revision || (st.Revision == 0 && !topicExists) {
		if !topicExists {
			return fail(ErrUnknownTopic)
		}
		return fail(fmt.Errorf("at revision %d: %w", st.Revision, ErrConflict))
	}
	return m.txn(func(t *memTxn) { t.put(pk, encode(st), 0) }), nil
}

func (c *memCoord) NextProducerID(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.open(); err != nil {
		return 0, err
	}
	k := m.keys.nextProducerID()
	var last int64
	if kv, ok := m.kvs[k]; ok {
		var err error
		if last, err = strconv.ParseInt(string(kv.value), 10, 64); err != nil {
			return 0, fmt.Errorf("coord: allocate producer id: %w", err)
		}
	}
	m.txn(func(t *memTxn) { t.put(k, []byte(strconv.FormatInt(last+1, 10)), 0) })
	return last + 1, nil
}
