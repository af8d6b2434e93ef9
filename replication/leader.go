package replication

import (
	"fmt"
	"slices"
)

// leaderState is the node's state while it leads an epoch.
type leaderState struct {
	// epochStartOffset is the log end offset when this epoch began: the
	// first offset this leader writes. A follower joins the ISR only once
	// it has reached it (Kafka's rule), and in ModeQuorum the high
	// watermark only advances past it (Raft's rule: commit by counting
	// replicas only entries of the current epoch).
	epochStartOffset int64
	// followers are the other replicas, in replica order.
	followers []*followerProgress
	// proposal is the outstanding ISR proposal (at most one), sent at tick
	// proposedAt.
	proposal   *ISRProposal
	proposedAt int64
	// unconfirmed are replicas added by proposals the controller has not
	// answered yet. The high watermark counts them as in sync (Kafka's
	// maximal ISR, KIP-497): the controller may already have written them
	// into the ISR, making them leader-eligible, so nothing may be
	// committed without them.
	unconfirmed []BrokerID
}

// followerProgress is the leader's view of one follower in this epoch.
type followerProgress struct {
	id BrokerID
	// fetched: a fetch in this epoch passed the divergence check, so the
	// follower's log matches ours up to logEnd. Until then its offsets are
	// unknown and it holds the ISR high watermark back.
	fetched bool
	// Invariant (once fetched): durableEnd <= logEnd <= the leader's log end.
	logEnd, durableEnd int64
	// lastCaughtUp is the last tick at which the follower was known to
	// hold everything the leader had (Kafka's lastCaughtUpTime):
	// replica.lag.time.max is measured from it.
	lastCaughtUp int64
	// lastFetchTick and lastFetchLeaderLogEnd are the tick of the previous
	// fetch and the leader's log end then: a fetch reaching that log end
	// proves the follower was caught up at that tick.
	lastFetchTick         int64
	lastFetchLeaderLogEnd int64
	// parked is a reply held back because it had nothing new (parkedAt:
	// when). sentHW is the high watermark in the last reply sent.
	parked   *FetchReply
	parkedAt int64
	sentHW   int64
}

