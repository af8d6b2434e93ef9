package models

import (
	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// LogOperations turns a history into the partition-log model's Porcupine
// operations (reliability.md §6.1), one partition per topic-partition:
//
//   - an OK acks=all produce is Append -> its offset;
//   - every other produce that may have been written (OK with acks=none or
//     acks=leader, whose ack proves nothing about commitment, or Unknown)
//     is patched against the final log L, as etcd does: present in L at
//     offset o, it becomes Append -> o, returning when the first reader saw
//     it (or never). The reader's own observation already orders the
//     append before it; the earlier return only narrows Porcupine's search.
//     Absent from L, it is dropped (it did not happen). Without a final
//     read of its partition it stays an append with an unknown outcome
//     that returns at Infinity;
//   - definitely failed produces are left out (the set checks use them);
//   - OK reads, HWM queries, scans and polls are observations; failed or
//     unknown ones observed nothing and are left out.
//
// Operation.Metadata is the history op id.
func LogOperations(h *history.History, final *history.FinalReads) []porcupine.Operation {
	finalAt := map[history.TP]map[history.ValueID]int64{}
	if final != nil {
		for _, p := range final.Partitions {
			m := map[history.ValueID]int64{}
			for _, r := range p.Log {
				if r.Value != 0 && r.Offset < p.HighWatermark {
					if _, dup := m[r.Value]; !dup {
						m[r.Value] = r.Offset
					}
				}
			}
			finalAt[p.TP()] = m
		}
	}
	firstSeen := firstObserved(h)

	var ops []porcupine.Operation
	add := func(o *history.Op, in logInput, out logOutput, ret history.Time) {
		ops = append(ops, porcupine.Operation{
			ClientId: int(o.Client), Input: in, Call: int64(o.Call), Output: out, Return: int64(ret), Metadata: o.ID,
		})
	}
	for i := range h.Ops {
		o := &h.Ops[i]
		tp := o.TP()
		switch o.Kind {
		case history.Produce:
			in := logInput{tp: tp, kind: logAppend, value: o.Value}
			switch {
			case o.Outcome == history.Fail:
			case o.Outcome == history.OK && o.Acks == history.AcksAll && o.Offset >= 0:
				add(o, in, logOutput{offset: o.Offset}, o.Return)
			default:
				at, known := finalAt[tp]
				if !known {
					add(o, in, logOutput{unknown: true}, history.Infinity)
					continue
				}
				off, present := at[o.Value]
				if !present {
					continue
				}
				ret := history.Infinity
				if t, seen := firstSeen[o.Value]; seen {
					ret = max(t, o.Call)
				}
				add(o, in, logOutput{offset: off}, ret)
			}
		case history.Read:
			if o.Outcome == history.OK {
				add(o, logInput{tp: tp, kind: logRead, from: o.Offset}, logOutput{recs: recsOf(o.Records)}, o.Return)
			}
		case history.HWM:
			if o.Outcome == history.OK {
				add(o, logInput{tp: tp, kind: logHWM}, logOutput{hwm: o.HWM}, o.Return)
			}
		case history.Scan:
			if o.Outcome == history.OK {
				// The records below the high watermark the scan read first;
				// a fetch may return more, which the scan does not vouch for.
				var below []history.Record
				for _, r := range o.Records {
					if r.Offset < o.HWM {
						below = append(below, r)
					}
				}
				rs := recsOf(below)
				add(o, logInput{tp: tp, kind: logScan}, logOutput{recs: rs, hwm: o.HWM, digest: digestOf(rs)}, o.Return)
			}
		case history.Poll:
			if o.Outcome != history.OK {
				continue
			}
			byTP := map[history.TP][]rec{}
			var order []history.TP
			for _, r := range o.Records {
				if _, ok := byTP[r.TP()]; !ok {
					order = append(order, r.TP())
				}
				byTP[r.TP()] = append(byTP[r.TP()], rec{off: r.Offset, v: r.Value})
			}
			for _, tp := range order {
				add(o, logInput{tp: tp, kind: logObserve}, logOutput{recs: byTP[tp]}, o.Return)
			}
		}
	}
	return ops
}

// firstObserved returns, per value, the earliest return time of an OK
// operation that saw it (read, scan or poll): an append that someone saw
// took effect before that reader returned.
func firstObserved(h *history.History) map[history.ValueID]history.Time {
	seen := map[history.ValueID]history.Time{}
	for i := range h.Ops {
		o := &h.Ops[i]
		if o.Outcome != history.OK || (o.Kind != history.Read && o.Kind != history.Scan && o.Kind != history.Poll) {
			continue
		}
		for _, r := range o.Records {
			if r.Value == 0 {
				continue
			}
			if t, ok := seen[r.Value]; !ok || o.Return < t {
				seen[r.Value] = o.Return
			}
		}
	}
	return seen
}

// recsOf converts records; a corrupt record keeps value 0, which matches
// nothing in the model.
func recsOf(rs []history.Record) []rec {
	out := make([]rec, len(rs))
	for i, r := range rs {
		out[i] = rec{off: r.Offset, v: r.Value}
	}
	return out
}
