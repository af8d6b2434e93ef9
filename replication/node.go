package replication

import (
	"fmt"
	"slices"
)

// Config configures a Node. Zero values of the tick settings get the
// defaults noted on each field.
type Config struct {
	// ID is this replica's broker.
	ID BrokerID
	// Mode is the topic's replication mode.
	Mode Mode
	// MinISR is min.insync.replicas (ModeISR): the produce path refuses
	// acks=all appends while the ISR is smaller (Ready.MinISRSatisfied).
	// Default 1.
	MinISR int
	// LagTicks is replica.lag.time.max in ticks: a follower that has not
	// been caught up to the leader's log end for longer than this is
	// proposed out of the ISR. Default 10.
	LagTicks int
	// FetchWaitTicks is how long the leader holds a fetch that has nothing
	// new for the follower (Kafka's fetch purgatory, replica.fetch.wait.max):
	// it is answered as soon as data or a new high watermark arrives, or
	// after this many ticks. Default 2.
	FetchWaitTicks int
	// FetchBackoffTicks is how long a follower waits after an error reply
	// before fetching again, and how long a leader waits for an answer to
	// an ISR proposal before proposing again. A follower resends a fetch
	// that got no reply within FetchWaitTicks+FetchBackoffTicks ticks.
	// Default 1.
	FetchBackoffTicks int
	// DurableHW (sync=always): the high watermark counts durable end
	// offsets instead of log end offsets, so a record is committed only
	// when it is fsynced on every ISR member (a majority in ModeQuorum).
	DurableHW bool
	// UncleanRestart: the replica restarted without the clean-shutdown
	// marker and its sync policy is not always, so it may have lost
	// acknowledged records with its page cache. It reports itself
	// ineligible (Ready.Eligible false: not leader-eligible, DESIGN §5,
	// KIP-966) until it has caught up to its leader's high watermark.
	UncleanRestart bool
	// Store is the replica's log, read-only for the node.
	Store LogStore
	// HighWatermark is the checkpoint loaded at start (clamped to the log).
	HighWatermark int64
	// EpochCache is the leader-epoch cache loaded at start (nil: empty).
	// Entries beyond the log end are dropped (a crash lost those batches).
	EpochCache *EpochCache
}

// Truncation tells the driver to cut its log before doing anything else
// with a Ready.
type Truncation struct {
	// Offset: engine TruncateTo(Offset) — remove every batch holding an
	// offset >= Offset.
	Offset int64
	// Fully: the follower's log ends below the leader's log start; empty
	// the log and restart it at Offset.
	Fully bool
}

func (t Truncation) String() string {
	if t.Fully {
		return fmt.Sprintf("reset log to start at %d", t.Offset)
	}
	return fmt.Sprintf("truncate to %d", t.Offset)
}

// Ready is what the node asks the driver to do, in the order doc.go gives:
// truncate, persist the epoch cache, send the messages, publish the high
// watermark and the role. Then the driver calls Advance.
type Ready struct {
	Role   Role
	Epoch  Epoch
	Leader BrokerID
	// HighWatermark is the offset below which records are committed: what
	// consumers may read and what acks=all waits for. It never decreases
	// within the node's lifetime (see doc.go for the one exception).
	HighWatermark int64
	// MinISRSatisfied (leader only): ModeISR: len(ISR) >= MinISR; ModeQuorum:
	// a majority of the replicas (the leader included) are caught up. The
	// produce path refuses acks=all with NOT_ENOUGH_REPLICAS before
	// appending when false, and fails acks=all waiters whose offset the
	// high watermark passed while it was false
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND, Kafka's rule).
	MinISRSatisfied bool
	// Eligible: the replica may be elected leader (the UncleanRestart rule).
	// The driver reports it to the controller.
	Eligible bool
	// Truncate, when set, must be applied to the log first.
	Truncate *Truncation
	// EpochCache, when set, is the new leader-epoch cache: persist it
	// (MarshalBinary, engine WriteMeta) before sending the messages.
	EpochCache *EpochCache
	// Messages to send: FetchRequest (to the leader), FetchReply (to a
	// follower), ISRProposal (to the controller).
	Messages []Message
}

// softState is the part of Ready the driver publishes; HasReady compares
// it with the last one handed out.
type softState struct {
	role            Role
	epoch           Epoch
	leader          BrokerID
	highWatermark   int64
	minISRSatisfied bool
	eligible        bool
}