func (l *leaderState) progress(id BrokerID) *followerProgress {
	for _, p := range l.followers {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (n *Node) stepBecomeLeader(m BecomeLeader) error {
	noop, err := n.checkMetadataEpoch(m.Epoch, RoleLeader, n.id, m.Replicas)
	if noop || err != nil {
		return err
	}
	n.leaveRole()
	n.role, n.epoch, n.leader = RoleLeader, m.Epoch, n.id
	n.replicas = slices.Clone(m.Replicas)
	n.isr, n.isrVersion = slices.Clone(m.ISR), m.ISRVersion
	end := n.logEndOffset()
	// The new epoch begins at our log end. The driver persists the cache
	// (Ready.EpochCache) before it appends anything in this epoch.
	n.epochs.Assign(m.Epoch, end)
	n.epochsDirty = true
	n.lead = leaderState{epochStartOffset: end}
	for _, id := range n.replicas {
		if id == n.id {
			continue
		}
		// Every follower gets a full lag period to show up.
		n.lead.followers = append(n.lead.followers, &followerProgress{
			id: id, lastCaughtUp: n.now, lastFetchTick: n.now, lastFetchLeaderLogEnd: end, sentHW: -1,
		})
	}
	// The high watermark stays where it was: it moves again only when the
	// followers' offsets are known in this epoch.
	return nil
}

// stepFollowerFetch serves a follower's fetch: fencing, the divergence
// check (KIP-320), the follower's progress, and a reply (now, or parked
// until there is something new).
func (n *Node) stepFollowerFetch(m FollowerFetch) error {
	reply := FetchReply{
		To: m.From, Seq: m.Seq, Epoch: n.epoch, DivergingEpoch: NoEpoch, DivergingEndOffset: -1,
		HighWatermark: n.highWatermark, LogStartOffset: n.logStartOffset(),
	}
	switch {
	case m.Epoch < n.epoch:
		reply.Error = ErrorFencedEpoch
	case m.Epoch > n.epoch:
		reply.Error = ErrorUnknownEpoch
	case n.role != RoleLeader:
		reply.Error = ErrorNotLeader
	}
	if reply.Error != ErrorNone {
		n.send(reply)
		return nil
	}
	p := n.lead.progress(m.From)
	if p == nil {
		return fmt.Errorf("%w: fetch from %d, replicas %v", ErrUnknownReplica, m.From, n.replicas)
	}
	if m.FetchOffset < 0 || m.DurableEnd < 0 {
		return fmt.Errorf("%w: %v", ErrInvalidMessage, m)
	}
	// A newer fetch supersedes a parked one: the follower gave up on it.
	p.parked = nil
	start, end := n.logStartOffset(), n.logEndOffset()
	if m.FetchOffset < start {
		reply.Error = ErrorOffsetOutOfRange
		n.send(reply)
		return nil
	}
	if m.LastFetchedEpoch >= 0 {
		epoch, epochEnd := n.epochs.EndOffsetFor(m.LastFetchedEpoch, end)
		if epochEnd < 0 {
			// We know nothing about that epoch: compare with our log end.
			epoch, epochEnd = NoEpoch, end
		}
		if epoch < m.LastFetchedEpoch || epochEnd < m.FetchOffset {
			reply.DivergingEpoch, reply.DivergingEndOffset = epoch, epochEnd
			n.send(reply)
			return nil
		}
	}
	if m.FetchOffset > end {
		reply.DivergingEpoch, reply.DivergingEndOffset = NoEpoch, end
		n.send(reply)
		return nil
	}

	// The follower's log matches ours up to FetchOffset.
	p.fetched = true
	p.logEnd = m.FetchOffset
	p.durableEnd = min(m.DurableEnd, m.FetchOffset)
	switch {
	case m.FetchOffset >= end:
		p.lastCaughtUp = n.now
	case m.FetchOffset >= p.lastFetchLeaderLogEnd:
		p.lastCaughtUp = max(p.lastCaughtUp, p.lastFetchTick)
	}
	p.lastFetchTick, p.lastFetchLeaderLogEnd = n.now, end
	n.leaderUpdate()

	reply.HighWatermark = n.highWatermark
	reply.ReadFrom, reply.ReadTo = m.FetchOffset, end
	nothingNew := m.FetchOffset == end && p.sentHW == n.highWatermark
	if nothingNew && (!n.cfg.DurableHW || p.durableEnd == p.logEnd) {
		// An unsynced follower is answered at once: its next fetch
		// reports a durable end the high watermark is waiting for.
		p.parked, p.parkedAt = &reply, n.now
		return nil
	}
	p.sentHW = n.highWatermark
	n.send(reply)
	return nil
}

func (n *Node) tickLeader() {
	for _, p := range n.lead.followers {
		if p.parked == nil {
			continue
		}
		// A parked follower holds everything we have: a write would have
		// answered it.
		p.lastCaughtUp = n.now
		if n.now-p.parkedAt >= int64(n.cfg.FetchWaitTicks) {
			n.answerParked(p)
		}
	}
	if n.lead.proposal != nil && n.now-n.lead.proposedAt >= int64(n.cfg.FetchBackoffTicks) {
		// No answer from the controller: propose again (maybeProposeISR
		// in update). The unconfirmed replicas stay counted.
		n.lead.proposal = nil
	}
}

// leaderUpdate recomputes what follows from the leader's state.
func (n *Node) leaderUpdate() {
	n.advanceLeaderHW()
	for _, p := range n.lead.followers {
		if p.parked != nil && (n.logEndOffset() > p.parked.ReadFrom || n.highWatermark != p.sentHW) {
			n.answerParked(p)
		}
	}
	n.maybeProposeISR()
}

func (n *Node) answerParked(p *followerProgress) {
	r := *p.parked
	p.parked = nil
	r.ReadTo = n.logEndOffset()
	r.HighWatermark = n.highWatermark
	r.LogStartOffset = n.logStartOffset()
	p.sentHW = n.highWatermark
	p.lastCaughtUp = n.now
	n.send(r)
}

// maximalISR is the applied ISR plus the replicas of unconfirmed proposals.
func (n *Node) maximalISR() []BrokerID {
	isr := slices.Clone(n.isr)
	for _, id := range n.lead.unconfirmed {
		if !slices.Contains(isr, id) {
			isr = append(isr, id)
		}
	}
	return isr
}

func (p *followerProgress) committedEnd(durable bool) int64 {
	if durable {
		return p.durableEnd
	}
	return p.logEnd
}

// advanceLeaderHW applies the mode's commit rule.
func (n *Node) advanceLeaderHW() {
	own := n.committedEnd()
	switch n.cfg.Mode {
	case ModeISR:
		// The smallest end over the (maximal) ISR, once every member's
		// end is known in this epoch.
		hw := own
		for _, id := range n.maximalISR() {
			if id == n.id {
				continue
			}
			p := n.lead.progress(id)
			if p == nil {
				continue
			}
			if !p.fetched {
				return
			}
			hw = min(hw, p.committedEnd(n.cfg.DurableHW))
		}
		if planted("hw-early") {
			hw = own
		}
		n.setHighWatermark(hw)
	case ModeQuorum:
		// The highest offset held by a majority of all replicas
		// (unknown followers hold nothing) ...
		ends := []int64{own}
		for _, p := range n.lead.followers {
			if p.fetched {
				ends = append(ends, p.committedEnd(n.cfg.DurableHW))
			} else {
				ends = append(ends, -1)
			}
		}
		slices.Sort(ends)
		slices.Reverse(ends)
		hw := ends[len(ends)/2]
		// ... counted only when it includes a record of this epoch: a
		// majority holding older records does not stop a replica with a
		// newer last epoch from winning the next election and truncating
		// them (Raft §5.4.2, Figure 8).
		if hw > n.lead.epochStartOffset {
			n.setHighWatermark(hw)
		}
	}
}

// maybeProposeISR proposes a new ISR when followers fell behind for longer
// than LagTicks or caught up (Kafka's rule: log end >= high watermark and
// >= this epoch's start), unless a proposal is outstanding.
func (n *Node) maybeProposeISR() {
	if n.lead.proposal != nil {
		return
	}
	lag := int64(n.cfg.LagTicks)
	next := make([]BrokerID, 0, len(n.replicas))
	for _, id := range n.replicas {
		if id == n.id {
			next = append(next, id)
			continue
		}
		p := n.lead.progress(id)
		recent := n.now-p.lastCaughtUp <= lag
		if slices.Contains(n.isr, id) {
			if recent {
				next = append(next, id)
			}
			continue
		}
		caughtUp := p.fetched && p.logEnd >= n.highWatermark && p.logEnd >= n.lead.epochStartOffset &&
			(!n.cfg.DurableHW || p.durableEnd >= n.highWatermark)
		if caughtUp && recent {
			next = append(next, id)
		}
	}
	if sameMembers(next, n.isr) {
		return
	}
	prop := ISRProposal{Epoch: n.epoch, ISR: next, Version: n.isrVersion}
	n.lead.proposal, n.lead.proposedAt = &prop, n.now
	for _, id := range next {
		if !slices.Contains(n.isr, id) && !slices.Contains(n.lead.unconfirmed, id) {
			n.lead.unconfirmed = append(n.lead.unconfirmed, id)
		}
	}
	n.send(ISRProposal{Epoch: prop.Epoch, ISR: slices.Clone(next), Version: prop.Version})
}

func sameMembers(a, b []BrokerID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}
