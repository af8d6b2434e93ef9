package history

// FaultKind is a fault of TESTING.md §4 (reliability.md §9.2 has the long
// list and what each is expected to do).
type FaultKind string

const (
	F1KillLeader     FaultKind = "F1"    // kill -9 the leader, restart later
	F2KillFollower   FaultKind = "F2"    // kill -9 a follower
	F3PauseLeader    FaultKind = "F3"    // SIGSTOP the leader past its lease (zombie)
	F4IsolateLeader  FaultKind = "F4"    // leader cut from followers and etcd, clients reach it
	F5aEtcdCutAll    FaultKind = "F5a"   // every broker cut from etcd
	F5bEtcdCutLeader FaultKind = "F5b"   // the leader cut from etcd only
	F6DiskFull       FaultKind = "F6"    // disk full on a broker
	F7TornTail       FaultKind = "F7"    // torn or corrupted tail on a stopped replica
	F7bBitFlip       FaultKind = "F7b"   // bit flip in a sealed segment
	F8aPowerLossOne  FaultKind = "F8a"   // unsynced writes lost on one node
	F8bPowerLossAll  FaultKind = "F8b"   // unsynced writes lost on every node
	F9LastReplica    FaultKind = "F9"    // last replica standing schedule
	F11ConsumerFault FaultKind = "F11"   // consumer killed, paused past its session, rebalance storm
	FaultOther       FaultKind = "other" // anything else the harness does on purpose
)

// FaultKinds lists the kinds in the order of TESTING.md §4.
var FaultKinds = []FaultKind{F1KillLeader, F2KillFollower, F3PauseLeader, F4IsolateLeader, F5aEtcdCutAll, F5bEtcdCutLeader,
	F6DiskFull, F7TornTail, F7bBitFlip, F8aPowerLossOne, F8bPowerLossAll, F9LastReplica, F11ConsumerFault, FaultOther}

// BrokerFault reports whether k acts on brokers (everything but consumer
// faults): the faults that can lose or corrupt data.
func (k FaultKind) BrokerFault() bool {
	return k != F11ConsumerFault && k != FaultOther && k != ""
}

// Fault is one fault window the nemesis opened. End is Infinity while the
// window is open (a run that ends with it open keeps Infinity).
type Fault struct {
	ID     int       `json:"id"`
	Kind   FaultKind `json:"kind"`
	Target string    `json:"target"` // e.g. "broker 2", "links 1->2,1->etcd", "consumer 7"
	Start  Time      `json:"start"`
	End    Time      `json:"end"`
	Detail string    `json:"detail,omitempty"`
}

// Overlaps reports whether the window intersects [from, to].
func (f Fault) Overlaps(from, to Time) bool { return f.Start <= to && from <= f.End }

// LeaderClaim is a broker's log line saying it became the leader of TP in
// Epoch, at Time (the harness parses broker logs for them). Two brokers
// claiming one (TP, Epoch) are two leaders in one epoch.
type LeaderClaim struct {
	Time      Time   `json:"time"`
	Broker    int32  `json:"broker"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Epoch     int32  `json:"epoch"`
}

// TP returns the claim's partition.
func (c LeaderClaim) TP() TP { return TP{Topic: c.Topic, Partition: c.Partition} }