// Node is the replication state machine of one partition replica. It has
// no goroutines, clocks, sockets or files: the driver feeds it messages
// (Step) and time (Tick), and carries out its Ready. Not safe for
// concurrent use; see doc.go for the loop.
type Node struct {
	id    BrokerID
	cfg   Config
	store LogStore

	// epochs is the leader-epoch cache. epochsDirty: changed since the last
	// Ready that carried it.
	epochs      *EpochCache
	epochsDirty bool
	// restartEpoch is the newest epoch of the cache loaded at start: this
	// lifetime must not lead that epoch or an older one (it may have
	// written batches in it that its log lost).
	restartEpoch Epoch

	role     Role
	epoch    Epoch
	leader   BrokerID
	replicas []BrokerID
	// isr and isrVersion are the controller's ISR as last heard (only
	// ISRChanged and BecomeLeader set them).
	isr        []BrokerID
	isrVersion int64

	// Invariant: logStartOffset <= highWatermark <= logEndOffset, and
	// highWatermark never decreases, except when a truncation goes below it
	// (counted in truncatedBelowHW; only possible after data loss).
	highWatermark    int64
	truncatedBelowHW int
	eligible         bool
	// now is the tick count of this lifetime.
	now int64
	// logStart is the log start offset last seen (to notice retention).
	logStart int64
	// fetchSeq numbers this lifetime's fetch requests.
	fetchSeq uint64

	// truncate is the truncation handed to the driver and not yet
	// acknowledged by Advance; until then the node reads its log through it.
	truncate  *Truncation
	msgs      []Message
	published softState

	lead   leaderState
	follow followerState

	// Invariant checking (invariants build tag): the previous HW and
	// truncation count.
	checkedHW        int64
	checkedTruncated int
}

// NewNode returns a node with no role: it waits for BecomeLeader or
// BecomeFollower.
func NewNode(cfg Config) *Node {
	if cfg.MinISR <= 0 {
		cfg.MinISR = 1
	}
	if cfg.LagTicks <= 0 {
		cfg.LagTicks = 10
	}
	if cfg.FetchWaitTicks <= 0 {
		cfg.FetchWaitTicks = 2
	}
	if cfg.FetchBackoffTicks <= 0 {
		cfg.FetchBackoffTicks = 1
	}
	n := &Node{
		id:       cfg.ID,
		cfg:      cfg,
		store:    cfg.Store,
		epochs:   &EpochCache{},
		role:     RoleNone,
		epoch:    NoEpoch,
		leader:   NoLeader,
		eligible: !cfg.UncleanRestart,
	}
	if cfg.EpochCache != nil {
		n.epochs = cfg.EpochCache.Clone()
	}
	n.restartEpoch = n.epochs.LatestEpoch()
	// Metadata older than what this replica already saw is stale.
	n.epoch = n.restartEpoch
	start, end := n.store.LogStartOffset(), n.store.LogEndOffset()
	n.epochsDirty = n.epochs.TruncateFromEnd(end)
	n.epochsDirty = n.epochs.TruncateFromStart(start) || n.epochsDirty
	n.logStart = start
	n.highWatermark = min(max(cfg.HighWatermark, start), end)
	n.checkedHW = n.highWatermark
	n.published = softState{role: RoleNone, epoch: NoEpoch, leader: NoLeader, highWatermark: -1}
	return n
}

// Step feeds one message to the node. Errors describe a bad or stale input
// (ErrFencedEpoch, ErrUnknownReplica, ErrInvalidMessage) and leave the node
// unchanged; the driver logs them. Stale fetch responses are ignored
// without an error.
func (n *Node) Step(m Message) error {
	n.observeLog()
	var err error
	switch m := m.(type) {
	case BecomeLeader:
		err = n.stepBecomeLeader(m)
	case BecomeFollower:
		err = n.stepBecomeFollower(m)
	case ISRChanged:
		n.stepISRChanged(m)
	case FollowerFetch:
		err = n.stepFollowerFetch(m)
	case FetchResponse:
		err = n.stepFetchResponse(m)
	case LocalLogChanged:
		n.stepLocalLogChanged()
	default:
		err = fmt.Errorf("%w: %T is not an input", ErrInvalidMessage, m)
	}
	n.update()
	n.checkInvariants()
	return err
}

// Tick advances the node's clock by one tick.
func (n *Node) Tick() {
	n.now++
	n.observeLog()
	switch n.role {
	case RoleLeader:
		n.tickLeader()
	case RoleFollower:
		n.tickFollower()
	}
	n.update()
	n.checkInvariants()
}

