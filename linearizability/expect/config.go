package expect

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// SyncPolicy is the topic's sync.policy.
type SyncPolicy string

const (
	SyncAlways   SyncPolicy = "always"
	SyncInterval SyncPolicy = "interval"
	SyncNever    SyncPolicy = "never"
)

// ReplicationMode is the topic's replication mode.
type ReplicationMode string

const (
	ModeISR    ReplicationMode = "isr"
	ModeQuorum ReplicationMode = "quorum"
)

// Delivery is the consumer group's delivery mode (client.Delivery as
// text); DeliveryNone when the scenario runs no group consumers.
type Delivery string

const (
	DeliveryNone        Delivery = ""
	DeliveryAtLeastOnce Delivery = "at-least-once"
	DeliveryAtMostOnce  Delivery = "at-most-once"
	DeliveryExactlyOnce Delivery = "exactly-once"
)

// Config is what a scenario declares about the system under test: the
// settings that decide which anomalies it promises never to show.
type Config struct {
	Scenario    string          `json:"scenario"`
	Acks        history.Acks    `json:"acks"`
	Sync        SyncPolicy      `json:"sync"`
	Replication ReplicationMode `json:"replication"`
	RF          int             `json:"rf"`
	MinISR      int             `json:"min_isr"`
	Idempotence bool            `json:"idempotence"`
	Unclean     bool            `json:"unclean_election"`
	// LinearizableReads says the broker promises linearizable HWM and
	// reads past the end (TESTING.md §12 decision 1). Without it stale
	// reads are reported and allowed.
	LinearizableReads bool     `json:"linearizable_reads"`
	Delivery          Delivery `json:"delivery"`
	// Faults the scenario injects; Effective adds the kinds the history
	// recorded.
	Faults []history.FaultKind `json:"faults"`
	// DoubleFailure: two brokers are down or cut off at once (Effective
	// also derives it from overlapping fault windows on different
	// targets).
	DoubleFailure bool `json:"double_failure"`
}

// Strong is the configuration of TESTING.md §5's promise: acks=all,
// sync=always, idempotence on, unclean election off, minISR 2, RF 3.
func Strong(scenario string, mode ReplicationMode, faults ...history.FaultKind) Config {
	return Config{
		Scenario: scenario, Acks: history.AcksAll, Sync: SyncAlways, Replication: mode,
		RF: 3, MinISR: 2, Idempotence: true, Delivery: DeliveryAtLeastOnce, Faults: faults,
	}
}

// Validate reports settings the table cannot judge.
func (c Config) Validate() error {
	var bad []string
	switch c.Acks {
	case history.AcksNone, history.AcksLeader, history.AcksAll:
	default:
		bad = append(bad, fmt.Sprintf("acks %q", c.Acks))
	}
	switch c.Sync {
	case SyncAlways, SyncInterval, SyncNever:
	default:
		bad = append(bad, fmt.Sprintf("sync %q", c.Sync))
	}
	switch c.Replication {
	case ModeISR, ModeQuorum:
	default:
		bad = append(bad, fmt.Sprintf("replication %q", c.Replication))
	}
	switch c.Delivery {
	case DeliveryNone, DeliveryAtLeastOnce, DeliveryAtMostOnce, DeliveryExactlyOnce:
	default:
		bad = append(bad, fmt.Sprintf("delivery %q", c.Delivery))
	}
	for _, f := range c.Faults {
		if !slices.Contains(history.FaultKinds, f) {
			bad = append(bad, fmt.Sprintf("fault %q", f))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("expect: config %q: unknown %s", c.Scenario, strings.Join(bad, ", "))
	}
	return nil
}

// Has reports whether any of kinds is among the faults.
func (c Config) Has(kinds ...history.FaultKind) bool {
	for _, k := range kinds {
		if slices.Contains(c.Faults, k) {
			return true
		}
	}
	return false
}

// Effective returns c with the fault kinds the history recorded added, and
// DoubleFailure set if two broker-fault windows on different targets
// overlap, or the schedule is F8b or F9 (both take out every replica's
// unsynced data or all but one replica).
func (c Config) Effective(h *history.History) Config {
	c.Faults = slices.Clone(c.Faults)
	for _, k := range h.FaultKindsSeen() {
		if !slices.Contains(c.Faults, k) {
			c.Faults = append(c.Faults, k)
		}
	}
	if c.Has(history.F8bPowerLossAll, history.F9LastReplica) {
		c.DoubleFailure = true
	}
	for i, f := range h.Faults {
		for _, g := range h.Faults[i+1:] {
			if f.Kind.BrokerFault() && g.Kind.BrokerFault() && f.Target != g.Target && f.Overlaps(g.Start, g.End) {
				c.DoubleFailure = true
			}
		}
	}
	return c
}

// Expectations are a scenario's configuration plus overrides: kinds it
// allows beyond the table (with the reason), and kinds it claims never to
// show even where the table would allow them (a stronger promise, which
// then fails the run if broken).
type Expectations struct {
	Config Config                  `json:"config"`
	Allow  map[anomaly.Kind]string `json:"allow,omitempty"`
	Forbid map[anomaly.Kind]string `json:"forbid,omitempty"`
}
