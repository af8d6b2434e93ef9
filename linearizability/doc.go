// Package linearizability is the root of Sluice's end-to-end checking
// toolkit (TESTING.md §2–§7, issue 7). The checker half lives in these
// packages:
//
//	history    the recorded run: operations, outcomes, values, fault windows,
//	           final reads; the Recorder; the error classification table
//	anomaly    the kinds of findings and how one is reported
//	models     the Porcupine models (partition log, committed offsets,
//	           leadership) and their HTML visualisation
//	delivery   the set and order checkers
//	expect     which anomalies a configuration allows; the verdict
//	check      Check(history, final reads, expectations) and the report directory
//
// The harness (broker processes, proxy, nemesis, clients, final drain)
// records with history.Recorder and checks with check.Check. Like
// loadgen, this tree sees the system only through broker/client and
// broker/brokerpb (internal/lint enforces it).
package linearizability
