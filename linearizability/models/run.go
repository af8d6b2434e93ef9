package models

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Model names, used in results and report file names.
const (
	ModelLog          = "log"
	ModelGroupOffsets = "group-offsets"
	ModelLeadership   = "leadership"
)

// PartitionResult is Porcupine's answer for one partition of a model.
type PartitionResult struct {
	Key    string                `json:"key"` // "topic/partition" or "group@topic/partition"
	Ops    int                   `json:"ops"`
	Result porcupine.CheckResult `json:"result"`
	// Relaxed is the log model's answer with stale reads allowed, checked
	// only when Result is Illegal: Ok there means the violation is a
	// stale read.
	Relaxed porcupine.CheckResult `json:"relaxed,omitempty"`
	// Stuck are the history op ids Porcupine could not linearize: the
	// operations not in the longest partial linearization, earliest call
	// first (the first is usually where the history breaks).
	Stuck []int `json:"stuck,omitempty"`

	tp    history.TP
	group string
	ops   []porcupine.Operation
}

// Result is one model's check of a history.
type Result struct {
	Model      string                `json:"model"`
	Result     porcupine.CheckResult `json:"result"`
	Ops        int                   `json:"ops"`
	Partitions []PartitionResult     `json:"partitions"`
	Duration   time.Duration         `json:"duration_ns"`

	model porcupine.Model
	info  porcupine.LinearizationInfo
}

// partitionBy groups operations by key, keys in cmp order: the order of
// the partitions Porcupine checks and of the Result's Partitions, so that
// the two line up.
func partitionBy[K comparable](ops []porcupine.Operation, key func(any) K, cmp func(a, b K) int) ([]K, [][]porcupine.Operation) {
	idx := map[K]int{}
	var keys []K
	var parts [][]porcupine.Operation
	for _, op := range ops {
		k := key(op.Input)
		i, ok := idx[k]
		if !ok {
			i = len(keys)
			idx[k] = i
			keys = append(keys, k)
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp(keys[a], keys[b]) })
	sk := make([]K, len(keys))
	sp := make([][]porcupine.Operation, len(keys))
	for i, j := range order {
		sk[i], sp[i] = keys[j], parts[j]
	}
	return sk, sp
}

// CheckLog checks the partition-log model with strict reads and, for the
// partitions that fail, again with stale reads allowed, to tell a stale
// read from a worse violation. gaps allows offset gaps (quorum mode, see
// LogOptions).
func CheckLog(h *history.History, final *history.FinalReads, gaps bool, timeout time.Duration) *Result {
	ops := LogOperations(h, final)
	strict := LogModel(LogOptions{Gaps: gaps})
	keys, parts := partitionBy(ops, func(in any) history.TP { return in.(logInput).tp }, history.CompareTP)
	r := run(ModelLog, strict, ops, parts, timeout)
	for i := range r.Partitions {
		r.Partitions[i].Key, r.Partitions[i].tp = keys[i].String(), keys[i]
	}
	relaxed := LogModel(LogOptions{Gaps: gaps, StaleReads: true})
	for i := range r.Partitions {
		p := &r.Partitions[i]
		if p.Result == porcupine.Illegal {
			p.Relaxed = porcupine.CheckOperationsTimeout(relaxed, p.ops, timeout)
		}
	}
	return r
}

// CheckGroupOffsets checks the committed-offset registers.
func CheckGroupOffsets(h *history.History, timeout time.Duration) *Result {
	ops := GroupOffsetsOperations(h)
	keys, parts := partitionBy(ops, func(in any) groupKey { return in.(groupInput).key }, compareGroupKey)
	r := run(ModelGroupOffsets, GroupOffsetsModel(), ops, parts, timeout)
	for i := range r.Partitions {
		r.Partitions[i].Key, r.Partitions[i].tp, r.Partitions[i].group = keys[i].String(), keys[i].tp, keys[i].group
	}
	return r
}

// CheckLeadership checks the leadership registers.
func CheckLeadership(h *history.History, timeout time.Duration) *Result {
	ops := LeadershipOperations(h)
	keys, parts := partitionBy(ops, func(in any) history.TP { return in.(leaderInput).tp }, history.CompareTP)
	r := run(ModelLeadership, LeadershipModel(), ops, parts, timeout)
	for i := range r.Partitions {
		r.Partitions[i].Key, r.Partitions[i].tp = keys[i].String(), keys[i]
	}
	return r
}

// run checks ops with Porcupine (its partitioned, verbose check, so the
// visualisation has every partition) and works out each partition's
// answer from the partial linearizations: a partition is Ok iff one covers
// all its operations. When the whole check is Illegal and a partition is
// incomplete, that partition may have been cut short by the timeout after
// another one failed; it is checked again alone to be sure.
func run(name string, m porcupine.Model, ops []porcupine.Operation, parts [][]porcupine.Operation, timeout time.Duration) *Result {
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	r := &Result{Model: name, Result: res, Ops: len(ops), model: m, info: info}
	partials := info.PartialLinearizations()
	for i, part := range parts {
		pr := PartitionResult{Ops: len(part), ops: part}
		longest := []int(nil)
		if i < len(partials) {
			for _, l := range partials[i] {
				if len(l) > len(longest) {
					longest = l
				}
			}
		}
		switch {
		case len(longest) == len(part):
			pr.Result = porcupine.Ok
		case res == porcupine.Unknown:
			// No partition failed before the timeout (else the answer
			// would be Illegal): this one was cut short.
			pr.Result = porcupine.Unknown
		case res == porcupine.Illegal:
			pr.Result = porcupine.CheckOperationsTimeout(m, part, timeout)
		default:
			pr.Result = porcupine.Unknown
		}
		if pr.Result != porcupine.Ok {
			pr.Stuck = stuck(part, longest)
		}
		r.Partitions = append(r.Partitions, pr)
	}
	r.Duration = time.Since(start)
	return r
}

