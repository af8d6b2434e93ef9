package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// Partition reassignment (Kafka's KIP-455, carried out by the controller):
// the request only records where each partition's replicas should go
// (PartitionState.TargetReplicas, with ReassignFrom to go back to on
// cancel). The controller then walks Replicas towards the target, one
// compare-and-swap per step, each step a new leader epoch because a
// replica learns its peers only with a new epoch:
//
//  1. add: the new replicas join Replicas; they open an empty log and
//     fetch from the leader like any follower;
//  2. catch up: wait until every target replica is in the ISR (the leader
//     admits a follower once it reached the high watermark, both modes);
//  3. switch: drop the replicas that are not in the target, moving
//     leadership first if the leader is one of them.
//
// The two replication modes differ in how big a step may be:
//
//   - isr: all new replicas are added at once and the switch is one write
//     (Replicas = target, ISR ∩ target, a new leader from the ISR when the
//     old one leaves). Every ISR member holds every committed record, so
//     any of them may lead.
//   - quorum: one replica at a time, each added one caught up before the
//     next (Raft's single-server membership changes: the majorities of two
//     consecutive replica sets always overlap, so a record committed by
//     either is on some member of every later majority, even while a
//     leader still commits by the set it knew before). A leaving leader is
//     removed together with a fence (no leader, epoch+1), and the quorum
//     election then picks the most complete of the rest, as on failover:
//     an ISR member of a quorum partition may lack committed records.
//
// A partition whose leader is gone waits: elections come first.

// ReassignPartitions records target replica sets for the controller.
func (b *Broker) ReassignPartitions(ctx context.Context, req *brokerpb.ReassignPartitionsRequest) (*brokerpb.ReassignPartitionsResponse, error) {
	start := time.Now()
	resp, err := b.reassignPartitions(ctx, req)
	b.metrics.observe("reassign_partitions", start, err)
	return resp, toStatus(err)
}

