package client

import (
	"context"
	"maps"
	"slices"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

// ReassignPartitions moves partitions' replicas: targets maps a partition
// to the brokers that should hold it, the first being the preferred
// leader, as many as the topic's replication factor. It returns once the
// controller has recorded the targets; the moves (copy, catch up, switch)
// happen in the background, visible in the metadata as
// PartitionInfo.TargetReplicas until done (see Reassignments). Giving a
// partition its current replicas in another order changes its preferred
// leader only.
func (c *Client) ReassignPartitions(ctx context.Context, topic string, targets map[int32][]int32) (*brokerpb.TopicInfo, error) {
	req := &brokerpb.ReassignPartitionsRequest{Topic: topic}
	for _, p := range slices.Sorted(maps.Keys(targets)) {
		req.Partitions = append(req.Partitions, &brokerpb.PartitionReassignment{Partition: p, Replicas: targets[p]})
	}
	return c.reassign(ctx, req)
}

// CancelReassignments stops the reassignments of the given partitions;
// each goes back to the replicas it had when its reassignment began.
// NO_REASSIGNMENT_IN_PROGRESS for a partition that is not being moved.
func (c *Client) CancelReassignments(ctx context.Context, topic string, partitions ...int32) (*brokerpb.TopicInfo, error) {
	req := &brokerpb.ReassignPartitionsRequest{Topic: topic}
	for _, p := range partitions {
		req.Partitions = append(req.Partitions, &brokerpb.PartitionReassignment{Partition: p, Cancel: true})
	}
	return c.reassign(ctx, req)
}

func (c *Client) reassign(ctx context.Context, req *brokerpb.ReassignPartitionsRequest) (*brokerpb.TopicInfo, error) {
	var resp *brokerpb.ReassignPartitionsResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.ReassignPartitions(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetTopic(), nil
}

// Reassignments returns the partitions of topic that are being reassigned,
// from fresh metadata, with their target replicas.
func (c *Client) Reassignments(ctx context.Context, topic string) (map[int32][]int32, error) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32][]int32{}
	for _, t := range md.GetTopics() {
		if t.GetName() != topic {
			continue
		}
		for _, p := range t.GetPartitions() {
			if len(p.GetTargetReplicas()) > 0 {
				out[p.GetPartition()] = p.GetTargetReplicas()
			}
		}
	}
	return out, nil
}