// stuck returns the op ids of part outside the linearization lin, by call
// time.
func stuck(part []porcupine.Operation, lin []int) []int {
	in := make([]bool, len(part))
	for _, i := range lin {
		in[i] = true
	}
	var out []porcupine.Operation
	for i, op := range part {
		if !in[i] {
			out = append(out, op)
		}
	}
	slices.SortStableFunc(out, func(a, b porcupine.Operation) int { return int(min(max(a.Call-b.Call, -1), 1)) })
	ids := make([]int, len(out))
	for i, op := range out {
		ids[i] = op.Metadata.(int)
	}
	return ids
}

// Visualize writes Porcupine's HTML page for the check: every partition's
// history and (partial) linearizations, with the history's fault windows
// annotated on a "nemesis" row and leader claims on a "leaders" row.
func (r *Result) Visualize(w io.Writer, h *history.History) error {
	info := r.info
	info.AddAnnotations(Annotations(h))
	return porcupine.Visualize(r.model, info, w)
}

// Annotations turns fault windows and leader claims into Porcupine
// annotations. An open window ends at the history's last finite time.
func Annotations(h *history.History) []porcupine.Annotation {
	end := h.End()
	var as []porcupine.Annotation
	for _, f := range h.Faults {
		stop := f.End
		if stop == history.Infinity {
			stop = end
		}
		as = append(as, porcupine.Annotation{
			Tag:             "nemesis",
			Start:           int64(f.Start),
			End:             int64(stop),
			Description:     fmt.Sprintf("%s %s", f.Kind, f.Target),
			Details:         fmt.Sprintf("fault %d: %s on %s from %v to %v. %s", f.ID, f.Kind, f.Target, f.Start, f.End, f.Detail),
			BackgroundColor: "#f7c6c6",
		})
	}
	for _, c := range h.LeaderClaims {
		as = append(as, porcupine.Annotation{
			Tag:             "leaders",
			Start:           int64(c.Time),
			End:             int64(c.Time),
			Description:     fmt.Sprintf("b%d e%d", c.Broker, c.Epoch),
			Details:         fmt.Sprintf("broker %d became leader of %v in epoch %d at %v", c.Broker, c.TP(), c.Epoch, c.Time),
			BackgroundColor: "#c6daf7",
		})
	}
	return as
}

// Anomalies turns the result's failed partitions into anomalies: for the
// log model a stale read (Illegal strictly, Ok with stale reads) or a
// nonlinearizable history; for the registers a violation of theirs; and
// check-timeout for every partition Porcupine could not finish.
func (r *Result) Anomalies(h *history.History) []anomaly.Anomaly {
	var out []anomaly.Anomaly
	for _, p := range r.Partitions {
		if p.Result == porcupine.Ok {
			continue
		}
		a := anomaly.Anomaly{Topic: p.tp.Topic, Partition: p.tp.Partition, Group: p.group}
		switch {
		case p.Result == porcupine.Unknown || p.Relaxed == porcupine.Unknown:
			a.Kind = anomaly.CheckTimeout
			a.Detail = fmt.Sprintf("%s model, %s: Porcupine did not finish (%d operations); an unchecked history is a failure", r.Model, p.Key, p.Ops)
		case r.Model == ModelLog && p.Relaxed == porcupine.Ok:
			a.Kind = anomaly.StaleRead
			a.Detail = fmt.Sprintf("%s: not linearizable, but linearizable if reads may be stale (%d operations)", p.Key, p.Ops)
		case r.Model == ModelLog:
			a.Kind = anomaly.Nonlinearizable
			a.Detail = fmt.Sprintf("%s: no linearization, even with stale reads (%d operations)", p.Key, p.Ops)
		case r.Model == ModelGroupOffsets:
			a.Kind = anomaly.GroupOffsetsNonlinearizable
			a.Detail = fmt.Sprintf("%s: committed offsets not linearizable under member-epoch fencing (%d operations)", p.Key, p.Ops)
		default:
			a.Kind = anomaly.LeadershipNonlinearizable
			a.Detail = fmt.Sprintf("%s: leadership records not linearizable (%d operations)", p.Key, p.Ops)
		}
		if len(p.Stuck) > 0 {
			first := h.Op(p.Stuck[0])
			const show = 10
			a.Ops = p.Stuck[:min(len(p.Stuck), show)]
			if first != nil {
				a.From, a.To = first.Call, first.Return
				a.Faults = h.FaultsDuring(a.From, a.To)
				a.Detail += fmt.Sprintf("; first operation that cannot be placed: op %d (%s by client %d at %v)", first.ID, first.Kind, first.Client, first.Call)
			}
			a.Detail += fmt.Sprintf("; %d operations outside the longest partial linearization; see the %s HTML", len(p.Stuck), r.Model)
		}
		out = append(out, a)
	}
	return out
}
