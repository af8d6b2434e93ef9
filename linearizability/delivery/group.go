package delivery

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// groupTP is one consumer group's view of one partition.
type groupTP struct {
	group string
	tp    history.TP
}

func compareGroupTP(a, b groupTP) int {
	if c := cmp.Compare(a.group, b.group); c != 0 {
		return c
	}
	return history.CompareTP(a.tp, b.tp)
}

// delivered is one record a group member's poll returned.
type delivered struct {
	op  *history.Op
	off int64
	v   history.ValueID
}

// checkGroups runs the per-(group, partition) delivery checks: at-least-once
// (every value of L up to what the group reached was delivered), the tail
// it did not reach, at-most-once (no value delivered twice).
func (ix *index) checkGroups() []anomaly.Anomaly {
	dels := map[groupTP][]delivered{}
	for i := range ix.h.Ops {
		o := &ix.h.Ops[i]
		switch {
		case o.Kind == history.Poll && o.Group != "" && o.Outcome == history.OK:
			for _, r := range o.Records {
				if r.Corrupt == "" && r.Value != 0 {
					k := groupTP{o.Group, r.TP()}
					dels[k] = append(dels[k], delivered{op: o, off: r.Offset, v: r.Value})
				}
			}
		case o.Kind == history.Assign && o.Group != "":
			for _, tp := range o.TPs {
				k := groupTP{o.Group, tp}
				if _, ok := dels[k]; !ok {
					dels[k] = nil
				}
			}
		}
	}
	var out []anomaly.Anomaly
	for _, k := range slices.SortedFunc(maps.Keys(dels), compareGroupTP) {
		ds := dels[k]
		p := ix.part(k.tp)
		out = append(out, ix.checkGroupDuplicates(p, k, ds)...)
		out = append(out, ix.checkGroupLoss(p, k, ds)...)
	}
	return out
}

func (ix *index) groupAnomaly(p *partition, k groupTP, kind anomaly.Kind, ops ...*history.Op) anomaly.Anomaly {
	a := ix.anomalyAt(p, kind, ops...)
	a.Group = k.group
	return a
}

// checkGroupDuplicates reports values delivered more than once to the
// group, one anomaly per value.
func (ix *index) checkGroupDuplicates(p *partition, k groupTP, ds []delivered) []anomaly.Anomaly {
	byValue := map[history.ValueID][]delivered{}
	for _, d := range ds {
		byValue[d.v] = append(byValue[d.v], d)
	}
	var out []anomaly.Anomaly
	for _, v := range slices.Sorted(maps.Keys(byValue)) {
		dv := byValue[v]
		if len(dv) < 2 {
			continue
		}
		var ops []*history.Op
		var offs []int64
		for _, d := range dv {
			ops = append(ops, d.op)
			if !slices.Contains(offs, d.off) {
				offs = append(offs, d.off)
			}
		}
		a := ix.groupAnomaly(p, k, anomaly.DeliveryDuplicate, ops...)
		a.Values, a.Offsets = []history.ValueID{v}, offs
		a.Detail = fmt.Sprintf("value %v delivered %d times to group %s (polls %v)", v, len(dv), k.group, opIDs(ops...))
		out = append(out, a)
	}
	return out
}

// checkGroupLoss reports values of L the group never got: below the
// highest offset it reached, each is a DeliveryLoss; above it, together,
// they are Unseen (the drain did not get there).
func (ix *index) checkGroupLoss(p *partition, k groupTP, ds []delivered) []anomaly.Anomaly {
	if p.final == nil {
		return nil
	}
	got := map[history.ValueID]bool{}
	reach := int64(-1)
	var last *history.Op
	for _, d := range ds {
		got[d.v] = true
		if d.off > reach {
			reach, last = d.off, d.op
		}
	}
	var out []anomaly.Anomaly
	var unseen []int64
	var unseenValues []history.ValueID
	for _, off := range p.lOffsets {
		v := p.lAt[off]
		if got[v] {
			continue
		}
		if off > reach {
			unseen = append(unseen, off)
			unseenValues = append(unseenValues, v)
			continue
		}
		po := ix.attemptOp[v]
		a := ix.groupAnomaly(p, k, anomaly.DeliveryLoss, po)
		a.Values, a.Offsets = []history.ValueID{v}, []int64{off}
		acked := "not acknowledged"
		if po != nil && po.Outcome == history.OK {
			acked = "acknowledged"
		}
		a.Detail = fmt.Sprintf("value %v (%s) is in the final log at offset %d, below offset %d the group reached, but was never delivered to group %s",
			v, acked, off, reach, k.group)
		out = append(out, a)
	}
	if len(unseen) > 0 {
		a := ix.groupAnomaly(p, k, anomaly.Unseen, last)
		a.Offsets = unseen[:min(len(unseen), showOffsets)]
		a.Values = unseenValues[:min(len(unseenValues), showOffsets)]
		a.Detail = fmt.Sprintf("%d values of the final log above offset %d (the last the group got) were never delivered to group %s: offsets %s",
			len(unseen), reach, k.group, ranges(unseen))
		out = append(out, a)
	}
	return out
}

