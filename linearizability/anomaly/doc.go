// Package anomaly names what the checkers can find (TESTING.md §2, §3;
// reliability.md §6.1–6.3, §9.3) and how one finding is reported: its
// values, offsets, operations, times, the fault windows open meanwhile, and
// for values missing from the final log, which replicas still hold them.
//
// Whether a kind is a failure depends on the scenario's configuration; that
// table is package expect's.
package anomaly
