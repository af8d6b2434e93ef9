package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/replication"
)

// role is what this broker is for one partition.
type role int

const (
	roleNone role = iota
	roleLeader
	roleFollower
)

func (r role) String() string {
	switch r {
	case roleLeader:
		return "leader"
	case roleFollower:
		return "follower"
	}
	return "none"
}

// replicaState is one consistent view of a partition replica, replaced as a
// whole (never mutated) so handlers read it without holding locks while
// they work. The driver publishes one after every replication Ready.
type replicaState struct {
	role        role
	leader      int32
	leaderEpoch int32
	replicas    []int32
	// isr is the controller's ISR as the replica applied it (the leader's
	// applied ISR; the metadata's on a follower).
	isr []int32
	// Invariant: logStartOffset <= highWatermark <= logEndOffset.
	highWatermark int64
	// minISRSatisfied (leader): acks=all may append (ModeISR: |ISR| >=
	// min.insync.replicas; ModeQuorum: a majority caught up).
	minISRSatisfied bool
	// eligible: may be elected leader (the unclean-restart rule).
	eligible bool
	// epochStartOffset (leader): where this leader's epoch begins in the
	// log. Until the high watermark reaches it, the high watermark may be
	// below one an earlier leader already exposed (a follower learns the
	// high watermark one fetch late), so it is not served (hwReadable).
	epochStartOffset int64
	// followers are the leader's view of its followers' ends, for
	// durability receipts.
	followers []followerEnds
	settings  topicSettings
	// changed is closed when this state is replaced: waiters for the high
	// watermark or for a leadership change select on it.
	changed chan struct{}
}

// followerEnds is what the leader knows a follower holds (log end) and has
// synced (durable end) in the current epoch.
type followerEnds struct {
	id                 int32
	logEnd, durableEnd int64
}

// partition is one partition replica hosted by this broker: its log and the
// driver goroutine that owns its replication state machine
// (replication.Node; the loop is the one replication/doc.go writes out).
//
// The driver is the only goroutine that touches the node. It wakes on log
// changes (appends, syncs), ticks, commands (metadata from the controller,
// follower fetches arriving on the data plane) and fetch replies from the
// leader, steps the node, carries out its Ready in order (truncate, persist
// the epoch cache, send, publish) and publishes a new replicaState.
type partition struct {
	b       *Broker
	topic   string
	id      int32
	topicID string
	dir     string
	self    int32
	log     *engine.Log
	logger  *slog.Logger
	// producers is the idempotent-producer table (producers.go). Replaced
	// (by the driver, under mu) when a truncation invalidates it.
	producers *producerTable

	mu    sync.Mutex
	state *replicaState

	// Driver-owned.
	node *replication.Node
	// view is the node's LogStore: the log's offsets read as one
	// consistent triple, refreshed by the driver before each Step, Tick
	// and Advance (appenders move the log concurrently; reading the three
	// offsets separately could see a durable end beyond the log end).
	view    logView
	cfg     replicaTiming
	waiters map[int32]replicaWaiter
	fetcher *fetcher
	// appendRetryAt (unix ns) holds the next replica fetch back after
	// the local append failed (disk full): refetching at once only spins.
	appendRetryAt atomic.Int64
	// appendWarned is when the last append failure was logged (driver
	// goroutine only): one line per storageWarnEvery, not per retry.
	appendWarned time.Time
	// proposing: an ISR proposal is being written to etcd.
	proposing      bool
	hwCheckpointed int64
	hwCheckpointAt time.Time
	// markedEpoch is the last epoch this replica wrote its leader-change
	// marker in (leader_marker.go).
	markedEpoch int32

	// metaRev and metaSession are the partition key revision and the
	// broker registration last applied (reconcile's bookkeeping).
	metaRev, metaSession atomic.Int64

	cmds    chan func()
	replies chan fetchResult
	stop    chan struct{}
	done    chan struct{}
}

// logView is a consistent snapshot of the log's offsets (see
// partition.view).
type logView struct {
	log                 *engine.Log
	start, end, durable int64
}

