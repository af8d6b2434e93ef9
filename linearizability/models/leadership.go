package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/history"
)

type leaderOpKind uint8

const (
	leaderRead leaderOpKind = iota
	leaderCAS
)

type leaderInput struct {
	tp     history.TP
	kind   leaderOpKind
	expect int32        // CAS: the epoch the record must have (-1: absent)
	rec    leaderRecord // CAS: the new record
}

type leaderOutput struct {
	outcome history.Outcome // CAS
	rec     leaderRecord    // read
}

// leaderRecord is a comparable copy of history.LeaderRecord (ISR as a
// string) so that states compare with ==.
type leaderRecord struct {
	exists bool
	epoch  int32
	leader int32
	isr    string
}

func leaderRecordOf(r *history.LeaderRecord) leaderRecord {
	if r == nil {
		return leaderRecord{}
	}
	isr := slices.Clone(r.ISR)
	slices.Sort(isr)
	parts := make([]string, len(isr))
	for i, b := range isr {
		parts[i] = fmt.Sprint(b)
	}
	return leaderRecord{exists: true, epoch: r.Epoch, leader: r.Leader, isr: strings.Join(parts, ",")}
}

func (r leaderRecord) String() string {
	if !r.exists {
		return "none"
	}
	return fmt.Sprintf("epoch %d leader %d isr [%s]", r.epoch, r.leader, r.isr)
}

// casApplies reports whether CAS(expect, next) succeeds on s: the compared
// epoch matches and the epoch grows (reliability.md §6.2).
func casApplies(s leaderRecord, expect int32, next leaderRecord) bool {
	if !s.exists {
		return expect == -1
	}
	return expect == s.epoch && next.epoch > s.epoch
}

// LeadershipModel returns the partition-leadership register of
// reliability.md §6.2, partitioned by topic-partition: state = the record
// (epoch, leader, ISR); CAS(expect, new) succeeds iff the record's epoch
// is expect and new's epoch is higher; a CAS reported failed must have
// found a different epoch; one with an unknown outcome applies if it can;
// reads return the record.
func LeadershipModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			_, parts := partitionBy(ops, func(in any) history.TP { return in.(leaderInput).tp }, history.CompareTP)
			return parts
		},
		Init: func() any { return leaderRecord{} },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(leaderRecord), input.(leaderInput), output.(leaderOutput)
			switch in.kind {
			case leaderRead:
				return out.rec == s, s
			case leaderCAS:
				applies := casApplies(s, in.expect, in.rec)
				switch out.outcome {
				case history.OK:
					if applies {
						return true, in.rec
					}
					return false, s
				case history.Fail:
					return !applies, s
				default:
					if applies {
						return true, in.rec
					}
					return true, s
				}
			}
			return false, s
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(leaderInput), output.(leaderOutput)
			if in.kind == leaderRead {
				return fmt.Sprintf("%v leader -> %v", in.tp, out.rec)
			}
			return fmt.Sprintf("%v cas(expect epoch %d, %v) -> %s", in.tp, in.expect, in.rec, out.outcome)
		},
		DescribeState:             func(state any) string { return state.(leaderRecord).String() },
		DescribeOperationMetadata: describeMetadata,
	}
}

// LeadershipOperations turns LeaderRead and LeaderCAS operations into the
// model's operations. Failed CAS operations stay in (their failure says
// the comparison did not match); unknown ones return at Infinity; failed or
// unknown reads are left out.
func LeadershipOperations(h *history.History) []porcupine.Operation {
	var ops []porcupine.Operation
	for i := range h.Ops {
		o := &h.Ops[i]
		var in leaderInput
		var out leaderOutput
		ret := o.Return
		switch o.Kind {
		case history.LeaderRead:
			if o.Outcome != history.OK {
				continue
			}
			in, out = leaderInput{tp: o.TP(), kind: leaderRead}, leaderOutput{rec: leaderRecordOf(o.Leader)}
		case history.LeaderCAS:
			in, out = leaderInput{tp: o.TP(), kind: leaderCAS, expect: o.ExpectEpoch, rec: leaderRecordOf(o.Leader)}, leaderOutput{outcome: o.Outcome}
			if o.Outcome == history.Unknown {
				ret = history.Infinity
			}
		default:
			continue
		}
		ops = append(ops, porcupine.Operation{
			ClientId: int(o.Client), Input: in, Call: int64(o.Call), Output: out, Return: int64(ret), Metadata: o.ID,
		})
	}
	return ops
}
