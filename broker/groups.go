package broker

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/broker/group"
)

// Consumer groups. Each group has one coordinator: the live broker its id
// hashes to (over the sorted ids of the live brokers). The coordinator
// claims the group in etcd on its own lease (so the claim dies with it),
// restores the group's state from etcd, runs the group.Coordinator state
// machine, and persists every state change before answering. Offset
// commits are one etcd transaction each, conditional on the claim and on
// the group state the member epoch was checked against.
type groupService struct {
	b *Broker

	mu   sync.Mutex // guards core and held
	core *group.Coordinator
	held map[string]*heldGroup
}

// heldGroup is a group this broker coordinates. mu serialises its etcd
// writes (state and commits), so metaRev is always the stored revision.
type heldGroup struct {
	mu      sync.Mutex
	claim   coord.GroupClaim
	metaRev int64
}

const (
	groupTickEvery       = 250 * time.Millisecond
	maxCommitPartitions  = 10000
	maxCommitMetadataLen = 4096
)

func newGroupService(b *Broker) *groupService {
	gs := &groupService{b: b, held: map[string]*heldGroup{}}
	gs.core = group.New(group.Config{PartitionCounts: gs.partitionCount})
	return gs
}

// partitionCount answers the group core from the metadata cache.
func (gs *groupService) partitionCount(topic string) (int32, bool) {
	t, ok := gs.b.coord.Snapshot().Topics[topic]
	return t.Partitions, ok
}

// coordinatorFor picks the group's coordinator among the live brokers.
func (gs *groupService) coordinatorFor(groupID string) (coord.BrokerInfo, bool) {
	snap := gs.b.coord.Snapshot()
	ids := slices.Sorted(maps.Keys(snap.Brokers))
	if len(ids) == 0 {
		return coord.BrokerInfo{}, false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(groupID))
	return snap.Brokers[ids[h.Sum32()%uint32(len(ids))]], true
}

func validGroupName(g string) *Error {
	if g == "" || len(g) > coord.MaxGroupNameLen || !topicNameRE.MatchString(g) {
		return errf(codeInvalidRequest, "group id %q: use 1..%d ASCII letters, digits, '.', '_' or '-'", g, coord.MaxGroupNameLen)
	}
	return nil
}

// hold returns the group when this broker is (or now becomes) its
// coordinator, loading its state from etcd the first time.
func (gs *groupService) hold(ctx context.Context, groupID string) (*heldGroup, *Error) {
	if e := validGroupName(groupID); e != nil {
		return nil, e
	}
	if e := gs.b.checkServing(); e != nil {
		return nil, e
	}
	c, ok := gs.coordinatorFor(groupID)
	if !ok || c.ID != gs.b.cfg.ID {
		e := errf(brokerpb.ErrorCode_NOT_COORDINATOR, "broker %d does not coordinate group %q (broker %d does)", gs.b.cfg.ID, groupID, c.ID)
		e.Leader = c.ID
		return nil, e
	}
	gs.mu.Lock()
	h := gs.held[groupID]
	gs.mu.Unlock()
	if h != nil {
		return h, nil
	}
	s := gs.b.session.Load().s
	claim, err := gs.b.coord.Groups().Claim(ctx, s, groupID, gs.b.cfg.ID)
	if err != nil {
		return nil, errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "claiming group %q: %v", groupID, err)
	}
	rec, err := gs.b.coord.Groups().Load(ctx, groupID)
	if err != nil {
		return nil, errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "loading group %q: %v", groupID, err)
	}
	h = &heldGroup{claim: claim, metaRev: rec.MetaRevision}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if prev := gs.held[groupID]; prev != nil {
		return prev, nil
	}
	if len(rec.Meta) > 0 {
		var st group.GroupState
		if err := json.Unmarshal(rec.Meta, &st); err != nil {
			return nil, errf(codeUnknown, "group %q: stored state unreadable: %v", groupID, err)
		}
		if k := gs.core.Restore(st, time.Now()); k != group.ErrNone {
			return nil, errf(codeUnknown, "group %q: cannot restore: %v", groupID, k)
		}
		gs.b.logger.Info("group state restored", "group", groupID, "members", len(st.Members), "epoch", st.GroupEpoch)
	}
	gs.held[groupID] = h
	return h, nil
}