func (b *Broker) reassignPartitions(ctx context.Context, req *brokerpb.ReassignPartitionsRequest) (*brokerpb.ReassignPartitionsResponse, error) {
	if e := validateTopicName(req.Topic); e != nil {
		return nil, e
	}
	if len(req.Partitions) == 0 || len(req.Partitions) > MaxPartitionsPerTopic {
		return nil, errf(codeInvalidRequest, "%d partitions to reassign; want 1..%d", len(req.Partitions), MaxPartitionsPerTopic)
	}
	// A target broker that has just registered may not be in this broker's
	// cache yet; checkedSnapshot syncs with etcd before refusing.
	_, e := b.checkedSnapshot(ctx, func(snap *coord.Snapshot) *Error { return checkReassignment(snap, req) })
	if e != nil {
		return nil, e
	}
	l := b.controller()
	if l == nil {
		c, e := b.controllerClient(ctx)
		if e != nil {
			return nil, e
		}
		return c.ReassignPartitions(ctx, req)
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var last int64
	for i, r := range req.Partitions {
		rev, e := b.recordReassignment(ctx, l, req.Topic, r)
		if e != nil {
			if i > 0 {
				e.Msg += fmt.Sprintf(" (the %d partitions before %d are recorded)", i, r.Partition)
			}
			return nil, e
		}
		last = max(last, rev)
	}
	if err := b.waitApplied(ctx, last); err != nil {
		return nil, asError(err)
	}
	snap := b.coord.Snapshot()
	b.logger.Info("reassignment recorded", "topic", req.Topic, "partitions", len(req.Partitions))
	return &brokerpb.ReassignPartitionsResponse{Topic: topicInfo(snap, snap.Topics[req.Topic])}, nil
}

// checkReassignment validates a request against the metadata: the topic
// and its partitions exist, each is named once, and each target is valid.
func checkReassignment(snap *coord.Snapshot, req *brokerpb.ReassignPartitionsRequest) *Error {
	t, ok := snap.Topics[req.Topic]
	if !ok {
		return errf(codeUnknownTopic, "unknown topic %q", req.Topic)
	}
	seen := map[int32]bool{}
	for _, r := range req.Partitions {
		if r.Partition < 0 || r.Partition >= t.Partitions {
			return errf(codeUnknownTopic, "topic %q has no partition %d", req.Topic, r.Partition)
		}
		if seen[r.Partition] {
			return errf(codeInvalidRequest, "partition %d is named twice", r.Partition)
		}
		seen[r.Partition] = true
		if e := checkTargetReplicas(snap, t, r); e != nil {
			return e
		}
	}
	return nil
}

// checkTargetReplicas validates one partition's request against the
// metadata: a reassignment moves replicas, it does not change how many
// there are.
func checkTargetReplicas(snap *coord.Snapshot, t coord.Topic, r *brokerpb.PartitionReassignment) *Error {
	if r.Cancel {
		if len(r.Replicas) > 0 {
			return errf(codeInvalidRequest, "partition %d: a cancel names no replicas", r.Partition)
		}
		return nil
	}
	if len(r.Replicas) != int(t.ReplicationFactor) {
		return errf(codeInvalidRequest, "partition %d: %d replicas given, the topic's replication factor is %d", r.Partition, len(r.Replicas), t.ReplicationFactor)
	}
	for i, id := range r.Replicas {
		if slices.Contains(r.Replicas[:i], id) {
			return errf(codeInvalidRequest, "partition %d: broker %d is named twice", r.Partition, id)
		}
		if _, live := snap.Brokers[id]; !live {
			return errf(codeInvalidRequest, "partition %d: broker %d is not registered (live brokers: %v)", r.Partition, id, liveBrokerIDs(snap))
		}
	}
	return nil
}

// recordReassignment writes one partition's target (or cancel), retrying
// lost compare-and-swaps against ISR changes and elections.
func (b *Broker) recordReassignment(ctx context.Context, l coord.Leadership, topic string, r *brokerpb.PartitionReassignment) (int64, *Error) {
	for attempt := 0; ; attempt++ {
		snap := b.coord.Snapshot()
		ps, ok := snap.Partition(topic, r.Partition)
		if !ok {
			return 0, errf(codeUnknownTopic, "topic %q has no partition %d", topic, r.Partition)
		}
		next := ps
		switch {
		case r.Cancel && ps.TargetReplicas == nil:
			return 0, errf(brokerpb.ErrorCode_NO_REASSIGNMENT_IN_PROGRESS, "partition %d of %q is not being reassigned", r.Partition, topic)
		case r.Cancel:
			next.TargetReplicas = slices.Clone(ps.ReassignFrom)
		case ps.TargetReplicas == nil && slices.Equal(ps.Replicas, r.Replicas):
			return ps.Revision, nil // already there
		default:
			if ps.TargetReplicas == nil {
				next.ReassignFrom = slices.Clone(ps.Replicas)
			}
			next.TargetReplicas = slices.Clone(r.Replicas)
		}
		rev, err := b.coord.UpdatePartition(ctx, l, next)
		switch {
		case err == nil:
			return rev, nil
		case errors.Is(err, coord.ErrConflict) && attempt < 10:
			if err := b.coord.WaitRevision(ctx, snap.Revision+1); err != nil {
				return 0, asError(err)
			}
		case errors.Is(err, coord.ErrNotController):
			return 0, errf(codeBrokerNotAvailable, "broker %d lost the controller role; retry", b.cfg.ID)
		default:
			return 0, errf(codeBrokerNotAvailable, "writing the reassignment of %s-%d to etcd: %v", topic, r.Partition, err)
		}
	}
}

func liveBrokerIDs(snap *coord.Snapshot) []int32 {
	ids := make([]int32, 0, len(snap.Brokers))
	for id := range snap.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// advanceReassignments takes every partition under reassignment one step
// further; it reports whether some are still under way.
func (b *Broker) advanceReassignments(l coord.Leadership) (pending bool) {
	snap := b.coord.Snapshot()
	var jobs, needStatus []electionJob
	b.eachPartition(snap, func(ps coord.PartitionState, settings topicSettings) {
		if ps.Revision == 0 || ps.TargetReplicas == nil {
			return
		}
		pending = true
		if needsLeader(snap, ps) != "" {
			return // the election comes first
		}
		j := electionJob{ps: ps, settings: settings, reason: "reassign"}
		jobs = append(jobs, j)
		if !settings.quorum && !slices.Contains(ps.TargetReplicas, ps.Leader) {
			needStatus = append(needStatus, j)
		}
	})
	if len(jobs) == 0 {
		return pending
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	var statuses map[replicaKey]*brokerpb.ReplicaStatus
	if len(needStatus) > 0 {
		statuses = b.replicaStatuses(ctx, snap, needStatus)
	}
	for _, j := range jobs {
		next, step := reassignStep(snap, j, statuses)
		if next == nil {
			continue
		}
		if _, err := b.coord.UpdatePartition(ctx, l, *next); err != nil {
			if !errors.Is(err, coord.ErrConflict) && b.ctx.Err() == nil {
				b.logger.Warn("reassignment step not written", "topic", j.ps.Topic, "partition", j.ps.Partition, "step", step, "err", err)
			}
			continue
		}
		b.metrics.reassignSteps.WithLabelValues(step).Inc()
		b.logger.Info("reassignment step", "topic", j.ps.Topic, "partition", j.ps.Partition, "step", step,
			"replicas", next.Replicas, "target", j.ps.TargetReplicas, "leader", next.Leader, "epoch", next.LeaderEpoch)
	}
	return pending
}

// reassignStep returns the partition's next state on the way to its
// target and the step's name, or nil while it waits (for new replicas to
// catch up, or for an eligible leader among the target).
func reassignStep(snap *coord.Snapshot, j electionJob, statuses map[replicaKey]*brokerpb.ReplicaStatus) (*coord.PartitionState, string) {
	ps := j.ps
	target := ps.TargetReplicas
	next := ps
	next.Replicas, next.ISR = slices.Clone(ps.Replicas), slices.Clone(ps.ISR)
	next.LeaderEpoch = ps.LeaderEpoch + 1
	done := func() {
		next.Replicas = slices.Clone(target)
		next.TargetReplicas, next.ReassignFrom = nil, nil
	}

	var adding []int32
	for _, id := range target {
		if !slices.Contains(ps.Replicas, id) {
			adding = append(adding, id)
		}
	}
	if len(adding) > 0 {
		if j.settings.quorum {
			// One at a time, each caught up before the next: a lagging
			// newcomer raises the majority without helping it.
			for _, id := range ps.Replicas {
				if !slices.Contains(ps.ReassignFrom, id) && !slices.Contains(ps.ISR, id) {
					return nil, ""
				}
			}
			adding = adding[:1]
		}
		next.Replicas = append(next.Replicas, adding...)
		return &next, "add"
	}
	for _, id := range target {
		if !slices.Contains(ps.ISR, id) {
			return nil, "" // still catching up
		}
	}
	var removing []int32
	for _, id := range ps.Replicas {
		if !slices.Contains(target, id) {
			removing = append(removing, id)
		}
	}
	if len(removing) == 0 {
		// Only the order changes (the preferred leader): no replica
		// learns anything new, so the epoch stays.
		next.LeaderEpoch = ps.LeaderEpoch
		done()
		return &next, "reorder"
	}
	if !j.settings.quorum {
		if !slices.Contains(target, ps.Leader) {
			leader := int32(-1)
			for _, id := range target {
				s := statuses[replicaKey{id, ps.Topic, ps.Partition}]
				if _, live := snap.Brokers[id]; live && s != nil && s.Eligible {
					leader = id
					break
				}
			}
			if leader < 0 {
				return nil, ""
			}
			next.Leader, next.LeaderBrokerEpoch = leader, snap.Brokers[leader].Epoch
		}
		next.ISR = slices.DeleteFunc(next.ISR, func(id int32) bool { return !slices.Contains(target, id) })
		next.ELR = nil
		done()
		return &next, "switch"
	}
	// Quorum: followers leave first, the leader last, with a fence.
	leaving := removing[0]
	for _, id := range removing {
		if id != ps.Leader {
			leaving = id
			break
		}
	}
	drop := func(id int32) bool { return id == leaving }
	next.Replicas = slices.DeleteFunc(next.Replicas, drop)
	next.ISR = slices.DeleteFunc(next.ISR, drop)
	step := "remove"
	if leaving == ps.Leader {
		next.Leader, next.LeaderBrokerEpoch = -1, 0
		step = "remove-leader"
	}
	if len(removing) == 1 {
		done()
	}
	return &next, step
}
