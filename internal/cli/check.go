package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-mq/sluice/internal/faultfs"
	"github.com/sluice-mq/sluice/linearizability/check"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/harness"
)

const checkDescription = `Runs the delivery and linearizability checkers against a real cluster: a
'sluice etcd' and three 'sluice serve' processes on 127.0.0.1 (a directory
under --results), recording clients (producers, high-watermark and offset
readers) and a nemesis that kills and pauses brokers; then heals, waits for
the full ISR, reads every partition from its leader and every replica's
segment files offline, and checks (Porcupine on the partition-log model,
set and order checks), judged by what the scenario's configuration allows.

  sluice check run [--scenario NAME | --random] [--seed N] [--duration D]
  sluice check matrix [--seeds N] [--duration D]     every scenario, N seeds each (long)
  sluice check replay DIR                            check a stored run again
  sluice check list                                  the scenarios

Every run writes results/checks/<date>-<scenario>-seed<N>/: history.json,
final.json, the Porcupine HTML with the fault windows, timeline.txt,
verdict.json, and the cluster's logs (its data too when the check fails).
It prints the seed and the command that replays the check.

Faults: kill -9 of a leader or follower (F1, F2), a pause past the session
TTL (F3), the leader isolated from the other brokers and etcd while
clients still reach it (F4), brokers cut from etcd (F5a, F5b; every link
runs through a proxy), disk full (F6), a torn or bit-flipped segment tail
on a stopped replica (F7), lost unsynced writes on one broker or all (F8a,
F8b: power loss), the leader killed while its followers lag (F9), and a
double failure that brings a stale follower back first, and group consumers
killed without committing or leaving (F11, scenarios *-group). F6 and F8
need the test build's fault file layer: go build -tags faultfs ./cmd/sluice.

--random runs a strong scenario (acks=all, sync=always, RF=3, minISR=2,
idempotent: no anomaly allowed) with two to four fault kinds the seed
picks; check matrix --random --seeds N runs N such seeds per mode.

Exit status: 0 when every check passed; 1 when one found a forbidden
anomaly or could not run; 2 for usage errors.`

func runCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: sluice check <run|matrix|replay|list> ...\n\n"+checkDescription)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("check "+sub, "...", checkDescription)
	scenario := fs.String("scenario", "isr-kill", "scenario to run (sluice check list)")
	random := fs.Bool("random", false, "a strong scenario whose faults the seed picks (matrix: --seeds per mode)")
	mode := fs.String("mode", "", "replication mode of --random: isr or quorum (default: the seed picks; matrix: both)")
	seed := fs.Uint64("seed", 0, "schedule seed (0: random, printed)")
	seeds := fs.Int("seeds", 3, "seeds per scenario (matrix)")
	duration := fs.Duration("duration", 0, "client run time (default: the scenario's, 30s)")
	resultsDir := fs.String("results", "results/checks", "parent of the report directories")
	pos, err := parseArgs(fs, rest, stdout)
	if err != nil {
		return parseFailed(stderr, "check "+sub, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch sub {
	case "list":
		for _, n := range harness.ScenarioNames() {
			fmt.Fprintf(stdout, "%-20s %s\n", n, harness.Scenarios[n].Description)
		}
		return exitOK
	case "replay":
		if len(pos) != 1 {
			return failf(stderr, exitUsage, "check replay: want one report directory")
		}
		h, final, exp, err := check.Load(pos[0])
		if err != nil {
			return failf(stderr, exitFailure, "check replay: %v", err)
		}
		v := check.Check(h, final, exp)
		fmt.Fprintln(stdout, v.Summary())
		if !v.Pass {
			return exitFailure
		}
		return exitOK
	case "run", "matrix":
	default:
		return failf(stderr, exitUsage, "check: unknown subcommand %q (run, matrix, replay, list)", sub)
	}
	if len(pos) != 0 {
		return failf(stderr, exitUsage, "check %s: unexpected argument %q", sub, pos[0])
	}
	bin, err := os.Executable()
	if err != nil {
		return failf(stderr, exitFailure, "check: finding the sluice binary: %v", err)
	}
	type job struct {
		sc    harness.Scenario
		seed  uint64
		rerun string
	}
	var modes []expect.ReplicationMode
	switch *mode {
	case "":
	case string(expect.ModeISR), string(expect.ModeQuorum):
		modes = []expect.ReplicationMode{expect.ReplicationMode(*mode)}
	default:
		return failf(stderr, exitUsage, "check %s: --mode %q: want isr or quorum", sub, *mode)
	}
	randomJob := func(m expect.ReplicationMode, s uint64) job {
		return job{harness.RandomStrong(m, s, faultfs.Enabled), s, fmt.Sprintf("sluice check run --random --mode %s --seed %d", m, s)}
	}
	var jobs []job
	switch {
	case sub == "matrix" && *random:
		if modes == nil {
			modes = []expect.ReplicationMode{expect.ModeISR, expect.ModeQuorum}
		}
		for _, m := range modes {
			for range *seeds {
				jobs = append(jobs, randomJob(m, rand.Uint64()))
			}
		}
	case sub == "matrix":
		for _, n := range harness.ScenarioNames() {
			for range *seeds {
				s := rand.Uint64()
				jobs = append(jobs, job{harness.Scenarios[n], s, fmt.Sprintf("sluice check run --scenario %s --seed %d", n, s)})
			}
		}
	default:
		s := *seed
		if s == 0 {
			s = rand.Uint64()
		}
		if *random {
			m := expect.ModeISR
			if modes != nil {
				m = modes[0]
			} else if s%2 == 1 {
				m = expect.ModeQuorum
			}
			jobs = append(jobs, randomJob(m, s))
			break
		}
		sc, err := harness.Lookup(*scenario)
		if err != nil {
			return failf(stderr, exitUsage, "check %s: %v", sub, err)
		}
		jobs = append(jobs, job{sc, s, fmt.Sprintf("sluice check run --scenario %s --seed %d", *scenario, s)})
	}
	failed := 0
	for _, j := range jobs {
		sc := j.sc
		if sc.FaultFS() != "" && !faultfs.Enabled {
			fmt.Fprintf(stdout, "scenario %s needs the fault file layer (%s=%s), which this binary lacks: go build -tags faultfs -o sluice-test ./cmd/sluice and run ./sluice-test check ...\n", sc.Name, faultfs.EnvVar, sc.FaultFS())
			failed++
			continue
		}
		fmt.Fprintf(stdout, "scenario %s seed %d, faults %v (rerun: %s)\n", sc.Name, j.seed, sc.Faults, j.rerun)
		out, err := harness.Run(ctx, sc, harness.Options{Binary: bin, Results: *resultsDir, Seed: j.seed, Duration: *duration, Log: stderr})
		if err != nil {
			fmt.Fprintf(stdout, "  could not run: %v\n", err)
			failed++
			if ctx.Err() != nil {
				break
			}
			continue
		}
		verdict := "PASS"
		if !out.Verdict.Pass {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "  %s in %v: %d operations, %d faults, %d anomalies allowed, %d forbidden\n  report: %s\n  replay: sluice check replay %s\n",
			verdict, out.Wall.Round(time.Second), out.Verdict.Ops.Total, out.Faults, out.Verdict.Allowed, out.Verdict.Forbidden, out.Dir, out.Dir)
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}
