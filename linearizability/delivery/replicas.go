package delivery

import (
	"fmt"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

const showOffsets = 20

// checkGaps reports offsets in [log start, high watermark) that L lacks
// and no read showed as a control record. In ISR mode offsets are dense;
// a quorum leader's leader-change marker takes an offset that only the
// offline reader shows, so unexplained gaps are expected there unless the
// harness supplies those reads (package expect decides).
func (ix *index) checkGaps(p *partition) []anomaly.Anomaly {
	if p.final == nil {
		return nil
	}
	var missing []int64
	for off := p.final.LogStartOffset; off < p.final.HighWatermark; off++ {
		if _, ok := p.lAt[off]; !ok && !p.control[off] {
			missing = append(missing, off)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	a := ix.anomalyAt(p, anomaly.OffsetGap)
	a.Offsets = missing[:min(len(missing), showOffsets)]
	a.Detail = fmt.Sprintf("%d offsets below the high watermark %d hold no record in the final log and no control record: %s",
		len(missing), p.final.HighWatermark, ranges(missing))
	return []anomaly.Anomaly{a}
}

// checkReplicas compares every readable replica's log below the final high
// watermark with L (reliability.md §6.3 "replicas agree"; NATS's
// lost-on-node). One anomaly per diverging replica.
func (ix *index) checkReplicas(p *partition) []anomaly.Anomaly {
	if p.final == nil {
		return nil
	}
	var out []anomaly.Anomaly
	for _, rr := range p.final.Replicas {
		if rr.Err != "" {
			continue
		}
		at := map[int64]history.Record{}
		for _, r := range rr.Records {
			if r.Offset >= p.final.LogStartOffset && r.Offset < p.final.HighWatermark {
				at[r.Offset] = r
			}
		}
		var missing, differ, extra []int64
		var values []history.ValueID
		for off := p.final.LogStartOffset; off < p.final.HighWatermark; off++ {
			lv, inL := p.lAt[off]
			r, onReplica := at[off]
			switch {
			case inL && !onReplica:
				missing = append(missing, off)
				values = append(values, lv)
			case inL && (r.Control || r.Corrupt != "" || r.Value != lv):
				differ = append(differ, off)
				values = append(values, lv)
			case !inL && onReplica && !r.Control:
				extra = append(extra, off)
			}
		}
		if len(missing)+len(differ)+len(extra) == 0 {
			continue
		}
		a := ix.anomalyAt(p, anomaly.ReplicaDivergence)
		a.Offsets = append(append(append([]int64(nil), differ...), missing...), extra...)
		a.Offsets = a.Offsets[:min(len(a.Offsets), showOffsets)]
		a.Values = values[:min(len(values), showOffsets)]
		a.AbsentOn = []int32{rr.Broker}
		a.Where = fmt.Sprintf("replica %d (%s)", rr.Broker, rr.Source)
		a.Detail = fmt.Sprintf("replica %d differs from the final log below the high watermark %d: %d offsets differ [%s], %d missing [%s], %d records the log lacks [%s]",
			rr.Broker, p.final.HighWatermark, len(differ), ranges(differ), len(missing), ranges(missing), len(extra), ranges(extra))
		out = append(out, a)
	}
	return out
}
