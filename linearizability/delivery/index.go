package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// sighting is one place a value or offset was seen.
type sighting struct {
	source string // "L", "replica 2", "ack", "read", "scan", "poll"
	op     *history.Op
	off    int64
	v      history.ValueID
}

func (s sighting) String() string {
	if s.op != nil {
		return fmt.Sprintf("%s op %d", s.source, s.op.ID)
	}
	return s.source
}

// partition holds everything known about one topic-partition.
type partition struct {
	tp    history.TP
	final *history.PartitionRead // nil: no final read

	produces []*history.Op // produces to this partition, in history order
	// inL maps a value to its offsets in L below the high watermark; lAt is
	// the reverse (data records only).
	inL map[history.ValueID][]int64
	lAt map[int64]history.ValueID
	// lOffsets are L's data offsets, sorted.
	lOffsets []int64
	// control are offsets some read showed as control records.
	control map[int64]bool
	// onReplica maps broker -> value -> offset, over everything each
	// readable replica holds (also above the high watermark): where a lost
	// value may still be.
	onReplica map[int32]map[history.ValueID]int64
	readable  []int32 // brokers whose replica was read

	// sightings are every value seen at an offset: acks, observations, L,
	// replicas below the high watermark.
	sightings []sighting
	// observed are the sightings of readers and consumers (OK reads, scans,
	// polls): committed data.
	observed []sighting
	corrupt  []sighting
}

// index is the history and final reads, organised for the checks.
type index struct {
	h          *history.History
	final      *history.FinalReads
	parts      map[history.TP]*partition
	tps        []history.TP
	attemptTP  map[history.ValueID]history.TP // where each value was produced
	attemptOp  map[history.ValueID]*history.Op
	incomplete []anomaly.Anomaly
}

func newIndex(h *history.History, final *history.FinalReads) *index {
	ix := &index{
		h: h, final: final,
		parts:     map[history.TP]*partition{},
		attemptTP: map[history.ValueID]history.TP{},
		attemptOp: map[history.ValueID]*history.Op{},
	}
	for i := range h.Ops {
		o := &h.Ops[i]
		switch o.Kind {
		case history.Produce:
			p := ix.part(o.TP())
			p.produces = append(p.produces, o)
			ix.attemptTP[o.Value], ix.attemptOp[o.Value] = o.TP(), o
			if o.Outcome == history.OK && o.Acks != history.AcksNone && o.Offset >= 0 {
				p.sightings = append(p.sightings, sighting{source: "ack", op: o, off: o.Offset, v: o.Value})
			}
		case history.Read, history.Scan, history.Poll:
			if o.Outcome != history.OK {
				continue
			}
			for _, r := range o.Records {
				tp := o.TP()
				if o.Kind == history.Poll {
					tp = r.TP()
				}
				if o.Kind == history.Scan && r.Offset >= o.HWM {
					continue
				}
				ix.see(ix.part(tp), sighting{source: string(o.Kind), op: o, off: r.Offset, v: r.Value}, r, true)
			}
		}
	}
	if final != nil {
		for fi := range final.Partitions {
			fp := &final.Partitions[fi]
			p := ix.part(fp.TP())
			p.final = fp
			for _, r := range fp.Log {
				if r.Control {
					p.control[r.Offset] = true
					continue
				}
				if r.Offset < fp.LogStartOffset || r.Offset >= fp.HighWatermark {
					continue
				}
				if r.Corrupt == "" {
					p.inL[r.Value] = append(p.inL[r.Value], r.Offset)
					if _, ok := p.lAt[r.Offset]; !ok {
						p.lOffsets = append(p.lOffsets, r.Offset)
					}
					p.lAt[r.Offset] = r.Value
				}
				ix.see(p, sighting{source: "L", off: r.Offset, v: r.Value}, r, false)
			}
			slices.Sort(p.lOffsets)
			for _, rr := range fp.Replicas {
				if rr.Err != "" {
					ix.incomplete = append(ix.incomplete, anomaly.Anomaly{
						Kind: anomaly.IncompleteInput, Topic: p.tp.Topic, Partition: p.tp.Partition,
						Detail: fmt.Sprintf("replica %d could not be read (%s): divergence and lost-value lookups are incomplete", rr.Broker, rr.Err),
					})
					continue
				}
				p.readable = append(p.readable, rr.Broker)
				m := map[history.ValueID]int64{}
				p.onReplica[rr.Broker] = m
				src := fmt.Sprintf("replica %d", rr.Broker)
				for _, r := range rr.Records {
					if r.Control {
						p.control[r.Offset] = true
						continue
					}
					if r.Corrupt == "" {
						if _, ok := m[r.Value]; !ok {
							m[r.Value] = r.Offset
						}
					}
					if r.Offset >= fp.LogStartOffset && r.Offset < fp.HighWatermark {
						ix.see(p, sighting{source: src, off: r.Offset, v: r.Value}, r, false)
					}
				}
			}
			slices.Sort(p.readable)
		}
	}
	for tp := range ix.parts {
		ix.tps = append(ix.tps, tp)
	}
	slices.SortFunc(ix.tps, history.CompareTP)
	return ix
}

func (ix *index) part(tp history.TP) *partition {
	p := ix.parts[tp]
	if p == nil {
		p = &partition{
			tp:        tp,
			inL:       map[history.ValueID][]int64{},
			lAt:       map[int64]history.ValueID{},
			control:   map[int64]bool{},
			onReplica: map[int32]map[history.ValueID]int64{},
		}
		ix.parts[tp] = p
	}
	return p
}

// see records a value seen at an offset; corrupt records go to their own
// list.
func (ix *index) see(p *partition, s sighting, r history.Record, observation bool) {
	if r.Corrupt != "" || r.Value == 0 {
		p.corrupt = append(p.corrupt, s)
		return
	}
	p.sightings = append(p.sightings, s)
	if observation {
		p.observed = append(p.observed, s)
	}
}

// where looks v up in every readable replica of p.
func (p *partition) where(v history.ValueID) ([]anomaly.Location, []int32, string) {
	var found []anomaly.Location
	var absent []int32
	for _, b := range p.readable {
		if off, ok := p.onReplica[b][v]; ok {
			found = append(found, anomaly.Location{Broker: b, Offset: off})
		} else {
			absent = append(absent, b)
		}
	}
	return found, absent, anomaly.Where(found, absent)
}

// span returns the time span of ops (ignoring nil ones).
func span(ops ...*history.Op) (from, to history.Time) {
	first := true
	for _, o := range ops {
		if o == nil {
			continue
		}
		if first || o.Call < from {
			from = o.Call
		}
		if first || o.Return > to {
			to = o.Return
		}
		first = false
	}
	return from, to
}

func opIDs(ops ...*history.Op) []int {
	var ids []int
	for _, o := range ops {
		if o != nil && !slices.Contains(ids, o.ID) {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// describe lists sightings compactly, at most show of them.
func describe(ss []sighting, show int) string {
	parts := make([]string, 0, min(len(ss), show))
	for i, s := range ss {
		if i == show {
			parts = append(parts, fmt.Sprintf("… %d more", len(ss)-show))
			break
		}
		parts = append(parts, fmt.Sprintf("%d=%v (%v)", s.off, s.v, s))
	}
	return strings.Join(parts, ", ")
}

// ranges renders sorted offsets as "3-5, 9".
func ranges(offs []int64) string {
	var parts []string
	for i := 0; i < len(offs); {
		j := i
		for j+1 < len(offs) && offs[j+1] == offs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(offs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", offs[i], offs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
