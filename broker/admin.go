package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// adminTimeout bounds how long an admin call waits for etcd and for the
// local partitions to open.
const adminTimeout = 15 * time.Second

// Metadata describes the cluster from this broker's cached view.
func (b *Broker) Metadata(ctx context.Context, req *brokerpb.MetadataRequest) (*brokerpb.MetadataResponse, error) {
	snap := b.coord.Snapshot()
	resp := &brokerpb.MetadataResponse{ClusterId: snap.ClusterID, Controller: snap.Controller}
	ids := slices.Sorted(maps.Keys(snap.Brokers))
	for _, id := range ids {
		bi := snap.Brokers[id]
		resp.Brokers = append(resp.Brokers, &brokerpb.BrokerInfo{Id: bi.ID, Addr: bi.Addr, DataAddr: bi.DataAddr, AdminAddr: bi.AdminAddr, Rack: bi.Rack})
	}
	names := req.Topics
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(snap.Topics))
	}
	for _, name := range names {
		t, ok := snap.Topics[name]
		if !ok {
			return nil, toStatus(errf(codeUnknownTopic, "unknown topic %q", name))
		}
		resp.Topics = append(resp.Topics, topicInfo(snap, t))
	}
	return resp, nil
}

func topicInfo(snap *coord.Snapshot, t coord.Topic) *brokerpb.TopicInfo {
	ti := &brokerpb.TopicInfo{Name: t.Name, Id: t.ID, ReplicationFactor: t.ReplicationFactor, Configs: maps.Clone(t.Configs)}
	for _, ps := range snap.Partitions[t.Name] {
		ti.Partitions = append(ti.Partitions, &brokerpb.PartitionInfo{
			Partition: ps.Partition, Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch,
			Replicas: slices.Clone(ps.Replicas), Isr: slices.Clone(ps.ISR), Elr: slices.Clone(ps.ELR),
			TargetReplicas: slices.Clone(ps.TargetReplicas),
		})
	}
	return ti
}

// CreateTopic validates the request and has the controller write the topic
// and its partition assignment.
func (b *Broker) CreateTopic(ctx context.Context, req *brokerpb.CreateTopicRequest) (*brokerpb.CreateTopicResponse, error) {
	start := time.Now()
	resp, err := b.createTopic(ctx, req)
	b.metrics.observe("create_topic", start, err)
	return resp, toStatus(err)
}

func (b *Broker) createTopic(ctx context.Context, req *brokerpb.CreateTopicRequest) (*brokerpb.CreateTopicResponse, error) {
	if e := validateTopicName(req.Name); e != nil {
		return nil, e
	}
	if req.Partitions < 1 || req.Partitions > MaxPartitionsPerTopic {
		return nil, errf(codeInvalidPartitions, "%d partitions; want 1..%d", req.Partitions, MaxPartitionsPerTopic)
	}
	rf := req.ReplicationFactor
	if rf == 0 {
		rf = b.cfg.DefaultReplicationFactor
	}
	if rf < 1 || rf > MaxReplicationFactor {
		return nil, errf(codeInvalidRequest, "replication factor %d; want 1..%d", rf, MaxReplicationFactor)
	}
	if e := validateConfigs(req.Configs); e != nil {
		return nil, e
	}
	eff := parseSettings(effectiveConfigs(req.Configs, b.cfg.TopicDefaults))
	if eff.minISR > int(rf) {
		return nil, errf(codeInvalidConfig, "min.insync.replicas %d exceeds the replication factor %d: acks=all could never succeed", eff.minISR, rf)
	}
	snap, e := b.checkedSnapshot(ctx, func(snap *coord.Snapshot) *Error {
		if _, ok := snap.Topics[req.Name]; ok {
			return errf(codeTopicExists, "topic %q already exists", req.Name)
		}
		if int(rf) > len(snap.Brokers) {
			return errf(codeInvalidRequest, "replication factor %d exceeds the %d live brokers %v", rf, len(snap.Brokers), liveBrokerIDs(snap))
		}
		return nil
	})
	if e != nil {
		return nil, e
	}
	l := b.controller()
	if l == nil {
		c, e := b.controllerClient(ctx)
		if e != nil {
			return nil, e
		}
		return c.CreateTopic(ctx, req)
	}
	parts := assignReplicas(snap, req.Partitions, rf)
	stampLeaders(snap, parts)
	spec := coord.TopicSpec{Name: req.Name, ID: newTopicID(), Partitions: req.Partitions, ReplicationFactor: rf, Configs: req.Configs}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	rev, err := b.coord.CreateTopic(ctx, l, spec, parts)
	switch {
	case errors.Is(err, coord.ErrTopicExists):
		return nil, errf(codeTopicExists, "topic %q already exists", req.Name)
	case errors.Is(err, coord.ErrNotController):
		return nil, errf(codeBrokerNotAvailable, "broker %d lost the controller role; retry", b.cfg.ID)
	case err != nil:
		return nil, errf(codeBrokerNotAvailable, "writing topic %q to etcd: %v", req.Name, err)
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return nil, asError(err)
	}
	snap = b.coord.Snapshot()
	t, ok := snap.Topics[req.Name]
	if !ok {
		return nil, errf(codeUnknownTopic, "topic %q vanished right after creation", req.Name)
	}
	b.logger.Info("topic created", "topic", req.Name, "partitions", req.Partitions, "rf", rf)
	return &brokerpb.CreateTopicResponse{Topic: topicInfo(snap, t)}, nil
}

