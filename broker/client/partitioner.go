package client

import (
	"math/rand/v2"
	"sync"
)

// Partitioner chooses the partition of a message sent with Partition -1.
// The producer calls it with its lock held, so it must be quick and must not
// call back into the producer.
type Partitioner interface {
	// Partition returns a partition in [0, numPartitions) for a message to
	// topic with key (nil when the message has no key).
	Partition(topic string, key []byte, numPartitions int32) int32
}

// BatchObserver is an optional capability of a Partitioner (KIP-480
// stickiness): the producer calls OnNewBatch when a keyless message would
// start a new batch in the partition the partitioner just chose, then asks
// Partition again and uses that answer.
type BatchObserver interface {
	OnNewBatch(topic string, prevPartition, numPartitions int32)
}

// Murmur2 is the 32-bit murmur2 hash with Kafka's seed (0x9747b28c), byte for
// byte the function of Kafka's org.apache.kafka.common.utils.Utils.murmur2.
func Murmur2(b []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(b)
	h := uint32(seed) ^ uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		// Little-endian words, as Kafka reads them.
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KafkaPartition returns the partition Kafka's default partitioner gives key
// among n partitions: toPositive(murmur2(key)) % n, where toPositive clears
// the sign bit. It returns 0 when n <= 0.
func KafkaPartition(key []byte, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return (Murmur2(key) & 0x7fffffff) % n
}

// DefaultPartitioner is the partitioner a producer uses unless told
// otherwise: KafkaPartition for keyed messages, so keyed data lands where
// Kafka users expect; a sticky partition per topic for keyless messages,
// changed each time a batch is started there (KIP-480), so keyless messages
// fill whole batches yet spread over all partitions.
type DefaultPartitioner struct {
	mu     sync.Mutex
	sticky map[string]int32
}

// NewDefaultPartitioner returns a DefaultPartitioner.
func NewDefaultPartitioner() *DefaultPartitioner {
	return &DefaultPartitioner{sticky: make(map[string]int32)}
}

// Partition implements Partitioner.
func (d *DefaultPartitioner) Partition(topic string, key []byte, n int32) int32 {
	if key != nil {
		return KafkaPartition(key, n)
	}
	if n <= 1 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.sticky[topic]
	if !ok || p >= n {
		p = rand.Int32N(n)
		d.sticky[topic] = p
	}
	return p
}

// OnNewBatch implements BatchObserver: it moves the topic's sticky partition
// to another one, chosen at random, if it is still prevPartition (another
// message may have moved it already).
func (d *DefaultPartitioner) OnNewBatch(topic string, prevPartition, n int32) {
	if n <= 1 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.sticky[topic]; ok && p != prevPartition {
		return
	}
	p := rand.Int32N(n - 1)
	if p >= prevPartition {
		p++
	}
	d.sticky[topic] = p
}
