package replication

import "fmt"

// Message is an input to Node.Step or an output in Ready.Messages. The set
// is closed: only this package's types implement it.
type Message interface {
	isMessage()
}

// Metadata from the controller (the driver forwards what it reads from etcd).

// BecomeLeader makes the node the leader of epoch Epoch. The controller
// writes it (CAS) before any replica hears of it.
type BecomeLeader struct {
	Epoch    Epoch
	Replicas []BrokerID
	// ISR is the controller's in-sync replica set, and ISRVersion its
	// version (the CAS token the leader's ISRProposal must quote).
	ISR        []BrokerID
	ISRVersion int64
}

// BecomeFollower makes the node a follower of Leader in epoch Epoch (or a
// leaderless replica of that epoch when Leader is NoLeader).
type BecomeFollower struct {
	Epoch    Epoch
	Leader   BrokerID
	Replicas []BrokerID
}

// ISRChanged is the controller's current ISR for epoch Epoch: sent after it
// applied (or refused) an ISRProposal, or after it changed the ISR itself.
// The leader applies an ISR only from here, never from its own proposal.
type ISRChanged struct {
	Epoch   Epoch
	ISR     []BrokerID
	Version int64
}

// ISRProposal (leader → controller) asks the controller to set the ISR,
// as a compare-and-swap: it applies only if the partition's ISR version is
// still Version and its leader epoch still Epoch; either way it answers
// with ISRChanged.
type ISRProposal struct {
	Epoch   Epoch
	ISR     []BrokerID
	Version int64
}

// Follower → leader.

// FetchRequest (follower node → driver) asks the driver to send a fetch to
// the leader To. At most one is outstanding; a new one supersedes an old one
// whose reply never came (Seq tells them apart).
type FetchRequest struct {
	To  BrokerID
	Seq uint64
	// Epoch is the follower's current epoch (it must be the leader's).
	Epoch Epoch
	// FetchOffset is the follower's log end offset: the first offset it
	// wants.
	FetchOffset int64
	// DurableEnd is the follower's durable end offset (for DurableHW).
	DurableEnd int64
	// LastFetchedEpoch is the epoch of the follower's last batch (NoEpoch
	// for an empty log): the leader checks that this epoch does not end
	// earlier in its own log than FetchOffset (KIP-320).
	LastFetchedEpoch Epoch
}

// FollowerFetch is a FetchRequest as it arrives at the leader's node: the
// leader's driver steps it with From set to the sender.
type FollowerFetch struct {
	From             BrokerID
	Seq              uint64
	Epoch            Epoch
	FetchOffset      int64
	DurableEnd       int64
	LastFetchedEpoch Epoch
}

// FetchReply (leader node → driver) answers a FollowerFetch. The driver
// sends the log bytes [ReadFrom, ReadTo) with it (followers read up to the
// leader's log end, not the high watermark; the driver may send a prefix
// of whole batches when the range is large).
type FetchReply struct {
	To    BrokerID
	Seq   uint64
	Epoch Epoch
	Error ErrorKind
	// DivergingEndOffset >= 0 says the follower's log diverges: its last
	// fetched epoch ends at DivergingEndOffset on the leader, where the
	// leader's epoch is DivergingEpoch (<= the follower's; NoEpoch when the
	// leader knows nothing about it and DivergingEndOffset is the leader's
	// log end). No data is sent; the follower truncates and fetches again.
	DivergingEpoch     Epoch
	DivergingEndOffset int64
	ReadFrom, ReadTo   int64
	HighWatermark      int64
	LogStartOffset     int64
}

