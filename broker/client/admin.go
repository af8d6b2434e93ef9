package client

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

// OffsetSpec chooses what ListOffsets looks up.
type OffsetSpec int

const (
	// Earliest is the log start offset: the first offset still stored.
	Earliest OffsetSpec = iota + 1
	// Latest is the high watermark: the offset the next committed record
	// will get, where a consumer that wants only new records starts.
	Latest
	// AtTime is the first offset whose timestamp is at or after a time.
	AtTime
)

func (s OffsetSpec) String() string {
	switch s {
	case Earliest:
		return "earliest"
	case Latest:
		return "latest"
	case AtTime:
		return "at-time"
	}
	return fmt.Sprintf("OffsetSpec(%d)", int(s))
}

// CreateTopic creates a topic with partitions partitions, each replicated on
// replicationFactor brokers (0: the broker's default), and the given
// explicit configs (nil for none). An existing name is TOPIC_ALREADY_EXISTS.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions, replicationFactor int32, configs map[string]string) (*brokerpb.TopicInfo, error) {
	var resp *brokerpb.CreateTopicResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.CreateTopic(ctx, &brokerpb.CreateTopicRequest{
			Name: name, Partitions: partitions, ReplicationFactor: replicationFactor, Configs: configs,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if t := resp.GetTopic(); t != nil {
		c.mu.Lock()
		c.topics[t.GetName()] = t
		c.mu.Unlock()
	}
	return resp.GetTopic(), nil
}

// DeleteTopic deletes a topic and its data.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		_, err := sc.DeleteTopic(ctx, &brokerpb.DeleteTopicRequest{Name: name})
		return err
	})
	if err == nil {
		c.mu.Lock()
		delete(c.topics, name)
		c.mu.Unlock()
	}
	return err
}

// DescribeTopic returns a topic's metadata, its effective configs and the
// offsets of every partition. A broker reports the offsets only of the
// partitions it leads, so the client asks each leader for the ones missing
// from the first answer; a partition whose leader cannot be asked is left
// out of Offsets.
func (c *Client) DescribeTopic(ctx context.Context, name string) (*brokerpb.DescribeTopicResponse, error) {
	var resp *brokerpb.DescribeTopicResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.DescribeTopic(ctx, &brokerpb.DescribeTopicRequest{Name: name})
		return err
	})
	if err != nil {
		return nil, err
	}
	have := make(map[int32]bool)
	for _, o := range resp.GetOffsets() {
		have[o.GetPartition()] = true
	}
	asked := make(map[int32]bool)
	for _, p := range resp.GetTopic().GetPartitions() {
		if have[p.GetPartition()] || p.GetLeader() < 0 || asked[p.GetLeader()] {
			continue
		}
		asked[p.GetLeader()] = true
		sc, err := c.brokerClient(p.GetLeader())
		if err != nil {
			continue
		}
		more, err := sc.DescribeTopic(ctx, &brokerpb.DescribeTopicRequest{Name: name})
		if err != nil {
			continue
		}
		for _, o := range more.GetOffsets() {
			if !have[o.GetPartition()] {
				have[o.GetPartition()] = true
				resp.Offsets = append(resp.Offsets, o)
			}
		}
	}
	return resp, nil
}

// ListTopics returns every topic.
func (c *Client) ListTopics(ctx context.Context) ([]*brokerpb.TopicInfo, error) {
	var resp *brokerpb.ListTopicsResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.ListTopics(ctx, &brokerpb.ListTopicsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetTopics(), nil
}

// AlterConfig sets and deletes (returns to the default) explicit configs of
// a topic and returns the topic as changed. A bad name or value is
// INVALID_CONFIG and changes nothing.
func (c *Client) AlterConfig(ctx context.Context, topic string, set map[string]string, del []string) (*brokerpb.TopicInfo, error) {
	var resp *brokerpb.AlterConfigResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.AlterConfig(ctx, &brokerpb.AlterConfigRequest{Topic: topic, Set: set, Delete: del})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetTopic(), nil
}

// Metadata asks a broker for the metadata of the given topics (all topics
// when none are given) and updates the client's cache with the answer.
func (c *Client) Metadata(ctx context.Context, topics ...string) (*brokerpb.MetadataResponse, error) {
	var resp *brokerpb.MetadataResponse
	err := c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
		var err error
		resp, err = sc.Metadata(ctx, &brokerpb.MetadataRequest{Topics: topics})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.applyMetadataLocked(resp, len(topics) == 0)
	c.mu.Unlock()
	return resp, nil
}

// ListOffsets asks the partition's leader for an offset: the log start
// (Earliest), the high watermark (Latest), or the first offset with a
// timestamp at or after ts (AtTime; -1 when there is none). ts is used only
// with AtTime. Retryable errors are retried after a metadata update.
func (c *Client) ListOffsets(ctx context.Context, topic string, partition int32, spec OffsetSpec, ts time.Time) (int64, error) {
	req := &brokerpb.ListOffsetsRequest{Topic: topic, Partition: partition}
	switch spec {
	case Earliest:
		req.Spec = brokerpb.OffsetSpec_EARLIEST
	case Latest:
		req.Spec = brokerpb.OffsetSpec_LATEST
	case AtTime:
		req.Spec = brokerpb.OffsetSpec_TIMESTAMP
		req.TimestampMs = ts.UnixMilli()
	default:
		return -1, newError(brokerpb.ErrorCode_INVALID_REQUEST, "unknown offset spec %v", spec)
	}
	var offset int64 = -1
	tp := TopicPartition{Topic: topic, Partition: partition}
	err := c.withLeader(ctx, tp, defaultRetries, func(sc brokerpb.SluiceClient, pm partitionMeta) error {
		req.LeaderEpoch = pm.leaderEpoch
		resp, err := sc.ListOffsets(ctx, req)
		if err == nil {
			offset = resp.GetOffset()
		}
		return err
	})
	return offset, err
}
