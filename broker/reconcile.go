package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// topicIDMeta names the file in each partition directory that records
// which incarnation of the topic the data belongs to: a topic deleted and
// created again under the same name (while this broker was down) must not
// inherit the old records.
const topicIDMeta = "topic-id"

func (b *Broker) reconcileLoop() {
	for {
		// Take the change channel before reading the snapshot: a change
		// that lands while reconcile runs then wakes the next round.
		// (Taking it after reconcile lost such changes: a partition whose
		// election landed mid-round was never applied.)
		changed := b.coord.Changed()
		b.reconcile(b.coord.Snapshot())
		select {
		case <-changed:
		case <-b.ctx.Done():
			return
		}
	}
}

// reconcile makes the local partitions match the metadata: open the
// replicas this broker hosts, give each its leader/epoch/ISR and settings,
// close and delete the ones it no longer hosts.
func (b *Broker) reconcile(snap *coord.Snapshot) {
	want := map[topicPartition]coord.PartitionState{}
	for name, parts := range snap.Partitions {
		for _, ps := range parts {
			if slices.Contains(ps.Replicas, b.cfg.ID) {
				want[topicPartition{name, ps.Partition}] = ps
			}
		}
	}
	b.mu.RLock()
	var gone []topicPartition
	for tp, p := range b.partitions {
		ps, ok := want[tp]
		if !ok || snap.Topics[tp.topic].ID != p.topicID {
			gone = append(gone, tp)
			continue
		}
		_ = ps
	}
	b.mu.RUnlock()
	for _, tp := range gone {
		b.removePartition(tp)
	}
	for tp, ps := range want {
		topic := snap.Topics[tp.topic]
		eff := effectiveConfigs(topic.Configs, b.cfg.TopicDefaults)
		settings := parseSettings(eff)
		p, err := b.ensurePartition(tp, topic, settings, len(ps.Replicas))
		if err != nil {
			b.logger.Error("cannot open partition", "topic", tp.topic, "partition", tp.partition, "err", err)
			continue
		}
		st := p.snapshot()
		if st.settings != settings {
			if err := p.log.Reconfigure(engineReconfig(settings)); err != nil {
				b.logger.Error("cannot apply topic configs", "topic", tp.topic, "err", err)
			}
		}
		session := b.sessionEpoch()
		if p.metaRev.Load() != ps.Revision || p.metaSession.Load() != session || st.settings != settings {
			if err := p.applyMetadata(b.ctx, ps, settings, session); err != nil {
				if b.ctx.Err() == nil {
					b.logger.Error("cannot apply partition metadata", "topic", tp.topic, "partition", tp.partition, "err", err)
				}
				continue
			}
			p.metaRev.Store(ps.Revision)
			p.metaSession.Store(session)
		}
	}
	b.mu.Lock()
	if snap.Revision > b.appliedRev {
		b.appliedRev = snap.Revision
		close(b.applied)
		b.applied = make(chan struct{})
	}
	b.mu.Unlock()
	b.metrics.partitions.Set(float64(len(want)))
}

// waitApplied returns once the reconcile loop has applied revision rev, so
// a CreateTopic can answer after its partitions are open here.
func (b *Broker) waitApplied(ctx context.Context, rev int64) error {
	if err := b.coord.WaitRevision(ctx, rev); err != nil {
		return err
	}
	for {
		b.mu.RLock()
		done, ch := b.appliedRev >= rev, b.applied
		b.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func engineReconfig(s topicSettings) engine.Reconfig {
	delay := groupCommitDelay(s)
	return engine.Reconfig{
		SegmentBytes: &s.segmentBytes, SegmentMaxAge: &s.segmentAge, Sync: &s.sync,
		RetentionTime: &s.retention, RetentionBytes: &s.retentionBytes, GroupCommitDelay: &delay,
	}
}

// groupCommitDelay: under sync=always every group commit pays an fsync, so
// the leader waits (at most this long, usually only until the appenders it
// just woke have queued again) to make groups of all concurrent producers
// instead of half of them. `sluice bench engine --only sync` measures it.
func groupCommitDelay(s topicSettings) time.Duration {
	if s.sync.Mode == engine.SyncAlways {
		return time.Millisecond
	}
	return 0
}

func (b *Broker) partitionDir(tp topicPartition) string {
	return filepath.Join(b.logsDir(), fmt.Sprintf("%s-%d", tp.topic, tp.partition))
}

// ensurePartition opens the partition's log when it is not open yet.
func (b *Broker) ensurePartition(tp topicPartition, topic coord.Topic, settings topicSettings, replicas int) (*partition, error) {
	b.mu.RLock()
	p := b.partitions[tp]
	b.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	dir := b.partitionDir(tp)
	log, err := b.openLog(dir, settings)
	quarantined := false
	if errors.Is(err, engine.ErrCorrupt) && replicas > 1 {
		// Corruption before the tail (a flipped bit in a sealed segment):
		// the other replicas have the data, so set this copy aside and
		// refetch it, rather than leave the replica offline until an
		// operator deletes it (Kafka's answer).
		if log, err = b.quarantine(tp, dir, settings, err); err == nil {
			quarantined = true
		}
	}
	if err != nil {
		return nil, err
	}
	id, err := log.ReadMeta(topicIDMeta)
	switch {
	case err == nil && string(id) != topic.ID:
		// Left over from an earlier topic of the same name.
		b.logger.Warn("removing data of an earlier incarnation of the topic", "dir", dir, "old", string(id), "new", topic.ID)
		_ = log.Close()
		if err := removeDir(b.cfg.FS, dir); err != nil {
			return nil, err
		}
		if log, err = b.openLog(dir, settings); err != nil {
			return nil, err
		}
		fallthrough
	case vfs.IsNotExist(err):
		if err := log.WriteMeta(topicIDMeta, []byte(topic.ID)); err != nil {
			_ = log.Close()
			return nil, err
		}
	case err != nil:
		_ = log.Close()
		return nil, err
	}
	producers, err := loadProducers(log)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("rebuilding producer state: %w", err)
	}
	p, err = newPartition(b, tp.topic, tp.partition, topic.ID, dir, log, producers, settings, quarantined)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("opening replication state: %w", err)
	}
	b.mu.Lock()
	b.partitions[tp] = p
	b.mu.Unlock()
	return p, nil
}

