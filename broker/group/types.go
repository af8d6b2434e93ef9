package group

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// compareTP orders partitions by topic, then partition number: the one order
// every list of partitions this package returns is sorted in.
func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

func sortTPs(tps []TopicPartition) { slices.SortFunc(tps, compareTP) }

// MemberID identifies one incarnation of a group member. The coordinator
// generates it on join (Config.NewMemberID).
type MemberID string

// ErrorKind is the protocol outcome of a request. The broker maps it to its
// wire error table; ErrNone is success.
type ErrorKind uint8

const (
	// ErrNone: the request succeeded.
	ErrNone ErrorKind = iota
	// ErrUnknownMember: the member (or its group) is not known: it never
	// joined, left, expired or was fenced and removed. The client must rejoin
	// with MemberEpoch 0 after dropping all its partitions. ValidateCommit
	// returns it too for a simple commit (MemberID "") to a group that has
	// members.
	ErrUnknownMember
	// ErrFencedMemberEpoch: the heartbeat's epoch is neither the member's
	// current epoch nor its previous one (with an Owned list the coordinator
	// can accept), or a commit's epoch is newer than the member's. The client
	// must drop its partitions and rejoin with MemberEpoch 0.
	ErrFencedMemberEpoch
	// ErrStaleMemberEpoch: ValidateCommit only; the commit carries an older
	// epoch than the member's current one. The member's partitions may have
	// moved since; the client heartbeats to learn its epoch and retries the
	// commit for the partitions it still owns.
	ErrStaleMemberEpoch
	// ErrInvalidRequest: a malformed request (group id, topic names, epoch,
	// timeouts, assignor name, sizes beyond the bounds in Config).
	ErrInvalidRequest
	// ErrGroupMaxSize: a join to a group that has Config.MaxGroupSize members.
	ErrGroupMaxSize
	// ErrGroupNotEmpty: Delete of a group that still has members.
	ErrGroupNotEmpty
	// ErrUnknownGroup: Delete of a group the coordinator does not hold.
	ErrUnknownGroup
)

var errorNames = [...]string{
	ErrNone:              "none",
	ErrUnknownMember:     "unknown member",
	ErrFencedMemberEpoch: "fenced member epoch",
	ErrStaleMemberEpoch:  "stale member epoch",
	ErrInvalidRequest:    "invalid request",
	ErrGroupMaxSize:      "group max size reached",
	ErrGroupNotEmpty:     "group not empty",
	ErrUnknownGroup:      "unknown group",
}

func (e ErrorKind) String() string {
	if int(e) < len(errorNames) {
		return errorNames[e]
	}
	return fmt.Sprintf("ErrorKind(%d)", uint8(e))
}

// HeartbeatRequest is KIP-848's ConsumerGroupHeartbeat, simplified. Fields
// documented "nil = unchanged" may be left nil on every heartbeat after the
// join; a client sends them again after a change (and Owned after every
// change of what it owns).
type HeartbeatRequest struct {
	Group string
	// MemberID is "" on the first join (the coordinator picks one); a member
	// that rejoins after being fenced may send its old id with epoch 0.
	MemberID MemberID
	// MemberEpoch is JoinEpoch (0) to join, LeaveEpoch (-1) to leave, else
	// the epoch of the member's last response.
	MemberEpoch int32
	// Topics is the subscription; nil = unchanged (required on join; an
	// empty non-nil list subscribes to nothing).
	Topics []string
	// TagFilter is the server-side record filter; opaque here, only stored
	// and persisted. nil = unchanged; "" clears it.
	TagFilter *string
	// Assignor is the member's preferred assignor name: "" on join = no
	// preference, "" later = unchanged. The group uses its members' most
	// common preference (ties to the smaller name), DefaultAssignor if none.
	Assignor string
	// Owned is what the member owns now: its last assignment minus the
	// partitions it has finished revoking. nil = unchanged. A revocation is
	// acknowledged only by a heartbeat whose Owned lists none of the
	// partitions being revoked.
	Owned []TopicPartition
	// SessionTimeout: a member that does not heartbeat for this long is
	// removed. 0 = unchanged (Config.DefaultSessionTimeout on join).
	SessionTimeout time.Duration
	// RebalanceTimeout: a member asked to revoke partitions that does not
	// acknowledge within this long is fenced (removed). 0 = unchanged
	// (Config.DefaultRebalanceTimeout on join).
	RebalanceTimeout time.Duration
}

// Epochs with a meaning of their own in HeartbeatRequest.MemberEpoch.
const (
	JoinEpoch  int32 = 0
	LeaveEpoch int32 = -1
)

// HeartbeatResponse answers a heartbeat.
type HeartbeatResponse struct {
	MemberID    MemberID
	MemberEpoch int32 // LeaveEpoch after a leave
	// HeartbeatInterval is how long the member should wait before its next
	// heartbeat; a member that has finished a revocation may send one at
	// once to report it.
	HeartbeatInterval time.Duration
	// Assignment is ALWAYS the complete set of partitions the member should
	// own now, sorted (never "nil = unchanged"): partitions being revoked are
	// left out (the member stops fetching them, commits, and reports Owned
	// without them), partitions still owned by another member are left out
	// until that member releases them. Empty (nil) on errors and leave.
	Assignment []TopicPartition
	Error      ErrorKind
}