// persist stores the groups a call changed, before its answer goes out.
// mine is the held group the call worked on: if it was handed over or
// dropped meanwhile (the tick loop releases groups whose coordinator moved),
// nothing was stored and the caller must not answer with the new state.
func (gs *groupService) persist(ctx context.Context, mine *heldGroup, ch group.Changes) *Error {
	for _, ev := range ch.Events {
		gs.b.logger.Debug("group event", "event", ev.String())
	}
	for _, st := range ch.Groups {
		gs.mu.Lock()
		h := gs.held[st.Group]
		gs.mu.Unlock()
		if h == nil || (mine != nil && st.Group == mine.claim.Group && h != mine) {
			if mine != nil && st.Group == mine.claim.Group {
				return errf(brokerpb.ErrorCode_NOT_COORDINATOR, "group %q moved to another coordinator", st.Group)
			}
			continue
		}
		data, err := json.Marshal(st)
		if err != nil {
			return errf(codeUnknown, "encoding group %q: %v", st.Group, err)
		}
		rev, err := gs.b.coord.Groups().SaveMeta(ctx, h.claim, data, h.metaRev)
		if err != nil {
			gs.drop(st.Group)
			return errf(brokerpb.ErrorCode_NOT_COORDINATOR, "group %q moved: %v", st.Group, err)
		}
		h.metaRev = rev
	}
	return nil
}

// drop forgets a group this broker no longer coordinates.
func (gs *groupService) drop(groupID string) {
	gs.mu.Lock()
	delete(gs.held, groupID)
	gs.mu.Unlock()
	// The state machine keeps its copy: hold() restores the stored state
	// over it if this broker coordinates the group again.
}

// tickLoop expires members and hands groups over when the coordinator
// choice moved (a broker joined or left).
func (gs *groupService) tickLoop() {
	t := time.NewTicker(groupTickEvery)
	defer t.Stop()
	for {
		select {
		case <-gs.b.ctx.Done():
			return
		case <-t.C:
		}
		gs.mu.Lock()
		ch := gs.core.Tick(time.Now())
		ids := slices.Collect(maps.Keys(gs.held))
		gs.mu.Unlock()
		ctx, cancel := context.WithTimeout(gs.b.ctx, adminTimeout)
		for _, st := range ch.Groups {
			gs.withGroup(st.Group, func(h *heldGroup) { _ = gs.persist(ctx, h, group.Changes{Groups: []group.GroupState{st}}) })
		}
		for _, id := range ids {
			if c, ok := gs.coordinatorFor(id); ok && c.ID != gs.b.cfg.ID {
				gs.withGroup(id, func(h *heldGroup) {
					gs.drop(id)
					_ = gs.b.coord.Groups().Release(ctx, h.claim)
					gs.b.logger.Info("handed group over", "group", id, "to", c.ID)
				})
			}
		}
		cancel()
	}
}

func (gs *groupService) withGroup(id string, fn func(h *heldGroup)) {
	gs.mu.Lock()
	h := gs.held[id]
	gs.mu.Unlock()
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(h)
}

func groupErr(k group.ErrorKind, what string) *Error {
	switch k {
	case group.ErrNone:
		return nil
	case group.ErrUnknownMember:
		return errf(brokerpb.ErrorCode_UNKNOWN_MEMBER, "%s: unknown member (rejoin with epoch 0)", what)
	case group.ErrFencedMemberEpoch:
		return errf(brokerpb.ErrorCode_FENCED_MEMBER_EPOCH, "%s: member epoch fenced (rejoin with epoch 0)", what)
	case group.ErrStaleMemberEpoch:
		return errf(brokerpb.ErrorCode_STALE_MEMBER_EPOCH, "%s: stale member epoch (heartbeat, then retry)", what)
	case group.ErrGroupMaxSize:
		return errf(brokerpb.ErrorCode_GROUP_MAX_SIZE_REACHED, "%s: group is full", what)
	case group.ErrGroupNotEmpty:
		return errf(brokerpb.ErrorCode_GROUP_NOT_EMPTY, "%s: group has members", what)
	case group.ErrUnknownGroup:
		return errf(brokerpb.ErrorCode_UNKNOWN_GROUP, "%s: unknown group", what)
	}
	return errf(codeInvalidRequest, "%s: %v", what, k)
}

