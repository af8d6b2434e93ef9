package expect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Rule says whether a configuration allows an anomaly kind, and why.
type Rule struct {
	Allowed bool   `json:"allowed"`
	Why     string `json:"why"`
}

// Rules is the table of TESTING.md §5 and reliability.md §9.3–9.4: for
// every anomaly kind, whether configuration c allows it (an expected
// anomaly, reported with counts) or forbids it (the run fails). Every kind
// gets a rule.
func Rules(c Config) map[anomaly.Kind]Rule {
	lost, lostWhy := lossAllowed(c)
	vanish, vanishWhy := vanishAllowed(c)
	dup, dupWhy := duplicateAllowed(c)
	rewritten, rewrittenWhy := rewriteAllowed(c)
	never := func(why string) Rule { return Rule{false, why} }
	r := map[anomaly.Kind]Rule{
		anomaly.LostWrite:          {lost, lostWhy},
		anomaly.Unexpected:         never("no configuration invents values"),
		anomaly.CorruptValue:       never("a value failing its own CRC must never be stored or served"),
		anomaly.FailedWriteVisible: never("a definite failure was not applied (or the classification table is wrong)"),
		anomaly.Duplicate:          {dup, dupWhy},
		anomaly.Rewritten:          {rewritten, rewrittenWhy},
		anomaly.CommittedVanished:  {vanish, vanishWhy},
		anomaly.ReplicaDivergence:  never("after the heal every replica truncates to the leader's log: the committed prefix is the same everywhere"),
		anomaly.SplitBrain:         never("one leader per epoch, in every configuration"),
		anomaly.PollSkip:           never("a consumer's position moves only over records it returned"),
		anomaly.NonmonotonicPoll:   never("a consumer's position never goes back without a rebalance or seek"),
		anomaly.OffsetRegression:   never("committed offsets move back only by an explicit reset"),
		anomaly.GroupOffsetsNonlinearizable: never(
			"committed offsets are etcd transactions fenced by member epochs: linearizable"),
		anomaly.LeadershipNonlinearizable: never("leadership records change by CAS on etcd: linearizable"),
		anomaly.CheckTimeout:              never("an unchecked history proves nothing"),
		anomaly.IncompleteInput:           never("every partition and replica must be read in the final drain"),
		anomaly.InvalidHistory:            never("a history breaking the recording rules cannot be checked"),
	}
	switch {
	case lost || vanish:
		why := lostWhy
		if !lost {
			why = vanishWhy
		}
		r[anomaly.InconsistentOffset] = Rule{true, "the offset of a lost record is given to a later one: " + why}
	default:
		r[anomaly.InconsistentOffset] = never("an offset holds one record for good once acknowledged or read")
	}
	if lost {
		r[anomaly.NonmonotonicSend] = Rule{true, "a later send reuses the offset of a lost acknowledged one: " + lostWhy}
	} else {
		r[anomaly.NonmonotonicSend] = never("one producer's sequential sends to a partition get increasing offsets")
	}
	if c.Replication == ModeQuorum {
		r[anomaly.OffsetGap] = Rule{true, "quorum leaders write leader-change control records; they take offsets consumers skip (supply offline reads to explain them)"}
	} else {
		r[anomaly.OffsetGap] = never("ISR mode assigns dense offsets")
	}
	switch {
	case vanish || dup || lost && c.Acks == history.AcksAll:
		why := vanishWhy
		switch {
		case dup:
			why = dupWhy
		case lost && c.Acks == history.AcksAll:
			why = lostWhy
		}
		r[anomaly.Nonlinearizable] = Rule{true, "the log loses or repeats records: " + why}
		r[anomaly.StaleRead] = Rule{true, "the log loses or repeats records: " + why}
	default:
		r[anomaly.Nonlinearizable] = never("committed appends, reads and scans of a partition are linearizable")
		if c.LinearizableReads {
			r[anomaly.StaleRead] = never("the scenario promises linearizable HWM and reads")
		} else {
			r[anomaly.StaleRead] = Rule{true, "HWM and reads past the end are served by the leader without confirming its epoch (TESTING.md §12.1 undecided)"}
		}
	}
	switch c.Delivery {
	case DeliveryAtMostOnce:
		r[anomaly.DeliveryLoss] = Rule{true, "at-most-once commits before processing: a consumer that dies loses its batch"}
		r[anomaly.Unseen] = Rule{true, "at-most-once promises no delivery"}
		r[anomaly.DeliveryDuplicate] = never("at-most-once delivers a record at most once")
	case DeliveryAtLeastOnce:
		r[anomaly.DeliveryLoss] = never("at-least-once delivers every committed record")
		r[anomaly.Unseen] = never("at-least-once: the final drain must deliver the whole log")
		r[anomaly.DeliveryDuplicate] = Rule{true, "at-least-once re-delivers what was processed but not committed"}
	case DeliveryExactlyOnce:
		r[anomaly.DeliveryLoss] = never("exactly-once delivers every committed record")
		r[anomaly.Unseen] = never("exactly-once: the final drain must deliver the whole log")
		r[anomaly.DeliveryDuplicate] = never("exactly-once delivers a record once")
	default:
		r[anomaly.DeliveryLoss] = never("no delivery mode declared: group checks are judged strictly")
		r[anomaly.Unseen] = never("no delivery mode declared: group checks are judged strictly")
		r[anomaly.DeliveryDuplicate] = never("no delivery mode declared: group checks are judged strictly")
	}
	return r
}

