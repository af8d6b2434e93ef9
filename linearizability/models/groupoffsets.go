package models

import (
	"cmp"
	"fmt"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// groupKey is one register of the committed-offsets model.
type groupKey struct {
	group string
	tp    history.TP
}

func (k groupKey) String() string { return fmt.Sprintf("%s@%v", k.group, k.tp) }

func compareGroupKey(a, b groupKey) int {
	if c := cmp.Compare(a.group, b.group); c != 0 {
		return c
	}
	return history.CompareTP(a.tp, b.tp)
}

type groupOpKind uint8

const (
	groupCommit groupOpKind = iota
	groupFetch              // read the committed offset
	groupAssign             // the partition was assigned to a member at an epoch
)

type groupInput struct {
	key    groupKey
	kind   groupOpKind
	epoch  int32 // commit, assign
	offset int64 // commit
	reset  bool  // commit: an explicit reset, not fenced by epochs
}

type groupOutput struct {
	unknown bool  // commit: outcome unknown (Return is Infinity)
	offset  int64 // fetch: -1 when nothing is committed
}

// groupState is one (group, partition)'s committed offset and the highest
// member epoch known to own or have committed the partition.
type groupState struct {
	epoch  int32 // -1: none yet
	offset int64 // -1: nothing committed
}

// GroupOffsetsModel returns the committed-offset register of
// reliability.md §6.2, partitioned by (group, topic-partition): a commit is
// legal iff its member epoch is not below the highest epoch at which the
// partition was assigned or committed (member-epoch fencing: a member that
// gave the partition up has moved to a newer epoch, so a late commit of the
// old owner must be refused); reading the committed offset must return the
// last commit. A commit with an unknown outcome is applied if its epoch
// allows, else it was refused; it returns at Infinity. An Assign event
// raises the epoch: from then on the old owner's commits are zombies.
//
// A commit of several partitions is one etcd transaction; it is split
// into per-partition operations, which checks each partition's projection
// of the history (necessary for linearizability, not sufficient: a torn
// multi-partition commit is not caught here).
func GroupOffsetsModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			_, parts := partitionBy(ops, func(in any) groupKey { return in.(groupInput).key }, compareGroupKey)
			return parts
		},
		Init: func() any { return groupState{epoch: -1, offset: -1} },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(groupState), input.(groupInput), output.(groupOutput)
			switch in.kind {
			case groupCommit:
				allowed := in.reset || in.epoch >= s.epoch
				if !allowed {
					// Refused: legal only if we do not know it succeeded.
					return out.unknown, s
				}
				return true, groupState{epoch: max(s.epoch, in.epoch), offset: in.offset}
			case groupFetch:
				return out.offset == s.offset, s
			case groupAssign:
				return true, groupState{epoch: max(s.epoch, in.epoch), offset: s.offset}
			}
			return false, s
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(groupInput), output.(groupOutput)
			switch in.kind {
			case groupCommit:
				res := "ok"
				if out.unknown {
					res = "?"
				}
				reset := ""
				if in.reset {
					reset = " reset"
				}
				return fmt.Sprintf("%v commit(%d, epoch %d%s) -> %s", in.key, in.offset, in.epoch, reset, res)
			case groupFetch:
				return fmt.Sprintf("%v committed -> %d", in.key, out.offset)
			case groupAssign:
				return fmt.Sprintf("%v assigned at epoch %d", in.key, in.epoch)
			}
			return "?"
		},
		DescribeState: func(state any) string {
			s := state.(groupState)
			return fmt.Sprintf("offset %d, epoch %d", s.offset, s.epoch)
		},
		DescribeOperationMetadata: describeMetadata,
	}
}

// GroupOffsetsOperations turns the history's Commit, FetchCommitted and
// Assign operations into the register model's operations, one per
// (group, partition) they touch. Failed commits are left out (they did not
// apply); failed and unknown fetches observed nothing.
func GroupOffsetsOperations(h *history.History) []porcupine.Operation {
	var ops []porcupine.Operation
	add := func(o *history.Op, in groupInput, out groupOutput, ret history.Time) {
		ops = append(ops, porcupine.Operation{
			ClientId: int(o.Client), Input: in, Call: int64(o.Call), Output: out, Return: int64(ret), Metadata: o.ID,
		})
	}
	for i := range h.Ops {
		o := &h.Ops[i]
		switch o.Kind {
		case history.Commit:
			if o.Outcome == history.Fail {
				continue
			}
			ret, unknown := o.Return, o.Outcome == history.Unknown
			if unknown {
				ret = history.Infinity
			}
			for _, off := range o.Offsets {
				add(o, groupInput{key: groupKey{o.Group, off.TP()}, kind: groupCommit, epoch: o.MemberEpoch, offset: off.Offset, reset: o.Reset},
					groupOutput{unknown: unknown}, ret)
			}
		case history.FetchCommitted:
			if o.Outcome != history.OK {
				continue
			}
			for _, off := range o.Offsets {
				add(o, groupInput{key: groupKey{o.Group, off.TP()}, kind: groupFetch}, groupOutput{offset: off.Offset}, o.Return)
			}
		case history.Assign:
			if o.Group == "" {
				continue
			}
			for _, tp := range o.TPs {
				add(o, groupInput{key: groupKey{o.Group, tp}, kind: groupAssign, epoch: o.MemberEpoch}, groupOutput{}, o.Return)
			}
		}
	}
	return ops
}
