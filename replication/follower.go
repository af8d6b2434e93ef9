package replication

import "slices"

// followerState is the node's state while it follows a leader.
type followerState struct {
	// inflight: a FetchRequest (seq, sent at tick sentAt, for fetchOffset)
	// is outstanding. At most one is.
	inflight    bool
	seq         uint64
	sentAt      int64
	fetchOffset int64
	// waiting: no fetch outstanding; the next one goes at tick retryAt,
	// or earlier on LocalLogChanged when waitingForSync.
	waiting        bool
	waitingForSync bool
	retryAt        int64
	// leaderHW is the leader's high watermark from the last reply in this
	// epoch, or -1.
	leaderHW int64
}

func (n *Node) stepBecomeFollower(m BecomeFollower) error {
	noop, err := n.checkMetadataEpoch(m.Epoch, RoleFollower, m.Leader, m.Replicas)
	if noop || err != nil {
		return err
	}
	if m.Leader == n.id {
		return ErrInvalidMessage
	}
	n.leaveRole()
	n.role, n.epoch, n.leader = RoleFollower, m.Epoch, m.Leader
	n.replicas = slices.Clone(m.Replicas)
	n.isr, n.isrVersion = nil, 0
	n.follow = followerState{leaderHW: -1}
	// An epoch we led without appending anything has no batches: drop it,
	// so our epochs describe our log (the leader compares them with its
	// own).
	if n.epochs.TruncateFromEnd(n.logEndOffset()) {
		n.epochsDirty = true
	}
	if m.Leader != NoLeader {
		n.sendFetch()
	}
	return nil
}

func (n *Node) sendFetch() {
	n.fetchSeq++
	end := n.logEndOffset()
	n.follow.inflight, n.follow.seq, n.follow.sentAt, n.follow.fetchOffset = true, n.fetchSeq, n.now, end
	n.follow.waiting, n.follow.waitingForSync = false, false
	last := n.lastEpoch()
	if planted("no-epoch-check") {
		last = NoEpoch // the leader then cannot tell a diverged log
	}
	n.send(FetchRequest{
		To: n.leader, Seq: n.fetchSeq, Epoch: n.epoch, FetchOffset: end,
		DurableEnd: n.durableEndOffset(), LastFetchedEpoch: last,
	})
}

// backoff waits FetchBackoffTicks before the next fetch.
func (n *Node) backoff() {
	n.follow.inflight = false
	n.follow.waiting, n.follow.retryAt = true, n.now+int64(n.cfg.FetchBackoffTicks)
}

func (n *Node) tickFollower() {
	if n.leader == NoLeader {
		return
	}
	f := &n.follow
	switch {
	case f.inflight && n.now-f.sentAt >= int64(n.cfg.FetchWaitTicks+n.cfg.FetchBackoffTicks):
		// The request or its reply was lost.
		n.sendFetch()
	case f.waiting && n.now >= f.retryAt:
		n.sendFetch()
	}
}

// stepFetchResponse handles the leader's reply after the driver appended
// what it carried.
func (n *Node) stepFetchResponse(m FetchResponse) error {
	// What the driver appended is in the log whatever we think of the
	// reply: its epochs go into the cache.
	for _, e := range m.Appended {
		if n.epochs.Assign(e.Epoch, e.StartOffset) {
			n.epochsDirty = true
		}
	}
	f := &n.follow
	if n.role != RoleFollower || m.Epoch != n.epoch || m.From != n.leader || !f.inflight || m.Seq != f.seq {
		return nil // stale
	}
	f.inflight = false
	switch m.Error {
	case ErrorNone:
	case ErrorOffsetOutOfRange:
		if n.logEndOffset() < m.LogStartOffset {
			n.truncateLog(Truncation{Offset: m.LogStartOffset, Fully: true})
			n.sendFetch()
		} else {
			n.backoff()
		}
		return nil
	default:
		// Fenced: we wait for the new metadata. Unknown epoch or not
		// leader: the leader has not caught up with the controller.
		n.backoff()
		return nil
	}
	if m.DivergingEndOffset >= 0 {
		n.truncateDiverging(m.DivergingEpoch, m.DivergingEndOffset)
		return nil
	}
	f.leaderHW = max(f.leaderHW, m.HighWatermark)
	n.followerUpdate()
	end := n.logEndOffset()
	if n.cfg.DurableHW && n.durableEndOffset() < end && end == f.fetchOffset {
		// Nothing new and our tail is not synced: the leader's high
		// watermark waits for our sync, so fetch again once it happened.
		n.backoff()
		f.waitingForSync = true
		return nil
	}
	n.sendFetch()
	return nil
}

// truncateDiverging finds where our log leaves the leader's, given the
// leader's (epoch, end offset) for our last fetched epoch, truncates there
// and fetches again (KIP-101 with KIP-320's fetch-based detection; Kafka's
// AbstractFetcherThread.getOffsetTruncationState). The high watermark plays
// no part: records above it may be kept, and none below it are removed
// unless they were lost elsewhere.
func (n *Node) truncateDiverging(leaderEpoch Epoch, leaderEnd int64) {
	end := n.logEndOffset()
	target := min(leaderEnd, end)
	if leaderEpoch >= 0 {
		epoch, epochEnd := n.epochs.EndOffsetFor(leaderEpoch, end)
		switch {
		case epoch == leaderEpoch:
			// We both have the epoch: it ends at the smaller end.
			target = min(leaderEnd, epochEnd)
		case epoch >= 0:
			// We do not have the leader's epoch: cut at the end of our
			// largest epoch below it and ask again.
			target = epochEnd
		}
	}
	if target < end {
		n.truncateLog(Truncation{Offset: target})
		n.sendFetch()
		return
	}
	// Nothing to cut: back off rather than spin (the leader has not
	// caught up with its own metadata yet).
	n.backoff()
}

// followerUpdate: our high watermark is the leader's, capped by what we
// hold (durably, with DurableHW). A replica that restarted uncleanly is
// eligible again once it holds everything the leader has committed.
func (n *Node) followerUpdate() {
	if n.follow.leaderHW < 0 {
		return
	}
	hw := min(n.follow.leaderHW, n.committedEnd())
	n.setHighWatermark(hw)
	if !n.eligible && n.logEndOffset() >= n.follow.leaderHW {
		n.eligible = true
	}
}

func (n *Node) followerLogChanged() {
	f := &n.follow
	if f.waiting && f.waitingForSync && n.durableEndOffset() >= f.fetchOffset {
		n.sendFetch()
	}
}