// HasReady reports whether Ready has anything new.
func (n *Node) HasReady() bool {
	return len(n.msgs) > 0 || n.truncate != nil || n.epochsDirty || n.soft() != n.published
}

// Ready returns what the driver must do now. Call Advance after doing it,
// and do not call Step or Tick in between.
func (n *Node) Ready() Ready {
	s := n.soft()
	rd := Ready{
		Role:            s.role,
		Epoch:           s.epoch,
		Leader:          s.leader,
		HighWatermark:   s.highWatermark,
		MinISRSatisfied: s.minISRSatisfied,
		Eligible:        s.eligible,
		Messages:        append([]Message(nil), n.msgs...),
	}
	if n.truncate != nil {
		t := *n.truncate
		rd.Truncate = &t
	}
	if n.epochsDirty {
		rd.EpochCache = n.epochs.Clone()
	}
	return rd
}

// Advance tells the node that rd was carried out.
func (n *Node) Advance(rd Ready) {
	n.msgs = append(n.msgs[:0], n.msgs[len(rd.Messages):]...)
	if rd.Truncate != nil {
		n.truncate = nil
	}
	if rd.EpochCache != nil {
		n.epochsDirty = false
	}
	n.published = softState{
		role: rd.Role, epoch: rd.Epoch, leader: rd.Leader, highWatermark: rd.HighWatermark,
		minISRSatisfied: rd.MinISRSatisfied, eligible: rd.Eligible,
	}
	n.observeLog()
}

func (n *Node) soft() softState {
	return softState{
		role: n.role, epoch: n.epoch, leader: n.leader, highWatermark: n.highWatermark,
		minISRSatisfied: n.minISRSatisfied(), eligible: n.eligible,
	}
}

// FollowerStatus is the leader's view of one follower.
type FollowerStatus struct {
	ID BrokerID
	// Fetched: the follower has fetched in this epoch (its offsets are
	// known; until then it holds the ISR high watermark back).
	Fetched          bool
	LogEndOffset     int64
	DurableEndOffset int64
	LastCaughtUpTick int64
	InISR            bool
	// Parked: its last fetch is held until there is something new.
	Parked bool
}

// Status is a snapshot of the node for tests, metrics and debugging.
type Status struct {
	ID               BrokerID
	Role             Role
	Epoch            Epoch
	Leader           BrokerID
	Replicas         []BrokerID
	ISR              []BrokerID
	ISRVersion       int64
	ProposedISR      []BrokerID // outstanding ISR proposal (leader), or nil
	HighWatermark    int64
	LogStartOffset   int64
	LogEndOffset     int64
	DurableEndOffset int64
	// LastEpoch is the epoch of the last batch in the log (NoEpoch when
	// empty): with LogEndOffset, what a quorum-mode election compares.
	LastEpoch       Epoch
	EpochCache      []EpochEntry
	Eligible        bool
	MinISRSatisfied bool
	Tick            int64
	// TruncatedBelowHW counts truncations below the high watermark (data
	// loss elsewhere: unclean election or lost page caches).
	TruncatedBelowHW int
	Followers        []FollowerStatus
}

// Status returns a snapshot of the node.
func (n *Node) Status() Status {
	s := Status{
		ID: n.id, Role: n.role, Epoch: n.epoch, Leader: n.leader,
		Replicas: slices.Clone(n.replicas), ISR: slices.Clone(n.isr), ISRVersion: n.isrVersion,
		HighWatermark: n.highWatermark, LogStartOffset: n.logStartOffset(),
		LogEndOffset: n.logEndOffset(), DurableEndOffset: n.durableEndOffset(),
		LastEpoch: n.lastEpoch(), EpochCache: n.epochs.Entries(), Eligible: n.eligible,
		MinISRSatisfied: n.minISRSatisfied(), Tick: n.now, TruncatedBelowHW: n.truncatedBelowHW,
	}
	if n.role == RoleLeader {
		if n.lead.proposal != nil {
			s.ProposedISR = slices.Clone(n.lead.proposal.ISR)
		}
		for _, p := range n.lead.followers {
			s.Followers = append(s.Followers, FollowerStatus{
				ID: p.id, Fetched: p.fetched, LogEndOffset: p.logEnd, DurableEndOffset: p.durableEnd,
				LastCaughtUpTick: p.lastCaughtUp, InISR: slices.Contains(n.isr, p.id), Parked: p.parked != nil,
			})
		}
	}
	return s
}

