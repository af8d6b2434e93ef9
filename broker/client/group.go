package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

// Delivery is the promise a group Consumer keeps about each record
// (DESIGN.md §8).
type Delivery int

const (
	// AtLeastOnce (the default): a record's offset is committed only after
	// the application has processed it, so a crash repeats the records
	// processed since the last commit and never loses one. "Processed"
	// means: the application called Poll again (every record of the
	// previous Polls), Commit or CommitOffsets, or Process's handler
	// returned nil for it. Auto-commit, the commit on revocation and the
	// commit in Close commit only processed records.
	AtLeastOnce Delivery = iota
	// AtMostOnce: Poll commits the positions after the records it is about
	// to return before returning them, so a crash loses the records being
	// processed and never repeats one.
	AtMostOnce
	// ExactlyOnce: the application stores its output together with the
	// next offset of each partition, atomically, in its own store, and the
	// consumer starts each newly assigned partition from the position that
	// store reports (ConsumerOptions.PositionStore). With the idempotent
	// producer (the default for AcksAll) on the writing side, every record
	// takes effect once. The group's committed offsets are only a mirror,
	// for lag reporting: Commit, CommitOffsets, auto-commit and the commit
	// on revocation write them after the application reports progress.
	ExactlyOnce
)

func (d Delivery) String() string {
	switch d {
	case AtLeastOnce:
		return "at-least-once"
	case AtMostOnce:
		return "at-most-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("Delivery(%d)", int(d))
}

// ParseDelivery parses at-least-once, at-most-once or exactly-once.
func ParseDelivery(s string) (Delivery, error) {
	for _, d := range []Delivery{AtLeastOnce, AtMostOnce, ExactlyOnce} {
		if s == d.String() {
			return d, nil
		}
	}
	return 0, fmt.Errorf("delivery %q: want at-least-once, at-most-once or exactly-once", s)
}

// PositionStore is the application's side of ExactlyOnce: it stores its
// output and the next offset of each partition atomically (one database
// transaction, one file written with fsync and rename, …) and reports
// those offsets. Positions is called when partitions are assigned, before
// any of their records is fetched; a partition missing from the answer
// starts from the group's committed offset, or AutoOffsetReset without
// one. An error is retried on the next heartbeat.
type PositionStore interface {
	Positions(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error)
}

const (
	defaultAutoCommitInterval = 5 * time.Second
	// maxRevokeWait bounds how long a revocation waits for the application
	// to finish the records it holds of the revoked partitions, when no
	// RebalanceTimeout is set (the coordinator's default is 5 minutes).
	maxRevokeWait     = 30 * time.Second
	groupCallTimeout  = 15 * time.Second
	staleCommitWait   = 10 * time.Second
	closeCommitTimout = 15 * time.Second
)

// groupMember is the consumer-group side of a Consumer. Its fields are
// guarded by Consumer.mu unless noted.
type groupMember struct {
	co    *Consumer
	group string

	memberID string
	epoch    int32
	topics   []string
	target   []TopicPartition // the last assignment received
	// owned is what the member reports as owned: the partitions of its
	// last assignment it has taken on, plus those it is still revoking.
	owned map[TopicPartition]bool
	// uninit are owned partitions whose start position is still to be
	// looked up; they are not fetched yet.
	uninit map[TopicPartition]bool
	// processed is, per partition, the offset up to which the application
	// has processed what Poll returned: what AtLeastOnce commits.
	processed map[TopicPartition]int64
	// committed is the last offset committed per partition by this member.
	committed map[TopicPartition]int64
	fatal     error // a non-retryable heartbeat error, reported by Poll
	hbGen     uint64
	closing   bool
	cond      *sync.Cond // on Consumer.mu: processed, hbGen or closing changed

	commitMu sync.Mutex // one commit at a time; revocations hold it while committing

	wake     chan struct{} // buffered(1): heartbeat now
	assigned chan struct{} // buffered(1): partitions became fetchable
	stop     chan struct{}
	done     chan struct{}
	started  bool

	asyncMu     sync.Mutex // guards sending on and closing async
	asyncClosed bool
	async       chan asyncCommit
	asyncDone   chan struct{}
	autoStop    chan struct{}
	autoDone    chan struct{}

	freezeMu sync.Mutex
	thaw     chan struct{} // non-nil while frozen (test hook)
}

type asyncCommit struct {
	offsets map[TopicPartition]int64
	done    func(map[TopicPartition]int64, error)
}

func newGroupMember(co *Consumer) *groupMember {
	g := &groupMember{
		co:        co,
		group:     co.opts.Group,
		topics:    slices.Clone(co.opts.Topics),
		owned:     make(map[TopicPartition]bool),
		uninit:    make(map[TopicPartition]bool),
		processed: make(map[TopicPartition]int64),
		committed: make(map[TopicPartition]int64),
		wake:      make(chan struct{}, 1),
		assigned:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		async:     make(chan asyncCommit, 64),
		asyncDone: make(chan struct{}),
		autoStop:  make(chan struct{}),
		autoDone:  make(chan struct{}),
	}
	g.cond = sync.NewCond(&co.mu)
	go g.asyncLoop()
	if co.opts.AutoCommit && co.opts.Delivery != AtMostOnce {
		go g.autoCommitLoop()
	} else {
		close(g.autoDone)
	}
	return g
}

func validateGroupOptions(o ConsumerOptions) error {
	if o.Group == "" {
		if o.PositionStore != nil || o.AutoCommit || len(o.Topics) > 0 || o.OnAssigned != nil || o.OnRevoked != nil {
			return errors.New("sluice: Topics, AutoCommit, PositionStore and the rebalance callbacks need a Group")
		}
		return nil
	}
	switch {
	case o.Delivery < AtLeastOnce || o.Delivery > ExactlyOnce:
		return fmt.Errorf("sluice: unknown delivery %v", o.Delivery)
	case o.Delivery == ExactlyOnce && o.PositionStore == nil:
		return errors.New("sluice: ExactlyOnce needs a PositionStore")
	case o.Delivery != ExactlyOnce && o.PositionStore != nil:
		return errors.New("sluice: a PositionStore is only used with ExactlyOnce")
	case o.AutoOffsetReset != 0 && o.AutoOffsetReset != Earliest && o.AutoOffsetReset != Latest:
		return fmt.Errorf("sluice: AutoOffsetReset %v: want Earliest or Latest", o.AutoOffsetReset)
	case o.SessionTimeout < 0 || o.RebalanceTimeout < 0 || o.AutoCommitInterval < 0:
		return errors.New("sluice: negative timeout or interval")
	}
	return nil
}

// start starts the heartbeat loop once there is a subscription.
func (g *groupMember) startLocked() {
	if g.started || len(g.topics) == 0 {
		return
	}
	g.started = true
	go g.run()
}

// Subscribe sets the topics a group consumer reads (replacing the
// subscription given in ConsumerOptions.Topics, if any) and joins the
// group if it has not yet. The coordinator assigns their partitions among
// the group's members; OnAssigned and OnRevoked report the changes.
// Without a Group it is an error.
func (co *Consumer) Subscribe(topics ...string) error {
	g := co.g
	if g == nil {
		return errors.New("sluice: Subscribe needs ConsumerOptions.Group (use Assign without a group)")
	}
	if len(topics) == 0 {
		return errors.New("sluice: Subscribe: no topics")
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.closed {
		return ErrClosed
	}
	g.topics = slices.Clone(topics)
	g.startLocked()
	g.kick()
	return nil
}

// kick asks the heartbeat loop to heartbeat now.
func (g *groupMember) kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// frozen blocks while a test holds the member frozen; false when stopped.
func (g *groupMember) waitThawed() bool {
	g.freezeMu.Lock()
	th := g.thaw
	g.freezeMu.Unlock()
	if th == nil {
		return true
	}
	select {
	case <-th:
		return true
	case <-g.stop:
		return false
	}
}

// run is the heartbeat loop: heartbeat, reconcile the assignment, wait the
// interval the coordinator asked for (or less after a change).
func (g *groupMember) run() {
	defer close(g.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-g.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wait time.Duration
	failures := 0
	for {
		t := time.NewTimer(wait)
		select {
		case <-g.stop:
			t.Stop()
			return
		case <-g.wake:
		case <-t.C:
		}
		t.Stop()
		g.initPending(ctx)
		resp, err := g.heartbeat(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = g.onHeartbeatError(err, failures)
			continue
		}
		failures = 0
		wait = time.Duration(resp.GetHeartbeatIntervalMs()) * time.Millisecond
		if wait <= 0 {
			wait = time.Second
		}
		if g.reconcile(ctx) {
			wait = 0 // report what is owned now
		}
	}
}

func (g *groupMember) onHeartbeatError(err error, failures int) time.Duration {
	switch {
	case IsMembershipLost(err):
		g.co.c.opts.logger.Info("sluice: group membership lost, rejoining", "group", g.group, "err", err)
		g.lose()
		return 0
	case IsRetryable(err) || Code(err) == brokerpb.ErrorCode_UNKNOWN:
		g.co.c.opts.logger.Debug("sluice: heartbeat failed", "group", g.group, "err", err)
		return backoff(defaultRetryBackoff, failures)
	}
	g.co.mu.Lock()
	g.fatal = err
	g.co.mu.Unlock()
	g.co.c.opts.logger.Warn("sluice: heartbeat refused", "group", g.group, "err", err)
	return backoff(time.Second, failures)
}

// heartbeat sends one heartbeat carrying the full member state (owned,
// subscription, timeouts) and records the answer's member id, epoch and
// assignment. Every outcome bumps hbGen.
func (g *groupMember) heartbeat(ctx context.Context) (*brokerpb.GroupHeartbeatResponse, error) {
	if !g.waitThawed() {
		return nil, ErrClosed
	}
	o := g.co.opts
	g.co.mu.Lock()
	req := &brokerpb.GroupHeartbeatRequest{
		Group: g.group, MemberId: g.memberID, MemberEpoch: g.epoch,
		Topics: slices.Clone(g.topics), TopicsSet: true,
		TagFilter: o.TagFilter, TagFilterSet: true,
		Assignor:           o.Assignor,
		OwnedSet:           true,
		SessionTimeoutMs:   int32(o.SessionTimeout.Milliseconds()),
		RebalanceTimeoutMs: int32(o.RebalanceTimeout.Milliseconds()),
	}
	for _, tp := range sortedTPs(g.owned) {
		req.Owned = append(req.Owned, &brokerpb.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	g.co.mu.Unlock()
	timeout := groupCallTimeout
	if o.SessionTimeout > 0 {
		timeout = min(timeout, o.SessionTimeout)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var resp *brokerpb.GroupHeartbeatResponse
	err := g.co.c.coordinatorCall(cctx, g.group, 2, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.GroupHeartbeat(cctx, req)
		return err
	})
	g.co.mu.Lock()
	defer g.co.mu.Unlock()
	g.hbGen++
	g.cond.Broadcast()
	if err != nil {
		return nil, err
	}
	g.fatal = nil
	g.memberID, g.epoch = resp.GetMemberId(), resp.GetMemberEpoch()
	g.target = g.target[:0]
	for _, tp := range resp.GetAssignment() {
		g.target = append(g.target, TopicPartition{Topic: tp.GetTopic(), Partition: tp.GetPartition()})
	}
	return resp, nil
}

// reconcile converges what the member owns to its last assignment:
// partitions left out are revoked first, then new ones taken on. It
// reports whether anything changed.
func (g *groupMember) reconcile(ctx context.Context) bool {
	g.co.mu.Lock()
	target := make(map[TopicPartition]bool, len(g.target))
	for _, tp := range g.target {
		target[tp] = true
	}
	var revoked, added []TopicPartition
	for tp := range g.owned {
		if !target[tp] {
			revoked = append(revoked, tp)
		}
	}
	for _, tp := range g.target {
		if !g.owned[tp] {
			added = append(added, tp)
		}
	}
	g.co.mu.Unlock()
	if len(revoked) > 0 {
		// Take nothing new before the coordinator has heard about the
		// revocation: the loop heartbeats at once and reconciles again.
		g.revoke(ctx, sortTPs(revoked))
		return true
	}
	if len(added) > 0 {
		g.co.mu.Lock()
		for _, tp := range added {
			g.owned[tp] = true
			g.uninit[tp] = true
		}
		g.co.mu.Unlock()
		g.initPending(ctx)
		return true
	}
	return false
}

// initPending looks up the start position of the owned partitions that do
// not have one yet and makes them fetchable: ExactlyOnce asks the
// PositionStore first; then the committed offset; then AutoOffsetReset.
func (g *groupMember) initPending(ctx context.Context) {
	g.co.mu.Lock()
	tps := sortedTPs(g.uninit)
	g.co.mu.Unlock()
	if len(tps) == 0 {
		return
	}
	o := g.co.opts
	start := make(map[TopicPartition]int64, len(tps))
	cctx, cancel := context.WithTimeout(ctx, groupCallTimeout)
	defer cancel()
	if o.Delivery == ExactlyOnce {
		stored, err := o.PositionStore.Positions(cctx, tps)
		if err != nil {
			g.co.c.opts.logger.Warn("sluice: PositionStore failed; retrying", "group", g.group, "err", err)
			return
		}
		for tp, off := range stored {
			if off >= 0 {
				start[tp] = off
			}
		}
	}
	var missing []TopicPartition
	for _, tp := range tps {
		if _, ok := start[tp]; !ok {
			missing = append(missing, tp)
		}
	}
	if len(missing) > 0 {
		committed, err := g.co.c.CommittedOffsets(cctx, g.group, missing...)
		if err != nil {
			g.co.c.opts.logger.Debug("sluice: fetching committed offsets failed; retrying", "group", g.group, "err", err)
			return
		}
		maps.Copy(start, committed)
	}
	reset := cmp.Or(o.AutoOffsetReset, Latest)
	var ready []TopicPartition
	g.co.mu.Lock()
	for _, tp := range tps {
		if !g.uninit[tp] || !g.owned[tp] {
			continue // revoked or lost meanwhile
		}
		delete(g.uninit, tp)
		if off, ok := start[tp]; ok {
			g.co.positions[tp] = off
			g.processed[tp] = off
			g.committed[tp] = off
		} else {
			g.co.resets[tp] = reset
		}
		g.co.assigned = append(g.co.assigned, tp)
		ready = append(ready, tp)
	}
	g.co.mu.Unlock()
	if len(ready) == 0 {
		return
	}
	if o.OnAssigned != nil {
		o.OnAssigned(ready)
	}
	select {
	case g.assigned <- struct{}{}:
	default:
	}
}

// revoke gives partitions up: stop fetching them, wait (bounded) until the
// application has processed what it holds of them, commit (AtLeastOnce;
// the mirror for ExactlyOnce), forget them, call OnRevoked. The caller then
// heartbeats with Owned without them. The member keeps heartbeating while
// it waits.
func (g *groupMember) revoke(ctx context.Context, tps []TopicPartition) {
	co := g.co
	co.mu.Lock()
	co.assigned = slices.DeleteFunc(co.assigned, func(tp TopicPartition) bool { return slices.Contains(tps, tp) })
	co.mu.Unlock()

	if co.opts.Delivery != AtMostOnce {
		limit := maxRevokeWait
		if co.opts.RebalanceTimeout > 0 {
			limit = co.opts.RebalanceTimeout / 2
		}
		deadline := time.Now().Add(limit)
		for {
			interval := time.Duration(0)
			co.mu.Lock()
			done := g.closing || g.allProcessedLocked(tps)
			if !done && time.Now().Before(deadline) {
				interval = min(time.Until(deadline), g.keepAliveInterval())
				g.waitLocked(interval, func() bool { return g.closing || g.allProcessedLocked(tps) })
				done = g.closing || g.allProcessedLocked(tps)
			}
			co.mu.Unlock()
			if done || !time.Now().Before(deadline) {
				break
			}
			// Still waiting: keep the session alive. The answer's
			// assignment is looked at once this revocation is done.
			if _, err := g.heartbeat(ctx); err != nil {
				if IsMembershipLost(err) {
					g.lose()
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
	}

	g.commitMu.Lock()
	co.mu.Lock()
	offsets := make(map[TopicPartition]int64)
	if co.opts.Delivery != AtMostOnce {
		for _, tp := range tps {
			if off, ok := g.processed[tp]; ok && g.owned[tp] && off != g.committed[tp] {
				offsets[tp] = off
			}
		}
	}
	co.mu.Unlock()
	if len(offsets) > 0 {
		cctx, cancel := context.WithTimeout(ctx, groupCallTimeout)
		if err := g.commitLocked(cctx, offsets, false, true); err != nil {
			co.c.opts.logger.Warn("sluice: commit on revocation failed", "group", g.group, "err", err)
		}
		cancel()
	}
	co.mu.Lock()
	for _, tp := range tps {
		g.forgetLocked(tp)
	}
	co.mu.Unlock()
	g.commitMu.Unlock()
	if co.opts.OnRevoked != nil {
		co.opts.OnRevoked(tps, false)
	}
}

// keepAliveInterval is how often a waiting revocation heartbeats.
func (g *groupMember) keepAliveInterval() time.Duration {
	if s := g.co.opts.SessionTimeout; s > 0 {
		return max(s/5, 50*time.Millisecond)
	}
	return 3 * time.Second
}

// allProcessedLocked reports whether the application has processed every
// record Poll returned of tps.
func (g *groupMember) allProcessedLocked(tps []TopicPartition) bool {
	for _, tp := range tps {
		pos, ok := g.co.positions[tp]
		if !ok {
			continue
		}
		if p, ok := g.processed[tp]; !ok || p < pos {
			return false
		}
	}
	return true
}

// waitLocked waits on cond until pred holds or d passed. Consumer.mu is
// held.
func (g *groupMember) waitLocked(d time.Duration, pred func() bool) {
	expired := false
	t := time.AfterFunc(d, func() {
		g.co.mu.Lock()
		expired = true
		g.cond.Broadcast()
		g.co.mu.Unlock()
	})
	defer t.Stop()
	for !expired && !pred() {
		g.cond.Wait()
	}
}

// forgetLocked drops everything about a partition the member no longer
// owns.
func (g *groupMember) forgetLocked(tp TopicPartition) {
	co := g.co
	delete(g.owned, tp)
	delete(g.uninit, tp)
	delete(co.paused, tp)
	delete(g.processed, tp)
	delete(g.committed, tp)
	delete(co.positions, tp)
	delete(co.resets, tp)
	co.assigned = slices.DeleteFunc(co.assigned, func(x TopicPartition) bool { return x == tp })
}

// lose drops every partition after the member was fenced or removed (its
// partitions may belong to others already: nothing is committed) and
// rejoins with epoch 0.
func (g *groupMember) lose() {
	co := g.co
	co.mu.Lock()
	lost := sortedTPs(g.owned)
	for _, tp := range lost {
		g.forgetLocked(tp)
	}
	g.epoch = 0
	g.target = nil
	co.mu.Unlock()
	if len(lost) > 0 && co.opts.OnRevoked != nil {
		co.opts.OnRevoked(lost, true)
	}
	g.kick()
}

// commitLocked commits offsets of partitions the member owns with its
// current epoch, all or none; g.commitMu is held. STALE_MEMBER_EPOCH waits
// for a heartbeat and retries (failing if a partition was revoked
// meanwhile); a lost membership makes the heartbeat loop rejoin.
// setProcessed records the offsets as processed first (an explicit commit
// by the application). direct says no
// heartbeat loop runs meanwhile (it is the caller, or it has stopped): a
// stale epoch is refreshed with a heartbeat of its own.
func (g *groupMember) commitLocked(ctx context.Context, offsets map[TopicPartition]int64, setProcessed, direct bool) error {
	co := g.co
	if setProcessed {
		co.mu.Lock()
		for tp, off := range offsets {
			if g.owned[tp] {
				g.processed[tp] = off
			}
		}
		g.cond.Broadcast()
		co.mu.Unlock()
	}
	if len(offsets) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		co.mu.Lock()
		id, epoch, gen := g.memberID, g.epoch, g.hbGen
		req := &brokerpb.CommitOffsetsRequest{Group: g.group, MemberId: id, MemberEpoch: epoch}
		var unowned []TopicPartition
		for _, tp := range sortTPs(slices.Collect(maps.Keys(offsets))) {
			if g.owned[tp] {
				req.Offsets = append(req.Offsets, &brokerpb.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: offsets[tp]})
			} else {
				unowned = append(unowned, tp)
			}
		}
		co.mu.Unlock()
		if epoch <= 0 {
			return newError(brokerpb.ErrorCode_UNKNOWN_MEMBER, "group %q: not a member (yet): nothing committed", g.group)
		}
		// All or nothing: a commit naming a partition the member no longer
		// owns (revoked, or dropped when the member was fenced while the
		// application held its records — a zombie) fails, as Kafka's
		// CommitFailedException does. Leaving the partition out and
		// answering success would tell the application offsets are stored
		// that are not; the checkers caught exactly that (F11 pause).
		if len(unowned) > 0 {
			return newError(brokerpb.ErrorCode_FENCED_MEMBER_EPOCH, "group %q: %v not owned by this member (revoked or lost at epoch %d): nothing committed", g.group, unowned, epoch)
		}
		err := co.c.coordinatorCall(ctx, g.group, defaultRetries, func(sc brokerpb.SluiceClient) error {
			_, err := sc.CommitOffsets(ctx, req)
			return err
		})
		if err == nil {
			co.mu.Lock()
			for _, oc := range req.Offsets {
				tp := TopicPartition{Topic: oc.Topic, Partition: oc.Partition}
				if g.owned[tp] {
					g.committed[tp] = oc.Offset
				}
			}
			co.mu.Unlock()
			return nil
		}
		switch {
		case Code(err) == brokerpb.ErrorCode_STALE_MEMBER_EPOCH && attempt < defaultRetries:
			if direct {
				if _, herr := g.heartbeat(ctx); herr != nil {
					return errors.Join(err, herr)
				}
				continue
			}
			g.kick()
			co.mu.Lock()
			g.waitLocked(staleCommitWait, func() bool { return g.hbGen != gen || g.closing })
			co.mu.Unlock()
			if ctx.Err() != nil {
				return err
			}
			continue
		case IsMembershipLost(err):
			g.kick() // the heartbeat learns it too and rejoins
		}
		return err
	}
}

// commit runs commitLocked under commitMu.
func (g *groupMember) commit(ctx context.Context, offsets map[TopicPartition]int64, setProcessed bool) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	return g.commitLocked(ctx, offsets, setProcessed, false)
}

// positionsLocked returns the positions of the owned, fetchable partitions.
func (g *groupMember) positionsLocked() map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, len(g.owned))
	for tp := range g.owned {
		if off, ok := g.co.positions[tp]; ok {
			out[tp] = off
		}
	}
	return out
}

// asyncLoop runs CommitAsync requests in order.
func (g *groupMember) asyncLoop() {
	defer close(g.asyncDone)
	for ac := range g.async {
		ctx, cancel := context.WithTimeout(context.Background(), groupCallTimeout)
		err := g.commit(ctx, ac.offsets, false)
		cancel()
		if ac.done != nil {
			ac.done(ac.offsets, err)
		}
	}
}

// autoCommitLoop commits the processed offsets every AutoCommitInterval.
func (g *groupMember) autoCommitLoop() {
	defer close(g.autoDone)
	t := time.NewTicker(cmp.Or(g.co.opts.AutoCommitInterval, defaultAutoCommitInterval))
	defer t.Stop()
	for {
		select {
		case <-g.autoStop:
			return
		case <-t.C:
		}
		_ = g.commitProcessed(context.Background(), false)
	}
}

// commitProcessed commits the processed offsets that changed since the last
// commit.
func (g *groupMember) commitProcessed(ctx context.Context, direct bool) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	g.co.mu.Lock()
	offsets := make(map[TopicPartition]int64)
	for tp, off := range g.processed {
		if g.owned[tp] && off != g.committed[tp] {
			offsets[tp] = off
		}
	}
	g.co.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, groupCallTimeout)
	defer cancel()
	err := g.commitLocked(ctx, offsets, false, direct)
	if err != nil {
		g.co.c.opts.logger.Debug("sluice: auto-commit failed", "group", g.group, "err", err)
	}
	return err
}

// markPolled records, at the start of a Poll, that the application has
// processed every record the previous Polls returned.
func (g *groupMember) markPolledLocked() {
	if g.co.opts.Delivery == AtMostOnce {
		return
	}
	for tp := range g.owned {
		if off, ok := g.co.positions[tp]; ok {
			g.processed[tp] = off
		}
	}
	g.cond.Broadcast()
}

// commitBeforeReturn is AtMostOnce's step in Poll: commit the positions
// after the records about to be returned, dropping the records of
// partitions no longer owned. On failure nothing is returned and the
// positions go back, so the records are fetched again.
func (g *groupMember) commitBeforeReturn(ctx context.Context, recs []Record, from map[TopicPartition]int64) ([]Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	co := g.co
	co.mu.Lock()
	fetchable := make(map[TopicPartition]bool, len(co.assigned))
	for _, tp := range co.assigned {
		fetchable[tp] = true
	}
	offsets := make(map[TopicPartition]int64)
	kept := recs[:0]
	for _, r := range recs {
		tp := TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if !fetchable[tp] {
			continue
		}
		kept = append(kept, r)
		offsets[tp] = co.positions[tp]
	}
	co.mu.Unlock()
	if len(offsets) == 0 {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, groupCallTimeout)
	defer cancel()
	if err := g.commitLocked(cctx, offsets, false, false); err != nil {
		co.mu.Lock()
		for tp, next := range offsets {
			if cur, ok := co.positions[tp]; ok && cur == next {
				co.positions[tp] = from[tp]
			}
		}
		co.mu.Unlock()
		return nil, fmt.Errorf("sluice: at-most-once commit before delivery: %w", err)
	}
	co.mu.Lock()
	for tp, off := range offsets {
		if g.owned[tp] {
			g.processed[tp] = off
		}
	}
	co.mu.Unlock()
	return kept, nil
}

// close ends the membership: stop the loops, commit what was processed
// (AtLeastOnce, and the ExactlyOnce mirror with AutoCommit), call
// OnRevoked, and leave the group with epoch -1. leave=false is a crash, for
// tests: nothing is committed or announced.
func (g *groupMember) close(leave bool) error {
	co := g.co
	co.mu.Lock()
	g.closing = true
	g.cond.Broadcast()
	started := g.started
	co.mu.Unlock()
	close(g.autoStop)
	<-g.autoDone
	g.asyncMu.Lock()
	g.asyncClosed = true
	close(g.async)
	g.asyncMu.Unlock()
	<-g.asyncDone
	close(g.stop)
	if started {
		<-g.done
	}
	if !leave || !started {
		return nil
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), closeCommitTimout)
	defer cancel()
	if co.opts.Delivery == AtLeastOnce || (co.opts.Delivery == ExactlyOnce && co.opts.AutoCommit) {
		if err := g.commitProcessed(ctx, true); err != nil && !IsMembershipLost(err) {
			errs = append(errs, fmt.Errorf("sluice: final commit: %w", err))
		}
	}
	co.mu.Lock()
	owned := sortedTPs(g.owned)
	id, epoch := g.memberID, g.epoch
	for _, tp := range owned {
		g.forgetLocked(tp)
	}
	co.mu.Unlock()
	if len(owned) > 0 && co.opts.OnRevoked != nil {
		co.opts.OnRevoked(owned, false)
	}
	if id != "" && epoch > 0 {
		err := co.c.coordinatorCall(ctx, g.group, defaultRetries, func(sc brokerpb.SluiceClient) error {
			_, err := sc.GroupHeartbeat(ctx, &brokerpb.GroupHeartbeatRequest{Group: g.group, MemberId: id, MemberEpoch: -1})
			return err
		})
		if err != nil && !IsMembershipLost(err) {
			errs = append(errs, fmt.Errorf("sluice: leave group: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Commit commits, for every owned partition, the position after the records
// Poll has returned so far (the application says it has processed them),
// with the member's id and epoch. A group consumer only.
func (co *Consumer) Commit(ctx context.Context) error {
	g := co.g
	if g == nil {
		return errNoGroup
	}
	co.mu.Lock()
	offsets := g.positionsLocked()
	co.mu.Unlock()
	return g.commit(ctx, offsets, true)
}

// CommitAsync is Commit without waiting: the positions are taken now and
// committed in the background, in call order; done (may be nil) gets the
// offsets and the outcome.
func (co *Consumer) CommitAsync(done func(offsets map[TopicPartition]int64, err error)) {
	g := co.g
	if g == nil {
		if done != nil {
			done(nil, errNoGroup)
		}
		return
	}
	co.mu.Lock()
	offsets := g.positionsLocked()
	for tp, off := range offsets {
		g.processed[tp] = off
	}
	g.cond.Broadcast()
	co.mu.Unlock()
	g.asyncMu.Lock()
	closed := g.asyncClosed
	if !closed {
		g.async <- asyncCommit{offsets: offsets, done: done}
	}
	g.asyncMu.Unlock()
	if closed && done != nil {
		done(offsets, ErrClosed)
	}
}

// CommitOffsets commits the given next-offsets (the offset after the last
// processed record) of partitions the member owns. With ExactlyOnce this is
// the mirror of what the application stored. If any of them is not owned
// (revoked, or lost when the member was fenced) nothing is committed and
// the error is FENCED_MEMBER_EPOCH (IsMembershipLost): their records go to
// the partitions' new owner from the committed offsets.
func (co *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	if co.g == nil {
		return errNoGroup
	}
	return co.g.commit(ctx, maps.Clone(offsets), true)
}

// Process polls once and hands each record to handler, in order. A record
// counts as processed when handler returns nil for it. With AtLeastOnce
// (and no AutoCommit) the processed offsets are committed before Process
// returns. When handler fails, the partitions of the records not processed
// are moved back to the first of them (they are returned again by a later
// Poll), what was processed is committed as above, and the handler's error
// is returned. It returns how many records were processed.
func (co *Consumer) Process(ctx context.Context, handler func(Record) error) (int, error) {
	recs, perr := co.Poll(ctx)
	n := 0
	var herr error
	for i, r := range recs {
		if herr = handler(r); herr != nil {
			rewind := make(map[TopicPartition]int64)
			for _, rest := range recs[i:] {
				tp := TopicPartition{Topic: rest.Topic, Partition: rest.Partition}
				if _, ok := rewind[tp]; !ok {
					rewind[tp] = rest.Offset
				}
			}
			co.mu.Lock()
			for tp, off := range rewind {
				if _, ok := co.positions[tp]; ok {
					co.positions[tp] = off
				}
			}
			co.mu.Unlock()
			break
		}
		n++
		if g := co.g; g != nil {
			tp := TopicPartition{Topic: r.Topic, Partition: r.Partition}
			co.mu.Lock()
			if g.owned[tp] {
				g.processed[tp] = r.Offset + 1
				g.cond.Broadcast()
			}
			co.mu.Unlock()
		}
	}
	var cerr error
	if g := co.g; g != nil && co.opts.Delivery == AtLeastOnce && !co.opts.AutoCommit && n > 0 {
		cerr = g.commitProcessed(ctx, false)
	}
	return n, errors.Join(herr, perr, cerr)
}

// Pause stops fetching the partitions (Poll returns none of their records)
// without giving them up: the member keeps them and keeps heartbeating.
func (co *Consumer) Pause(tps ...TopicPartition) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for _, tp := range tps {
		co.paused[tp] = true
	}
}

// Resume undoes Pause.
func (co *Consumer) Resume(tps ...TopicPartition) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for _, tp := range tps {
		delete(co.paused, tp)
	}
}

// Paused returns the paused partitions.
func (co *Consumer) Paused() []TopicPartition {
	co.mu.Lock()
	defer co.mu.Unlock()
	return sortedTPs(co.paused)
}

// MemberID returns the group member id and epoch (empty and 0 before the
// first heartbeat answer).
func (co *Consumer) MemberID() (string, int32) {
	if co.g == nil {
		return "", 0
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.g.memberID, co.g.epoch
}

var errNoGroup = errors.New("sluice: the consumer has no Group")

func sortTPs(tps []TopicPartition) []TopicPartition {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return tps
}

func sortedTPs[V any](m map[TopicPartition]V) []TopicPartition {
	return sortTPs(slices.Collect(maps.Keys(m)))
}
