// Package check is the entry point of the checkers: Check runs everything
// over one run's history and final reads and judges the result against the
// scenario's expectations; Verdict.WriteReport writes the run's report
// directory, and Load reads it back for a replay.
//
// A report directory, results/checks/<date>-<scenario>/ (ReportDir):
//
//	history.json                 the operations, fault windows and leader claims (package history)
//	final.json                   the final reads, per partition and replica
//	expectations.json            the scenario's configuration and overrides
//	verdict.json                 pass/fail, per-kind counts and judgements, Porcupine per model
//	                             and partition, statistics; at most MaxAnomaliesPerKind anomalies per kind
//	anomalies.json               every anomaly
//	timeline.txt                 fault windows, leader claims and anomalies in time order
//	faults.json                  the fault windows alone
//	porcupine-log.html           Porcupine's visualisation, fault windows annotated (always written)
//	porcupine-group-offsets.html when the history has commits, offset fetches or assignments
//	porcupine-leadership.html    when the history has leadership reads or CAS
//
// The harness adds broker logs and, on failure, data directories beside
// them.
package check
