package expect

import (
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

func TestEveryKindHasARule(t *testing.T) {
	configs := []Config{
		Strong("strong-isr", ModeISR),
		Strong("strong-quorum", ModeQuorum, history.F1KillLeader),
		{Scenario: "weak", Acks: history.AcksNone, Sync: SyncNever, Replication: ModeISR, Unclean: true, DoubleFailure: true, Delivery: DeliveryAtMostOnce},
		{Scenario: "eos", Acks: history.AcksLeader, Sync: SyncInterval, Replication: ModeISR, Idempotence: true, Delivery: DeliveryExactlyOnce, Faults: []history.FaultKind{history.F3PauseLeader}},
		{Scenario: "no-groups", Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, LinearizableReads: true},
	}
	for _, c := range configs {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		rules := Rules(c)
		for _, k := range anomaly.Kinds {
			r, ok := rules[k]
			if !ok {
				t.Errorf("%s: no rule for %s", c.Scenario, k)
			} else if r.Why == "" {
				t.Errorf("%s: rule for %s gives no reason", c.Scenario, k)
			}
		}
		if len(rules) != len(anomaly.Kinds) {
			t.Errorf("%s: %d rules for %d kinds", c.Scenario, len(rules), len(anomaly.Kinds))
		}
	}
}

// The promise of TESTING.md §5: the strong configuration allows none of
// the safety anomalies, under every fault, in both replication modes.
func TestStrongConfigurationForbidsLoss(t *testing.T) {
	never := []anomaly.Kind{
		anomaly.LostWrite, anomaly.Duplicate, anomaly.Rewritten, anomaly.InconsistentOffset, anomaly.ReplicaDivergence,
		anomaly.CommittedVanished, anomaly.Nonlinearizable, anomaly.SplitBrain, anomaly.Unexpected,
		anomaly.CorruptValue, anomaly.FailedWriteVisible, anomaly.NonmonotonicSend, anomaly.DeliveryLoss,
		anomaly.PollSkip, anomaly.OffsetRegression, anomaly.CheckTimeout, anomaly.InvalidHistory,
	}
	for _, mode := range []ReplicationMode{ModeISR, ModeQuorum} {
		for _, f := range history.FaultKinds {
			c := Strong("strong", mode, f)
			c.DoubleFailure = true // even two brokers down at once
			rules := Rules(c)
			for _, k := range never {
				if rules[k].Allowed {
					t.Errorf("%s under %s allows %s: %s", mode, f, k, rules[k].Why)
				}
			}
			if !rules[anomaly.DeliveryDuplicate].Allowed {
				t.Errorf("at-least-once must allow delivery duplicates")
			}
		}
	}
}

func TestWeakConfigurationsAllowWhatTheyLose(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Config
		allowed []anomaly.Kind
		never   []anomaly.Kind
	}{
		{"acks=none always loses", Config{Acks: history.AcksNone, Sync: SyncAlways, Replication: ModeISR, Idempotence: true},
			[]anomaly.Kind{anomaly.LostWrite}, []anomaly.Kind{anomaly.CommittedVanished, anomaly.Duplicate, anomaly.Nonlinearizable}},
		{"acks=leader + leader kill", Config{Acks: history.AcksLeader, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Faults: []history.FaultKind{history.F1KillLeader}},
			[]anomaly.Kind{anomaly.LostWrite, anomaly.InconsistentOffset, anomaly.NonmonotonicSend}, []anomaly.Kind{anomaly.CommittedVanished, anomaly.ReplicaDivergence, anomaly.Duplicate, anomaly.Nonlinearizable}},
		{"acks=leader + follower kill keeps its acks", Config{Acks: history.AcksLeader, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Faults: []history.FaultKind{history.F2KillFollower}},
			nil, []anomaly.Kind{anomaly.LostWrite, anomaly.InconsistentOffset}},
		{"sync=never + power loss everywhere", Config{Acks: history.AcksAll, Sync: SyncNever, Replication: ModeQuorum, Idempotence: true, Faults: []history.FaultKind{history.F8bPowerLossAll}},
			[]anomaly.Kind{anomaly.LostWrite, anomaly.CommittedVanished, anomaly.Rewritten, anomaly.Nonlinearizable, anomaly.OffsetGap}, []anomaly.Kind{anomaly.ReplicaDivergence, anomaly.Duplicate}},
		{"sync=always + power loss everywhere", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Faults: []history.FaultKind{history.F8bPowerLossAll}},
			nil, []anomaly.Kind{anomaly.LostWrite, anomaly.CommittedVanished, anomaly.Rewritten, anomaly.OffsetGap}},
		{"unclean election + double failure", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Unclean: true, DoubleFailure: true},
			[]anomaly.Kind{anomaly.LostWrite, anomaly.CommittedVanished, anomaly.Rewritten}, []anomaly.Kind{anomaly.ReplicaDivergence, anomaly.Duplicate}},
		{"unclean election, single failure", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Unclean: true, Faults: []history.FaultKind{history.F1KillLeader}},
			nil, []anomaly.Kind{anomaly.LostWrite, anomaly.Rewritten}},
		{"idempotence off", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR},
			[]anomaly.Kind{anomaly.Duplicate, anomaly.Rewritten, anomaly.Nonlinearizable}, []anomaly.Kind{anomaly.LostWrite}},
		{"at-most-once consumers", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Delivery: DeliveryAtMostOnce},
			[]anomaly.Kind{anomaly.DeliveryLoss, anomaly.Unseen}, []anomaly.Kind{anomaly.DeliveryDuplicate, anomaly.PollSkip}},
		{"exactly-once consumers", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Delivery: DeliveryExactlyOnce},
			nil, []anomaly.Kind{anomaly.DeliveryDuplicate, anomaly.DeliveryLoss}},
		{"linearizable reads promised", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, LinearizableReads: true},
			nil, []anomaly.Kind{anomaly.StaleRead}},
		{"stale reads not promised away", Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Idempotence: true},
			[]anomaly.Kind{anomaly.StaleRead}, nil},
	} {
		rules := Rules(tc.c)
		for _, k := range tc.allowed {
			if !rules[k].Allowed {
				t.Errorf("%s: %s forbidden (%s), want allowed", tc.name, k, rules[k].Why)
			}
		}
		for _, k := range tc.never {
			if rules[k].Allowed {
				t.Errorf("%s: %s allowed (%s), want forbidden", tc.name, k, rules[k].Why)
			}
		}
	}
}