// Changes is what the broker must persist and announce after a call.
type Changes struct {
	// Groups holds a snapshot of each group whose persistent metadata
	// changed, sorted by group id; the broker stores it (etcd) before
	// sending the response. Session deadlines are not part of it.
	Groups []GroupState
	// Events in the order they happened.
	Events []Event
}

// Empty reports whether there is nothing to persist or announce.
func (c Changes) Empty() bool { return len(c.Groups) == 0 && len(c.Events) == 0 }

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventJoined: a member joined (MemberEpoch is its first epoch).
	EventJoined EventKind = iota + 1
	// EventLeft: a member left with epoch -1.
	EventLeft
	// EventExpired: a member missed its session timeout and was removed.
	EventExpired
	// EventFenced: a member was removed because it did not revoke within
	// its rebalance timeout, or its old incarnation was replaced by a
	// rejoin (epoch 0 with its member id).
	EventFenced
	// EventAssigned: the member owns Partition from now on; the response
	// that carries it is the one being returned.
	EventAssigned
	// EventRevoking: the member was asked to give Partition up; it still
	// owns it until EventRevoked.
	EventRevoking
	// EventRevoked: the member no longer owns Partition (it acknowledged
	// the revocation, or it left, expired or was fenced).
	EventRevoked
	// EventEpoch: the member moved to MemberEpoch (it has nothing left to
	// revoke under the group's target assignment).
	EventEpoch
)

var eventNames = [...]string{
	EventJoined:   "joined",
	EventLeft:     "left",
	EventExpired:  "expired",
	EventFenced:   "fenced",
	EventAssigned: "assigned",
	EventRevoking: "revoking",
	EventRevoked:  "revoked",
	EventEpoch:    "epoch",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one step of a group's history: membership and, per partition,
// ownership. Replaying EventAssigned/EventRevoked gives the ownership of
// every partition at every instant (the coordinator's view, which is
// conservative: a member owns a partition from before it is told until after
// it says it has let go).
type Event struct {
	Group       string
	Kind        EventKind
	Member      MemberID
	MemberEpoch int32
	GroupEpoch  int32
	Partition   TopicPartition // EventAssigned, EventRevoking, EventRevoked
}

func (e Event) String() string {
	switch e.Kind {
	case EventAssigned, EventRevoking, EventRevoked:
		return fmt.Sprintf("%s %s %s@%d %s", e.Group, e.Kind, e.Member, e.MemberEpoch, e.Partition)
	}
	return fmt.Sprintf("%s %s %s@%d group-epoch=%d", e.Group, e.Kind, e.Member, e.MemberEpoch, e.GroupEpoch)
}

// MemberState is where a member stands in its reconciliation.
type MemberState string

const (
	// MemberStable: the member's epoch is the assignment epoch and it owns
	// exactly its target.
	MemberStable MemberState = "stable"
	// MemberUnrevoked: the member must give up Revoking first; its epoch
	// stays where it was until it acknowledges.
	MemberUnrevoked MemberState = "unrevoked"
	// MemberUnreleased: the member is at the assignment epoch but part of
	// its target is still owned by members that have not released it.
	MemberUnreleased MemberState = "unreleased"
)

// Status is a group's phase, as List reports it.
type Status string

const (
	StatusEmpty       Status = "empty"       // no members
	StatusAssigning   Status = "assigning"   // group epoch ahead of the target assignment's
	StatusReconciling Status = "reconciling" // some member has not converged to its target
	StatusStable      Status = "stable"      // every member converged at the assignment epoch
)

// GroupState is the persistent metadata of one group: what the broker
// stores and what Restore takes back. Slices are sorted and owned by the
// receiver (snapshots never alias the coordinator's state).
type GroupState struct {
	Group string
	// GroupEpoch is bumped by every change of membership, subscriptions,
	// assignor or partition counts.
	GroupEpoch int32
	// AssignmentEpoch is the group epoch the target assignment was computed
	// at. Invariant: AssignmentEpoch <= GroupEpoch.
	AssignmentEpoch int32
	// Assignor is the one the target assignment was computed with.
	Assignor Assignor
	// PartitionCounts is the partition count of each subscribed topic that
	// exists, as the target assignment saw it.
	PartitionCounts map[string]int32
	Members         []MemberSnapshot // sorted by ID
}

// MemberSnapshot is one member in a GroupState.
type MemberSnapshot struct {
	ID MemberID
	// Epoch is the member's current epoch; PreviousEpoch the one before it
	// (a heartbeat carrying it is accepted if the member owns nothing it
	// should not: the response that moved it may have been lost).
	// Invariant: Epoch <= the group's AssignmentEpoch.
	Epoch         int32
	PreviousEpoch int32
	// State as of the member's last heartbeat: while Epoch is below the
	// group's AssignmentEpoch the member has not yet heard of the new
	// target, whatever State says.
	State     MemberState
	Topics    []string // subscription, sorted
	TagFilter string
	Assignor  Assignor // preference; "" = none
	// Timeouts as the member asked for them (defaults applied).
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// Target is the member's share of the target assignment.
	Target []TopicPartition
	// Assigned is what the member owns and may fetch; Revoking what it
	// owns but was asked to give up. Invariant: no partition is in the
	// Assigned or Revoking of two members; Assigned ⊆ Target once the member
	// is at the assignment epoch.
	Assigned []TopicPartition
	Revoking []TopicPartition
}

// GroupSummary is one line of List.
type GroupSummary struct {
	Group   string
	State   Status
	Members int
}
