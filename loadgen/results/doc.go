// Package results stores load-generator runs and sweeps as self-describing
// directories and draws their charts and report (DESIGN.md §10). Notebooks
// and Redraw read only these files.
//
// # Layout (format: change it only with SchemaVersion)
//
//	results/<YYYY-MM-DD-hhmmss>-<name>/     (UTC; DirName)
//	  run.json         Info: schema version, kind (run|sweep|compare), driver (for a
//	                   comparison the drivers joined by " vs "), drivers (the distinct
//	                   step drivers in order; a comparison's first is the reference),
//	                   arguments, git revision, machine (CPU model and count, kernel,
//	                   OS/arch, Go version, data directory and its file system), the
//	                   workload (with defaults filled in, so it reruns as is), the
//	                   sweep section, skipped combinations (with the driver that
//	                   refused them), and per step its driver, combination (acks,
//	                   mode, sync), the driver's mapping, counts, rates and
//	                   cumulative latencies (ns). Checked by ValidateRunJSON against
//	                   run.schema.json on write and read. drivers and the steps'
//	                   driver are absent from directories written before the compare
//	                   kind; Read fills them in.
//	  series.csv       every step's per-interval series: time (s), phase, counts,
//	                   backlog, in flight, pending max, interval latencies (ns)
//	  summary.csv      one row per step: driver, acks, mode, sync, loop, target
//	                   and achieved rate, publish and end-to-end p50/p99/p99.9/max
//	                   (ms), errors, unsent, unacked, missing, duplicates, load
//	  hdr/<step>.hlog  HdrHistogram interval log (format 1.3; values in ns): the
//	                   interval histograms tagged publish and e2e, then the
//	                   cumulative ones, publish-cumulative and e2e-cumulative
//	  curve.csv        derived: one row per curve (driver × combination):
//	                   driver, acks, mode, sync, max_rate, max_step, half_rate,
//	                   below_step, above_step, publish_p99_half_ms, e2e_p99_half_ms
//	                   (see "Max and 50% load" below; empty = unknown)
//	  compare.csv      derived, kind compare only: one row per combination the
//	                   reference driver and another both ran: acks, mode, sync,
//	                   driver, max_rate, p99_half_ms, other_driver, other_max_rate,
//	                   other_p99_half_ms, ratio (max_rate / other_max_rate, 3
//	                   decimals; empty when the other's max is 0)
//	  distribution.csv derived: the cumulative latency distributions as rows step,
//	                   driver, acks, mode, sync, fraction, kind (publish|e2e),
//	                   percentile, value_ns, at the percentiles 0, 10, 20, …, 90,
//	                   95, 99, 99.5, 99.9, 99.95, 99.99, 100 of each step's
//	                   cumulative histogram (ValueAtQuantile: 0 is the low end of
//	                   the smallest value's bucket, the others bucket high ends;
//	                   no rows for an empty histogram)
//	  charts/*.svg|png throughput vs latency (p50/p99/p99.9, log scale) per
//	                   combination (curve-<combination>), an overview of the p99s
//	                   (curves-p99), and per step latency and throughput over time
//	                   (latency-<step>, throughput-<step>). With several drivers
//	                   curve-<combination> puts every driver's publish curves on the
//	                   same axes, and curve-<driver>-<combination> is one driver's
//	                   publish and end-to-end curves.
//	  report.html      the tables (with several drivers, the comparison) and every
//	                   chart (SVG inlined as data URIs), no scripts, no network
//
// CSV columns are format too: add at the end, never reorder. Rates are
// msgs/s (acknowledgements), latencies ms unless the column says ns.
//
// # Max and 50% load
//
// A curve's max is the highest achieved rate of any of its steps, the
// closed-loop probe included. Its latency "at 50% of max load" is the
// cumulative p99 at half that rate, interpolated linearly in achieved rate
// between the two open-loop steps whose achieved rates are nearest below
// and above it (below_step, above_step; the same step on an exact hit);
// when no open-loop step lies on one side it is left empty, never
// extrapolated. The comparison pairs curves of the same combination
// (acks × mode × sync: equal durability settings) and gives the
// reference driver's max ÷ the other's.
//
// Steps are numbered 001, 002, … in run order (in a comparison, sweep by
// sweep in the order given). Write stores the data files and then calls
// Redraw, which reads them back and derives the tables, the charts and the
// report, so a chart never shows what the files do not hold; Redraw(dir) on
// a copied or older directory gives the same figures.
//
// Machine information is collected here (DescribeMachine) rather than in
// internal/benchutil, which measures load (benchutil.Load, stored with each
// result) but has no machine description.
package results
