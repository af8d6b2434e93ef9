package delivery

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

const showSightings = 8

// checkCorrupt reports records whose value does not decode, one anomaly
// per offset with every place it was seen.
func (ix *index) checkCorrupt(p *partition) []anomaly.Anomaly {
	byOff := map[int64][]sighting{}
	for _, s := range p.corrupt {
		byOff[s.off] = append(byOff[s.off], s)
	}
	var out []anomaly.Anomaly
	for _, off := range slices.Sorted(maps.Keys(byOff)) {
		ss := byOff[off]
		var ops []*history.Op
		for _, s := range ss {
			ops = append(ops, s.op)
		}
		a := ix.anomalyAt(p, anomaly.CorruptValue, ops...)
		a.Offsets = []int64{off}
		a.Detail = fmt.Sprintf("offset %d holds a value that fails its own checksum or is not a checker value, seen by %s", off, describe(ss, showSightings))
		out = append(out, a)
	}
	return out
}

// checkInvented reports values nobody attempted on this partition
// (Unexpected) and values whose produce definitely failed
// (FailedWriteVisible).
func (ix *index) checkInvented(p *partition) []anomaly.Anomaly {
	byValue := map[history.ValueID][]sighting{}
	for _, s := range p.sightings {
		if s.source == "ack" {
			continue
		}
		byValue[s.v] = append(byValue[s.v], s)
	}
	var out []anomaly.Anomaly
	for _, v := range slices.Sorted(maps.Keys(byValue)) {
		ss := byValue[v]
		var ops []*history.Op
		var offs []int64
		for _, s := range ss {
			ops = append(ops, s.op)
			if !slices.Contains(offs, s.off) {
				offs = append(offs, s.off)
			}
		}
		tp, attempted := ix.attemptTP[v]
		switch {
		case !attempted:
			a := ix.anomalyAt(p, anomaly.Unexpected, ops...)
			a.Values, a.Offsets = []history.ValueID{v}, offs
			a.Detail = fmt.Sprintf("value %v was never produced, yet seen at %s", v, describe(ss, showSightings))
			out = append(out, a)
		case tp != p.tp:
			a := ix.anomalyAt(p, anomaly.Unexpected, append(ops, ix.attemptOp[v])...)
			a.Values, a.Offsets = []history.ValueID{v}, offs
			a.Detail = fmt.Sprintf("value %v was produced to %v (op %d), yet seen on %v at %s", v, tp, ix.attemptOp[v].ID, p.tp, describe(ss, showSightings))
			out = append(out, a)
		case ix.attemptOp[v].Outcome == history.Fail:
			po := ix.attemptOp[v]
			a := ix.anomalyAt(p, anomaly.FailedWriteVisible, append([]*history.Op{po}, ops...)...)
			a.Values, a.Offsets = []history.ValueID{v}, offs
			a.Detail = fmt.Sprintf("value %v's produce (op %d) failed definitely (%s), yet it is visible at %s", v, po.ID, po.Err, describe(ss, showSightings))
			out = append(out, a)
		}
	}
	return out
}

// checkLost reports acknowledged produces whose value is not in L, with
// the replicas that still hold it and its place among the producer's
// surviving values (reliability.md §3.3: a lost-middle value, with values
// before and after it surviving, is the worst).
func (ix *index) checkLost(p *partition) []anomaly.Anomaly {
	if p.final == nil {
		return nil
	}
	byWorker := map[int][]*history.Op{}
	for _, o := range p.produces {
		if o.Outcome == history.OK {
			byWorker[o.Worker] = append(byWorker[o.Worker], o)
		}
	}
	var out []anomaly.Anomaly
	for _, o := range p.produces {
		if o.Outcome != history.OK || len(p.inL[o.Value]) > 0 {
			continue
		}
		a := ix.anomalyAt(p, anomaly.LostWrite, o)
		a.Values = []history.ValueID{o.Value}
		a.Offsets = []int64{o.Offset}
		a.FoundOn, a.AbsentOn, a.Where = p.where(o.Value)
		a.Detail = fmt.Sprintf("value %v acknowledged (acks=%s, offset %d, op %d by client %d) is not in the final log; %s",
			o.Value, o.Acks, o.Offset, o.ID, o.Client, lostPosition(p, byWorker[o.Worker], o))
		out = append(out, a)
	}
	return out
}

// lostPosition places a lost value among its worker's acknowledged values:
// prefix (nothing earlier survived), middle or postfix (nothing later
// survived).
func lostPosition(p *partition, sends []*history.Op, lost *history.Op) string {
	before, after := false, false
	for _, o := range sends {
		if len(p.inL[o.Value]) == 0 {
			continue
		}
		if o.Call < lost.Call {
			before = true
		} else if o.Call > lost.Call {
			after = true
		}
	}
	switch {
	case before && after:
		return "lost-middle: values of the same worker before and after it survived"
	case after:
		return "lost-prefix: only later values of the same worker survived"
	case before:
		return "lost-postfix: no later value of the same worker survived"
	}
	return "no value of the same worker survived"
}

// checkVanished reports values a reader or consumer saw (committed) that
// are not in L.
func (ix *index) checkVanished(p *partition) []anomaly.Anomaly {
	if p.final == nil {
		return nil
	}
	byValue := map[history.ValueID][]sighting{}
	for _, s := range p.observed {
		if len(p.inL[s.v]) == 0 && ix.attemptTP[s.v] == p.tp {
			byValue[s.v] = append(byValue[s.v], s)
		}
	}
	var out []anomaly.Anomaly
	for _, v := range slices.Sorted(maps.Keys(byValue)) {
		ss := byValue[v]
		var ops []*history.Op
		var offs []int64
		for _, s := range ss {
			ops = append(ops, s.op)
			if !slices.Contains(offs, s.off) {
				offs = append(offs, s.off)
			}
		}
		a := ix.anomalyAt(p, anomaly.CommittedVanished, ops...)
		a.Values, a.Offsets = []history.ValueID{v}, offs
		a.FoundOn, a.AbsentOn, a.Where = p.where(v)
		a.Detail = fmt.Sprintf("value %v was seen at %s but is not in the final log", v, describe(ss, showSightings))
		out = append(out, a)
	}
	return out
}