// FetchResponse is a FetchReply as it arrives back at the follower's node,
// stepped by the driver after it appended the returned batches to the log
// (engine AppendReplica, only those starting at the log end, and only when
// the reply's epoch is the node's current epoch).
type FetchResponse struct {
	From               BrokerID
	Seq                uint64
	Epoch              Epoch
	Error              ErrorKind
	DivergingEpoch     Epoch
	DivergingEndOffset int64
	HighWatermark      int64
	LogStartOffset     int64
	// AppendedThrough is the log end offset after the driver's appends.
	AppendedThrough int64
	// Appended lists (partitionLeaderEpoch, base offset) of the batches the
	// driver appended from this reply, in order. The node adds them to its
	// epoch cache even when it otherwise ignores the reply as stale.
	Appended []EpochEntry
}

// LocalLogChanged tells the node that its log end or durable end moved
// without a fetch: the leader's own appends and syncs, a follower's sync.
type LocalLogChanged struct{}

func (BecomeLeader) isMessage()    {}
func (BecomeFollower) isMessage()  {}
func (ISRChanged) isMessage()      {}
func (ISRProposal) isMessage()     {}
func (FetchRequest) isMessage()    {}
func (FollowerFetch) isMessage()   {}
func (FetchReply) isMessage()      {}
func (FetchResponse) isMessage()   {}
func (LocalLogChanged) isMessage() {}

func (m BecomeLeader) String() string {
	return fmt.Sprintf("BecomeLeader{epoch=%d replicas=%v isr=%v isr-version=%d}", m.Epoch, m.Replicas, m.ISR, m.ISRVersion)
}

func (m BecomeFollower) String() string {
	return fmt.Sprintf("BecomeFollower{epoch=%d leader=%d replicas=%v}", m.Epoch, m.Leader, m.Replicas)
}

func (m ISRChanged) String() string {
	return fmt.Sprintf("ISRChanged{epoch=%d isr=%v version=%d}", m.Epoch, m.ISR, m.Version)
}

func (m ISRProposal) String() string {
	return fmt.Sprintf("ISRProposal{epoch=%d isr=%v version=%d}", m.Epoch, m.ISR, m.Version)
}

func (m FetchRequest) String() string {
	return fmt.Sprintf("FetchRequest{to=%d seq=%d epoch=%d offset=%d durable=%d last-epoch=%d}",
		m.To, m.Seq, m.Epoch, m.FetchOffset, m.DurableEnd, m.LastFetchedEpoch)
}

func (m FollowerFetch) String() string {
	return fmt.Sprintf("FollowerFetch{from=%d seq=%d epoch=%d offset=%d durable=%d last-epoch=%d}",
		m.From, m.Seq, m.Epoch, m.FetchOffset, m.DurableEnd, m.LastFetchedEpoch)
}

func (m FetchReply) String() string {
	s := fmt.Sprintf("FetchReply{to=%d seq=%d epoch=%d", m.To, m.Seq, m.Epoch)
	switch {
	case m.Error != ErrorNone:
		s += " error=" + m.Error.String()
	case m.DivergingEndOffset >= 0:
		s += fmt.Sprintf(" diverging=%d@%d", m.DivergingEpoch, m.DivergingEndOffset)
	default:
		s += fmt.Sprintf(" read=[%d,%d)", m.ReadFrom, m.ReadTo)
	}
	return s + fmt.Sprintf(" hw=%d log-start=%d}", m.HighWatermark, m.LogStartOffset)
}

func (m FetchResponse) String() string {
	s := fmt.Sprintf("FetchResponse{from=%d seq=%d epoch=%d", m.From, m.Seq, m.Epoch)
	switch {
	case m.Error != ErrorNone:
		s += " error=" + m.Error.String()
	case m.DivergingEndOffset >= 0:
		s += fmt.Sprintf(" diverging=%d@%d", m.DivergingEpoch, m.DivergingEndOffset)
	}
	return s + fmt.Sprintf(" hw=%d log-start=%d appended-through=%d appended=%v}",
		m.HighWatermark, m.LogStartOffset, m.AppendedThrough, m.Appended)
}

func (LocalLogChanged) String() string { return "LocalLogChanged{}" }