// syncTimeout bounds how long a refusal waits for the metadata cache to
// catch up with etcd before it is given.
const syncTimeout = 5 * time.Second

// checkedSnapshot returns the cached metadata and what check says of it.
// When check refuses, the cache is first brought up to date with etcd
// (coord.Sync) and checked again: a refusal must not come from a cache a
// moment behind, as on a broker that has just started, whose watch has not
// yet delivered the registrations of brokers that started with it (a
// CreateTopic with RF 3 right after a 3-broker cluster starts, which
// Kafka answers with INVALID_REPLICATION_FACTOR until the controller has
// heard of every broker). If the sync fails, the first refusal stands.
func (b *Broker) checkedSnapshot(ctx context.Context, check func(*coord.Snapshot) *Error) (*coord.Snapshot, *Error) {
	snap := b.coord.Snapshot()
	e := check(snap)
	if e == nil {
		return snap, nil
	}
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if err := b.coord.Sync(sctx); err != nil {
		b.logger.Debug("metadata sync before a refusal failed", "refusal", e.Msg, "err", err)
		return snap, e
	}
	snap = b.coord.Snapshot()
	return snap, check(snap)
}

func newTopicID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// controllerClient connects to the controller to forward an admin call.
func (b *Broker) controllerClient(ctx context.Context) (brokerpb.SluiceClient, *Error) {
	id := b.coord.Snapshot().Controller
	if id < 0 || id == b.cfg.ID {
		return nil, errf(codeBrokerNotAvailable, "no controller is elected yet; retry")
	}
	return b.brokerClient(id)
}

// DeleteTopic removes a topic and, on every broker, its data.
func (b *Broker) DeleteTopic(ctx context.Context, req *brokerpb.DeleteTopicRequest) (*brokerpb.DeleteTopicResponse, error) {
	start := time.Now()
	resp, err := b.deleteTopic(ctx, req)
	b.metrics.observe("delete_topic", start, err)
	return resp, toStatus(err)
}

