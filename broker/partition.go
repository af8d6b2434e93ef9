package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/engine"
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
// they work.
type replicaState struct {
	role        role
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	// Invariant: logStartOffset <= highWatermark <= logEndOffset.
	highWatermark int64
	settings      topicSettings
	// changed is closed when this state is replaced: waiters for the high
	// watermark or for a leadership change select on it.
	changed chan struct{}
}

// partition is one partition replica hosted by this broker: its log and the
// driver goroutine that owns its replication state.
//
// The driver is the only writer of the state. It wakes on log changes
// (appends, syncs) and on commands (metadata changes from the controller),
// recomputes the high watermark and publishes a new replicaState. The
// replication issue replaces the single-replica high-watermark rule in
// advance() with the replication state machine's Step/Ready/Advance, fed
// by follower fetches, without changing how handlers use the partition.
type partition struct {
	topic   string
	id      int32
	topicID string
	dir     string
	self    int32
	log     *engine.Log
	logger  *slog.Logger
	// producers is the idempotent-producer table (producers.go).
	producers *producerTable

	mu    sync.Mutex
	state *replicaState

	cmds chan func()
	stop chan struct{}
	done chan struct{}
}

func newPartition(topic string, id int32, topicID, dir string, self int32, log *engine.Log, producers *producerTable, settings topicSettings, logger *slog.Logger) *partition {
	p := &partition{
		topic: topic, id: id, topicID: topicID, dir: dir, self: self, log: log, producers: producers,
		logger: logger.With("topic", topic, "partition", id),
		state:  &replicaState{role: roleNone, leader: -1, leaderEpoch: -1, settings: settings, changed: make(chan struct{})},
		cmds:   make(chan func()),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	p.state.highWatermark = log.LogStartOffset()
	go p.drive()
	return p
}

// snapshot returns the current state.
func (p *partition) snapshot() *replicaState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
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
	for {
		logChanged := p.log.Changed()
		p.advance()
		select {
		case <-logChanged:
		case cmd := <-p.cmds:
			cmd()
		case <-p.stop:
			return
		}
	}
}

// advance recomputes the high watermark. With one replica in the ISR it is
// the log end, or the durable end when every write must be on disk before
// it counts as committed (sync=always: acks=all means "on disk").
func (p *partition) advance() {
	st := p.snapshot()
	start, end, durable := p.log.Offsets()
	hw := end
	if st.settings.sync.Mode == engine.SyncAlways {
		hw = durable
	}
	hw = max(hw, start)
	if st.role != roleLeader {
		// A replica that does not lead has no high watermark of its own to
		// advance until replication gives it one.
		hw = min(st.highWatermark, end)
	}
	if hw != st.highWatermark {
		next := *st
		next.highWatermark = hw
		p.publish(next)
	}
}

// do runs fn on the driver goroutine and waits for it.
func (p *partition) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case p.cmds <- func() { fn(); close(done) }:
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

// applyMetadata takes the controller's view of the partition.
func (p *partition) applyMetadata(ctx context.Context, ps coord.PartitionState, settings topicSettings) error {
	return p.do(ctx, func() {
		st := p.snapshot()
		next := *st
		next.leader, next.leaderEpoch = ps.Leader, ps.LeaderEpoch
		next.replicas, next.isr = ps.Replicas, ps.ISR
		next.settings = settings
		switch ps.Leader {
		case p.self:
			next.role = roleLeader
		case -1:
			next.role = roleNone
		default:
			next.role = roleFollower
		}
		if next.role != st.role || next.leaderEpoch != st.leaderEpoch {
			p.logger.Info("partition role", "role", next.role, "leaderEpoch", next.leaderEpoch)
		}
		p.publish(next)
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

// close stops the driver and closes the log (a clean shutdown marker is
// written by the engine).
func (p *partition) close() error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	if err := p.saveProducers(); err != nil && !errors.Is(err, engine.ErrClosed) && !errors.Is(err, engine.ErrPoisoned) {
		p.logger.Warn("cannot save producer state; it will be rebuilt from the log", "err", err)
	}
	err := p.log.Close()
	if errors.Is(err, engine.ErrClosed) {
		return nil
	}
	return err
}