// quarantine moves a corrupt replica's directory to quarantine/ under the
// data directory (kept for a post-mortem, never read again) and opens an
// empty log in its place; the replica refetches everything from its
// leader and may not lead before it has caught up.
func (b *Broker) quarantine(tp topicPartition, dir string, settings topicSettings, cause error) (*engine.Log, error) {
	qdir := filepath.Join(b.cfg.DataDir, "quarantine")
	dst := filepath.Join(qdir, fmt.Sprintf("%s-%d-%d", tp.topic, tp.partition, time.Now().UnixNano()))
	if err := b.cfg.FS.MkdirAll(qdir); err != nil {
		return nil, errors.Join(cause, err)
	}
	if err := b.cfg.FS.Rename(dir, dst); err != nil {
		return nil, errors.Join(cause, err)
	}
	if err := b.cfg.FS.SyncDir(b.logsDir()); err != nil {
		return nil, errors.Join(cause, err)
	}
	b.metrics.quarantined.Inc()
	b.logger.Error("replica log is corrupt: moved aside, refetching it from the leader", "topic", tp.topic, "partition", tp.partition, "err", cause, "moved_to", dst)
	return b.openLog(dir, settings)
}

func (b *Broker) openLog(dir string, s topicSettings) (*engine.Log, error) {
	return engine.Open(engine.Options{
		FS: b.cfg.FS, Dir: dir,
		SegmentBytes: s.segmentBytes, SegmentMaxAge: s.segmentAge, IndexIntervalBytes: s.indexInterval,
		Sync: s.sync, Prealloc: s.prealloc, GroupCommitDelay: groupCommitDelay(s),
		RetentionTime: s.retention, RetentionBytes: s.retentionBytes, RetentionCheckInterval: b.cfg.RetentionCheck,
		Cache: b.cache, Logger: b.logger,
	})
}

// removePartition closes a partition this broker no longer hosts and
// deletes its data.
func (b *Broker) removePartition(tp topicPartition) {
	b.mu.Lock()
	p := b.partitions[tp]
	delete(b.partitions, tp)
	b.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.close(); err != nil {
		b.logger.Warn("closing removed partition", "topic", tp.topic, "partition", tp.partition, "err", err)
	}
	if err := removeDir(b.cfg.FS, p.dir); err != nil {
		b.logger.Error("deleting removed partition", "dir", p.dir, "err", err)
	}
}

// removeDir deletes a partition directory (flat: no subdirectories).
func removeDir(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if vfs.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := fs.Remove(filepath.Join(dir, n)); err != nil && !vfs.IsNotExist(err) {
			return err
		}
	}
	if err := fs.Remove(dir); err != nil && !vfs.IsNotExist(err) {
		return err
	}
	return fs.SyncDir(filepath.Dir(dir))
}

// partitionFor returns the local replica of a partition, or the error a
// client should see.
func (b *Broker) partitionFor(topic string, part int32) (*partition, *Error) {
	b.mu.RLock()
	p := b.partitions[topicPartition{topic, part}]
	b.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	snap := b.coord.Snapshot()
	t, ok := snap.Topics[topic]
	if !ok {
		return nil, errf(codeUnknownTopic, "unknown topic %q", topic)
	}
	if part < 0 || part >= t.Partitions {
		return nil, errf(codeUnknownTopic, "topic %q has partitions 0..%d, not %d", topic, t.Partitions-1, part)
	}
	ps, ok := snap.Partition(topic, part)
	if !ok || ps.Leader < 0 {
		return nil, errf(codeLeaderNotAvailable, "%s-%d has no leader yet", topic, part)
	}
	e := errf(codeNotLeader, "broker %d does not host %s-%d; leader is %d", b.cfg.ID, topic, part, ps.Leader)
	e.Leader, e.LeaderEpoch = ps.Leader, ps.LeaderEpoch
	return nil, e
}
