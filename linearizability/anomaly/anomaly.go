package anomaly

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// Kind is a kind of anomaly.
type Kind string

// Log and producer side (set and order checks over the produce attempts,
// every observation and the final per-replica logs).
const (
	// LostWrite: an acknowledged produce whose value is not in the final
	// log L (K ⊄ set(L)). With acks=none "acknowledged" means "sent".
	LostWrite Kind = "lost-write"
	// Unexpected: a value someone read (or L holds) that no produce
	// attempted on that partition (set(D), set(L) ⊄ A).
	Unexpected Kind = "unexpected"
	// CorruptValue: a record whose value fails its own checksum or is not a
	// checker value at all.
	CorruptValue Kind = "corrupt-value"
	// FailedWriteVisible: a value whose produce definitely failed is
	// visible (Jepsen's G1a, "aborted read"); either the broker applied a
	// refused write or the classification table is wrong.
	FailedWriteVisible Kind = "failed-write-visible"
	// Duplicate: one value at two offsets, two of them in the final logs
	// (L or a replica below the high watermark): written twice for good
	// (the idempotent producer's promise).
	Duplicate Kind = "duplicate"
	// Rewritten: one value at two offsets during the run (acks, reads,
	// polls), at most one of them in the final logs: the value was
	// appended twice, on two branches of the log, and a lost tail took one
	// copy. A retry lands on a branch that lacks the first copy and the
	// producer state that would have recognised it only where tails are
	// lost (unclean election, power loss of unsynced data); anywhere else
	// it is a bug like Duplicate.
	Rewritten Kind = "rewritten-after-loss"
	// InconsistentOffset: one offset bearing two values across sends,
	// reads, polls, L and the replicas below the final high watermark.
	InconsistentOffset Kind = "inconsistent-offset"
	// CommittedVanished: a value a reader or consumer saw (so committed)
	// that is missing from L.
	CommittedVanished Kind = "committed-vanished"
	// NonmonotonicSend: a worker's later acknowledged send to a partition
	// got an offset not above its earlier one.
	NonmonotonicSend Kind = "nonmonotonic-send"
	// OffsetGap: offsets missing from L between the log start and the
	// high watermark, not explained by control records.
	OffsetGap Kind = "offset-gap"
	// ReplicaDivergence: a replica's log below the final high watermark
	// differs from L (missing records or other values).
	ReplicaDivergence Kind = "replica-divergence"
	// SplitBrain: two brokers claimed leadership of one partition in one
	// epoch.
	SplitBrain Kind = "split-brain"
)

// Consumer-group side, per (group, partition).
const (
	// DeliveryLoss: a value in L below what the group reached was never
	// delivered to it (at-least-once violated).
	DeliveryLoss Kind = "delivery-loss"
	// Unseen: values in L above the last offset the group delivered: the
	// drain did not reach them (liveness; or loss at the tail).
	Unseen Kind = "unseen"
	// DeliveryDuplicate: a value delivered to the group more than once
	// (at-most-once violated).
	DeliveryDuplicate Kind = "delivery-duplicate"
	// PollSkip: a consumer's next record, with no rebalance or seek in
	// between, skipped records that exist in L.
	PollSkip Kind = "poll-skip"
	// NonmonotonicPoll: a consumer's next record, with no rebalance or seek
	// in between, is at or before its previous one.
	NonmonotonicPoll Kind = "nonmonotonic-poll"
	// OffsetRegression: a group's committed offset for a partition went
	// backwards (in real-time order) without an explicit reset.
	OffsetRegression Kind = "offset-regression"
)

