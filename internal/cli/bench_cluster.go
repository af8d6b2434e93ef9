package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerbench"
)

// The cluster benchmark registers itself here, like the broker benchmark,
// so that bench.go's table need not change.
func init() {
	benchCommands["cluster"] = benchCommand{
		summary: "replication on 3 in-process brokers: acks=all vs acks=1 (isr, quorum), a stalled follower, leader failover",
		run:     runBenchCluster,
	}
}

const benchClusterDescription = `
Cluster starts an embedded etcd and three brokers in this process (loopback,
free ports, a temporary directory deleted at the end) and produces 1 KiB
messages through the Go client: 4 client.Producers, each on its own
connection, 32 messages unacknowledged in all. Topics have replication
factor 3, min.insync.replicas 2 and 2 partitions; each configuration has
its own topic.

  produce   for replication.mode isr and quorum, each with sync.policy never
            and always: acks=1 (the baseline), acks=all, and acks=all with
            one follower stalled, run in turn (A B C A B C ...) for every
            round. msgs/s and latency p50/p99/p999 (from SendAsync to the
            callback) are medians over the rounds; the ratios are medians of
            the per-round ratios to the acks=1 run of the same mode and
            policy, with min..max (TESTING.md §8).
  stalled   the follower is a broker that leads none of the topic's
            partitions; once a third of the messages are acknowledged its
            disk stalls for 1 s (--quick: 0.5 s): every write, fsync and directory change it
            makes waits until then, as when a device hangs or the process is
            paused. Its etcd session stays alive.
  failover  a new isr topic and a new quorum topic under acks=all load; a
            broker that leads one partition of each and follows the other
            crashes (broker.Crash: its etcd session freezes, so its lease
            expires within the session TTL; its logs are abandoned).
            Reported per mode: the time to the first acks=all write a new
            leader acknowledges (a probe sending one message at a time), the
            time until the loaded producers get through (their retry backoff
            included), and, from Crash's return, the time until acks=all
            works again on the partition the crashed broker followed. The
            broker then restarts; 3 crashes (--quick: 1).

Before each run every replica of its topic has caught up and the machine is
quiet (< 10% CPU used by other processes, bounded wait); rounds during
which others used > 20% are discarded. The load is a closed loop: while a
follower stalls only the 32 messages in flight wait, so the stall shows in
throughput, p999 and the maximum rather than in p99. The default run takes
about 2 minutes on 2 cores, --quick about 35 s.

Exit status: 0 when every run completed; 1 if a run failed; 2 for usage
errors.`

func runBenchCluster(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench cluster", "[--quick] [--messages N] [--runs N] [--dir DIR] [--json]", benchClusterDescription)
	quick := fs.Bool("quick", false, "fewer messages and one crash per mode (under a minute in all)")
	messages := fs.Int("messages", 0, "messages per produce run (default 10000, --quick 1500)")
	runs := fs.Int("runs", 0, "rounds of every produce configuration (default 3)")
	dir := fs.String("dir", "", "parent of the temporary directory (default: the system temp dir)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	rest, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "bench cluster", err)
	}
	if len(rest) > 0 {
		return failf(stderr, exitUsage, "bench cluster: unexpected argument %q (run 'sluice bench cluster -h')", rest[0])
	}
	if *runs < 0 || *messages < 0 {
		return failf(stderr, exitUsage, "bench cluster: --runs and --messages must be positive (run 'sluice bench cluster -h')")
	}
	cfg := brokerbench.ClusterConfig{Dir: *dir, Quick: *quick, Rounds: *runs, Messages: *messages, Progress: stderr}
	rep, err := brokerbench.RunCluster(cfg)
	if err != nil {
		return failf(stderr, exitFailure, "bench cluster: %v", err)
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printClusterReport(stdout, rep)
	return exitOK
}

func printClusterReport(w io.Writer, rep *brokerbench.ClusterReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "configuration\tmsgs/s\tp50\tp99\tp999\tmsgs/s vs acks=1 median (min..max)\tp99 vs acks=1 median (min..max)\tkept/discarded")
	for _, r := range rep.Rows {
		thr, lat := "baseline", "baseline"
		if !r.Baseline {
			thr = fmt.Sprintf("%.2f (%.2f..%.2f)", r.Ratio, r.RatioMin, r.RatioMax)
			lat = fmt.Sprintf("%.2f (%.2f..%.2f)", r.P99Ratio, r.P99RatioMin, r.P99RatioMax)
		}
		kept := fmt.Sprintf("%d/%d", r.Kept, r.Discarded)
		if r.Noisy {
			kept += " (noisy: no clean round)"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.MsgsPerSec,
			clusterLatency(r.P50), clusterLatency(r.P99), clusterLatency(r.P999), thr, lat, kept)
	}
	tw.Flush()

	if len(rep.Failovers) > 0 {
		fmt.Fprintf(w, "\nfailover (a leader crashed under acks=all load; session TTL %v, replica.lag.time.max %v):\n", rep.SessionTTL, rep.ReplicaLagMax)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "mode\tnew leader acknowledges median (min..max)\tproducers get through\tfollowed partition, from Crash's return\tcrashes")
		for _, f := range rep.Failovers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", f.Mode, clusterDurationStats(f.Failover), clusterDurationStats(f.Resumed), clusterDurationStats(f.FollowedResumed), len(f.Samples))
		}
		tw.Flush()
	}

	var details []string
	for _, r := range rep.Rows {
		if r.Detail != "" {
			details = append(details, fmt.Sprintf("  %s: %s", r.Name, r.Detail))
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
	fmt.Fprintf(w, "\n%d runs of %d messages in %.0f s (%d started before the machine was quiet); other processes used at most %.0f%% of the machine during a run, this process at most %.0f%%; data was under %s and is deleted.\n",
		rep.RunsTotal, rep.Messages, rep.Elapsed.Seconds(), rep.RunsStartedBusy, 100*rep.MaxOthers, 100*rep.MaxSelf, rep.Dir)
}

// clusterLatency prints a latency with three significant digits.
func clusterLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func clusterDurationStats(s brokerbench.DurationStats) string {
	if s.N == 0 {
		return "not seen"
	}
	return fmt.Sprintf("%s (%s..%s)", clusterLatency(s.Median), clusterLatency(s.Min), clusterLatency(s.Max))
}
