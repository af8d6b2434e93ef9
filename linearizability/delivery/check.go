package delivery

import (
	"fmt"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// PartitionStats counts what happened to one partition's values.
type PartitionStats struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Attempted int    `json:"attempted"` // A: every produce
	Acked     int    `json:"acked"`     // K: OK produces
	Failed    int    `json:"failed"`    // definite failures
	Unknown   int    `json:"unknown"`
	// UnknownWritten and UnknownAbsent split the unknown produces by
	// whether their value is in L (Jepsen's "recovered").
	UnknownWritten int   `json:"unknown_written"`
	UnknownAbsent  int   `json:"unknown_absent"`
	FinalLog       int   `json:"final_log"` // records in L
	HighWatermark  int64 `json:"high_watermark"`
	Observed       int   `json:"observed"` // records seen by readers and consumers
	FinalRead      bool  `json:"final_read"`
}

// Result is the outcome of the delivery checks.
type Result struct {
	Anomalies  []anomaly.Anomaly `json:"anomalies"`
	Partitions []PartitionStats  `json:"partitions"`
}

// Check runs every set and order check of TESTING.md §3 over the history
// and the final reads. It does not judge: whether an anomaly is allowed is
// package expect's question. Partitions without a final read get an
// IncompleteInput anomaly instead of the checks that need L.
func Check(h *history.History, final *history.FinalReads) *Result {
	ix := newIndex(h, final)
	res := &Result{Anomalies: append([]anomaly.Anomaly(nil), ix.incomplete...)}
	for _, tp := range ix.tps {
		p := ix.parts[tp]
		if p.final == nil && len(p.produces) > 0 {
			res.Anomalies = append(res.Anomalies, anomaly.Anomaly{
				Kind: anomaly.IncompleteInput, Topic: tp.Topic, Partition: tp.Partition,
				Detail: fmt.Sprintf("no final read of %v: durability, loss, gaps and replicas are not checked there", tp),
			})
		}
		for _, check := range []func(*partition) []anomaly.Anomaly{
			ix.checkCorrupt, ix.checkInvented, ix.checkLost, ix.checkVanished, ix.checkDuplicates,
			ix.checkInconsistentOffsets, ix.checkProducerOrder, ix.checkGaps, ix.checkReplicas,
		} {
			res.Anomalies = append(res.Anomalies, check(p)...)
		}
		res.Partitions = append(res.Partitions, p.stats())
	}
	res.Anomalies = append(res.Anomalies, ix.checkGroups()...)
	res.Anomalies = append(res.Anomalies, ix.checkPolls()...)
	res.Anomalies = append(res.Anomalies, ix.checkCommitted()...)
	res.Anomalies = append(res.Anomalies, ix.checkLeaders()...)
	return res
}

func (p *partition) stats() PartitionStats {
	s := PartitionStats{Topic: p.tp.Topic, Partition: p.tp.Partition, Observed: len(p.observed), FinalRead: p.final != nil}
	for _, o := range p.produces {
		s.Attempted++
		switch o.Outcome {
		case history.OK:
			s.Acked++
		case history.Fail:
			s.Failed++
		case history.Unknown:
			s.Unknown++
			if len(p.inL[o.Value]) > 0 {
				s.UnknownWritten++
			} else {
				s.UnknownAbsent++
			}
		}
	}
	if p.final != nil {
		s.FinalLog = len(p.lOffsets)
		s.HighWatermark = p.final.HighWatermark
	}
	return s
}