// checkPolls follows every consumer client's records per partition in
// order: with no Assign, Revoke or Seek of that partition in between, the
// next record must be the next one L has after the previous (PollSkip if L
// has records in between, NonmonotonicPoll if it is not after it). A Read
// is checked the same way within itself, from its start offset. Chains are
// per client id: a client that saw an unknown outcome continues under a
// new id, and its chains start again.
func (ix *index) checkPolls() []anomaly.Anomaly {
	type chainKey struct {
		client history.ClientID
		tp     history.TP
	}
	type link struct {
		op  *history.Op
		off int64
		v   history.ValueID
	}
	chains := map[chainKey]link{}
	var out []anomaly.Anomaly
	next := func(o *history.Op, tp history.TP, r history.Record, within bool) {
		k := chainKey{o.Client, tp}
		prev, ok := chains[k]
		chains[k] = link{op: o, off: r.Offset, v: r.Value}
		if !ok {
			return
		}
		p := ix.part(tp)
		where := "across polls"
		if within {
			where = "within one " + string(o.Kind)
		}
		if r.Offset <= prev.off {
			a := ix.anomalyAt(p, anomaly.NonmonotonicPoll, prev.op, o)
			a.Group = o.Group
			a.Values, a.Offsets = []history.ValueID{prev.v, r.Value}, []int64{prev.off, r.Offset}
			a.Detail = fmt.Sprintf("client %d got offset %d (%v) and then offset %d (%v), %s, with no rebalance or seek between",
				o.Client, prev.off, prev.v, r.Offset, r.Value, where)
			out = append(out, a)
			return
		}
		if p.final == nil {
			return
		}
		lo := sort.Search(len(p.lOffsets), func(i int) bool { return p.lOffsets[i] > prev.off })
		hi := sort.Search(len(p.lOffsets), func(i int) bool { return p.lOffsets[i] >= r.Offset })
		if lo >= hi {
			return
		}
		skipped := p.lOffsets[lo:hi]
		a := ix.anomalyAt(p, anomaly.PollSkip, prev.op, o)
		a.Group = o.Group
		a.Offsets = append([]int64{prev.off}, skipped[:min(len(skipped), showOffsets)]...)
		a.Offsets = append(a.Offsets, r.Offset)
		for _, off := range skipped[:min(len(skipped), showOffsets)] {
			a.Values = append(a.Values, p.lAt[off])
		}
		a.Detail = fmt.Sprintf("client %d went from offset %d to %d %s, skipping %d records of the final log at offsets %s",
			o.Client, prev.off, r.Offset, where, len(skipped), ranges(skipped))
		out = append(out, a)
	}
	for i := range ix.h.Ops {
		o := &ix.h.Ops[i]
		switch o.Kind {
		case history.Assign, history.Revoke:
			for _, tp := range o.TPs {
				delete(chains, chainKey{o.Client, tp})
			}
		case history.Seek:
			delete(chains, chainKey{o.Client, o.TP()})
		case history.Read:
			if o.Outcome != history.OK || len(o.Records) == 0 {
				continue
			}
			// A read starts a chain of its own at its offset.
			chains[chainKey{o.Client, o.TP()}] = link{op: o, off: o.Offset - 1}
			for _, r := range o.Records {
				next(o, o.TP(), r, true)
			}
			delete(chains, chainKey{o.Client, o.TP()})
		case history.Poll:
			if o.Outcome != history.OK {
				continue
			}
			seen := map[history.TP]bool{}
			for _, r := range o.Records {
				if r.Corrupt != "" {
					continue
				}
				next(o, r.TP(), r, seen[r.TP()])
				seen[r.TP()] = true
			}
		}
	}
	return out
}

