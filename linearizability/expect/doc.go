// Package expect decides which anomalies a scenario's configuration allows
// (TESTING.md §5, reliability.md §9.3 and §9.4) and judges a run's
// anomalies against that: allowed ones are reported with counts, forbidden
// ones fail the run.
//
// A Config declares acks, sync policy, replication mode, RF, minISR,
// idempotence, unclean election, the consumers' delivery mode, whether
// reads are promised linearizable, and the faults. Rules is the table;
// the main rows:
//
//	lost-write            acks=none always; acks=leader under F1/F3/F4/F5b/F8a/F8b/F9;
//	                      sync!=always under F8b/F9; unclean election + double failure
//	committed-vanished    sync!=always under F8b/F9; unclean election + double failure
//	inconsistent-offset   wherever lost-write or committed-vanished is allowed
//	nonmonotonic-send     wherever lost-write is allowed
//	duplicate             idempotence off
//	rewritten-after-loss  idempotence off, or wherever lost-write or committed-vanished is allowed
//	nonlinearizable       committed-vanished or duplicate allowed, or lost-write with acks=all
//	stale-read            unless LinearizableReads (or where nonlinearizable is allowed)
//	offset-gap            quorum mode (leader-change control records take offsets)
//	delivery-loss, unseen at-most-once
//	delivery-duplicate    at-least-once
//	everything else       never: unexpected, corrupt-value, failed-write-visible,
//	                      replica-divergence, split-brain, poll-skip, nonmonotonic-poll,
//	                      offset-regression, the register models, check-timeout,
//	                      incomplete-input, invalid-history
//
// Expectations add per-scenario overrides: Allow (a known, accepted
// anomaly) and Forbid (a scenario claiming a stronger promise than its
// configuration, which then fails if broken). Config.Effective adds the
// faults the history recorded and derives DoubleFailure from overlapping
// broker-fault windows.
package expect
