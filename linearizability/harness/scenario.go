package harness

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Scenario is one configuration of the system under test and the faults
// thrown at it.
type Scenario struct {
	Name        string
	Description string
	Mode        expect.ReplicationMode
	Acks        history.Acks
	Sync        expect.SyncPolicy
	RF, MinISR  int
	Idempotence bool
	Unclean     bool
	Partitions  int
	// Faults are the kinds the nemesis draws from (none: a fault-free run).
	Faults []history.FaultKind
	// Producers and Readers are the numbers of sequential clients;
	// Consumers the members of one at-least-once consumer group (none: no
	// group checks).
	Producers, Readers, Consumers int
	// Duration is how long the clients run (the drain follows).
	Duration time.Duration
	// PowerLoss runs the brokers on the volatile file layer (a faultfs
	// build): every kill -9 then loses the broker's unsynced writes, as a
	// power loss would. F8a and F8b imply it.
	PowerLoss bool
	// DoubleFailure replaces the drawn faults with the double-failure
	// schedule: a follower dies and drops out of the ISR, then the whole
	// ISR dies and the stale follower comes back first.
	DoubleFailure bool
	// ExpectLoss marks the scenarios that exist to show the checker finds
	// loss their configuration allows (acks=1 with a leader kill, ...):
	// the run is expected to pass (the loss is allowed) and, over seeds,
	// to report some.
	ExpectLoss bool
}

// Config is what the scenario declares to the checkers.
func (s Scenario) Config() expect.Config {
	return expect.Config{
		Scenario: s.Name, Acks: s.Acks, Sync: s.Sync, Replication: s.Mode,
		RF: s.RF, MinISR: s.MinISR, Idempotence: s.Idempotence, Unclean: s.Unclean,
		Faults: slices.Clone(s.Faults), DoubleFailure: s.DoubleFailure,
		Delivery: s.delivery(),
	}
}

// delivery is the group's promise (none without consumers).
func (s Scenario) delivery() expect.Delivery {
	if s.Consumers > 0 {
		return expect.DeliveryAtLeastOnce
	}
	return expect.DeliveryNone
}

// FaultFS is the SLUICE_FAULT_FS value the brokers need ("" for none).
func (s Scenario) FaultFS() string {
	var fs []string
	if s.PowerLoss || slices.Contains(s.Faults, history.F8aPowerLossOne) || slices.Contains(s.Faults, history.F8bPowerLossAll) {
		fs = append(fs, "volatile")
	}
	if slices.Contains(s.Faults, history.F6DiskFull) {
		fs = append(fs, "space")
	}
	return strings.Join(fs, ",")
}

// topicConfigs are the topic settings the scenario runs with.
func (s Scenario) topicConfigs() map[string]string {
	return map[string]string{
		"min.insync.replicas":            fmt.Sprint(s.MinISR),
		"replication.mode":               string(s.Mode),
		"sync.policy":                    string(s.Sync),
		"unclean.leader.election.enable": fmt.Sprint(s.Unclean),
	}
}

func (s Scenario) clientAcks() client.Acks {
	switch s.Acks {
	case history.AcksNone:
		return client.AcksNone
	case history.AcksLeader:
		return client.AcksLeader
	}
	return client.AcksAll
}

func (s Scenario) withDefaults() Scenario {
	if s.RF == 0 {
		s.RF = 3
	}
	if s.MinISR == 0 {
		s.MinISR = 2
	}
	if s.Partitions == 0 {
		s.Partitions = 2
	}
	if s.Producers == 0 {
		s.Producers = 3
	}
	if s.Readers == 0 {
		s.Readers = 1
	}
	if s.Duration == 0 {
		s.Duration = 30 * time.Second
	}
	if s.Mode == "" {
		s.Mode = expect.ModeISR
	}
	if s.Sync == "" {
		s.Sync = expect.SyncAlways
	}
	if s.Acks == "" {
		s.Acks = history.AcksAll
	}
	return s
}

func strong(name string, mode expect.ReplicationMode, faults ...history.FaultKind) Scenario {
	return Scenario{
		Name: name, Mode: mode, Acks: history.AcksAll, Sync: expect.SyncAlways, RF: 3, MinISR: 2,
		Idempotence: true, Faults: faults,
		Description: fmt.Sprintf("acks=all, sync=always, RF=3, minISR=2, idempotent, %s mode; faults %v: no anomaly allowed", mode, faults),
	}
}