// lossAllowed: may acknowledged writes be lost?
func lossAllowed(c Config) (bool, string) {
	leaderLoss := []history.FaultKind{history.F1KillLeader, history.F3PauseLeader, history.F4IsolateLeader,
		history.F5bEtcdCutLeader, history.F8aPowerLossOne, history.F8bPowerLossAll, history.F9LastReplica}
	switch {
	case c.Acks == history.AcksNone:
		return true, "acks=none acknowledges nothing: a sent record can be lost"
	case c.Acks == history.AcksLeader && c.Has(leaderLoss...):
		return true, fmt.Sprintf("acks=leader acknowledges before replication, and %s can take the leader's unreplicated tail", faultList(c, leaderLoss))
	case c.Sync != SyncAlways && c.Has(history.F8bPowerLossAll, history.F9LastReplica):
		return true, fmt.Sprintf("sync=%s and %s: acknowledged records nobody fsynced are lost with the page cache", c.Sync, faultList(c, []history.FaultKind{history.F8bPowerLossAll, history.F9LastReplica}))
	case c.Unclean && c.DoubleFailure:
		return true, "unclean election after a double failure can elect a replica without the acknowledged tail"
	}
	return false, fmt.Sprintf("acks=%s, sync=%s, unclean=%v under %s: acknowledged writes are durable", c.Acks, c.Sync, c.Unclean, faultList(c, nil))
}

// vanishAllowed: may a record below the high watermark (seen by readers)
// disappear?
func vanishAllowed(c Config) (bool, string) {
	switch {
	case c.Sync != SyncAlways && c.Has(history.F8bPowerLossAll, history.F9LastReplica):
		return true, fmt.Sprintf("sync=%s: power loss on every node (or the last replica standing) drops committed records nobody fsynced", c.Sync)
	case c.Unclean && c.DoubleFailure:
		return true, "unclean election after a double failure can elect a replica missing committed records"
	}
	return false, "committed records survive unless unclean election or power loss of unsynced data on every node"
}

// duplicateAllowed: may one value be written at two offsets?
func duplicateAllowed(c Config) (bool, string) {
	if !c.Idempotence {
		return true, "idempotence off: a retried produce can be written twice"
	}
	return false, "the idempotent producer writes each batch once"
}

// rewriteAllowed: may a value be appended twice, on two branches of the
// log, one of them lost later? Where a tail can be lost, yes even with
// idempotence: a retry that reaches a leader whose log lacks the first
// copy also finds no producer state to recognise it, and is appended as
// new. Kafka's idempotence makes the same assumption: no unclean election.
func rewriteAllowed(c Config) (bool, string) {
	if dup, why := duplicateAllowed(c); dup {
		return true, why
	}
	const how = "a retry reaching a leader whose log lacks the first copy (and the producer state that would recognise it) is appended again, and a lost tail then takes one of the two copies: "
	if lost, why := lossAllowed(c); lost {
		return true, how + why
	}
	if vanish, why := vanishAllowed(c); vanish {
		return true, how + why
	}
	return false, "a record acknowledged or read stays at its offset, so its value is never written again elsewhere"
}

// faultList names the faults of c among kinds (all of c's when kinds is
// nil).
func faultList(c Config, kinds []history.FaultKind) string {
	var names []string
	for _, f := range c.Faults {
		if kinds == nil || slices.Contains(kinds, f) {
			names = append(names, string(f))
		}
	}
	if len(names) == 0 {
		return "no faults"
	}
	return strings.Join(names, "+")
}