// checkCommitted reports a (group, partition)'s committed offset going
// backwards in real-time order: an OK commit or an offset fetch that
// returned before another was called, with a higher offset than it. An
// explicit reset starts over.
func (ix *index) checkCommitted() []anomaly.Anomaly {
	type entry struct {
		op     *history.Op
		offset int64
		reset  bool
	}
	byKey := map[groupTP][]entry{}
	for i := range ix.h.Ops {
		o := &ix.h.Ops[i]
		if o.Outcome != history.OK || (o.Kind != history.Commit && o.Kind != history.FetchCommitted) {
			continue
		}
		for _, off := range o.Offsets {
			if off.Offset < 0 {
				continue
			}
			k := groupTP{o.Group, off.TP()}
			byKey[k] = append(byKey[k], entry{op: o, offset: off.Offset, reset: o.Kind == history.Commit && o.Reset})
		}
	}
	var out []anomaly.Anomaly
	for _, k := range slices.SortedFunc(maps.Keys(byKey), compareGroupTP) {
		es := byKey[k]
		byCall := slices.Clone(es)
		slices.SortStableFunc(byCall, func(a, b entry) int { return cmpTime(a.op.Call, b.op.Call) })
		byReturn := slices.Clone(es)
		slices.SortStableFunc(byReturn, func(a, b entry) int { return cmpTime(a.op.Return, b.op.Return) })
		// Sweep: for each entry in call order, the highest offset among
		// the entries that returned before it was called.
		j := 0
		var best *entry
		for _, e := range byCall {
			for j < len(byReturn) && byReturn[j].op.Return < e.op.Call {
				r := byReturn[j]
				if r.reset || best == nil || r.offset > best.offset {
					best = &byReturn[j]
				}
				j++
			}
			if e.reset || best == nil || e.offset >= best.offset {
				continue
			}
			p := ix.part(k.tp)
			a := ix.groupAnomaly(p, k, anomaly.OffsetRegression, best.op, e.op)
			a.Offsets = []int64{best.offset, e.offset}
			a.Detail = fmt.Sprintf("group %s's committed offset was %d (%s op %d, returned at %v) and later %d (%s op %d, called at %v)",
				k.group, best.offset, best.op.Kind, best.op.ID, best.op.Return, e.offset, e.op.Kind, e.op.ID, e.op.Call)
			out = append(out, a)
		}
	}
	return out
}

// checkLeaders reports two brokers claiming one partition in one epoch.
func (ix *index) checkLeaders() []anomaly.Anomaly {
	type key struct {
		tp    history.TP
		epoch int32
	}
	claims := map[key][]history.LeaderClaim{}
	for _, c := range ix.h.LeaderClaims {
		k := key{c.TP(), c.Epoch}
		claims[k] = append(claims[k], c)
	}
	var out []anomaly.Anomaly
	for _, k := range slices.SortedFunc(maps.Keys(claims), func(a, b key) int {
		if c := history.CompareTP(a.tp, b.tp); c != 0 {
			return c
		}
		return cmp.Compare(a.epoch, b.epoch)
	}) {
		cs := claims[k]
		var brokers []int32
		from, to := cs[0].Time, cs[0].Time
		for _, c := range cs {
			if !slices.Contains(brokers, c.Broker) {
				brokers = append(brokers, c.Broker)
			}
			from, to = min(from, c.Time), max(to, c.Time)
		}
		if len(brokers) < 2 {
			continue
		}
		slices.Sort(brokers)
		out = append(out, anomaly.Anomaly{
			Kind: anomaly.SplitBrain, Topic: k.tp.Topic, Partition: k.tp.Partition,
			From: from, To: to, Faults: ix.h.FaultsDuring(from, to),
			Detail: fmt.Sprintf("brokers %v all claimed leadership of %v in epoch %d", brokers, k.tp, k.epoch),
		})
	}
	return out
}
