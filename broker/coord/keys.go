package coord

import (
	"fmt"
	"strconv"
	"strings"
)

// The key layout under the prefix; see doc.go. These names are format:
// brokers in a cluster must agree on them, never change them silently.
const (
	keyClusterID      = "cluster-id"
	dirBrokers        = "brokers/"
	dirController     = "controller/"
	dirTopics         = "topics/"
	dirPartitions     = "partitions/"
	keyNextProducerID = "producers/next-id"
)

// DefaultPrefix is the key prefix for a cluster name: /sluice/<cluster>/.
func DefaultPrefix(cluster string) string { return "/sluice/" + cluster + "/" }

// keys turns names into keys under one prefix.
type keys struct{ prefix string }

func (k keys) clusterID() string { return k.prefix + keyClusterID }
func (k keys) broker(id int32) string {
	return k.prefix + dirBrokers + strconv.FormatInt(int64(id), 10)
}
func (k keys) controllerDir() string    { return k.prefix + dirController }
func (k keys) topic(name string) string { return k.prefix + dirTopics + name }
func (k keys) partitionsOf(topic string) string {
	return k.prefix + dirPartitions + topic + "/"
}
func (k keys) partition(topic string, p int32) string {
	return k.partitionsOf(topic) + strconv.FormatInt(int64(p), 10)
}
func (k keys) nextProducerID() string { return k.prefix + keyNextProducerID }

// normalizePrefix makes "" the default-less root and ensures a trailing '/'.
func normalizePrefix(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix
}

// checkTopicName refuses names the key layout cannot hold: a '/' would let
// partitions/<a>/ cover the partitions of topic "a/b".
func checkTopicName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: topic name %q", ErrInvalid, name)
	}
	return nil
}

// checkNewTopic validates CreateTopic's arguments.
func checkNewTopic(spec TopicSpec, parts []PartitionState) error {
	if err := checkTopicName(spec.Name); err != nil {
		return err
	}
	if spec.Partitions <= 0 || int(spec.Partitions) != len(parts) {
		return fmt.Errorf("%w: topic %q has %d partitions, %d states given", ErrInvalid, spec.Name, spec.Partitions, len(parts))
	}
	for i, st := range parts {
		if st.Partition != int32(i) || (st.Topic != "" && st.Topic != spec.Name) {
			return fmt.Errorf("%w: topic %q: state %d is for %q/%d", ErrInvalid, spec.Name, i, st.Topic, st.Partition)
		}
	}
	return nil
}

// checkPartition validates UpdatePartition's argument.
func checkPartition(st PartitionState) error {
	if err := checkTopicName(st.Topic); err != nil {
		return err
	}
	if st.Partition < 0 || st.Revision < 0 {
		return fmt.Errorf("%w: partition %q/%d at revision %d", ErrInvalid, st.Topic, st.Partition, st.Revision)
	}
	return nil
}
