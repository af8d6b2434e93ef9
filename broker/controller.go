package broker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// The controller's partition duties (DESIGN §4, §5): elect a leader when a
// partition has none, when its leader's lease expired, or when its leader
// registered again (restarted, or lost and regained its session: it must
// not lead an epoch its log may already hold); and move leadership back to
// preferred replicas. Every change bumps the leader epoch and is a
// compare-and-swap on the partition key made under the controller's
// leadership, so a deposed controller's decisions never land.
//
// ISR mode (Kafka's rule): the new leader is the first live, eligible ISR
// member in replica order; dead brokers leave the ISR with the change.
// Quorum mode (Raft's rule): the controller first fences the partition
// (leader none, epoch+1), then, once a majority of the replicas reports
// that fenced epoch, elects among them the one with the highest (last
// epoch, log end offset).
//
// Eligibility comes from the replicas themselves (DescribeReplicas): a
// replica that restarted uncleanly with sync.policy other than always is
// not eligible until it caught up. When every ISR member (quorum: every
// replica) is back and none is eligible, nothing better will come: the
// controller elects the most complete of them (KIP-966's balanced
// recovery). Unclean leader election, a topic setting off by default,
// elects any live replica when no ISR member can lead.

// controllerRetry is how often the controller revisits partitions it
// could not settle yet (a quorum waiting for fenced replicas, a replica
// that did not answer).
const controllerRetry = 250 * time.Millisecond

