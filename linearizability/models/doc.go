// Package models holds the Porcupine models of the broker (TESTING.md §2,
// reliability.md §6.1, §6.2) and runs them over a history:
//
//   - the partition log (LogModel): state = the committed log as an
//     immutable list with a running digest, so steps are O(1) and states
//     compare by digest. Append(v) -> off, Read(o) -> records, HWM() -> h,
//     Scan() -> (h, digest), and polled records as observations.
//     Partitioned by topic-partition;
//   - the committed-offset register (GroupOffsetsModel), with member-epoch
//     fencing, partitioned by (group, topic-partition);
//   - the partition-leadership register (LeadershipModel): CAS on the
//     epoch, partitioned by topic-partition.
//
// # Unknown outcomes
//
// Porcupine has no "maybe" outcome. An operation whose outcome is unknown
// gets Return = Infinity and a step that is legal in any state, so
// Porcupine may place it anywhere after its call, including after
// everything else, which is the same as never (reliability.md §6.1; etcd
// does the same). Before checking, the log's unknown appends are patched
// against the final log (LogOperations): present, they become appends at
// the observed offset that return when a reader first saw them; absent,
// they are dropped. acks=none and acks=leader appends are treated as
// unknown, since their acknowledgement says nothing about commitment.
// Definitely failed appends are left out.
//
// # Verdicts
//
// CheckLog, CheckGroupOffsets and CheckLeadership run Porcupine's
// partitioned, verbose check with a timeout and report every partition's
// answer. Unknown (timeout) is never a pass: Result.Anomalies turns it into
// a CheckTimeout anomaly. A log partition that is Illegal is checked again
// with stale reads allowed, to tell a StaleRead from a Nonlinearizable
// history. Result.Visualize writes Porcupine's HTML page with the fault
// windows and leader claims as annotations.
//
// The quorum replication mode writes leader-change control records that
// take offsets no consumer sees; LogOptions.Gaps lets appends and the high
// watermark skip offsets for it.
package models
