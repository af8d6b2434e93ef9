package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sluice-mq/sluice/engine/enginebench"
)

const benchEngineDescription = `
Engine measures the storage engine against raw baselines run in the same
process on the same file system, interleaved (baseline, engine, baseline,
engine, ...), and prints for each comparison the engine's and the
baseline's median figure and the median of the per-pair ratios with
min..max (TESTING.md §8):

  append    sync=never: 1 KiB records in 64 KiB batches vs a pwrite loop
  sync      sync=always, 1/4/16/64 appenders of 4 x 1 KiB records per Append
            vs pwrite+fdatasync at the engine's own mean bytes per fsync;
            and 16 vs 1 appenders (group commit)
  latency   one appender's Append p50/p99 vs pwrite+fdatasync of the batch
  read      ReadRegion+SendTo vs raw sendfile of the segment to loopback TCP;
            Read+Write with and without a BlockCache vs pread+write
  prealloc  fdatasync latency and MB/s for --prealloc none, fallocate and
            zerofill, and raw appends to a new file vs overwrites

Before each run it waits (bounded) until other processes use < 10% of the
machine, and it discards pairs during which they used > 20%; "kept" counts
the pairs behind each figure. Files go to a temporary directory under --dir
(the system temp dir) and are deleted. The default run takes about 3
minutes, --quick about 45 s.

Exit status: 0 when every run completed (a goal falling short is reported
in the table, not in the status); 1 if a run failed; 2 for usage errors.`

func runBenchEngine(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench engine", "[--quick] [--runs N] [--dir DIR] [--json] [--only NAME,...]", benchEngineDescription)
	quick := fs.Bool("quick", false, "shorter runs (about 45 s in all)")
	runs := fs.Int("runs", 0, "baseline/engine pairs per comparison (default 3)")
	dir := fs.String("dir", "", "parent of the temporary directory (default: the system temp dir)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	only := fs.String("only", "", "comma-separated groups to run: "+strings.Join(enginebench.Groups, ","))
	rest, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "bench engine", err)
	}
	if len(rest) > 0 {
		return failf(stderr, exitUsage, "bench engine: unexpected argument %q (run 'sluice bench engine -h')", rest[0])
	}
	if *runs < 0 {
		return failf(stderr, exitUsage, "bench engine: --runs must be positive (run 'sluice bench engine -h')")
	}
	cfg := enginebench.Config{Dir: *dir, Runs: *runs, Quick: *quick, Progress: stderr}
	if *only != "" {
		for _, g := range strings.Split(*only, ",") {
			if g = strings.TrimSpace(g); g != "" {
				cfg.Only = append(cfg.Only, g)
			}
		}
		for _, g := range cfg.Only {
			if !contains(enginebench.Groups, g) {
				return failf(stderr, exitUsage, "bench engine: unknown group %q in --only (want %s)", g, strings.Join(enginebench.Groups, ","))
			}
		}
	}
	rep, err := enginebench.Run(cfg)
	if err != nil {
		return failf(stderr, exitFailure, "bench engine: %v", err)
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printEngineReport(stdout, rep)
	return exitOK
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func printEngineReport(w io.Writer, rep *enginebench.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tengine\tbaseline\tratio median (min..max)\tgoal\tverdict\tkept/discarded")
	for _, r := range rep.Rows {
		verdict := r.Verdict
		if r.Noisy {
			verdict += " (noisy: no clean pair)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f (%.2f..%.2f)\t%s\t%s\t%d/%d\n",
			r.Name, figure(r.Engine, r.Unit), figure(r.Baseline, r.Unit),
			r.Ratio, r.RatioMin, r.RatioMax, r.GoalString(), verdict, r.Kept, r.Discarded)
	}
	tw.Flush()
	var details []string
	for _, r := range rep.Rows {
		if r.Detail != "" {
			details = append(details, fmt.Sprintf("  %s: %s", r.Name, r.Detail))
		}
	}
	if len(details) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(details, "\n"))
	}
	if len(rep.Prealloc) > 0 {
		fmt.Fprintln(w, "\npreallocation (sync=always, medians over kept runs):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "mode\tappenders\tMB/s\tfsyncs/s\tKB/fsync\tfsync p50\tfsync p99\tkept/discarded")
		for _, p := range rep.Prealloc {
			kept := fmt.Sprintf("%d/%d", p.Kept, p.Discarded)
			if p.Noisy {
				kept += " (noisy)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.1f\t%.0f µs\t%.0f µs\t%s\n",
				p.Mode, p.Appenders, p.MBps, p.SyncsPerSec, p.BytesPerSync/1e3, p.SyncP50us, p.SyncP99us, kept)
		}
		tw.Flush()
		for _, s := range rep.PreallocWinner {
			fmt.Fprintf(w, "  winner, %s\n", s)
		}
	}
	fmt.Fprintf(w, "\n%d runs in %.0f s (%d started before the machine was quiet); files were under %s and are deleted.\n",
		rep.RunsTotal, rep.Elapsed.Seconds(), rep.RunsStartedBusy, rep.Dir)
}

func figure(v float64, unit string) string {
	switch unit {
	case "µs":
		return fmt.Sprintf("%.0f µs", v)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
