package models

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// LogOptions pick the rules of the partition-log model.
type LogOptions struct {
	// StaleReads relaxes the reads of the tail: HWM may return less than
	// the committed length, a read past the end may come back empty, a
	// scan may see a committed prefix. A history that is legal only this
	// way has stale reads (TESTING.md §12 decision 1: is HWM linearizable).
	StaleReads bool
	// Gaps lets offsets skip: a quorum leader writes a leader-change
	// control record that takes an offset but that no consumer sees.
	// Appends then need an offset at or above the end (not equal to it),
	// and a high watermark above the last record moves the end there.
	Gaps bool
}

// logOpKind is the kind of a partition-log operation.
type logOpKind uint8

const (
	logAppend  logOpKind = iota
	logRead              // fetch from an offset: the first records at or above it
	logHWM               // the high watermark
	logScan              // the high watermark and every record below it
	logObserve           // records a consumer polled: each must be in the log
)

// rec is a record as the model compares it.
type rec struct {
	off int64
	v   history.ValueID
}

// logInput is the Porcupine input of a partition-log operation.
type logInput struct {
	tp    history.TP
	kind  logOpKind
	value history.ValueID // append
	from  int64           // read
}

// logOutput is the Porcupine output of a partition-log operation.
type logOutput struct {
	unknown bool  // append: outcome unknown (Return is Infinity)
	offset  int64 // append: the acknowledged offset
	recs    []rec // read, scan, observe
	hwm     int64 // hwm, scan
	digest  uint64
}

// cell is one record of the model's log: an immutable list from the tail
// back, each cell with the digest of the log up to it, so a step is O(1),
// states share structure and compare by digest (the S2 idea,
// reliability.md §6.1).
type cell struct {
	off  int64
	v    history.ValueID
	dig  uint64
	prev *cell
}

// logState is the committed log. end is the next offset: the high
// watermark the model expects.
//
// Invariant: last == nil || last.off < end.
type logState struct {
	end  int64
	last *cell
}

func (s logState) digest() uint64 {
	if s.last == nil {
		return 0
	}
	return s.last.dig
}

func (s logState) push(off int64, v history.ValueID) logState {
	return logState{end: off + 1, last: &cell{off: off, v: v, dig: mix(s.digest(), off, v), prev: s.last}}
}

// digestBelow returns the digest of the records at offsets < h.
func (s logState) digestBelow(h int64) uint64 {
	c := s.last
	for c != nil && c.off >= h {
		c = c.prev
	}
	if c == nil {
		return 0
	}
	return c.dig
}

// firstFrom returns the record with the smallest offset >= o, or nil.
func (s logState) firstFrom(o int64) *cell {
	var found *cell
	for c := s.last; c != nil && c.off >= o; c = c.prev {
		found = c
	}
	return found
}

// holds reports whether every record in rs (any order) is in the log at
// its offset, walking back from the tail once.
func (s logState) holds(rs []rec) bool {
	// rs sorted by offset descending, without modifying the caller's.
	desc := sortedDesc(rs)
	c := s.last
	for _, r := range desc {
		for c != nil && c.off > r.off {
			c = c.prev
		}
		if c == nil || c.off != r.off || c.v != r.v {
			return false
		}
	}
	return true
}