// The log as the node sees it: the store, through the truncation not yet
// carried out.

func (n *Node) logStartOffset() int64 {
	if t := n.truncate; t != nil && t.Fully {
		return t.Offset
	}
	return n.store.LogStartOffset()
}

func (n *Node) logEndOffset() int64 {
	end := n.store.LogEndOffset()
	if t := n.truncate; t != nil {
		if t.Fully {
			return t.Offset
		}
		end = min(end, t.Offset)
	}
	return end
}

func (n *Node) durableEndOffset() int64 {
	end := n.store.DurableEndOffset()
	if t := n.truncate; t != nil {
		if t.Fully {
			return t.Offset
		}
		end = min(end, t.Offset)
	}
	return end
}

// committedEnd is the end offset that counts for the high watermark.
func (n *Node) committedEnd() int64 {
	if n.cfg.DurableHW {
		return n.durableEndOffset()
	}
	return n.logEndOffset()
}

// lastEpoch is the epoch of the last batch, or NoEpoch for an empty log.
func (n *Node) lastEpoch() Epoch {
	if end := n.logEndOffset(); end > n.logStartOffset() {
		return n.epochs.EpochAt(end - 1)
	}
	return NoEpoch
}

// observeLog notices that the log start moved (retention): epochs before it
// are gone and the high watermark cannot be below it.
func (n *Node) observeLog() {
	start := n.logStartOffset()
	if start == n.logStart {
		return
	}
	n.logStart = start
	if n.epochs.TruncateFromStart(start) {
		n.epochsDirty = true
	}
	n.setHighWatermark(start)
}

// setHighWatermark raises the high watermark to hw (never lowers it).
func (n *Node) setHighWatermark(hw int64) {
	if hw > n.highWatermark {
		n.highWatermark = hw
	}
}

// truncateLog hands a truncation to the driver and applies it to the
// node's own state (epoch cache, high watermark).
func (n *Node) truncateLog(t Truncation) {
	if p := n.truncate; p != nil && !p.Fully && !t.Fully {
		t.Offset = min(t.Offset, p.Offset)
	}
	n.truncate = &t
	if t.Fully {
		n.epochsDirty = n.epochs.Clear() || n.epochsDirty
		n.setHighWatermark(t.Offset)
		return
	}
	n.epochsDirty = n.epochs.TruncateFromEnd(t.Offset) || n.epochsDirty
	if t.Offset < n.highWatermark {
		// Records below the high watermark were committed; a leader
		// without them means they were lost elsewhere (an unclean
		// election, or every holder lost its page cache). Follow the
		// leader and say so.
		n.highWatermark = max(t.Offset, n.logStartOffset())
		n.truncatedBelowHW++
	}
}

func (n *Node) send(m Message) { n.msgs = append(n.msgs, m) }

// update runs after every input: the role's derived state (high watermark,
// parked fetches, ISR proposals).
func (n *Node) update() {
	switch n.role {
	case RoleLeader:
		n.leaderUpdate()
	case RoleFollower:
		n.followerUpdate()
	}
}

func (n *Node) minISRSatisfied() bool {
	if n.role != RoleLeader {
		return false
	}
	if n.cfg.Mode == ModeQuorum {
		alive := 1
		for _, p := range n.lead.followers {
			if p.fetched && n.now-p.lastCaughtUp <= int64(n.cfg.LagTicks) {
				alive++
			}
		}
		return alive >= len(n.replicas)/2+1
	}
	return len(n.isr) >= n.cfg.MinISR
}