func (b *Broker) controllerLoop() {
	nextRebalance := time.Now().Add(b.cfg.LeaderRebalanceInterval)
	for {
		changed := b.coord.Changed()
		pending := false
		if l := b.controller(); l != nil {
			pending = b.electLeaders(l)
			pending = b.advanceReassignments(l) || pending
			if b.cfg.LeaderRebalanceInterval > 0 && !time.Now().Before(nextRebalance) {
				b.rebalanceLeaders(l)
				nextRebalance = time.Now().Add(b.cfg.LeaderRebalanceInterval)
			}
		}
		wait := time.Second
		if pending {
			wait = controllerRetry
		}
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-b.controllerWake:
		case <-timer.C:
		case <-b.ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// electionJob is a partition that needs a leader.
type electionJob struct {
	ps       coord.PartitionState
	settings topicSettings
	reason   string
}

// needsLeader says why a partition needs an election, or "".
func needsLeader(snap *coord.Snapshot, ps coord.PartitionState) string {
	if ps.Leader < 0 {
		return "offline"
	}
	info, live := snap.Brokers[ps.Leader]
	switch {
	case !live:
		return "leader-lost"
	case ps.LeaderBrokerEpoch != 0 && info.Epoch != ps.LeaderBrokerEpoch:
		return "leader-restarted"
	}
	return ""
}

// electLeaders settles every partition that needs a leader; it reports
// whether some could not be settled yet.
func (b *Broker) electLeaders(l coord.Leadership) (pending bool) {
	snap := b.coord.Snapshot()
	var jobs []electionJob
	b.eachPartition(snap, func(ps coord.PartitionState, settings topicSettings) {
		if reason := needsLeader(snap, ps); ps.Revision != 0 && reason != "" {
			jobs = append(jobs, electionJob{ps: ps, settings: settings, reason: reason})
		}
	})
	if len(jobs) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	statuses := b.replicaStatuses(ctx, snap, jobs)
	for _, j := range jobs {
		next, settled, rule := decideLeader(snap, j, statuses)
		if next == nil {
			pending = pending || !settled
			continue
		}
		if _, err := b.coord.UpdatePartition(ctx, l, *next); err != nil {
			if !errors.Is(err, coord.ErrConflict) && b.ctx.Err() == nil {
				b.logger.Warn("leader election not written", "topic", j.ps.Topic, "partition", j.ps.Partition, "err", err)
			}
			pending = true
			continue
		}
		reason := j.reason
		if next.Leader < 0 {
			reason = "fence"
		}
		b.metrics.elections.WithLabelValues(reason, rule).Inc()
		b.logger.Info("partition leader changed", "topic", j.ps.Topic, "partition", j.ps.Partition, "reason", reason, "rule", rule,
			"from", j.ps.Leader, "to", next.Leader, "epoch", next.LeaderEpoch, "isr", next.ISR)
		pending = pending || next.Leader < 0
	}
	return pending
}

// replicaKey names one replica's status.
type replicaKey struct {
	broker    int32
	topic     string
	partition int32
}

// replicaStatuses asks every live replica of the jobs' partitions for its
// state, one call per broker, in parallel. Brokers that do not answer are
// missing from the result (not eligible).
func (b *Broker) replicaStatuses(ctx context.Context, snap *coord.Snapshot, jobs []electionJob) map[replicaKey]*brokerpb.ReplicaStatus {
	asks := map[int32][]*brokerpb.ReplicaRef{}
	for _, j := range jobs {
		for _, id := range j.ps.Replicas {
			if _, live := snap.Brokers[id]; live {
				asks[id] = append(asks[id], &brokerpb.ReplicaRef{Topic: j.ps.Topic, Partition: j.ps.Partition})
			}
		}
	}
	type answer struct {
		id   int32
		resp *brokerpb.DescribeReplicasResponse
	}
	answers := make(chan answer, len(asks))
	for id, refs := range asks {
		go func() {
			req := &brokerpb.DescribeReplicasRequest{Partitions: refs}
			var resp *brokerpb.DescribeReplicasResponse
			var e *Error
			if id == b.cfg.ID {
				resp, e = b.describeReplicas(ctx, req)
			} else if c, ce := b.brokerClient(id); ce == nil {
				var err error
				resp, err = c.DescribeReplicas(ctx, req)
				if err != nil {
					e = asError(err)
				}
			} else {
				e = ce
			}
			if e != nil {
				b.logger.Debug("replica status unavailable", "broker", id, "err", e)
				resp = nil
			}
			answers <- answer{id, resp}
		}()
	}
	out := map[replicaKey]*brokerpb.ReplicaStatus{}
	for range asks {
		a := <-answers
		if a.resp == nil {
			continue
		}
		for _, r := range a.resp.Replicas {
			out[replicaKey{a.id, r.Topic, r.Partition}] = r
		}
	}
	return out
}

// decideLeader returns the partition's next state, or nil when nothing can
// be written now; settled is false when a later attempt may succeed.
//
// rule names what chose the leader: "isr" (an eligible ISR member),
// "quorum" (the most complete of an eligible fenced majority), "recovery"
// (every replica back, none eligible: the most complete), "unclean" (the
// topic allows any live replica), "fence" (no leader yet).
func decideLeader(snap *coord.Snapshot, j electionJob, statuses map[replicaKey]*brokerpb.ReplicaStatus) (next *coord.PartitionState, settled bool, rule string) {
	ps := j.ps
	status := func(id int32) *brokerpb.ReplicaStatus {
		return statuses[replicaKey{id, ps.Topic, ps.Partition}]
	}
	live := func(id int32) bool { _, ok := snap.Brokers[id]; return ok }
	elect := func(leader int32, isr []int32, sameEpoch bool) *coord.PartitionState {
		n := ps
		n.Leader = leader
		if !sameEpoch {
			n.LeaderEpoch = ps.LeaderEpoch + 1
		}
		n.LeaderBrokerEpoch = snap.Brokers[leader].Epoch
		n.ISR, n.ELR = isr, nil
		return &n
	}
	fence := func() *coord.PartitionState {
		if ps.Leader < 0 {
			return nil // already fenced and leaderless
		}
		n := ps
		n.Leader, n.LeaderEpoch, n.LeaderBrokerEpoch = -1, ps.LeaderEpoch+1, 0
		return &n
	}
	// most complete: highest (last epoch, log end offset).
	best := func(ids []int32) int32 {
		return slices.MaxFunc(ids, func(a, c int32) int {
			sa, sc := status(a), status(c)
			return cmp.Or(cmp.Compare(sa.LastEpoch, sc.LastEpoch), cmp.Compare(sa.LogEndOffset, sc.LogEndOffset), cmp.Compare(c, a))
		})
	}
	if j.settings.quorum {
		if ps.Leader >= 0 {
			// Fence first: the replicas must stop following the old epoch
			// before their offsets are compared.
			return fence(), false, "fence"
		}
		var fenced, eligible []int32
		for _, id := range ps.Replicas {
			s := status(id)
			if !live(id) || s == nil || s.LeaderEpoch != ps.LeaderEpoch || s.Leader != -1 {
				continue
			}
			fenced = append(fenced, id)
			if s.Eligible {
				eligible = append(eligible, id)
			}
		}
		majority := len(ps.Replicas)/2 + 1
		switch {
		case len(eligible) >= majority:
			return elect(best(eligible), fenced, true), true, "quorum"
		case len(fenced) == len(ps.Replicas) && len(fenced) > 0:
			// Every replica is back and fenced, too few eligible: the most
			// complete one is the best there will be.
			return elect(best(fenced), fenced, true), true, "recovery"
		case j.settings.unclean && len(fenced) > 0:
			return elect(best(fenced), fenced, true), true, "unclean"
		}
		return nil, false, ""
	}
	var liveISR, candidates []int32
	for _, id := range ps.Replicas {
		if !slices.Contains(ps.ISR, id) || !live(id) {
			continue
		}
		liveISR = append(liveISR, id)
		if s := status(id); s != nil && s.Eligible {
			candidates = append(candidates, id)
		}
	}
	if planted("elect-outside-isr", 1) {
		for _, id := range ps.Replicas {
			if !slices.Contains(ps.ISR, id) && live(id) && status(id) != nil {
				return elect(id, append(liveISR, id), false), true, "isr"
			}
		}
	}
	switch {
	case len(candidates) > 0:
		return elect(candidates[0], liveISR, false), true, "isr"
	case len(liveISR) == len(ps.ISR) && len(liveISR) > 0 && allAnswered(liveISR, status):
		// Every ISR member is back and none is eligible (all restarted
		// uncleanly): elect the most complete.
		return elect(best(liveISR), liveISR, false), true, "recovery"
	case j.settings.unclean:
		var any []int32
		for _, id := range ps.Replicas {
			if live(id) && status(id) != nil {
				any = append(any, id)
			}
		}
		if len(any) > 0 {
			return elect(best(any), []int32{best(any)}, false), true, "unclean"
		}
	}
	return fence(), false, "fence"
}

func allAnswered(ids []int32, status func(int32) *brokerpb.ReplicaStatus) bool {
	for _, id := range ids {
		if status(id) == nil {
			return false
		}
	}
	return true
}

// rebalanceLeaders moves leadership back to each partition's preferred
// replica (the first) when it is live, in the ISR and eligible (ISR mode
// only: in quorum mode a leader is chosen by its log, not by preference).
func (b *Broker) rebalanceLeaders(l coord.Leadership) {
	snap := b.coord.Snapshot()
	var jobs []electionJob
	b.eachPartition(snap, func(ps coord.PartitionState, settings topicSettings) {
		if settings.quorum || ps.Revision == 0 || len(ps.Replicas) == 0 || ps.TargetReplicas != nil || needsLeader(snap, ps) != "" {
			return
		}
		pref := ps.Replicas[0]
		if _, live := snap.Brokers[pref]; live && ps.Leader != pref && slices.Contains(ps.ISR, pref) {
			jobs = append(jobs, electionJob{ps: ps, settings: settings, reason: "preferred"})
		}
	})
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	statuses := b.replicaStatuses(ctx, snap, jobs)
	for _, j := range jobs {
		pref := j.ps.Replicas[0]
		if s := statuses[replicaKey{pref, j.ps.Topic, j.ps.Partition}]; s == nil || !s.Eligible {
			continue
		}
		next := j.ps
		next.Leader, next.LeaderEpoch, next.LeaderBrokerEpoch = pref, j.ps.LeaderEpoch+1, snap.Brokers[pref].Epoch
		if _, err := b.coord.UpdatePartition(ctx, l, next); err != nil {
			continue
		}
		b.metrics.elections.WithLabelValues("preferred", "preferred").Inc()
		b.logger.Info("leadership moved to the preferred replica", "topic", j.ps.Topic, "partition", j.ps.Partition, "from", j.ps.Leader, "to", pref, "epoch", next.LeaderEpoch)
	}
}

// eachPartition calls fn for every partition of every topic in snap, with
// the topic's effective settings.
func (b *Broker) eachPartition(snap *coord.Snapshot, fn func(ps coord.PartitionState, settings topicSettings)) {
	for name, parts := range snap.Partitions {
		topic, ok := snap.Topics[name]
		if !ok {
			continue // deleted: its partition keys go with it
		}
		settings := parseSettings(effectiveConfigs(topic.Configs, b.cfg.TopicDefaults))
		for _, ps := range parts {
			fn(ps, settings)
		}
	}
}

// stampLeaders records each new partition's leader registration (topic
// creation), so a restart of that broker is noticed (needsLeader).
func stampLeaders(snap *coord.Snapshot, parts []coord.PartitionState) {
	for i := range parts {
		if info, ok := snap.Brokers[parts[i].Leader]; ok {
			parts[i].LeaderBrokerEpoch = info.Epoch
		}
	}
}