func (b *Broker) deleteTopic(ctx context.Context, req *brokerpb.DeleteTopicRequest) (*brokerpb.DeleteTopicResponse, error) {
	if e := validateTopicName(req.Name); e != nil {
		return nil, e
	}
	if _, ok := b.coord.Snapshot().Topics[req.Name]; !ok {
		return nil, errf(codeUnknownTopic, "unknown topic %q", req.Name)
	}
	l := b.controller()
	if l == nil {
		c, e := b.controllerClient(ctx)
		if e != nil {
			return nil, e
		}
		return c.DeleteTopic(ctx, req)
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	rev, err := b.coord.DeleteTopic(ctx, l, req.Name)
	switch {
	case errors.Is(err, coord.ErrUnknownTopic):
		return nil, errf(codeUnknownTopic, "unknown topic %q", req.Name)
	case err != nil:
		return nil, errf(codeBrokerNotAvailable, "deleting topic %q in etcd: %v", req.Name, err)
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return nil, asError(err)
	}
	b.logger.Info("topic deleted", "topic", req.Name)
	return &brokerpb.DeleteTopicResponse{}, nil
}

// DescribeTopic returns the topic, its effective configs and the offsets of
// the partitions this broker leads.
func (b *Broker) DescribeTopic(ctx context.Context, req *brokerpb.DescribeTopicRequest) (*brokerpb.DescribeTopicResponse, error) {
	snap := b.coord.Snapshot()
	t, ok := snap.Topics[req.Name]
	if !ok {
		return nil, toStatus(errf(codeUnknownTopic, "unknown topic %q", req.Name))
	}
	resp := &brokerpb.DescribeTopicResponse{Topic: topicInfo(snap, t), EffectiveConfigs: effectiveConfigs(t.Configs, b.cfg.TopicDefaults)}
	for p := range t.Partitions {
		b.mu.RLock()
		part := b.partitions[topicPartition{t.Name, p}]
		b.mu.RUnlock()
		if part == nil {
			continue
		}
		st := part.snapshot()
		if st.role != roleLeader {
			continue
		}
		start, end, _ := part.log.Offsets()
		resp.Offsets = append(resp.Offsets, &brokerpb.PartitionOffsets{
			Partition: p, LogStartOffset: start, HighWatermark: st.highWatermark, LogEndOffset: end, SizeBytes: part.log.SizeBytes(),
		})
	}
	return resp, nil
}

// ListTopics lists every topic.
func (b *Broker) ListTopics(ctx context.Context, _ *brokerpb.ListTopicsRequest) (*brokerpb.ListTopicsResponse, error) {
	snap := b.coord.Snapshot()
	resp := &brokerpb.ListTopicsResponse{}
	for _, name := range slices.Sorted(maps.Keys(snap.Topics)) {
		resp.Topics = append(resp.Topics, topicInfo(snap, snap.Topics[name]))
	}
	return resp, nil
}

// AlterConfig sets and deletes explicit topic settings.
func (b *Broker) AlterConfig(ctx context.Context, req *brokerpb.AlterConfigRequest) (*brokerpb.AlterConfigResponse, error) {
	start := time.Now()
	resp, err := b.alterConfig(ctx, req)
	b.metrics.observe("alter_config", start, err)
	return resp, toStatus(err)
}

func (b *Broker) alterConfig(ctx context.Context, req *brokerpb.AlterConfigRequest) (*brokerpb.AlterConfigResponse, error) {
	if e := validateTopicName(req.Topic); e != nil {
		return nil, e
	}
	if len(req.Set) == 0 && len(req.Delete) == 0 {
		return nil, errf(codeInvalidRequest, "nothing to alter: give configs to set or delete")
	}
	if e := validateConfigs(req.Set); e != nil {
		return nil, e
	}
	for _, k := range req.Delete {
		if _, ok := topicConfigSpecs[k]; !ok {
			return nil, errf(codeInvalidConfig, "unknown config %q", k)
		}
	}
	l := b.controller()
	if l == nil {
		c, e := b.controllerClient(ctx)
		if e != nil {
			return nil, e
		}
		return c.AlterConfig(ctx, req)
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		snap := b.coord.Snapshot()
		t, ok := snap.Topics[req.Topic]
		if !ok {
			return nil, errf(codeUnknownTopic, "unknown topic %q", req.Topic)
		}
		next := maps.Clone(t.Configs)
		if next == nil {
			next = map[string]string{}
		}
		maps.Copy(next, req.Set)
		for _, k := range req.Delete {
			delete(next, k)
		}
		eff := parseSettings(effectiveConfigs(next, b.cfg.TopicDefaults))
		if eff.minISR > int(t.ReplicationFactor) {
			return nil, errf(codeInvalidConfig, "min.insync.replicas %d exceeds the replication factor %d", eff.minISR, t.ReplicationFactor)
		}
		// The commit and election rules of a topic are fixed at creation:
		// replicas keep the mode they were started with, and switching a
		// running partition between majority and ISR commit would let the
		// controller elect by one rule what was committed by the other.
		if cur := parseSettings(effectiveConfigs(t.Configs, b.cfg.TopicDefaults)); eff.quorum != cur.quorum {
			return nil, errf(codeInvalidConfig, "%s cannot change after the topic is created (recreate the topic)", CfgReplicationMode)
		}
		rev, err := b.coord.UpdateTopicConfigs(ctx, l, req.Topic, next, t.Revision)
		if errors.Is(err, coord.ErrConflict) && attempt < 5 {
			if err := b.coord.WaitRevision(ctx, snap.Revision+1); err != nil {
				return nil, asError(err)
			}
			continue
		}
		if err != nil {
			return nil, errf(codeBrokerNotAvailable, "updating %q in etcd: %v", req.Topic, err)
		}
		if err := b.waitApplied(ctx, rev); err != nil {
			return nil, asError(err)
		}
		snap = b.coord.Snapshot()
		return &brokerpb.AlterConfigResponse{Topic: topicInfo(snap, snap.Topics[req.Topic])}, nil
	}
}

// ListOffsets answers from the partition leader.
func (b *Broker) ListOffsets(ctx context.Context, req *brokerpb.ListOffsetsRequest) (*brokerpb.ListOffsetsResponse, error) {
	resp, err := b.listOffsets(req)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (b *Broker) listOffsets(req *brokerpb.ListOffsetsRequest) (*brokerpb.ListOffsetsResponse, error) {
	if e := b.checkServing(); e != nil {
		return nil, e
	}
	p, e := b.partitionFor(req.Topic, req.Partition)
	if e != nil {
		return nil, e
	}
	st, e := p.leaderFor(req.LeaderEpoch)
	if e != nil {
		return nil, e
	}
	resp := &brokerpb.ListOffsetsResponse{LeaderEpoch: st.leaderEpoch}
	if req.Spec != brokerpb.OffsetSpec_EARLIEST {
		if e := st.hwReadable(req.Topic, req.Partition); e != nil {
			return nil, e
		}
	}
	switch req.Spec {
	case brokerpb.OffsetSpec_EARLIEST:
		resp.Offset = p.log.LogStartOffset()
	case brokerpb.OffsetSpec_LATEST:
		resp.Offset = st.highWatermark
	case brokerpb.OffsetSpec_TIMESTAMP:
		off, ok, err := p.log.ReadAtTime(req.TimestampMs)
		if err != nil {
			return nil, storageError(err)
		}
		resp.Offset = -1
		if ok && off < st.highWatermark {
			resp.Offset = off
		}
	default:
		return nil, errf(codeInvalidRequest, "offset spec %v: want EARLIEST, LATEST or TIMESTAMP", req.Spec)
	}
	return resp, nil
}

// InitProducerId allocates an idempotent producer's id through etcd (unique
// and increasing across the cluster) with epoch 0.
func (b *Broker) InitProducerId(ctx context.Context, _ *brokerpb.InitProducerIdRequest) (*brokerpb.InitProducerIdResponse, error) {
	if e := b.checkServing(); e != nil {
		return nil, toStatus(e)
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	id, err := b.coord.NextProducerID(ctx)
	if err != nil {
		return nil, toStatus(errf(codeBrokerNotAvailable, "allocating a producer id in etcd: %v", err))
	}
	return &brokerpb.InitProducerIdResponse{ProducerId: id, ProducerEpoch: 0}, nil
}
