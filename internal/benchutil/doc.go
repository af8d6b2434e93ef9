// Package benchutil holds what every Sluice benchmark shares to keep its
// ratios honest on a small shared machine (TESTING.md §8): waiting for a
// quiet machine before a run, measuring how busy other processes kept it
// during the run (so disturbed runs can be discarded), the process's own
// CPU time, and medians of per-pair ratios.
package benchutil