// checkMetadataEpoch validates the epoch of BecomeLeader/BecomeFollower.
// noop: the node already has exactly this role in this epoch.
func (n *Node) checkMetadataEpoch(epoch Epoch, role Role, leader BrokerID, replicas []BrokerID) (noop bool, err error) {
	if n.role == role && n.epoch == epoch && n.leader == leader {
		return true, nil
	}
	if !slices.Contains(replicas, n.id) {
		return false, fmt.Errorf("%w: %d is not among replicas %v", ErrUnknownReplica, n.id, replicas)
	}
	switch {
	case epoch < n.epoch:
		return false, fmt.Errorf("%w: epoch %d, node is at %d", ErrFencedEpoch, epoch, n.epoch)
	case epoch == n.epoch:
		// Within one epoch a replica may only learn who the leader is: a
		// leaderless follower (the controller fenced the old leader
		// first) may be told the leader, or become it; a restarted
		// replica may follow the epoch it saw last.
		leaderless := n.role == RoleFollower && n.leader == NoLeader
		restartedFollower := n.role == RoleNone && role == RoleFollower
		if !leaderless && !restartedFollower {
			return false, fmt.Errorf("%w: epoch %d is already %s of %d here", ErrFencedEpoch, epoch, n.role, n.leader)
		}
	}
	if epoch < n.epochs.LatestEpoch() {
		return false, fmt.Errorf("%w: epoch %d, the log already has epoch %d", ErrFencedEpoch, epoch, n.epochs.LatestEpoch())
	}
	if role == RoleLeader && (epoch <= n.epochs.LatestEpoch() || epoch <= n.restartEpoch) {
		return false, fmt.Errorf("%w: cannot lead epoch %d, this replica's log has seen epoch %d",
			ErrFencedEpoch, epoch, max(n.epochs.LatestEpoch(), n.restartEpoch))
	}
	return false, nil
}

// leaveRole ends the current role before a new one.
func (n *Node) leaveRole() {
	if n.role == RoleLeader {
		// Release the fetches held for followers: they learn the new
		// epoch from metadata.
		for _, p := range n.lead.followers {
			if p.parked != nil {
				r := *p.parked
				r.Error = ErrorNotLeader
				n.send(r)
			}
		}
	}
	n.lead = leaderState{}
	n.follow = followerState{}
}

func (n *Node) stepISRChanged(m ISRChanged) {
	// An ISR of another epoch is not ours to use: a newer one arrives
	// with (or after) the metadata of that epoch.
	if m.Epoch != n.epoch || m.Version <= n.isrVersion {
		return
	}
	n.isr, n.isrVersion = slices.Clone(m.ISR), m.Version
	if n.role == RoleLeader {
		n.lead.proposal = nil
		n.lead.unconfirmed = nil
	}
}

func (n *Node) stepLocalLogChanged() {
	if n.role == RoleFollower {
		n.followerLogChanged()
	}
	// The leader re-reads its log in update().
}

func (n *Node) checkInvariants() {
	if !invariantsEnabled {
		return
	}
	start, end := n.logStartOffset(), n.logEndOffset()
	assertf(start <= n.highWatermark && n.highWatermark <= end,
		"node %d: log start %d <= high watermark %d <= log end %d", n.id, start, n.highWatermark, end)
	assertf(n.highWatermark >= n.checkedHW || n.truncatedBelowHW > n.checkedTruncated,
		"node %d: high watermark went back from %d to %d", n.id, n.checkedHW, n.highWatermark)
	n.checkedHW, n.checkedTruncated = n.highWatermark, n.truncatedBelowHW
	assertf(n.durableEndOffset() <= end, "node %d: durable end %d beyond log end %d", n.id, n.durableEndOffset(), end)
	n.epochs.check()
	if n.role == RoleLeader {
		for _, p := range n.lead.followers {
			if p.fetched {
				assertf(p.durableEnd <= p.logEnd && p.logEnd <= end,
					"node %d: follower %d durable %d <= log end %d <= leader's %d", n.id, p.id, p.durableEnd, p.logEnd, end)
			}
		}
		latest, _ := n.epochs.Latest()
		assertf(latest.Epoch == n.epoch, "node %d: leader of %d with epoch cache %v", n.id, n.epoch, n.epochs)
	}
}

// Reconfigure applies run-time topic changes between steps: MinISR,
// LagTicks, FetchWaitTicks, FetchBackoffTicks (zero keeps the current
// value) and DurableHW. The mode, the identity and the store are fixed for
// the node's lifetime. A DurableHW change never lowers the high watermark:
// it only changes which ends count from now on.
func (n *Node) Reconfigure(c Config) {
	if c.MinISR > 0 {
		n.cfg.MinISR = c.MinISR
	}
	if c.LagTicks > 0 {
		n.cfg.LagTicks = c.LagTicks
	}
	if c.FetchWaitTicks > 0 {
		n.cfg.FetchWaitTicks = c.FetchWaitTicks
	}
	if c.FetchBackoffTicks > 0 {
		n.cfg.FetchBackoffTicks = c.FetchBackoffTicks
	}
	n.cfg.DurableHW = c.DurableHW
	n.update()
	n.checkInvariants()
}