// Scenarios are the built-in scenarios, by name.
var Scenarios = map[string]Scenario{
	"isr-kill":     strong("isr-kill", expect.ModeISR, history.F1KillLeader, history.F2KillFollower),
	"quorum-kill":  strong("quorum-kill", expect.ModeQuorum, history.F1KillLeader, history.F2KillFollower),
	"isr-pause":    strong("isr-pause", expect.ModeISR, history.F3PauseLeader),
	"quorum-pause": strong("quorum-pause", expect.ModeQuorum, history.F3PauseLeader),
	"isr-calm":     strong("isr-calm", expect.ModeISR),
	"quorum-calm":  strong("quorum-calm", expect.ModeQuorum),
	"acks1-kill": {
		Name: "acks1-kill", Mode: expect.ModeISR, Acks: history.AcksLeader, Sync: expect.SyncNever, RF: 3, MinISR: 2,
		Idempotence: false, Faults: []history.FaultKind{history.F1KillLeader, history.F9LastReplica}, ExpectLoss: true,
		Producers:   8,
		Description: "acks=1, sync=never, leader kill -9 (also with its followers lagging): acknowledged writes the followers had not fetched are lost, and the checker must say so",
	},
	"isr-partition":    strong("isr-partition", expect.ModeISR, history.F4IsolateLeader, history.F5bEtcdCutLeader),
	"quorum-partition": strong("quorum-partition", expect.ModeQuorum, history.F4IsolateLeader, history.F5bEtcdCutLeader),
	"etcd-cut":         strong("etcd-cut", expect.ModeISR, history.F5aEtcdCutAll),
	"isr-last-replica": strong("isr-last-replica", expect.ModeISR, history.F9LastReplica),
	"isr-disk":         strong("isr-disk", expect.ModeISR, history.F6DiskFull, history.F7TornTail, history.F7bBitFlip),
	"quorum-disk":      strong("quorum-disk", expect.ModeQuorum, history.F6DiskFull, history.F7TornTail, history.F7bBitFlip),
	"isr-power":        strong("isr-power", expect.ModeISR, history.F8aPowerLossOne, history.F8bPowerLossAll, history.F9LastReplica),
	"quorum-power":     strong("quorum-power", expect.ModeQuorum, history.F8aPowerLossOne, history.F8bPowerLossAll, history.F9LastReplica),
	"isr-blackout":     strong("isr-blackout", expect.ModeISR, history.F8bPowerLossAll),
	"isr-torn":         strong("isr-torn", expect.ModeISR, history.F7TornTail),
	"isr-stale-follower": func() Scenario {
		s := strong("isr-stale-follower", expect.ModeISR, history.F2KillFollower, history.F1KillLeader)
		s.DoubleFailure = true
		s.Description = "acks=all, sync=always, RF=3, minISR=2, idempotent, isr mode; a follower dies and leaves the ISR, the leader dies and the stale follower returns first: the surviving ISR member must lead, no anomaly allowed"
		return s
	}(),
	"isr-group": func() Scenario {
		s := strong("isr-group", expect.ModeISR, history.F11ConsumerFault, history.F1KillLeader)
		s.Consumers = 2
		s.Description = "acks=all, sync=always, RF=3, minISR=2, idempotent, isr mode, an at-least-once consumer group of 2; consumers killed and rebalanced, leaders killed: no loss, no skipped poll, no committed offset going back (duplicates allowed)"
		return s
	}(),
	"quorum-group": func() Scenario {
		s := strong("quorum-group", expect.ModeQuorum, history.F11ConsumerFault, history.F3PauseLeader)
		s.Consumers = 2
		s.Description = "acks=all, sync=always, RF=3, minISR=2, idempotent, quorum mode, an at-least-once consumer group of 2; consumers killed and rebalanced, leaders paused: no loss, no skipped poll, no committed offset going back (duplicates allowed)"
		return s
	}(),
	"never-power": {
		Name: "never-power", Mode: expect.ModeISR, Acks: history.AcksAll, Sync: expect.SyncNever, RF: 3, MinISR: 2,
		Idempotence: true, Faults: []history.FaultKind{history.F8bPowerLossAll}, ExpectLoss: true, Producers: 6,
		Description: "acks=all but sync=never, power lost on every broker at once: acknowledged writes no replica had synced are lost, and the checker must say so",
	},
	"unclean-double": {
		Name: "unclean-double", Mode: expect.ModeISR, Acks: history.AcksAll, Sync: expect.SyncAlways, RF: 3, MinISR: 2,
		Idempotence: true, Unclean: true, DoubleFailure: true, ExpectLoss: true, Producers: 6,
		Faults:      []history.FaultKind{history.F2KillFollower, history.F1KillLeader},
		Description: "unclean leader election on; a follower dies and leaves the ISR, then both ISR members die and the stale follower is elected: committed writes are lost, and the checker must say so",
	},
	"quorum-last-replica": strong("quorum-last-replica", expect.ModeQuorum, history.F9LastReplica),
}

// ScenarioNames lists the built-in scenarios in order.
func ScenarioNames() []string {
	var out []string
	for n := range Scenarios {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Lookup returns a built-in scenario.
func Lookup(name string) (Scenario, error) {
	s, ok := Scenarios[name]
	if !ok {
		return Scenario{}, fmt.Errorf("harness: no scenario %q (have %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	return s, nil
}
