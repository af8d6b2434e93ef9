// Package harness runs a checker scenario end to end (TESTING.md §2–§5,
// issue 7): a real cluster — a `sluice etcd` and three `sluice serve`
// processes on loopback (internal/localcluster) — takes writes and reads
// from recording clients while a nemesis kills and pauses brokers; then the
// final drain heals everything, waits for the full ISR, reads every
// partition from its leader and, with the cluster stopped, every replica's
// segment files through `sluice dump --json --records`; check.Check judges
// the history against the scenario's expectations and the report directory
// gets the broker logs as well.
//
// Clients are sequential (history.Client): producers send one value at a
// time with the scenario's acks and idempotence; readers ask for the high
// watermark and read from offsets below it. Every outcome is classified by
// history.Classify (OK, definite failure, unknown); a request the harness
// stops waiting for is unknown.
//
// The nemesis (nemesis*.go): F1 (kill -9 a partition leader, restart it
// after a while), F2 (the same to a follower), F3 (SIGSTOP the leader
// longer than its session TTL, then SIGCONT: a zombie that must not
// acknowledge), F4 (the leader cut from the other brokers and etcd while
// clients still reach it), F5a/F5b (every broker / the leader cut from
// etcd) — every link goes through internal/netproxy, the brokers started
// with --advertise-addr and --source-ip —, F6 (disk full, a faultfs
// build's signal), F7/F7b (a torn or flipped tail, a bit flip mid-segment,
// on a stopped replica), F8a/F8b (power loss of one / every broker: kill -9
// under faultfs's volatile file layer drops unsynced writes), F9 (the
// last-replica-standing schedule), F11 (a group consumer killed without
// leaving, or paused past its session through its gate and resumed as a
// zombie; members leave and join now and then: a rebalance storm) and the
// double failure of the stale-follower scenario. Each fault window goes to
// the history, the timeline and the Porcupine HTML.
//
// Planted bugs (TESTING.md §6): a broker binary built with -tags
// plantedbugs carries deliberate faults, one switched on per run by
// Options.PlantedBug (SLUICE_PLANTED_BUG in the brokers' environment;
// broker/planted_on.go lists them); a test runs each of the ten with the
// fault that exposes it and fails if the checkers miss it.
//
// Runs are seeded: the seed chooses partitions, fault kinds, targets and
// timings (the cluster's own timing is not reproducible, so a seed replays
// the schedule, not the interleaving).
package harness