func TestEffectiveConfiguration(t *testing.T) {
	h := &history.History{Version: history.FormatVersion, Faults: []history.Fault{
		{ID: 0, Kind: history.F1KillLeader, Target: "broker 1", Start: 10, End: 50},
		{ID: 1, Kind: history.F11ConsumerFault, Target: "consumer 3", Start: 20, End: 30},
	}}
	c := Config{Acks: history.AcksAll, Sync: SyncAlways, Replication: ModeISR, Unclean: true, Faults: []history.FaultKind{history.F2KillFollower}}
	e := c.Effective(h)
	if !e.Has(history.F1KillLeader) || !e.Has(history.F2KillFollower) || !e.Has(history.F11ConsumerFault) || e.DoubleFailure {
		t.Fatalf("effective %+v: want F1, F2, F11 and no double failure (a consumer fault is not one)", e)
	}
	if len(c.Faults) != 1 {
		t.Fatal("Effective changed its receiver's faults")
	}
	h.Faults = append(h.Faults, history.Fault{ID: 2, Kind: history.F2KillFollower, Target: "broker 2", Start: 40, End: history.Infinity})
	if e := c.Effective(h); !e.DoubleFailure || !Rules(e)[anomaly.LostWrite].Allowed {
		t.Fatalf("overlapping kills of brokers 1 and 2: %+v", e)
	}
	h.Faults[2].Start = 60 // one after the other
	if e := c.Effective(h); e.DoubleFailure {
		t.Fatal("sequential kills are not a double failure")
	}
}

func TestJudge(t *testing.T) {
	c := Config{Scenario: "acks1-kill", Acks: history.AcksLeader, Sync: SyncAlways, Replication: ModeISR, Idempotence: true, Faults: []history.FaultKind{history.F1KillLeader}, Delivery: DeliveryAtLeastOnce}
	lost := anomaly.Anomaly{Kind: anomaly.LostWrite, Detail: "x"}
	dup := anomaly.Anomaly{Kind: anomaly.DeliveryDuplicate, Detail: "y"}
	vanished := anomaly.Anomaly{Kind: anomaly.CommittedVanished, Detail: "z"}

	v := Judge(Expectations{Config: c}, nil)
	if !v.Pass || len(v.Kinds) != 0 {
		t.Fatalf("no anomalies: %+v", v)
	}
	v = Judge(Expectations{Config: c}, []anomaly.Anomaly{lost, lost, dup})
	if !v.Pass || v.Allowed != 3 || v.Forbidden != 0 || v.Count(anomaly.LostWrite) != 2 || v.Count(anomaly.DeliveryDuplicate) != 1 {
		t.Fatalf("allowed anomalies: %+v", v)
	}
	if !strings.Contains(v.String(), "PASS") || !strings.Contains(v.String(), "lost-write") {
		t.Fatalf("summary:\n%s", v.String())
	}
	v = Judge(Expectations{Config: c}, []anomaly.Anomaly{lost, vanished})
	if v.Pass || v.Forbidden != 1 || v.Allowed != 1 {
		t.Fatalf("a forbidden anomaly: %+v", v)
	}
	if !strings.Contains(v.String(), "FAIL") || !strings.Contains(v.String(), "FORBIDDEN") {
		t.Fatalf("summary:\n%s", v.String())
	}
	// The scenario claims a stronger promise: loss fails the run.
	v = Judge(Expectations{Config: c, Forbid: map[anomaly.Kind]string{anomaly.LostWrite: "the test claims acks=1 is durable"}}, []anomaly.Anomaly{lost})
	if v.Pass {
		t.Fatal("Forbid did not override the table")
	}
	// And allowing a kind the table forbids.
	v = Judge(Expectations{Config: c, Allow: map[anomaly.Kind]string{anomaly.CommittedVanished: "known bug #12"}}, []anomaly.Anomaly{vanished})
	if !v.Pass || !strings.Contains(v.Kinds[0].Why, "known bug #12") {
		t.Fatalf("Allow: %+v", v)
	}
	// A kind nobody knows is forbidden.
	v = Judge(Expectations{Config: c}, []anomaly.Anomaly{{Kind: "made-up"}})
	if v.Pass {
		t.Fatal("an unknown kind passed")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := Strong("s", ModeISR, history.F1KillLeader).Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Scenario: "bad", Acks: "most", Sync: "sometimes", Replication: "raft", Delivery: "twice", Faults: []history.FaultKind{"F99"}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"most", "sometimes", "raft", "twice", "F99"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %q", err, want)
		}
	}
}
