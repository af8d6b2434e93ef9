package history

import (
	"fmt"
	"math"
	"time"
)

// Time is nanoseconds since the run's base (see the package doc).
type Time int64

// Infinity is the return time of an operation whose effect may still
// happen at any later time (Porcupine's convention for pending operations).
const Infinity Time = math.MaxInt64

// Duration returns t as a time.Duration since the base.
func (t Time) Duration() time.Duration { return time.Duration(t) }

func (t Time) String() string {
	if t == Infinity {
		return "∞"
	}
	return fmt.Sprintf("%.6fs", float64(t)/1e9)
}

// Kind is what an operation did. The field comments of Op say which fields
// each kind uses, as input (set before the call) or output (set from the
// answer).
type Kind string

// Operation kinds (TESTING.md §2, reliability.md §6.1–6.3).
const (
	// Produce sends one value: input TP, Key, Acks, Value; output Offset
	// (-1 when unknown or with acks=none), LeaderEpoch, Duplicate.
	Produce Kind = "produce"
	// Read fetches from input Offset on TP: output Records, the records at
	// offsets >= Offset that the fetch returned, in order (empty: nothing
	// there below the high watermark).
	Read Kind = "read"
	// HWM asks TP's leader for the high watermark: output HWM.
	HWM Kind = "hwm"
	// Scan reads the high watermark and then every record below it: output
	// HWM and Records (all of them, from the log start).
	Scan Kind = "scan"
	// Poll is one poll of a consumer (a group member when Group is set):
	// output Records, each with its TP. A poll's records count as
	// delivered to the group.
	Poll Kind = "poll"
	// Commit commits Offsets (input) for Group with MemberEpoch; Reset
	// marks an explicit reset (ResetOffsets), which may move an offset
	// back.
	Commit Kind = "commit"
	// FetchCommitted reads Group's committed offsets for the TPs of
	// Offsets: output Offsets (-1: none committed).
	FetchCommitted Kind = "fetch-committed"
	// Assign is an instantaneous event: the consumer was given TPs with
	// MemberEpoch (OnAssigned). It ends the consumer's poll sequences.
	Assign Kind = "assign"
	// Revoke is an instantaneous event: the consumer lost TPs (OnRevoked).
	Revoke Kind = "revoke"
	// Seek is an instantaneous event: the consumer moved its position on TP
	// to Offset.
	Seek Kind = "seek"
	// LeaderRead reads TP's leadership record (from etcd): output Leader
	// (nil: none).
	LeaderRead Kind = "leader-read"
	// LeaderCAS replaces TP's leadership record by Leader if its epoch is
	// ExpectEpoch (-1: the record does not exist yet).
	LeaderCAS Kind = "leader-cas"
)

// Kinds lists every Kind, for validation and tests.
var Kinds = []Kind{Produce, Read, HWM, Scan, Poll, Commit, FetchCommitted, Assign, Revoke, Seek, LeaderRead, LeaderCAS}

// Outcome classifies a response (see Classify).
type Outcome string

const (
	// OK: the operation took effect and its output is valid.
	OK Outcome = "ok"
	// Fail: the operation provably did not take effect.
	Fail Outcome = "fail"
	// Unknown: the operation may have taken effect, now or later.
	Unknown Outcome = "unknown"
)

// Acks is the acknowledgement level of a produce.
type Acks string

const (
	AcksNone   Acks = "none"
	AcksLeader Acks = "leader"
	AcksAll    Acks = "all"
)

// TP names a topic-partition.
type TP struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (tp TP) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Record is one record as some reader saw it: a fetch, a poll, a scan, or a
// replica's log in the final drain.
type Record struct {
	// Topic and Partition are set in Poll records (a poll spans
	// partitions); elsewhere the partition is the operation's.
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
	Offset    int64  `json:"offset"`
	// Value is the decoded ValueID, 0 when Corrupt is set.
	Value ValueID `json:"value"`
	// Corrupt says why the record's value did not decode (DecodeValue's
	// error); such a record was damaged or never written by the run.
	Corrupt string `json:"corrupt,omitempty"`
	// Control marks a control record (a quorum leader's leader-change
	// marker): it takes an offset but carries no value. Only offline
	// segment reads see them.
	Control bool `json:"control,omitempty"`
}

// TP returns the record's partition (Poll records).
func (r Record) TP() TP { return TP{Topic: r.Topic, Partition: r.Partition} }

// TPOffset is an offset of one partition (commits, committed offsets).
type TPOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// TP returns o's partition.
func (o TPOffset) TP() TP { return TP{Topic: o.Topic, Partition: o.Partition} }

// LeaderRecord is a partition's leadership record as the controller keeps
// it in etcd.
type LeaderRecord struct {
	Epoch  int32   `json:"epoch"`
	Leader int32   `json:"leader"`
	ISR    []int32 `json:"isr"`
}

// Op is one operation. It is flat (one struct for every Kind) so that
// history.json stays a plain list; Kind says which fields matter.
type Op struct {
	ID      int      `json:"id"`
	Client  ClientID `json:"client"`
	Worker  int      `json:"worker"`
	Kind    Kind     `json:"kind"`
	Call    Time     `json:"call"`
	Return  Time     `json:"return"`
	Outcome Outcome  `json:"outcome"`
	Err     string   `json:"err,omitempty"`

	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
	Key       string `json:"key,omitempty"`
	Acks      Acks   `json:"acks,omitempty"`
	// Value is the produced value (Produce).
	Value ValueID `json:"value,omitempty"`
	// Offset is the acknowledged offset (Produce output; -1 unknown), the
	// offset asked for (Read input) or moved to (Seek).
	Offset      int64 `json:"offset"`
	LeaderEpoch int32 `json:"leader_epoch,omitempty"`
	Duplicate   bool  `json:"duplicate,omitempty"`

	HWM     int64    `json:"hwm,omitempty"`
	Records []Record `json:"records,omitempty"`

	Group       string     `json:"group,omitempty"`
	MemberEpoch int32      `json:"member_epoch,omitempty"`
	Offsets     []TPOffset `json:"offsets,omitempty"`
	TPs         []TP       `json:"tps,omitempty"`
	Reset       bool       `json:"reset,omitempty"`

	ExpectEpoch int32         `json:"expect_epoch,omitempty"`
	Leader      *LeaderRecord `json:"leader,omitempty"`
}

// TP returns the operation's partition (Produce, Read, HWM, Scan, Seek,
// LeaderRead, LeaderCAS).
func (o *Op) TP() TP { return TP{Topic: o.Topic, Partition: o.Partition} }

// Event reports whether the kind is an instantaneous event rather than a
// request (Assign, Revoke, Seek).
func (k Kind) Event() bool { return k == Assign || k == Revoke || k == Seek }
