package loadgen

import (
	"context"
	"errors"
	"time"
)

// Driver is the load generator's one seam to the system under test. Run
// uses it in this order: Describe, CreateTopics, NewConsumer (each),
// NewProducer (each), then sends and receives concurrently, then closes
// producers and consumers, DeleteTopics (if it is a TopicDeleter) and
// leaves Close to the caller (a sweep uses one Driver for many runs).
//
// Implementations: NewFake (in memory, for tests), loadgen/sluicedriver
// and loadgen/natsdriver. The mapping of ack levels, replication modes and
// sync policies of each is the table in doc.go; Describe returns it for
// one workload, or an error wrapping ErrUnsupported when the system has no
// honest equivalent.
type Driver interface {
	// Name is the driver's short name ("sluice", "nats", "fake").
	Name() string
	// Describe says how the driver maps w's settings onto the system, or
	// why it cannot (ErrUnsupported).
	Describe(w Workload) (Mapping, error)
	// CreateTopics creates the topics named in spec and waits until they
	// can be written.
	CreateTopics(ctx context.Context, spec TopicSpec) error
	// NewProducer returns a producer. Producers are used by one goroutine
	// each.
	NewProducer(ctx context.Context, spec ProducerSpec) (Producer, error)
	// NewConsumer returns a consumer.
	NewConsumer(ctx context.Context, spec ConsumerSpec) (Consumer, error)
	// Close releases what the driver holds (connections, embedded servers).
	Close() error
}

// TopicDeleter is an optional capability of a Driver: Run deletes the
// topics it created when the driver can.
type TopicDeleter interface {
	DeleteTopics(ctx context.Context, names []string) error
}

// Producer sends messages asynchronously.
type Producer interface {
	// Send hands m to the system and returns without waiting for the
	// acknowledgement; done is called exactly once with the outcome, from
	// any goroutine, possibly before Send returns. done must be quick.
	// With acks 0 "done" means handed to the network.
	Send(m Message, done func(error))
	// Close flushes and stops the producer; outstanding sends still get
	// their done call (with an error if they failed).
	Close() error
}

// Consumer reads the partitions the driver gave it.
type Consumer interface {
	// Receive calls handle with the values of the messages as they
	// arrive, until ctx ends (it then returns nil) or reading fails.
	// handle may be called from several goroutines at once and must not
	// keep the slices after it returns.
	Receive(ctx context.Context, handle func(values [][]byte)) error
	Close() error
}

// Message is one message to send. The driver chooses the partition: by key
// (Kafka's hash) when Key is set, else its own spreading policy.
type Message struct {
	Topic string
	Key   []byte
	Value []byte
}

// TopicSpec says which topics to create and how.
type TopicSpec struct {
	Names             []string
	Partitions        int
	ReplicationFactor int
	Mode              ReplicationMode
	Sync              SyncPolicy
}

// ProducerSpec configures one producer.
type ProducerSpec struct {
	ID         int
	Acks       Acks
	BatchBytes int           // 0: the driver's default
	Linger     time.Duration // 0: the driver's default
	// InFlight is the load generator's window; a driver may size its own
	// buffers by it.
	InFlight int
}

// ConsumerSpec configures one consumer.
type ConsumerSpec struct {
	ID     int // 0..Count-1
	Count  int
	Topics []string
	// Partitions per topic (for the load generator's own split).
	Partitions int
	// Group: the system's consumer group to join, or "" for the load
	// generator's split (partition p to consumer p mod Count).
	Group string
}

// Owns reports whether consumer c reads partition p under the load
// generator's split (no group).
func (c ConsumerSpec) Owns(p int) bool { return p%c.Count == c.ID }

// Mapping is a driver's account of what a workload's settings mean on its
// system, stored with every result so a reader can see what was compared.
type Mapping struct {
	Acks        string   `json:"acks"`
	Sync        string   `json:"sync"`
	Replication string   `json:"replication"`
	Fetch       string   `json:"fetch,omitempty"`
	Notes       []string `json:"notes,omitempty"`
}

// ErrUnsupported is wrapped by Describe when a driver has no honest
// equivalent of a setting. A sweep skips those combinations and says so.
var ErrUnsupported = errors.New("loadgen: not supported by this driver")