func sortedDesc(rs []rec) []rec {
	sorted := true
	for i := 1; i < len(rs); i++ {
		if rs[i].off > rs[i-1].off {
			sorted = false
			break
		}
	}
	if sorted {
		return rs
	}
	out := make([]rec, len(rs))
	copy(out, rs)
	// insertion sort: polls are short and nearly ordered.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].off > out[j-1].off; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// mix chains one record into a digest (splitmix64 finaliser over the
// previous digest, the offset and the value).
func mix(d uint64, off int64, v history.ValueID) uint64 {
	x := d ^ (uint64(off)+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9 ^ uint64(v)*0x94d049bb133111eb
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// digestOf is the digest of records read in this order.
func digestOf(rs []rec) uint64 {
	var d uint64
	for _, r := range rs {
		d = mix(d, r.off, r.v)
	}
	return d
}

// LogModel returns the partition-log model of TESTING.md §2 and
// reliability.md §6.1: state = the committed log; Append(v) -> off is legal
// iff off is the end (at or above it with Gaps); an append with an unknown
// outcome is legal anywhere and appends at the end (Porcupine may place it
// last, which is the same as never); Read(o) must return the first records
// at or above o; HWM must equal the end; Scan must match the end and the
// digest of the whole log; polled records must be in the log at their
// offsets. Partitioned by topic-partition.
func LogModel(opts LogOptions) porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			_, parts := partitionBy(ops, func(in any) history.TP { return in.(logInput).tp }, history.CompareTP)
			return parts
		},
		Init: func() any { return logState{} },
		Step: func(state, input, output any) (bool, any) {
			return logStep(opts, state.(logState), input.(logInput), output.(logOutput))
		},
		Equal: func(a, b any) bool {
			x, y := a.(logState), b.(logState)
			return x.end == y.end && x.digest() == y.digest()
		},
		Hash: func(state any) uint64 {
			s := state.(logState)
			return s.digest() ^ uint64(s.end)*0x9e3779b97f4a7c15
		},
		DescribeOperation:         describeLogOp,
		DescribeState:             describeLogState,
		DescribeOperationMetadata: describeMetadata,
	}
}

func logStep(opts LogOptions, s logState, in logInput, out logOutput) (bool, any) {
	switch in.kind {
	case logAppend:
		if out.unknown {
			return true, s.push(s.end, in.value)
		}
		if out.offset == s.end || opts.Gaps && out.offset > s.end {
			return true, s.push(out.offset, in.value)
		}
		return false, s
	case logRead:
		if len(out.recs) == 0 {
			// Nothing at or above from: legal if the log has nothing
			// there (a stale replica may not have it yet).
			return opts.StaleReads || s.last == nil || s.last.off < in.from, s
		}
		first := s.firstFrom(in.from)
		if first == nil || first.off != out.recs[0].off || first.v != out.recs[0].v {
			return false, s
		}
		return s.holds(out.recs), s
	case logObserve:
		return s.holds(out.recs), s
	case logHWM:
		return hwmStep(opts, s, out.hwm, nil)
	case logScan:
		return hwmStep(opts, s, out.hwm, &out.digest)
	}
	return false, s
}

// hwmStep checks a high watermark h (and, for a scan, the digest of the
// records below it) against the end.
func hwmStep(opts LogOptions, s logState, h int64, digest *uint64) (bool, any) {
	switch {
	case h == s.end:
		return digest == nil || *digest == s.digest(), s
	case h > s.end && opts.Gaps:
		// Control records above the last data record: the end moves up.
		if digest != nil && *digest != s.digest() {
			return false, s
		}
		return true, logState{end: h, last: s.last}
	case h < s.end && opts.StaleReads:
		return digest == nil || *digest == s.digestBelow(h), s
	}
	return false, s
}

func describeLogOp(input, output any) string {
	in, out := input.(logInput), output.(logOutput)
	switch in.kind {
	case logAppend:
		if out.unknown {
			return fmt.Sprintf("%v append(%v) -> ?", in.tp, in.value)
		}
		return fmt.Sprintf("%v append(%v) -> %d", in.tp, in.value, out.offset)
	case logRead:
		return fmt.Sprintf("%v read(%d) -> %s", in.tp, in.from, describeRecs(out.recs))
	case logObserve:
		return fmt.Sprintf("%v poll -> %s", in.tp, describeRecs(out.recs))
	case logHWM:
		return fmt.Sprintf("%v hwm -> %d", in.tp, out.hwm)
	case logScan:
		return fmt.Sprintf("%v scan -> hwm %d, %d records, digest %016x", in.tp, out.hwm, len(out.recs), out.digest)
	}
	return "?"
}

func describeRecs(rs []rec) string {
	const show = 6
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs {
		if i == show {
			fmt.Fprintf(&b, " … %d more", len(rs)-show)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d=%v", r.off, r.v)
	}
	b.WriteByte(']')
	return b.String()
}

func describeLogState(state any) string {
	s := state.(logState)
	var tail []string
	for c := s.last; c != nil && len(tail) < 3; c = c.prev {
		tail = append([]string{fmt.Sprintf("%d=%v", c.off, c.v)}, tail...)
	}
	return fmt.Sprintf("end %d, digest %016x, tail [%s]", s.end, s.digest(), strings.Join(tail, " "))
}

func describeMetadata(m any) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf("op %d", m.(int))
}
