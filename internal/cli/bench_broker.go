package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sluice-mq/sluice/broker/brokerbench"
)

// The broker benchmark registers itself here so that bench.go's table need
// not change.
func init() {
	benchCommands["broker"] = benchCommand{
		summary: "broker produce and fetch through the Go client as ratios against NATS JetStream (embedded) and gRPC",
		run:     runBenchBroker,
	}
}

const benchBrokerDescription = `
Broker measures an in-process broker (embedded etcd, loopback, a temporary
data directory) through the Go client against an embedded nats-server with
JetStream (file storage, 127.0.0.1, random port) in the same process, run
alternately (NATS, Sluice, NATS, Sluice, ...), and prints for each
comparison both median figures and the median of the per-pair ratios with
min..max (TESTING.md §8):

  produce  1 KiB messages, 1 partition, acks=1, sync.policy=never, one
           producer, window 4096 (ProfileThroughput) and window 500 (linger 0,
           and the default 5ms) vs JetStream async publish with the same window
           and its default sync_interval (2 min)
  durable  sync.policy=always with acks=all, 4 producers sharing a window of
           500 vs JetStream with sync_interval: always and 4 publishers; and vs
           a raw pwrite+fdatasync loop at the broker's observed bytes per fsync
  fetch    a preloaded partition (256 MiB of 1 KiB messages) read from the
           beginning by one consumer over the data plane vs gRPC, and vs a
           JetStream ordered consumer; CPU per GB is the whole process (broker
           + consumer together)

Before each run it waits (bounded) until other processes use < 10% of the
machine, and it discards pairs during which they used > 20%. The default
run takes about 2 minutes, --quick under one. Everything is deleted at the
end.

Exit status: 0 when every run completed (a goal falling short is reported
in the table, not in the status); 1 if a run failed; 2 for usage errors.`

func runBenchBroker(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench broker", "[--quick] [--runs N] [--dir DIR] [--json] [--only NAME,...]", benchBrokerDescription)
	quick := fs.Bool("quick", false, "shorter runs (under a minute in all)")
	runs := fs.Int("runs", 0, "reference/Sluice pairs per comparison (default 3)")
	dir := fs.String("dir", "", "parent of the temporary directory (default: the system temp dir)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	only := fs.String("only", "", "comma-separated groups to run: "+strings.Join(brokerbench.Groups, ","))
	rest, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "bench broker", err)
	}
	if len(rest) > 0 {
		return failf(stderr, exitUsage, "bench broker: unexpected argument %q (run 'sluice bench broker -h')", rest[0])
	}
	if *runs < 0 {
		return failf(stderr, exitUsage, "bench broker: --runs must be positive (run 'sluice bench broker -h')")
	}
	cfg := brokerbench.Config{Dir: *dir, Runs: *runs, Quick: *quick, Progress: stderr}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if !slices.Contains(brokerbench.Groups, g) {
			return failf(stderr, exitUsage, "bench broker: unknown group %q in --only (want %s)", g, strings.Join(brokerbench.Groups, ","))
		}
		cfg.Only = append(cfg.Only, g)
	}
	rep, err := brokerbench.Run(cfg)
	if err != nil {
		return failf(stderr, exitFailure, "bench broker: %v", err)
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printBrokerReport(stdout, rep)
	return exitOK
}

func printBrokerReport(w io.Writer, rep *brokerbench.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tsluice\treference\tratio median (min..max)\tgoal\tverdict\tkept/discarded")
	for _, r := range rep.Rows {
		verdict := r.Verdict
		if r.Noisy {
			verdict += " (noisy: no clean pair)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s: %s\t%.2f (%.2f..%.2f)\t%s\t%s\t%d/%d\n",
			r.Name, brokerFigure(r.Sluice, r.Unit), r.Reference, brokerFigure(r.Baseline, r.Unit),
			r.Ratio, r.RatioMin, r.RatioMax, r.GoalString(), verdict, r.Kept, r.Discarded)
	}
	tw.Flush()
	var details []string
	for _, r := range rep.Rows {
		if r.Detail != "" {
			details = append(details, fmt.Sprintf("  %s: %s", strings.TrimSpace(r.Name), r.Detail))
		}
	}
	if len(details) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(details, "\n"))
	}
	if len(rep.Setup) > 0 {
		fmt.Fprintln(w, "\nsetup:")
		for _, s := range rep.Setup {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	fmt.Fprintf(w, "\n%d runs in %.0f s (%d started before the machine was quiet); other processes used at most %.0f%% of the machine during a run, this process at most %.0f%%; data was under %s and is deleted.\n",
		rep.RunsTotal, rep.Elapsed.Seconds(), rep.RunsStartedBusy, 100*rep.MaxOthers, 100*rep.MaxSelf, rep.Dir)
}

func brokerFigure(v float64, unit string) string {
	switch unit {
	case "msg/s":
		return fmt.Sprintf("%.0f %s", v, unit)
	case "CPU-s/GB":
		return fmt.Sprintf("%.2f %s", v, unit)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