func (v *logView) refresh() { v.start, v.end, v.durable = v.log.Offsets() }

func (v *logView) LogStartOffset() int64   { return v.start }
func (v *logView) LogEndOffset() int64     { return v.end }
func (v *logView) DurableEndOffset() int64 { return v.durable }

// replicaWaiter is a follower fetch waiting on the data plane for the
// node's reply (it may be parked in the node until there is data).
type replicaWaiter struct {
	seq uint64
	ch  chan replication.FetchReply
}

// Metadata files of the replication state in the partition directory.
const (
	epochCacheMeta    = "leader-epoch-checkpoint"
	highWatermarkMeta = "high-watermark"
	// hwCheckpointEvery bounds how stale the high-watermark checkpoint may
	// be: a restarted replica uses it only as a floor (Kafka checkpoints
	// every 5 s too).
	hwCheckpointEvery = 5 * time.Second
)

// newPartition starts the replica's driver; refetch says its log was just
// emptied (quarantined): it may not lead before it has caught up.
func newPartition(b *Broker, topic string, id int32, topicID, dir string, log *engine.Log, producers *producerTable, settings topicSettings, refetch bool) (*partition, error) {
	p := &partition{
		markedEpoch: -1,
		b:           b, topic: topic, id: id, topicID: topicID, dir: dir, self: b.cfg.ID, log: log, producers: producers,
		view:    logView{log: log},
		logger:  b.logger.With("topic", topic, "partition", id),
		state:   &replicaState{role: roleNone, leader: -1, leaderEpoch: -1, settings: settings, changed: make(chan struct{})},
		cfg:     b.replicaTiming(),
		waiters: map[int32]replicaWaiter{},
		cmds:    make(chan func()),
		replies: make(chan fetchResult, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	node, hw, err := p.newNode(settings, refetch)
	if err != nil {
		return nil, err
	}
	p.node, p.hwCheckpointed = node, hw
	p.state.highWatermark = min(max(hw, log.LogStartOffset()), log.LogEndOffset())
	st := node.Status()
	p.state.eligible = st.Eligible
	if !st.Eligible {
		p.logger.Warn("replica restarted without a clean shutdown and sync.policy is not always, or was quarantined: not leader-eligible until caught up")
	}
	go p.drive()
	return p, nil
}

// newNode builds the replication node from the log and its checkpoints.
func (p *partition) newNode(s topicSettings, refetch bool) (*replication.Node, int64, error) {
	cache, err := loadEpochCache(p.log)
	if err != nil {
		return nil, 0, err
	}
	hw := int64(0)
	if data, err := p.log.ReadMeta(highWatermarkMeta); err == nil && len(data) == 8 {
		hw = int64(binary.BigEndian.Uint64(data))
	}
	mode := replication.ModeISR
	if s.quorum {
		mode = replication.ModeQuorum
	}
	syncAlways := s.sync.Mode == engine.SyncAlways
	cfg := p.cfg.nodeConfig(s)
	cfg.ID = replication.BrokerID(p.self)
	cfg.Mode = mode
	cfg.UncleanRestart = !p.log.OpenedClean() && !syncAlways || refetch
	p.view.refresh()
	cfg.Store = &p.view
	cfg.HighWatermark = hw
	cfg.EpochCache = cache
	return replication.NewNode(cfg), hw, nil
}

// snapshot returns the current state.
func (p *partition) snapshot() *replicaState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// producerTable returns the current idempotent-producer table.
func (p *partition) producerTable() *producerTable {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.producers
}

// publish replaces the state; only the driver calls it.
func (p *partition) publish(next replicaState) {
	next.changed = make(chan struct{})
	p.mu.Lock()
	old := p.state
	p.state = &next
	p.mu.Unlock()
	close(old.changed)
}

// drive is the partition's driver loop.
func (p *partition) drive() {
	defer close(p.done)
	defer p.stopFetcher()
	ticker := time.NewTicker(p.cfg.tick)
	defer ticker.Stop()
	for {
		// Take the change channel, then let the node read the log: an
		// append landing after the read closes this channel and wakes the
		// loop (taking it after the read could miss it until the next
		// tick, delaying the high watermark and acks=all by up to a tick).
		logChanged := p.log.Changed()
		p.step(replication.LocalLogChanged{})
		p.handleReady()
		select {
		case <-logChanged:
		case <-ticker.C:
			p.view.refresh()
			p.node.Tick()
			p.maybeCheckpointHW(false)
		case r := <-p.replies:
			p.applyFetchResult(r)
		case cmd := <-p.cmds:
			cmd()
		case <-p.stop:
			p.releaseWaiters()
			return
		}
		p.handleReady()
	}
}

// step feeds the node one message; a refused message is logged (it is
// stale or from a replica the node does not know).
func (p *partition) step(m replication.Message) {
	p.view.refresh()
	if err := p.node.Step(m); err != nil {
		p.logger.Debug("replication message refused", "msg", m, "err", err)
	}
}

// handleReady carries out everything the node asks, in doc.go's order.
func (p *partition) handleReady() {
	for p.node.HasReady() {
		rd := p.node.Ready()
		// (1) Truncate first: everything after assumes the cut log.
		if t := rd.Truncate; t != nil {
			if err := p.truncate(*t); err != nil {
				// The log is poisoned or closed; the node must not be told
				// the truncation happened. Stop driving: the partition
				// refuses everything until the broker restarts it.
				p.logger.Error("cannot truncate the log", "truncation", t, "err", err)
				return
			}
		}
		// (2) Persist the epoch cache before any batch of a new epoch.
		if rd.EpochCache != nil {
			data, _ := rd.EpochCache.MarshalBinary()
			if err := p.log.WriteMeta(epochCacheMeta, data); err != nil {
				p.logger.Error("cannot persist the leader-epoch cache", "err", err)
				return
			}
		}
		// (3) Send.
		for _, m := range rd.Messages {
			p.send(m)
		}
		// (4) Publish.
		p.publishReady(rd)
		// (5) A new quorum leader writes its epoch's first record.
		p.markLeadership(rd)
		p.view.refresh()
		p.node.Advance(rd)
	}
}

func (p *partition) truncate(t replication.Truncation) error {
	var err error
	if t.Fully {
		err = p.log.TruncateFullyAndStartAt(t.Offset)
	} else {
		err = p.log.TruncateTo(t.Offset)
	}
	if err != nil {
		return err
	}
	p.logger.Info("log truncated to follow the leader", "truncation", t.String())
	// The producer table may describe batches that are gone: rebuild it
	// from the log (and never trust the last snapshot for them again).
	_ = p.log.WriteMeta(producerStateMeta, []byte("invalidated by truncation"))
	table, err := loadProducers(p.log)
	if err != nil {
		p.logger.Warn("cannot rebuild producer state after truncation", "err", err)
		table = newProducerTable()
	}
	p.mu.Lock()
	p.producers = table
	p.mu.Unlock()
	return nil
}

func (p *partition) send(m replication.Message) {
	switch m := m.(type) {
	case replication.FetchReply:
		if w, ok := p.waiters[int32(m.To)]; ok && w.seq == m.Seq {
			delete(p.waiters, int32(m.To))
			w.ch <- m // buffered
		}
	case replication.FetchRequest:
		p.startFetcher().request(m)
	case replication.ISRProposal:
		p.proposeISR(m)
	}
}

func (p *partition) publishReady(rd replication.Ready) {
	st := p.snapshot()
	next := *st
	switch rd.Role {
	case replication.RoleLeader:
		next.role = roleLeader
	case replication.RoleFollower:
		next.role = roleFollower
	default:
		next.role = roleNone
	}
	if rd.Role != replication.RoleFollower {
		p.stopFetcher()
	}
	next.leader, next.leaderEpoch = int32(rd.Leader), int32(rd.Epoch)
	next.highWatermark = rd.HighWatermark
	next.eligible = rd.Eligible
	status := p.node.Status()
	next.replicas, next.isr = brokerIDs(status.Replicas), brokerIDs(status.ISR)
	next.minISRSatisfied = rd.MinISRSatisfied
	next.epochStartOffset = -1
	if rd.Role == replication.RoleLeader {
		for _, e := range status.EpochCache {
			if e.Epoch == rd.Epoch {
				next.epochStartOffset = e.StartOffset
			}
		}
	}
	if !st.settings.quorum {
		// min.insync.replicas may change at run time; the node's copy
		// follows it (reconfigure), this is the same rule.
		next.minISRSatisfied = rd.Role == replication.RoleLeader && len(next.isr) >= st.settings.minISR
	}
	next.followers = next.followers[:0:0]
	for _, f := range status.Followers {
		if f.Fetched {
			next.followers = append(next.followers, followerEnds{id: int32(f.ID), logEnd: f.LogEndOffset, durableEnd: f.DurableEndOffset})
		}
	}
	if next.role != st.role || next.leaderEpoch != st.leaderEpoch {
		p.logger.Info("partition role", "role", next.role, "leaderEpoch", next.leaderEpoch, "leader", next.leader)
	}
	p.publish(next)
	if rd.HighWatermark > p.hwCheckpointed && time.Since(p.hwCheckpointAt) >= hwCheckpointEvery {
		p.maybeCheckpointHW(true)
	}
}

// maybeCheckpointHW writes the high watermark when it moved (force) or
// when the last checkpoint is older than hwCheckpointEvery.
func (p *partition) maybeCheckpointHW(force bool) {
	hw := p.snapshot().highWatermark
	if hw == p.hwCheckpointed || (!force && time.Since(p.hwCheckpointAt) < hwCheckpointEvery) {
		return
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(hw))
	if err := p.log.WriteMeta(highWatermarkMeta, buf[:]); err != nil {
		p.logger.Debug("cannot checkpoint the high watermark", "err", err)
		return
	}
	p.hwCheckpointed, p.hwCheckpointAt = hw, time.Now()
}

func brokerIDs(ids []replication.BrokerID) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

func replicationIDs(ids []int32) []replication.BrokerID {
	out := make([]replication.BrokerID, len(ids))
	for i, id := range ids {
		out[i] = replication.BrokerID(id)
	}
	return out
}

// releaseWaiters answers every follower fetch still waiting (shutdown).
func (p *partition) releaseWaiters() {
	for id, w := range p.waiters {
		w.ch <- replication.FetchReply{To: replication.BrokerID(id), Seq: w.seq, Error: replication.ErrorNotLeader, DivergingEndOffset: -1}
		delete(p.waiters, id)
	}
}

// do runs fn on the driver goroutine and waits for it.
func (p *partition) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	// The node's Ready is carried out before the caller resumes: a
	// metadata change is published (role, epoch) when do returns.
	case p.cmds <- func() { fn(); p.handleReady(); close(done) }:
	case <-p.stop:
		return errPartitionClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errPartitionClosed = errf(codeNotLeader, "partition is closing")

// applyMetadata gives the node the controller's view of the partition:
// its role in the epoch, then the ISR.
func (p *partition) applyMetadata(ctx context.Context, ps coord.PartitionState, settings topicSettings, sessionEpoch int64) error {
	return p.do(ctx, func() {
		st := p.snapshot()
		if st.settings != settings {
			next := *st
			next.settings = settings
			p.publish(next)
			p.node.Reconfigure(p.cfg.nodeConfig(settings))
		}
		replicas := replicationIDs(ps.Replicas)
		epoch := replication.Epoch(ps.LeaderEpoch)
		switch {
		case ps.Leader == p.self && ps.LeaderBrokerEpoch != 0 && ps.LeaderBrokerEpoch != sessionEpoch:
			// Elected in an earlier registration of this broker (it
			// restarted or lost its session since): it must not lead that
			// epoch again. The controller elects anew with a newer epoch.
			return
		case ps.Leader == p.self:
			p.step(replication.BecomeLeader{Epoch: epoch, Replicas: replicas, ISR: replicationIDs(ps.ISR), ISRVersion: ps.Revision})
		default:
			leader := replication.BrokerID(ps.Leader)
			if ps.Leader < 0 {
				leader = replication.NoLeader
			}
			p.step(replication.BecomeFollower{Epoch: epoch, Leader: leader, Replicas: replicas})
		}
		p.step(replication.ISRChanged{Epoch: epoch, ISR: replicationIDs(ps.ISR), Version: ps.Revision})
	})
}

// leaderFor checks that this replica leads the partition at the epoch the
// request expects (-1: any) and returns the state it checked.
func (p *partition) leaderFor(expectEpoch int32) (*replicaState, *Error) {
	st := p.snapshot()
	if st.role != roleLeader {
		e := errf(codeNotLeader, "broker %d does not lead %s-%d (leader %d)", p.self, p.topic, p.id, st.leader)
		e.Leader, e.LeaderEpoch = st.leader, st.leaderEpoch
		return nil, e
	}
	if expectEpoch >= 0 && expectEpoch != st.leaderEpoch {
		code := codeFencedEpoch
		if expectEpoch > st.leaderEpoch {
			code = codeUnknownEpoch
		}
		e := errf(code, "request for leader epoch %d, partition %s-%d is at %d", expectEpoch, p.topic, p.id, st.leaderEpoch)
		e.Leader, e.LeaderEpoch = st.leader, st.leaderEpoch
		return nil, e
	}
	return st, nil
}

// hwReadable refuses high-watermark reads (ListOffsets latest and by
// time) from a leader whose high watermark has not reached the start of
// its epoch yet: Kafka's rule (OFFSET_NOT_AVAILABLE, retryable). Served
// earlier, a new leader's high watermark — as it knew it as a follower,
// one fetch behind — could be lower than one the old leader already
// answered, and a client would see the high watermark go backwards.
func (st *replicaState) hwReadable(topic string, part int32) *Error {
	if st.role == roleLeader && st.highWatermark < st.epochStartOffset {
		return errf(codeOffsetNotAvailable, "%s-%d: leader epoch %d began at offset %d, the high watermark %d has not reached it yet", topic, part, st.leaderEpoch, st.epochStartOffset, st.highWatermark)
	}
	return nil
}

// waitCommitted waits until the high watermark passes offset, while this
// replica stays leader in the same epoch.
func (p *partition) waitCommitted(ctx context.Context, epoch int32, offset int64) *Error {
	for {
		st := p.snapshot()
		if st.role != roleLeader || st.leaderEpoch != epoch {
			e := errf(codeNotLeader, "leadership of %s-%d changed after the append (epoch %d -> %d)", p.topic, p.id, epoch, st.leaderEpoch)
			e.Leader, e.LeaderEpoch = st.leader, st.leaderEpoch
			return e.indefinite()
		}
		if st.highWatermark > offset {
			if !st.minISRSatisfied {
				// Committed with fewer replicas than acks=all promised
				// (the ISR shrank after the append): Kafka's rule.
				e := errf(codeNotEnoughAfterAppend, "%s-%d: offset %d committed while the ISR %v is below min.insync.replicas %d", p.topic, p.id, offset, st.isr, st.settings.minISR)
				return e.indefinite()
			}
			return nil
		}
		if err := p.log.Err(); err != nil {
			return errf(codeStorage, "%v", err).indefinite()
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return errf(codeTimedOut, "offset %d of %s-%d not committed in time (high watermark %d)", offset, p.topic, p.id, st.highWatermark).indefinite()
		}
	}
}

// abandon stops the driver and leaves the log as a crash would (Crash).
func (p *partition) abandon() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	_ = p.log.Abandon()
}

// close stops the driver and closes the log (a clean shutdown marker is
// written by the engine).
func (p *partition) close() error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.maybeCheckpointHW(true)
	if err := p.saveProducers(); err != nil && !errors.Is(err, engine.ErrClosed) && !errors.Is(err, engine.ErrPoisoned) {
		p.logger.Warn("cannot save producer state; it will be rebuilt from the log", "err", err)
	}
	err := p.log.Close()
	if errors.Is(err, engine.ErrClosed) {
		return nil
	}
	return err
}