// Linearizability (Porcupine) and the check itself.
const (
	// Nonlinearizable: the partition-log history has no linearization,
	// even allowing stale reads.
	Nonlinearizable Kind = "nonlinearizable"
	// StaleRead: the partition-log history is linearizable only if reads
	// (HWM, read past the end, scan) may be stale.
	StaleRead Kind = "stale-read"
	// GroupOffsetsNonlinearizable: a (group, partition) committed-offset
	// register history has no linearization (e.g. a fenced commit applied).
	GroupOffsetsNonlinearizable Kind = "group-offsets-nonlinearizable"
	// LeadershipNonlinearizable: a partition's leadership-record history
	// has no linearization (e.g. an epoch reused or a CAS lost).
	LeadershipNonlinearizable Kind = "leadership-nonlinearizable"
	// CheckTimeout: Porcupine ran out of time. Never a pass: an unchecked
	// history proves nothing.
	CheckTimeout Kind = "check-timeout"
	// IncompleteInput: the checks could not run in full (a replica could
	// not be read, a partition has no final read).
	IncompleteInput Kind = "incomplete-input"
	// InvalidHistory: the history breaks the recording rules
	// (history.Validate); its verdicts would be meaningless.
	InvalidHistory Kind = "invalid-history"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{
	LostWrite, Unexpected, CorruptValue, FailedWriteVisible, Duplicate, Rewritten, InconsistentOffset,
	CommittedVanished, NonmonotonicSend, OffsetGap, ReplicaDivergence, SplitBrain,
	DeliveryLoss, Unseen, DeliveryDuplicate, PollSkip, NonmonotonicPoll, OffsetRegression,
	Nonlinearizable, StaleRead, GroupOffsetsNonlinearizable, LeadershipNonlinearizable, CheckTimeout,
	IncompleteInput, InvalidHistory,
}

// Location is where a replica holds a value.
type Location struct {
	Broker int32 `json:"broker"`
	Offset int64 `json:"offset"`
}

// Anomaly is one finding.
type Anomaly struct {
	Kind      Kind   `json:"kind"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
	Group     string `json:"group,omitempty"`
	// Values and Offsets are the values and offsets involved, in the
	// order Detail explains.
	Values  []history.ValueID `json:"values,omitempty"`
	Offsets []int64           `json:"offsets,omitempty"`
	// Ops are the ids of the operations involved; From and To span their
	// times (or the event's).
	Ops  []int        `json:"ops,omitempty"`
	From history.Time `json:"from"`
	To   history.Time `json:"to"`
	// Faults are the fault windows overlapping [From, To].
	Faults []int `json:"faults,omitempty"`
	// FoundOn and AbsentOn say which replicas' final logs hold the value
	// (for lost and vanished values), and Where says it in words:
	// "on no replica" is data loss, "on replica 2" a read path bug or a
	// divergence.
	FoundOn  []Location `json:"found_on,omitempty"`
	AbsentOn []int32    `json:"absent_on,omitempty"`
	Where    string     `json:"where,omitempty"`
	Detail   string     `json:"detail"`
}

// TP returns the anomaly's partition.
func (a *Anomaly) TP() history.TP { return history.TP{Topic: a.Topic, Partition: a.Partition} }

func (a *Anomaly) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	if a.Topic != "" {
		fmt.Fprintf(&b, " %s/%d", a.Topic, a.Partition)
	}
	if a.Group != "" {
		fmt.Fprintf(&b, " group %s", a.Group)
	}
	fmt.Fprintf(&b, ": %s", a.Detail)
	if a.Where != "" {
		fmt.Fprintf(&b, " [%s]", a.Where)
	}
	return b.String()
}

// Where describes which replicas hold a value: "on no replica", "on every
// replica (2, 3)" or "on replica 2 (offset 17), absent on 1, 3".
func Where(found []Location, absent []int32) string {
	switch {
	case len(found) == 0 && len(absent) == 0:
		return "no replica reads"
	case len(found) == 0:
		return "on no replica"
	}
	parts := make([]string, len(found))
	for i, l := range found {
		parts[i] = fmt.Sprintf("%d (offset %d)", l.Broker, l.Offset)
	}
	noun := "replica"
	if len(found) > 1 {
		noun = "replicas"
	}
	s := "on " + noun + " " + strings.Join(parts, ", ")
	if len(absent) == 0 {
		return s + ", on every replica read"
	}
	ab := slices.Clone(absent)
	slices.Sort(ab)
	as := make([]string, len(ab))
	for i, b := range ab {
		as[i] = fmt.Sprint(b)
	}
	return s + "; absent on " + strings.Join(as, ", ")
}
