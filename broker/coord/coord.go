package coord

import (
	"context"
	"errors"
	"time"
)

// BrokerInfo is a broker's registration, the value of brokers/<id>.
type BrokerInfo struct {
	ID        int32  `json:"id"`
	Addr      string `json:"addr"`      // gRPC
	DataAddr  string `json:"dataAddr"`  // zero-copy fetch plane
	AdminAddr string `json:"adminAddr"` // health, metrics
	Rack      string `json:"rack"`
	// Epoch is the create revision of brokers/<id>: it changes every time
	// the broker registers again, so it tells one incarnation of a broker
	// from the next (a broker that lost its lease and came back has a new
	// Epoch even if nothing else changed). Filled in from the key, never
	// stored in the value; Register ignores it.
	Epoch int64 `json:"-"`
}

// TopicSpec is what a topic is created with, the value of topics/<name>.
type TopicSpec struct {
	Name string `json:"name"`
	// ID is unique per incarnation of the name (a topic deleted and created
	// again gets a new one), chosen by the caller, e.g. random hex.
	ID                string            `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int32             `json:"replicationFactor"`
	Configs           map[string]string `json:"configs,omitempty"` // explicit settings only
}

// Topic is a topic as stored.
type Topic struct {
	TopicSpec
	Revision int64 // mod revision of topics/<name>; UpdateTopicConfigs compares it
}

// PartitionState is the value of partitions/<topic>/<p>, the replication
// state the controller owns.
type PartitionState struct {
	Topic       string  `json:"-"`      // from the key
	Partition   int32   `json:"-"`      // from the key
	Leader      int32   `json:"leader"` // -1: none
	LeaderEpoch int32   `json:"leaderEpoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	ELR         []int32 `json:"elr"`
	// LeaderBrokerEpoch is the registration Epoch (BrokerInfo.Epoch) of the
	// leader when the controller elected it. A leader that restarted has a
	// new registration: the controller then elects again with a new leader
	// epoch, because a restarted replica must never lead an epoch its log
	// may already hold. 0: not recorded (topic creation).
	LeaderBrokerEpoch int64 `json:"leaderBrokerEpoch,omitempty"`
	// TargetReplicas is where a reassignment moves the replicas (nil: no
	// reassignment in progress). The controller walks Replicas towards it
	// (add, catch up, move leadership, remove) and clears it when done.
	TargetReplicas []int32 `json:"targetReplicas,omitempty"`
	// ReassignFrom is Replicas as they were when the reassignment began,
	// what a cancelled reassignment goes back to.
	ReassignFrom []int32 `json:"reassignFrom,omitempty"`
	// Revision is the mod revision of the key. UpdatePartition writes only
	// if the key's mod revision still equals it; 0 means the key must not
	// exist yet. Filled in from the key, never stored in the value.
	Revision int64 `json:"-"`
}

// Session is this broker's registration: its brokers/<id> key on a lease.
//
// The fencing contract (see doc.go for the argument): Valid turns false
// before etcd can expire the lease, so a broker that checks Valid before
// acting as a leader has stopped acting before any other broker can be
// given its partitions or the controllership.
type Session interface {
	// Valid is true while the broker may act on its registration: now is
	// before Deadline on the local monotonic clock. A broker that is not
	// Valid must stop acting as a leader (self-fencing).
	Valid() bool
	// Deadline is (send time of the last keepalive that got an answer) +
	// TTL - SafetyMargin(TTL). It is the zero time once the session has
	// ended.
	Deadline() time.Time
	// Lost is closed once the lease is known gone or will not be renewed
	// again: expired, revoked (Close), or not renewed before Deadline. The
	// broker then Registers again, which gives it a new Epoch.
	Lost() <-chan struct{}
	LeaseID() int64
	// Epoch is the create revision of brokers/<id> for this registration
	// (see BrokerInfo.Epoch).
	Epoch() int64
	// TTL is the lease's time to live as granted (whole seconds, at least
	// what was asked for).
	TTL() time.Duration
	// Close revokes the lease (deregisters at once) and stops keepalives.
	// Lost is closed when it returns.
	Close() error
}

// Leadership is this broker being the controller.
type Leadership interface {
	// Done is closed when controllership is lost: the session ended, the
	// election key went away, or Resign was called. After that every
	// controller write made with this Leadership fails with
	// ErrNotController.
	Done() <-chan struct{}
	// Resign gives up controllership; the next campaigner takes over.
	Resign(ctx context.Context) error
	// Epoch is the create revision of this controller's election key. It
	// grows with every new controller, so it can be sent along with
	// controller decisions for brokers to refuse a deposed controller's.
	// The etcd implementation fences its writes on it:
	// Compare(CreateRevision(key), "=", Epoch()).
	Epoch() int64
}

