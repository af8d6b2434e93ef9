package broker

import (
	"context"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/replication"
)

// maxDescribeReplicas bounds one DescribeReplicas request.
const maxDescribeReplicas = 10000

// DescribeReplicas reports this broker's replicas: what the controller
// reads before an election and what operators compare across replicas.
func (b *Broker) DescribeReplicas(ctx context.Context, req *brokerpb.DescribeReplicasRequest) (*brokerpb.DescribeReplicasResponse, error) {
	start := time.Now()
	resp, e := b.describeReplicas(ctx, req)
	err := errOrNil(e)
	b.metrics.observe("describe_replicas", start, err)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (b *Broker) describeReplicas(ctx context.Context, req *brokerpb.DescribeReplicasRequest) (*brokerpb.DescribeReplicasResponse, *Error) {
	if len(req.Partitions) > maxDescribeReplicas {
		return nil, errf(codeInvalidRequest, "%d partitions in one request; at most %d", len(req.Partitions), maxDescribeReplicas)
	}
	var parts []*partition
	b.mu.RLock()
	if len(req.Partitions) == 0 {
		for _, p := range b.partitions {
			parts = append(parts, p)
		}
	} else {
		for _, r := range req.Partitions {
			if p := b.partitions[topicPartition{r.Topic, r.Partition}]; p != nil {
				parts = append(parts, p)
			}
		}
	}
	b.mu.RUnlock()
	resp := &brokerpb.DescribeReplicasResponse{Broker: b.cfg.ID}
	for _, p := range parts {
		var s replication.Status
		if err := p.do(ctx, func() { s = p.node.Status() }); err != nil {
			if ctx.Err() != nil {
				return nil, asError(ctx.Err())
			}
			continue // closing
		}
		resp.Replicas = append(resp.Replicas, &brokerpb.ReplicaStatus{
			Topic: p.topic, Partition: p.id, Role: s.Role.String(), LeaderEpoch: int32(s.Epoch), Leader: int32(s.Leader),
			LastEpoch: int32(s.LastEpoch), LogStartOffset: s.LogStartOffset, LogEndOffset: s.LogEndOffset,
			DurableEndOffset: s.DurableEndOffset, HighWatermark: s.HighWatermark, Eligible: s.Eligible,
			Isr: brokerIDs(s.ISR), TruncatedBelowHw: int32(s.TruncatedBelowHW),
		})
	}
	slices.SortFunc(resp.Replicas, func(a, c *brokerpb.ReplicaStatus) int {
		if a.Topic != c.Topic {
			if a.Topic < c.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - c.Partition)
	})
	return resp, nil
}
