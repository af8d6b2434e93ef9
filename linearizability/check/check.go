package check

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/delivery"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
	"github.com/sluice-mq/sluice/linearizability/models"
)

// DefaultTimeout bounds each Porcupine model check (reliability.md §9.6:
// 60 s per partition; the partitions of a model run in parallel).
const DefaultTimeout = 60 * time.Second

// Option tunes Check.
type Option func(*options)

type options struct {
	timeout time.Duration
}

// WithTimeout bounds each Porcupine model check; a check that runs out of
// time is a CheckTimeout anomaly, which fails the run.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// OpStats counts the history's operations.
type OpStats struct {
	Total      int                                      `json:"total"`
	ByKind     map[history.Kind]map[history.Outcome]int `json:"by_kind"`
	Clients    int                                      `json:"clients"`
	Faults     int                                      `json:"faults"`
	FaultKinds map[history.FaultKind]int                `json:"fault_kinds"`
	Span       history.Time                             `json:"span_ns"`
}

// Verdict is the result of Check: the expectations' judgement, Porcupine's
// answers per model and partition, the delivery statistics, and what
// WriteReport needs to write the run's report directory.
type Verdict struct {
	expect.Verdict
	Linearizability []*models.Result          `json:"linearizability"`
	Partitions      []delivery.PartitionStats `json:"partitions"`
	Ops             OpStats                   `json:"ops"`
	Duration        time.Duration             `json:"check_duration_ns"`

	history *history.History
	final   *history.FinalReads
	exp     expect.Expectations
}

// Check runs every checker over a history and the final reads and judges
// the anomalies against the expectations: the history's validity, the set
// and order checks of TESTING.md §3 (package delivery), Porcupine on the
// partition-log model (with the quorum mode's offset gaps when the
// configuration says quorum) and on the committed-offset and leadership
// registers (package models), then expect.Judge with the configuration
// made effective by the faults the history recorded.
//
// final may be nil (no drain happened): unknown appends then stay
// unpatched and the checks that need the final log report IncompleteInput.
func Check(h *history.History, final *history.FinalReads, exp expect.Expectations, opts ...Option) *Verdict {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	start := time.Now()
	exp.Config = exp.Config.Effective(h)
	var anomalies []anomaly.Anomaly
	if err := exp.Config.Validate(); err != nil {
		anomalies = append(anomalies, anomaly.Anomaly{Kind: anomaly.InvalidHistory, Detail: err.Error()})
	}
	if err := h.Validate(); err != nil {
		var ve *history.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				anomalies = append(anomalies, anomaly.Anomaly{Kind: anomaly.InvalidHistory, Detail: p})
			}
		} else {
			anomalies = append(anomalies, anomaly.Anomaly{Kind: anomaly.InvalidHistory, Detail: err.Error()})
		}
	}

	dr := delivery.Check(h, final)
	anomalies = append(anomalies, dr.Anomalies...)

	results := []*models.Result{models.CheckLog(h, final, exp.Config.Replication == expect.ModeQuorum, o.timeout)}
	if len(models.GroupOffsetsOperations(h)) > 0 {
		results = append(results, models.CheckGroupOffsets(h, o.timeout))
	}
	if len(models.LeadershipOperations(h)) > 0 {
		results = append(results, models.CheckLeadership(h, o.timeout))
	}
	for _, r := range results {
		anomalies = append(anomalies, r.Anomalies(h)...)
	}

	v := &Verdict{
		Verdict:         expect.Judge(exp, anomalies),
		Linearizability: results,
		Partitions:      dr.Partitions,
		Ops:             opStats(h),
		history:         h,
		final:           final,
		exp:             exp,
	}
	v.Duration = time.Since(start)
	return v
}

func opStats(h *history.History) OpStats {
	s := OpStats{Total: len(h.Ops), ByKind: map[history.Kind]map[history.Outcome]int{}, FaultKinds: map[history.FaultKind]int{}, Span: h.End()}
	clients := map[history.ClientID]bool{}
	for i := range h.Ops {
		o := &h.Ops[i]
		m := s.ByKind[o.Kind]
		if m == nil {
			m = map[history.Outcome]int{}
			s.ByKind[o.Kind] = m
		}
		m[o.Outcome]++
		clients[o.Client] = true
	}
	s.Clients = len(clients)
	s.Faults = len(h.Faults)
	for _, f := range h.Faults {
		s.FaultKinds[f.Kind]++
	}
	return s
}

// Summary is a few lines for a log: the verdict, Porcupine per model, the
// operation counts.
func (v *Verdict) Summary() string {
	s := v.Verdict.String()
	for _, r := range v.Linearizability {
		bad := 0
		for _, p := range r.Partitions {
			if p.Result != "Ok" {
				bad++
			}
		}
		s += fmt.Sprintf("  porcupine %-14s %-8s %d ops, %d partitions (%d not Ok), %v\n", r.Model, r.Result, r.Ops, len(r.Partitions), bad, r.Duration.Round(time.Millisecond))
	}
	s += fmt.Sprintf("  %d operations by %d clients over %v, %d fault windows; checked in %v\n",
		v.Ops.Total, v.Ops.Clients, v.Ops.Span, v.Ops.Faults, v.Duration.Round(time.Millisecond))
	return s
}