func toTPs(in []*brokerpb.TopicPartition) []group.TopicPartition {
	out := make([]group.TopicPartition, 0, len(in))
	for _, tp := range in {
		out = append(out, group.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	return out
}

func fromTPs(in []group.TopicPartition) []*brokerpb.TopicPartition {
	out := make([]*brokerpb.TopicPartition, 0, len(in))
	for _, tp := range in {
		out = append(out, &brokerpb.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	return out
}

// FindCoordinator names the group's coordinator.
func (b *Broker) FindCoordinator(ctx context.Context, req *brokerpb.FindCoordinatorRequest) (*brokerpb.FindCoordinatorResponse, error) {
	if e := validGroupName(req.Group); e != nil {
		return nil, toStatus(e)
	}
	c, ok := b.groups.coordinatorFor(req.Group)
	if !ok {
		return nil, toStatus(errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "no live broker"))
	}
	return &brokerpb.FindCoordinatorResponse{Coordinator: c.ID, Addr: c.Addr}, nil
}

// GroupHeartbeat is KIP-848's ConsumerGroupHeartbeat.
func (b *Broker) GroupHeartbeat(ctx context.Context, req *brokerpb.GroupHeartbeatRequest) (*brokerpb.GroupHeartbeatResponse, error) {
	start := time.Now()
	resp, e := b.groups.heartbeat(ctx, req)
	err := errOrNil(e)
	b.metrics.observe("group_heartbeat", start, err)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (gs *groupService) heartbeat(ctx context.Context, req *brokerpb.GroupHeartbeatRequest) (*brokerpb.GroupHeartbeatResponse, *Error) {
	h, e := gs.hold(ctx, req.Group)
	if e != nil {
		return nil, e
	}
	hr := group.HeartbeatRequest{
		Group: req.Group, MemberID: group.MemberID(req.MemberId), MemberEpoch: req.MemberEpoch, Assignor: req.Assignor,
		SessionTimeout:   time.Duration(req.SessionTimeoutMs) * time.Millisecond,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMs) * time.Millisecond,
	}
	if req.TopicsSet {
		hr.Topics = append([]string{}, req.Topics...)
	}
	if req.TagFilterSet {
		if _, err := parseTagFilter(req.TagFilter); err != nil {
			return nil, errf(codeInvalidRequest, "tag filter %q: %v", req.TagFilter, err)
		}
		f := req.TagFilter
		hr.TagFilter = &f
	}
	if req.OwnedSet {
		hr.Owned = toTPs(req.Owned)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	gs.mu.Lock()
	if gs.held[req.Group] != h {
		gs.mu.Unlock()
		return nil, errf(brokerpb.ErrorCode_NOT_COORDINATOR, "group %q moved to another coordinator", req.Group)
	}
	resp, ch := gs.core.Heartbeat(hr, time.Now())
	gs.mu.Unlock()
	if e := gs.persist(ctx, h, ch); e != nil {
		return nil, e
	}
	if e := groupErr(resp.Error, "heartbeat of group "+strconv.Quote(req.Group)); e != nil {
		return nil, e
	}
	return &brokerpb.GroupHeartbeatResponse{
		MemberId: string(resp.MemberID), MemberEpoch: resp.MemberEpoch,
		HeartbeatIntervalMs: int32(resp.HeartbeatInterval.Milliseconds()), Assignment: fromTPs(resp.Assignment),
	}, nil
}

// CommitOffsets stores a member's offsets in one etcd transaction, refused
// for a member epoch that is not the member's current one.
func (b *Broker) CommitOffsets(ctx context.Context, req *brokerpb.CommitOffsetsRequest) (*brokerpb.CommitOffsetsResponse, error) {
	start := time.Now()
	e := b.groups.commit(ctx, req.Group, req.MemberId, req.MemberEpoch, req.Offsets)
	err := errOrNil(e)
	b.metrics.observe("commit_offsets", start, err)
	if err != nil {
		return nil, toStatus(err)
	}
	return &brokerpb.CommitOffsetsResponse{}, nil
}

func (gs *groupService) commit(ctx context.Context, groupID, member string, epoch int32, offsets []*brokerpb.OffsetCommit) *Error {
	if len(offsets) == 0 || len(offsets) > maxCommitPartitions {
		return errf(codeInvalidRequest, "commit of %d partitions; want 1..%d", len(offsets), maxCommitPartitions)
	}
	snap := gs.b.coord.Snapshot()
	out := make([]coord.CommittedOffset, 0, len(offsets))
	for _, o := range offsets {
		t, ok := snap.Topics[o.Topic]
		switch {
		case !ok || o.Partition < 0 || o.Partition >= t.Partitions:
			return errf(codeUnknownTopic, "commit for unknown partition %s/%d", o.Topic, o.Partition)
		case o.Offset < 0:
			return errf(codeInvalidRequest, "commit of offset %d for %s/%d", o.Offset, o.Topic, o.Partition)
		case len(o.Metadata) > maxCommitMetadataLen:
			return errf(codeInvalidRequest, "commit metadata of %d bytes; at most %d", len(o.Metadata), maxCommitMetadataLen)
		}
		off := plantedCommitOffset(groupID, o.Topic, o.Partition, epoch, o.Offset)
		out = append(out, coord.CommittedOffset{Topic: o.Topic, Partition: o.Partition, Offset: off, Metadata: o.Metadata, MemberEpoch: epoch})
	}
	h, e := gs.hold(ctx, groupID)
	if e != nil {
		return e
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	gs.mu.Lock()
	if gs.held[groupID] != h {
		gs.mu.Unlock()
		return errf(brokerpb.ErrorCode_NOT_COORDINATOR, "group %q moved to another coordinator", groupID)
	}
	k := gs.core.ValidateCommit(groupID, group.MemberID(member), epoch)
	gs.mu.Unlock()
	if e := groupErr(k, "commit to group "+strconv.Quote(groupID)); e != nil {
		return e
	}
	if _, err := gs.b.coord.Groups().Commit(ctx, h.claim, h.metaRev, out); err != nil {
		if errors.Is(err, coord.ErrNotCoordinator) {
			gs.drop(groupID)
			return errf(brokerpb.ErrorCode_NOT_COORDINATOR, "group %q moved: %v", groupID, err)
		}
		return errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "committing offsets of group %q: %v", groupID, err)
	}
	return nil
}

// FetchOffsets reads committed offsets (from etcd: any broker can answer).
func (b *Broker) FetchOffsets(ctx context.Context, req *brokerpb.FetchOffsetsRequest) (*brokerpb.FetchOffsetsResponse, error) {
	if e := validGroupName(req.Group); e != nil {
		return nil, toStatus(e)
	}
	rec, err := b.coord.Groups().Load(ctx, req.Group)
	if err != nil {
		return nil, toStatus(errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "reading offsets of group %q: %v", req.Group, err))
	}
	byTP := map[group.TopicPartition]coord.CommittedOffset{}
	for _, o := range rec.Offsets {
		byTP[group.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o
	}
	resp := &brokerpb.FetchOffsetsResponse{}
	add := func(tp group.TopicPartition) {
		co := &brokerpb.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1}
		if o, ok := byTP[tp]; ok {
			co.Offset, co.Metadata, co.MemberEpoch = o.Offset, o.Metadata, o.MemberEpoch
		}
		resp.Offsets = append(resp.Offsets, co)
	}
	if len(req.Partitions) == 0 {
		for _, o := range rec.Offsets {
			add(group.TopicPartition{Topic: o.Topic, Partition: o.Partition})
		}
	} else {
		for _, tp := range toTPs(req.Partitions) {
			add(tp)
		}
	}
	return resp, nil
}

// DescribeGroup reports members, assignments, committed offsets and lag.
func (b *Broker) DescribeGroup(ctx context.Context, req *brokerpb.DescribeGroupRequest) (*brokerpb.DescribeGroupResponse, error) {
	resp, e := b.groups.describe(ctx, req.Group)
	if e != nil {
		return nil, toStatus(e)
	}
	return resp, nil
}

func (gs *groupService) describe(ctx context.Context, groupID string) (*brokerpb.DescribeGroupResponse, *Error) {
	h, e := gs.hold(ctx, groupID)
	if e != nil {
		return nil, e
	}
	rec, err := gs.b.coord.Groups().Load(ctx, groupID)
	if err != nil {
		return nil, errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "reading group %q: %v", groupID, err)
	}
	gs.mu.Lock()
	st, ok := gs.core.Describe(groupID)
	var state string
	for _, s := range gs.core.List() {
		if s.Group == groupID {
			state = string(s.State)
		}
	}
	gs.mu.Unlock()
	if !ok && len(rec.Offsets) == 0 {
		return nil, errf(brokerpb.ErrorCode_UNKNOWN_GROUP, "unknown group %q", groupID)
	}
	if state == "" {
		state = string(group.StatusEmpty)
	}
	resp := &brokerpb.DescribeGroupResponse{Group: groupID, State: state, GroupEpoch: st.GroupEpoch, Assignor: string(st.Assignor), Coordinator: h.claim.Broker}
	owner := map[group.TopicPartition]string{}
	partitions := map[group.TopicPartition]bool{}
	for _, m := range st.Members {
		resp.Members = append(resp.Members, &brokerpb.GroupMember{
			MemberId: string(m.ID), MemberEpoch: m.Epoch, Topics: m.Topics, TagFilter: m.TagFilter,
			Assignment: fromTPs(m.Assigned), Target: fromTPs(m.Target),
		})
		for _, tp := range append(slices.Clone(m.Assigned), m.Revoking...) {
			owner[tp] = string(m.ID)
		}
		for _, topic := range m.Topics {
			if n, ok := gs.partitionCount(topic); ok {
				for p := range n {
					partitions[group.TopicPartition{Topic: topic, Partition: p}] = true
				}
			}
		}
	}
	committed := map[group.TopicPartition]int64{}
	for _, o := range rec.Offsets {
		tp := group.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		committed[tp] = o.Offset
		partitions[tp] = true
	}
	tps := slices.Collect(maps.Keys(partitions))
	slices.SortFunc(tps, func(a, b group.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	for _, tp := range tps {
		pl := &brokerpb.PartitionLag{Topic: tp.Topic, Partition: tp.Partition, Committed: -1, HighWatermark: -1, Lag: -1, Owner: owner[tp]}
		if c, ok := committed[tp]; ok {
			pl.Committed = c
		}
		if hw, ok := gs.b.highWatermark(ctx, tp.Topic, tp.Partition); ok {
			pl.HighWatermark = hw
			if pl.Committed >= 0 {
				pl.Lag = max(hw-pl.Committed, 0)
			} else {
				pl.Lag = hw
			}
		}
		resp.Partitions = append(resp.Partitions, pl)
	}
	return resp, nil
}

// ListGroups lists every group stored in etcd, with the state of those
// this broker coordinates.
func (b *Broker) ListGroups(ctx context.Context, _ *brokerpb.ListGroupsRequest) (*brokerpb.ListGroupsResponse, error) {
	names, err := b.coord.Groups().List(ctx)
	if err != nil {
		return nil, toStatus(errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "listing groups: %v", err))
	}
	b.groups.mu.Lock()
	local := map[string]group.GroupSummary{}
	for _, s := range b.groups.core.List() {
		local[s.Group] = s
	}
	b.groups.mu.Unlock()
	resp := &brokerpb.ListGroupsResponse{}
	for _, n := range names {
		gsum := &brokerpb.GroupSummary{Group: n, Coordinator: -1}
		if c, ok := b.groups.coordinatorFor(n); ok {
			gsum.Coordinator = c.ID
		}
		if s, ok := local[n]; ok {
			gsum.State, gsum.Members = string(s.State), int32(s.Members)
		}
		resp.Groups = append(resp.Groups, gsum)
	}
	return resp, nil
}

// ResetOffsets sets an empty group's offsets for a topic.
func (b *Broker) ResetOffsets(ctx context.Context, req *brokerpb.ResetOffsetsRequest) (*brokerpb.ResetOffsetsResponse, error) {
	resp, e := b.groups.reset(ctx, req)
	if e != nil {
		return nil, toStatus(e)
	}
	return resp, nil
}

func (gs *groupService) reset(ctx context.Context, req *brokerpb.ResetOffsetsRequest) (*brokerpb.ResetOffsetsResponse, *Error) {
	t, ok := gs.b.coord.Snapshot().Topics[req.Topic]
	if !ok {
		return nil, errf(codeUnknownTopic, "unknown topic %q", req.Topic)
	}
	parts := req.Partitions
	if len(parts) == 0 {
		for p := range t.Partitions {
			parts = append(parts, p)
		}
	}
	var offsets []*brokerpb.OffsetCommit
	resp := &brokerpb.ResetOffsetsResponse{}
	for _, p := range parts {
		if p < 0 || p >= t.Partitions {
			return nil, errf(codeUnknownTopic, "topic %q has no partition %d", req.Topic, p)
		}
		off := req.Offset
		if req.Spec != brokerpb.OffsetSpec_OFFSET_SPEC_UNSPECIFIED {
			o, e := gs.b.listOffsetsAnywhere(ctx, &brokerpb.ListOffsetsRequest{Topic: req.Topic, Partition: p, Spec: req.Spec, TimestampMs: req.TimestampMs, LeaderEpoch: -1})
			if e != nil {
				return nil, e
			}
			if off = o; off < 0 {
				// No record at or after the time: start at the end.
				if off, e = gs.b.listOffsetsAnywhere(ctx, &brokerpb.ListOffsetsRequest{Topic: req.Topic, Partition: p, Spec: brokerpb.OffsetSpec_LATEST, LeaderEpoch: -1}); e != nil {
					return nil, e
				}
			}
		}
		offsets = append(offsets, &brokerpb.OffsetCommit{Topic: req.Topic, Partition: p, Offset: off, Metadata: "reset"})
		resp.Offsets = append(resp.Offsets, &brokerpb.CommittedOffset{Topic: req.Topic, Partition: p, Offset: off, MemberEpoch: -1})
	}
	// A commit outside membership is only accepted for an empty group.
	if e := gs.commit(ctx, req.Group, "", group.LeaveEpoch, offsets); e != nil {
		if e.Code == brokerpb.ErrorCode_UNKNOWN_MEMBER {
			return nil, errf(brokerpb.ErrorCode_GROUP_NOT_EMPTY, "group %q has members; stop its consumers before resetting offsets", req.Group)
		}
		return nil, e
	}
	return resp, nil
}

// DeleteGroup removes an empty group and its offsets.
func (b *Broker) DeleteGroup(ctx context.Context, req *brokerpb.DeleteGroupRequest) (*brokerpb.DeleteGroupResponse, error) {
	h, e := b.groups.hold(ctx, req.Group)
	if e != nil {
		return nil, toStatus(e)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b.groups.mu.Lock()
	k := b.groups.core.Delete(req.Group)
	b.groups.mu.Unlock()
	if k != group.ErrNone && k != group.ErrUnknownGroup {
		return nil, toStatus(groupErr(k, "delete group "+strconv.Quote(req.Group)))
	}
	rec, err := b.coord.Groups().Load(ctx, req.Group)
	if err != nil {
		return nil, toStatus(errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "%v", err))
	}
	if k == group.ErrUnknownGroup && rec.MetaRevision == 0 && len(rec.Offsets) == 0 {
		return nil, toStatus(errf(brokerpb.ErrorCode_UNKNOWN_GROUP, "unknown group %q", req.Group))
	}
	if err := b.coord.Groups().Delete(ctx, h.claim); err != nil {
		return nil, toStatus(errf(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, "%v", err))
	}
	h.metaRev = 0
	return &brokerpb.DeleteGroupResponse{}, nil
}

// highWatermark of a partition: local when this broker leads it, else
// asked of the leader.
func (b *Broker) highWatermark(ctx context.Context, topic string, p int32) (int64, bool) {
	hw, e := b.listOffsetsAnywhere(ctx, &brokerpb.ListOffsetsRequest{Topic: topic, Partition: p, Spec: brokerpb.OffsetSpec_LATEST, LeaderEpoch: -1})
	return hw, e == nil
}

// listOffsetsAnywhere answers ListOffsets locally or from the leader.
func (b *Broker) listOffsetsAnywhere(ctx context.Context, req *brokerpb.ListOffsetsRequest) (int64, *Error) {
	resp, err := b.listOffsets(req)
	if err == nil {
		return resp.Offset, nil
	}
	be := asError(err)
	if be.Code != codeNotLeader || be.Leader < 0 {
		return -1, be
	}
	c, e := b.brokerClient(be.Leader)
	if e != nil {
		return -1, e
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.ListOffsets(ctx, req)
	if err != nil {
		return -1, errf(codeLeaderNotAvailable, "asking leader %d: %v", be.Leader, err)
	}
	return r.Offset, nil
}

// brokerClient connects to another broker by id (connections cached).
func (b *Broker) brokerClient(id int32) (brokerpb.SluiceClient, *Error) {
	bi, ok := b.coord.Snapshot().Brokers[id]
	if !ok {
		return nil, errf(codeBrokerNotAvailable, "broker %d is not registered", id)
	}
	b.forwardMu.Lock()
	defer b.forwardMu.Unlock()
	cc, ok := b.forward[bi.Addr]
	if !ok {
		var err error
		opts := append(b.cfg.grpcDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if cc, err = grpc.NewClient(bi.Addr, opts...); err != nil {
			return nil, errf(codeBrokerNotAvailable, "broker %d at %s: %v", id, bi.Addr, err)
		}
		b.forward[bi.Addr] = cc
	}
	return brokerpb.NewSluiceClient(cc), nil
}
