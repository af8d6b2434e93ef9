package replication

import (
	"errors"
	"fmt"
)

// BrokerID names a broker (and so a replica of the partition).
type BrokerID int32

// NoLeader is the Leader of a BecomeFollower when the controller has no
// leader for the partition (it fenced the old one and has not elected yet).
const NoLeader BrokerID = -1

// Epoch is a partition leader epoch: bumped by the controller on every
// leadership change, written into every batch the leader appends
// (partitionLeaderEpoch) and carried by every replication request.
type Epoch int32

// NoEpoch is the undefined epoch (Kafka's UNDEFINED_EPOCH).
const NoEpoch Epoch = -1

// Mode is the topic's replication mode (DESIGN §5).
type Mode int

const (
	// ModeISR is Kafka's rule: the high watermark is the smallest end offset
	// over the in-sync replicas; only ISR members are leader-eligible.
	ModeISR Mode = iota
	// ModeQuorum is the majority rule (KIP-250/KIP-1171, Raft's commit rule):
	// the high watermark is the highest offset held by a majority of all
	// replicas; the controller elects from a live majority the replica with
	// the highest (last epoch, log end offset).
	ModeQuorum
)

func (m Mode) String() string {
	switch m {
	case ModeISR:
		return "isr"
	case ModeQuorum:
		return "quorum"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Role is what a node is for its partition in its current epoch.
type Role int

const (
	// RoleNone: no metadata yet (a fresh or restarted node).
	RoleNone Role = iota
	// RoleLeader: appends, answers follower fetches, keeps the ISR and the
	// high watermark.
	RoleLeader
	// RoleFollower: fetches from the leader (or waits, when Leader is
	// NoLeader).
	RoleFollower
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ErrorKind is the protocol error carried by a fetch reply (the wire code;
// the driver maps it to and from the data-plane frame).
type ErrorKind int

const (
	// ErrorNone: the fetch was served (possibly with a diverging epoch).
	ErrorNone ErrorKind = iota
	// ErrorFencedEpoch: the requester's epoch is older than the leader's
	// (Kafka FENCED_LEADER_EPOCH). The follower waits for new metadata.
	ErrorFencedEpoch
	// ErrorUnknownEpoch: the requester's epoch is newer than the node's
	// (Kafka UNKNOWN_LEADER_EPOCH). The node has not learned the new epoch
	// yet; the requester retries after a backoff.
	ErrorUnknownEpoch
	// ErrorNotLeader: the node is not the leader in that epoch.
	ErrorNotLeader
	// ErrorOffsetOutOfRange: the fetch offset is below the leader's log
	// start offset; the follower restarts its log at LogStartOffset.
	ErrorOffsetOutOfRange
)

func (k ErrorKind) String() string {
	switch k {
	case ErrorNone:
		return "none"
	case ErrorFencedEpoch:
		return "fenced-epoch"
	case ErrorUnknownEpoch:
		return "unknown-epoch"
	case ErrorNotLeader:
		return "not-leader"
	case ErrorOffsetOutOfRange:
		return "offset-out-of-range"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Errors returned by Node.Step. They describe the input, not the node: the
// node's state is unchanged when Step returns one of them.
var (
	// ErrFencedEpoch is returned for metadata (BecomeLeader,
	// BecomeFollower) whose epoch is older than the node's, or equal to it
	// with a different role or leader, or not newer than an epoch already
	// in the node's log when it would lead (a restarted leader must never
	// lead an epoch it may have written before: the controller bumps it).
	ErrFencedEpoch = errors.New("replication: fenced leader epoch")
	// ErrUnknownReplica is returned for a fetch from a broker that is not
	// a replica of the partition, and for metadata that does not list this
	// node among the replicas.
	ErrUnknownReplica = errors.New("replication: unknown replica")
	// ErrInvalidMessage is returned for a malformed message (negative
	// offsets, an unknown message type).
	ErrInvalidMessage = errors.New("replication: invalid message")
)