// checkDuplicates reports values at more than one offset, over every
// sighting (acks, observations, L and replicas below the high watermark):
// Duplicate when the final logs hold the value at two offsets, Rewritten
// when at most one offset is in them (the others were only acknowledged or
// read during the run, and went with a lost tail).
func (ix *index) checkDuplicates(p *partition) []anomaly.Anomaly {
	offsets := map[history.ValueID]map[int64][]sighting{}
	for _, s := range p.sightings {
		m := offsets[s.v]
		if m == nil {
			m = map[int64][]sighting{}
			offsets[s.v] = m
		}
		m[s.off] = append(m[s.off], s)
	}
	var out []anomaly.Anomaly
	for _, v := range slices.Sorted(maps.Keys(offsets)) {
		m := offsets[v]
		if len(m) < 2 {
			continue
		}
		offs := slices.Sorted(maps.Keys(m))
		var ss []sighting
		var ops []*history.Op
		var kept []int64 // offsets where a final log holds v
		for _, off := range offs {
			ss = append(ss, m[off][0])
			for _, s := range m[off] {
				ops = append(ops, s.op)
				if s.op == nil && !slices.Contains(kept, off) {
					kept = append(kept, off)
				}
			}
		}
		kind, detail := anomaly.Duplicate, fmt.Sprintf("value %v is at %d offsets: %s", v, len(offs), describe(ss, showSightings))
		if len(kept) <= 1 {
			kind = anomaly.Rewritten
			detail = fmt.Sprintf("value %v was at %d offsets during the run, and is in the final logs at %s: %s",
				v, len(offs), keptOffsets(kept), describe(ss, showSightings))
		}
		a := ix.anomalyAt(p, kind, ops...)
		a.Values, a.Offsets = []history.ValueID{v}, offs
		a.Detail = detail
		out = append(out, a)
	}
	return out
}

func keptOffsets(kept []int64) string {
	if len(kept) == 0 {
		return "none"
	}
	return fmt.Sprintf("offset %d only", kept[0])
}

// checkInconsistentOffsets reports offsets that bear more than one value.
func (ix *index) checkInconsistentOffsets(p *partition) []anomaly.Anomaly {
	values := map[int64]map[history.ValueID][]sighting{}
	for _, s := range p.sightings {
		m := values[s.off]
		if m == nil {
			m = map[history.ValueID][]sighting{}
			values[s.off] = m
		}
		m[s.v] = append(m[s.v], s)
	}
	var out []anomaly.Anomaly
	for _, off := range slices.Sorted(maps.Keys(values)) {
		m := values[off]
		if len(m) < 2 {
			continue
		}
		vs := slices.Sorted(maps.Keys(m))
		var ss []sighting
		var ops []*history.Op
		for _, v := range vs {
			ss = append(ss, m[v]...)
			for _, s := range m[v] {
				ops = append(ops, s.op)
			}
		}
		a := ix.anomalyAt(p, anomaly.InconsistentOffset, ops...)
		a.Values, a.Offsets = vs, []int64{off}
		a.Detail = fmt.Sprintf("offset %d bears %d values: %s", off, len(vs), describe(ss, showSightings))
		out = append(out, a)
	}
	return out
}

// checkProducerOrder reports a worker's acknowledged sends to the partition
// whose offsets do not increase in send order (the worker is sequential,
// so its call order is its send order).
func (ix *index) checkProducerOrder(p *partition) []anomaly.Anomaly {
	byWorker := map[int][]*history.Op{}
	for _, o := range p.produces {
		if o.Outcome == history.OK && o.Acks != history.AcksNone && o.Offset >= 0 {
			byWorker[o.Worker] = append(byWorker[o.Worker], o)
		}
	}
	var out []anomaly.Anomaly
	for _, w := range slices.Sorted(maps.Keys(byWorker)) {
		sends := byWorker[w]
		slices.SortStableFunc(sends, func(a, b *history.Op) int { return cmpTime(a.Call, b.Call) })
		for i := 1; i < len(sends); i++ {
			prev, o := sends[i-1], sends[i]
			if o.Offset > prev.Offset {
				continue
			}
			a := ix.anomalyAt(p, anomaly.NonmonotonicSend, prev, o)
			a.Values = []history.ValueID{prev.Value, o.Value}
			a.Offsets = []int64{prev.Offset, o.Offset}
			a.Detail = fmt.Sprintf("worker %d sent %v (op %d) before %v (op %d), but they got offsets %d and %d",
				w, prev.Value, prev.ID, o.Value, o.ID, prev.Offset, o.Offset)
			out = append(out, a)
		}
	}
	return out
}

func cmpTime(a, b history.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// anomalyAt starts an anomaly of kind on p spanning ops.
func (ix *index) anomalyAt(p *partition, kind anomaly.Kind, ops ...*history.Op) anomaly.Anomaly {
	a := anomaly.Anomaly{Kind: kind, Topic: p.tp.Topic, Partition: p.tp.Partition, Ops: opIDs(ops...)}
	a.From, a.To = span(ops...)
	if len(a.Ops) > 0 {
		a.Faults = ix.h.FaultsDuring(a.From, a.To)
	}
	return a
}