// Coordinator is the broker's one seam to cluster metadata. It stores and
// watches metadata and provides leases and election; it holds no policy.
type Coordinator interface {
	// Register puts brokers/<id> on a new lease of at least ttl (rounded
	// up to whole seconds, at least one). ErrBrokerIDInUse if another live
	// session holds brokers/<id>.
	Register(ctx context.Context, info BrokerInfo, ttl time.Duration) (Session, error)
	// Snapshot is the latest cached view; never nil; must not be mutated.
	Snapshot() *Snapshot
	// Changed is closed at the next change of the cached view's content.
	// (The view's Revision alone may advance without it, see WaitRevision.)
	Changed() <-chan struct{}
	// WaitRevision returns once the cache has seen revision rev, so a
	// Snapshot taken afterwards reflects every write up to rev
	// (read-your-writes for the revisions the write methods return).
	WaitRevision(ctx context.Context, rev int64) error
	// Sync returns once the cache reflects every write the store had
	// committed when Sync was called (a linearizable read of the store's
	// revision, then WaitRevision). A broker calls it before refusing a
	// request on what its cache shows, since the cache may be a moment
	// behind (just started, a watch catching up).
	Sync(ctx context.Context) error
	// Campaign blocks until this broker (holding session s) is the
	// controller or ctx ends. ErrSessionLost if s ends first.
	Campaign(ctx context.Context, s Session, id int32) (Leadership, error)

	// Controller writes. With l != nil they happen only if l is still the
	// controller (ErrNotController otherwise); nil skips that check
	// (single-node bootstrap, tests). Each returns the revision it wrote at.

	// CreateTopic writes topics/<name> and every partitions/<name>/<p>
	// in one transaction. parts[i] is partition i; len(parts) must equal
	// spec.Partitions. ErrTopicExists if the name is taken.
	CreateTopic(ctx context.Context, l Leadership, spec TopicSpec, parts []PartitionState) (rev int64, err error)
	// DeleteTopic deletes topics/<name> and its partitions in one
	// transaction. ErrUnknownTopic if there is no such topic.
	DeleteTopic(ctx context.Context, l Leadership, name string) (rev int64, err error)
	// UpdateTopicConfigs replaces the topic's explicit configs.
	// expectRevision is the topic's Revision the change was based on (0:
	// whatever is current). ErrConflict if it moved, ErrUnknownTopic.
	UpdateTopicConfigs(ctx context.Context, l Leadership, name string, configs map[string]string, expectRevision int64) (rev int64, err error)
	// UpdatePartition writes st if partitions/<topic>/<p> still has mod
	// revision st.Revision (0: must not exist, and the topic must).
	// ErrConflict otherwise; ErrUnknownTopic when creating a partition of
	// a topic that does not exist.
	UpdatePartition(ctx context.Context, l Leadership, st PartitionState) (rev int64, err error)
	// NextProducerID allocates a producer id: unique across the cluster,
	// and each call returns more than every call that finished before it
	// started. The first id is 1 (0 is never allocated).
	NextProducerID(ctx context.Context) (int64, error)
	// Groups is where consumer groups are stored.
	Groups() GroupStore
	// Close stops the coordinator: its sessions are closed (revoked) and
	// further calls fail with ErrClosed.
	Close() error
}

// Halter is implemented by coordinators that can stop as if their process
// had frozen: no more keepalives, no revokes, no writes. Its sessions'
// leases then expire on their own after their TTL. For fault tests
// (lease expiry, controller failover); found by type assertion.
type Halter interface {
	Halt()
}

// Errors. Each is returned wrapped with %w and some context; test with
// errors.Is.
var (
	// ErrTopicExists: CreateTopic of a name that exists.
	ErrTopicExists = errors.New("coord: topic exists")
	// ErrUnknownTopic: DeleteTopic, UpdateTopicConfigs or UpdatePartition
	// of a topic that does not exist.
	ErrUnknownTopic = errors.New("coord: unknown topic")
	// ErrConflict: a compare-and-swap lost; the key moved since the
	// revision the caller based its change on. Reread and decide again.
	ErrConflict = errors.New("coord: revision conflict")
	// ErrNotController: a controller write made with a Leadership that is
	// no longer the controller (resigned, session lost, deposed).
	ErrNotController = errors.New("coord: not the controller")
	// ErrBrokerIDInUse: Register while another live session holds
	// brokers/<id>. A restarted broker retries until the old lease expires.
	ErrBrokerIDInUse = errors.New("coord: broker id in use")
	// ErrSessionLost: Campaign with (or while) a session that has ended.
	ErrSessionLost = errors.New("coord: session lost")
	// ErrInvalid: an argument the coordinator cannot store (a topic name
	// with '/', partitions that do not match the spec, a foreign Session or
	// Leadership).
	ErrInvalid = errors.New("coord: invalid argument")
	// ErrClosed: the coordinator was closed or halted.
	ErrClosed = errors.New("coord: closed")
)

// MinSafetyMargin is the least SafetyMargin, whatever the TTL.
const MinSafetyMargin = 300 * time.Millisecond

// SafetyMargin is how long before etcd could expire a lease of the given
// TTL a session stops being Valid: max(ttl/3, MinSafetyMargin). It covers
// the rate difference between the broker's clock and etcd's, scheduling
// delay between a Valid check and the action it guards, and a leader
// change in etcd (which only ever extends leases). With keepalives every
// ttl/3, a healthy session stays at least ttl/3 ahead of its deadline.
func SafetyMargin(ttl time.Duration) time.Duration {
	return max(ttl/3, MinSafetyMargin)
}

// leaseTTL rounds a requested TTL up to whole seconds, at least one: etcd
// leases are granted in seconds, and the memory twin does the same so both
// behave alike.
func leaseTTL(ttl time.Duration) time.Duration {
	if ttl < time.Second {
		return time.Second
	}
	return (ttl + time.Second - 1).Truncate(time.Second)
}
