package broker

import (
	"context"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/replication"
)

// proposeISR (driver) writes the leader's ISR proposal to etcd: a
// compare-and-swap on the partition key's mod revision (the node's ISR
// version) that also requires this broker to still lead the proposal's
// epoch. The answer comes back as ISRChanged: what was written, or, when
// the CAS lost, the partition's current ISR through the metadata watch.
// One write at a time; the node proposes again after its backoff.
func (p *partition) proposeISR(m replication.ISRProposal) {
	if p.proposing {
		return
	}
	p.proposing = true
	go func() {
		changed, ok := p.b.writeISR(p.topic, p.id, m)
		_ = p.do(context.Background(), func() {
			p.proposing = false
			if ok {
				p.step(changed)
			}
		})
	}()
}

// writeISR carries out one ISR proposal; ok reports an ISRChanged to step.
func (b *Broker) writeISR(topic string, part int32, m replication.ISRProposal) (replication.ISRChanged, bool) {
	if !b.sessionValid() {
		// A fenced leader must not change who may be elected.
		return replication.ISRChanged{}, false
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	ps, ok := b.coord.Snapshot().Partition(topic, part)
	if !ok {
		return replication.ISRChanged{}, false
	}
	current := replication.ISRChanged{Epoch: replication.Epoch(ps.LeaderEpoch), ISR: replicationIDs(ps.ISR), Version: ps.Revision}
	if ps.Leader != b.cfg.ID || ps.LeaderEpoch != int32(m.Epoch) || ps.Revision != m.Version {
		return current, ps.LeaderEpoch == int32(m.Epoch)
	}
	next := ps
	next.ISR = brokerIDs(m.ISR)
	next.ELR = nil
	rev, err := b.coord.UpdatePartition(ctx, nil, next)
	if err != nil {
		if b.ctx.Err() == nil {
			b.logger.Info("ISR change not written", "topic", topic, "partition", part, "isr", next.ISR, "err", err)
		}
		return replication.ISRChanged{}, false
	}
	b.logger.Info("ISR changed", "topic", topic, "partition", part, "from", ps.ISR, "to", next.ISR, "epoch", m.Epoch)
	b.metrics.isrChanges.Inc()
	return replication.ISRChanged{Epoch: m.Epoch, ISR: slices.Clone(m.ISR), Version: rev}, true
}
