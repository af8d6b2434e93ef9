package client

import (
	"context"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

// Group calls (heartbeats, commits, describe, reset, delete) go to the
// group's coordinator, found with FindCoordinator and cached per group. A
// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or unreachable coordinator
// makes the client find it again and retry, with backoff.

// coordinatorAddr returns the cached coordinator address of group, asking
// any broker when it is not cached (or fresh is set).
func (c *Client) coordinatorAddr(ctx context.Context, group string, fresh bool) (string, error) {
	c.mu.Lock()
	addr, ok := c.coordinators[group]
	c.mu.Unlock()
	if ok && !fresh {
		return addr, nil
	}
	var resp *brokerpb.FindCoordinatorResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.FindCoordinator(ctx, &brokerpb.FindCoordinatorRequest{Group: group})
		return err
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.coordinators[group] = resp.GetAddr()
	c.mu.Unlock()
	return resp.GetAddr(), nil
}

// forgetCoordinator drops the cached coordinator of group.
func (c *Client) forgetCoordinator(group string) {
	c.mu.Lock()
	delete(c.coordinators, group)
	c.mu.Unlock()
}

// coordinatorRetryable are the errors after which the coordinator is looked
// up again.
func coordinatorRetryable(err error) bool {
	switch Code(err) {
	case brokerpb.ErrorCode_NOT_COORDINATOR, brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE,
		brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, brokerpb.ErrorCode_REQUEST_TIMED_OUT:
		return true
	}
	return false
}

// coordinatorCall runs call against group's coordinator, finding it again
// and retrying (up to retries times, with backoff) when it moved or cannot
// be reached. call returns a raw gRPC error.
func (c *Client) coordinatorCall(ctx context.Context, group string, retries int, call func(sc brokerpb.SluiceClient) error) error {
	for attempt := 0; ; attempt++ {
		addr, err := c.coordinatorAddr(ctx, group, attempt > 0)
		if err == nil {
			c.mu.Lock()
			cc, cerr := c.connLocked(addr)
			c.mu.Unlock()
			if cerr != nil {
				return cerr
			}
			err = fromStatus(call(brokerpb.NewSluiceClient(cc)), true)
		}
		if err == nil {
			return nil
		}
		if !coordinatorRetryable(err) || attempt >= retries || ctx.Err() != nil {
			return err
		}
		c.forgetCoordinator(group)
		if Code(err) == brokerpb.ErrorCode_BROKER_NOT_AVAILABLE {
			if rerr := c.refreshMetadata(ctx); rerr != nil {
				c.opts.logger.Debug("sluice: metadata refresh failed", "err", rerr)
			}
		}
		if serr := sleep(ctx, backoff(defaultRetryBackoff, attempt)); serr != nil {
			return err
		}
	}
}

// ListGroups lists every consumer group (those with stored state or
// offsets). State and Members are filled in for the groups coordinated by
// the broker that answered.
func (c *Client) ListGroups(ctx context.Context) ([]*brokerpb.GroupSummary, error) {
	var resp *brokerpb.ListGroupsResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.ListGroups(ctx, &brokerpb.ListGroupsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetGroups(), nil
}

// DescribeGroup asks the group's coordinator for its members, their
// assignments, and per partition the committed offset, the high watermark,
// the lag and the owner. An unknown group is UNKNOWN_GROUP.
func (c *Client) DescribeGroup(ctx context.Context, group string) (*brokerpb.DescribeGroupResponse, error) {
	var resp *brokerpb.DescribeGroupResponse
	err := c.coordinatorCall(ctx, group, defaultRetries, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.DescribeGroup(ctx, &brokerpb.DescribeGroupRequest{Group: group})
		return err
	})
	return resp, err
}

// DeleteGroup deletes an empty group and its committed offsets
// (GROUP_NOT_EMPTY while it has members, UNKNOWN_GROUP if there is none).
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	c.forgetCoordinator(group)
	return c.coordinatorCall(ctx, group, defaultRetries, func(sc brokerpb.SluiceClient) error {
		_, err := sc.DeleteGroup(ctx, &brokerpb.DeleteGroupRequest{Group: group})
		return err
	})
}

// ResetTo says where ResetOffsets moves a group's offsets: Spec Earliest,
// Latest or AtTime (Time), or, with Spec 0, the explicit Offset.
type ResetTo struct {
	Spec   OffsetSpec
	Offset int64
	Time   time.Time
}

// ResetOffsets sets the committed offsets of an empty group for the given
// partitions of topic (all of them when none are given) and returns the
// offsets it stored. A group with members is GROUP_NOT_EMPTY: stop its
// consumers first. AtTime moves a partition with no record at or after
// the time to its end.
func (c *Client) ResetOffsets(ctx context.Context, group, topic string, to ResetTo, partitions ...int32) ([]*brokerpb.CommittedOffset, error) {
	req := &brokerpb.ResetOffsetsRequest{Group: group, Topic: topic, Partitions: partitions}
	switch to.Spec {
	case 0:
		if to.Offset < 0 {
			return nil, newError(brokerpb.ErrorCode_INVALID_REQUEST, "reset to offset %d", to.Offset)
		}
		req.Offset = to.Offset
	case Earliest:
		req.Spec = brokerpb.OffsetSpec_EARLIEST
	case Latest:
		req.Spec = brokerpb.OffsetSpec_LATEST
	case AtTime:
		req.Spec = brokerpb.OffsetSpec_TIMESTAMP
		req.TimestampMs = to.Time.UnixMilli()
	default:
		return nil, newError(brokerpb.ErrorCode_INVALID_REQUEST, "unknown offset spec %v", to.Spec)
	}
	var resp *brokerpb.ResetOffsetsResponse
	err := c.coordinatorCall(ctx, group, defaultRetries, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.ResetOffsets(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetOffsets(), nil
}

// CommittedOffsets returns the group's committed offsets of the given
// partitions (every committed partition when none are given). Partitions
// without a committed offset are left out. Any broker can answer (the
// offsets live in etcd).
func (c *Client) CommittedOffsets(ctx context.Context, group string, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	req := &brokerpb.FetchOffsetsRequest{Group: group}
	for _, tp := range tps {
		req.Partitions = append(req.Partitions, &brokerpb.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	var resp *brokerpb.FetchOffsetsResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.FetchOffsets(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(resp.GetOffsets()))
	for _, o := range resp.GetOffsets() {
		if o.GetOffset() >= 0 {
			out[TopicPartition{Topic: o.GetTopic(), Partition: o.GetPartition()}] = o.GetOffset()
		}
	}
	return out, nil
}
