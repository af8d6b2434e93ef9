package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/localcluster"
	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/natsdriver"
	"github.com/sluice-mq/sluice/loadgen/results"
	"github.com/sluice-mq/sluice/loadgen/sluicedriver"
	"github.com/sluice-mq/sluice/loadgen/workloads"
)

// The load generator's commands (DESIGN.md §10): run, sweep and compare
// register here; `sluice bench --rerun DIR` and `sluice chart DIR` read
// what they stored.
func init() {
	benchCommands["run"] = benchCommand{
		summary: "run one workload open loop and store results/ (embedded 3-broker cluster unless --brokers)",
		run:     func(args []string, stdout, stderr io.Writer) int { return runLoad("run", args, nil, stdout, stderr) },
	}
	benchCommands["sweep"] = benchCommand{
		summary: "throughput vs latency per acks x mode x sync, rates from low to saturation (--quick: ~3 min)",
		run:     func(args []string, stdout, stderr io.Writer) int { return runLoad("sweep", args, nil, stdout, stderr) },
	}
	benchCommands["compare"] = benchCommand{
		summary: "the same sweep against Sluice and NATS JetStream (embedded), side by side",
		run: func(args []string, stdout, stderr io.Writer) int {
			return runLoad("compare", args, nil, stdout, stderr)
		},
	}
}

const loadDescription = `
WORKLOAD is a workload file (YAML or JSON; loadgen/workloads/README.md
documents every field) or the name of a built-in one: %s. Default: %s.

Without --brokers the command starts a cluster of its own: a 'sluice etcd'
and three 'sluice serve' processes on 127.0.0.1 in a temporary directory,
torn down at the end (their logs are kept only if the run fails). With
--brokers it drives that cluster instead.

  run      the workload once: open loop at its rate (closed loop when the
           rate is 0), latency measured from each message's intended send
           time, so a stall shows as latency rather than hiding.
  sweep    for every acks x replication mode x sync policy of the
           workload's sweep section: a closed-loop probe finds the maximum,
           then open-loop steps at fractions of it until the system
           saturates. --quick: short steps, about three minutes in all (measured 2 min 46 s
           on 2 cores with the three brokers as processes).
  compare  the sweep against Sluice and against NATS JetStream (an embedded
           nats-server, or --nats-url), same workload, same machine, one
           directory; the report has msgs/s ratios at equal durability.

Every run writes results/<date>-<name>/ (--results): run.json, series.csv,
summary.csv, HDR logs, charts (SVG, PNG) and report.html, and prints where.
'sluice bench --rerun DIR' repeats a stored run with its workload and
flags; 'sluice chart DIR' redraws its charts from the stored data.

Progress goes to stderr once per second. Ctrl-C stops the run, stores what
was measured and tears the cluster down.`

// loadFlags are the flags of run, sweep and compare.
type loadFlags struct {
	brokers, fetch, results, name, dir string
	natsURL, natsSync, driver          string
	quick                              bool
	seed                               uint64
}

func newLoadFlagSet(kind string, lf *loadFlags) *flag.FlagSet {
	def := "quick"
	if kind == "compare" {
		def = "compare"
	}
	fs := newFlagSet("bench "+kind, "[flags] [WORKLOAD]", fmt.Sprintf(loadDescription, strings.Join(workloads.Names(), ", "), def))
	fs.StringVar(&lf.brokers, "brokers", "", "drive this cluster (comma-separated gRPC addresses) instead of starting one")
	fs.StringVar(&lf.fetch, "fetch", "dataplane", "how consumers fetch: dataplane (zero-copy TCP) or grpc")
	fs.StringVar(&lf.results, "results", "results", "parent directory of the result directories")
	fs.StringVar(&lf.name, "name", "", "result name (default: the workload's)")
	fs.StringVar(&lf.dir, "dir", "", "parent of the embedded cluster's temporary directory (default: the system temp dir)")
	fs.BoolVar(&lf.quick, "quick", false, "short sweep steps (sweep, compare): about three minutes for the quick workload")
	fs.Uint64Var(&lf.seed, "seed", 0, "seed for sizes, keys and payloads (0: random; stored either way)")
	if kind != "compare" {
		fs.StringVar(&lf.driver, "driver", "sluice", "system under test: sluice or nats")
	}
	fs.StringVar(&lf.natsURL, "nats-url", "", "external nats-server with JetStream (default: an embedded one)")
	fs.StringVar(&lf.natsSync, "nats-sync", "", "the external nats-server's sync setting (always, never, interval=<d>): the driver cannot change it")
	return fs
}

// runLoad runs kind (run, sweep, compare). stored is set by --rerun: the
// workload comes from there and positional arguments are ignored.
func runLoad(kind string, args []string, stored *loadgen.Workload, stdout, stderr io.Writer) int {
	var lf loadFlags
	fs := newLoadFlagSet(kind, &lf)
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "bench "+kind, err)
	}
	var w loadgen.Workload
	var workloadArg string
	switch {
	case stored != nil:
		w = *stored
	case len(pos) > 1:
		return failf(stderr, exitUsage, "bench %s: want at most one workload, got %v", kind, pos)
	default:
		workloadArg = "quick"
		if kind == "compare" {
			workloadArg = "compare"
		}
		if len(pos) == 1 {
			workloadArg = pos[0]
		}
		if w, err = loadWorkload(workloadArg); err != nil {
			return failf(stderr, exitUsage, "bench %s: %v", kind, err)
		}
	}
	drivers := []string{lf.driver}
	if kind == "compare" {
		drivers = []string{"sluice", "nats"}
	}
	for _, d := range drivers {
		if d != "sluice" && d != "nats" {
			return failf(stderr, exitUsage, "bench %s: --driver %q: want sluice or nats", kind, d)
		}
	}
	transport := client.TransportDataPlane
	switch lf.fetch {
	case "dataplane":
	case "grpc":
		transport = client.TransportGRPC
	default:
		return failf(stderr, exitUsage, "bench %s: --fetch %q: want dataplane or grpc", kind, lf.fetch)
	}
	if lf.name == "" {
		lf.name = w.Name
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// What run.json records to repeat the run: the flags as given, the
	// workload itself is stored in full.
	recorded := append([]string{kind}, withoutPositional(args, pos)...)
	info := results.NewInfo(results.Header{Name: lf.name, Driver: strings.Join(drivers, "+"), Args: recorded, Quick: lf.quick})

	var sweeps []*loadgen.SweepResult
	var single *loadgen.Result
	for _, name := range drivers {
		d, dataDir, closeDriver, err := openDriver(ctx, name, lf, transport, stderr)
		if err != nil {
			return failf(stderr, exitFailure, "bench %s: %v", kind, err)
		}
		if dataDir != "" {
			info.Machine = results.DescribeMachine(dataDir)
		}
		p := &progress{w: stderr, label: name}
		opts := loadgen.Options{Progress: p.print, WaitQuiet: true, Seed: lf.seed}
		if kind == "run" {
			fmt.Fprintf(stderr, "%s: %s against %s\n", kind, w.Name, name)
			single, err = loadgen.Run(ctx, w, d, opts)
			p.done()
		} else {
			fmt.Fprintf(stderr, "%s: %s against %s (%d combinations)\n", kind, w.Name, name, len(w.WithDefaults().Combos()))
			var sw *loadgen.SweepResult
			sw, err = loadgen.Sweep(ctx, w, d, loadgen.SweepOptions{Quick: lf.quick, Run: opts, OnStep: p.step})
			if sw != nil && len(sw.Steps) > 0 {
				sweeps = append(sweeps, sw)
			}
		}
		if cerr := closeDriver(err != nil); cerr != nil {
			fmt.Fprintf(stderr, "bench %s: closing %s: %v\n", kind, name, cerr)
		}
		if err != nil {
			if ctx.Err() == nil {
				return failf(stderr, exitFailure, "bench %s: %v", kind, err)
			}
			fmt.Fprintf(stderr, "bench %s: interrupted; storing what was measured\n", kind)
			break
		}
	}

	var dir string
	switch {
	case kind == "run" && single != nil:
		dir, err = results.WriteRun(lf.results, info, single)
	case kind == "sweep" && len(sweeps) == 1:
		dir, err = results.WriteSweep(lf.results, info, sweeps[0])
	case kind == "compare" && len(sweeps) > 0:
		dir, err = results.WriteCompare(lf.results, info, sweeps)
	default:
		return failf(stderr, exitFailure, "bench %s: nothing was measured", kind)
	}
	if err != nil {
		return failf(stderr, exitFailure, "bench %s: storing the results: %v", kind, err)
	}
	fmt.Fprintf(stdout, "results: %s\nreport:  %s\n", dir, filepath.Join(dir, "report.html"))
	if ctx.Err() != nil {
		return exitFailure
	}
	return exitOK
}

// loadWorkload reads a workload file, or a built-in one by name.
func loadWorkload(arg string) (loadgen.Workload, error) {
	if _, err := os.Stat(arg); err == nil {
		return loadgen.LoadWorkload(arg)
	}
	if data, ok := workloads.Lookup(arg); ok {
		return loadgen.ParseWorkload(data)
	}
	return loadgen.Workload{}, fmt.Errorf("workload %q: no such file and no built-in of that name (%s)", arg, strings.Join(workloads.Names(), ", "))
}

// withoutPositional drops the positional arguments from args.
func withoutPositional(args, pos []string) []string {
	out := append([]string{}, args...)
	for _, p := range pos {
		for i := len(out) - 1; i >= 0; i-- {
			if out[i] == p {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
	}
	return out
}

// openDriver connects the named driver, starting the embedded Sluice
// cluster when no --brokers are given. close tears everything down; with
// failed set it keeps the cluster's directory (its logs) and says where.
func openDriver(ctx context.Context, name string, lf loadFlags, transport client.Transport, stderr io.Writer) (loadgen.Driver, string, func(failed bool) error, error) {
	if name == "nats" {
		d, err := natsdriver.New(natsdriver.Options{URL: lf.natsURL, ExternalSync: loadgen.SyncPolicy(lf.natsSync)})
		if err != nil {
			return nil, "", nil, err
		}
		return d, "", func(bool) error { return d.Close() }, nil
	}
	bootstrap := splitAddrs(lf.brokers)
	var cluster *localcluster.Cluster
	var tmp string
	if len(bootstrap) == 0 {
		bin, err := os.Executable()
		if err != nil {
			return nil, "", nil, fmt.Errorf("finding the sluice binary to start brokers: %w", err)
		}
		if tmp, err = os.MkdirTemp(lf.dir, "sluice-bench-"); err != nil {
			return nil, "", nil, err
		}
		fmt.Fprintf(stderr, "starting etcd and 3 brokers on 127.0.0.1 in %s\n", tmp)
		cluster, err = localcluster.Start(ctx, localcluster.Options{Binary: bin, Dir: tmp, FastEtcd: true})
		if err != nil {
			_ = os.RemoveAll(tmp)
			return nil, "", nil, err
		}
		bootstrap = cluster.Addrs()
	}
	d, err := sluicedriver.New(ctx, sluicedriver.Options{Bootstrap: bootstrap, Fetch: transport})
	teardown := func(failed bool) error {
		var errs []error
		if d != nil {
			errs = append(errs, d.Close())
		}
		if cluster != nil {
			errs = append(errs, cluster.Close())
			if failed {
				fmt.Fprintf(stderr, "the cluster's logs are kept in %s\n", tmp)
			} else {
				errs = append(errs, os.RemoveAll(tmp))
			}
		}
		return errors.Join(errs...)
	}
	if err != nil {
		d = nil
		_ = teardown(true)
		return nil, "", nil, err
	}
	return d, tmp, teardown, nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// progress prints one line per second: on a terminal it rewrites the line
// in place, elsewhere (CI logs) it prints every tenth second and each step.
type progress struct {
	w     io.Writer
	label string
	steps int
	ticks int
	tty   bool
	open  bool
}

func (p *progress) print(pr loadgen.Progress) {
	if f, ok := p.w.(*os.File); ok && p.ticks == 0 {
		if st, err := f.Stat(); err == nil {
			p.tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	p.ticks++
	target := "max"
	if pr.Target > 0 {
		target = fmt.Sprintf("%.0f/s", pr.Target)
	}
	line := fmt.Sprintf("[%s step %d] %-7s %5.1fs, %5.1fs left  acked %8.0f/s (target %s)  p99 %-9v backlog %d in flight %d errors %d",
		p.label, p.steps+1, pr.Phase, pr.Elapsed.Seconds(), pr.Remaining.Seconds(), pr.Rate, target, pr.P99.Round(10*time.Microsecond), pr.Backlog, pr.InFlight, pr.Errors)
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.open = true
	case p.ticks%10 == 0:
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

func (p *progress) step(s loadgen.Step) {
	p.done()
	p.steps++
	what := "probe"
	if !s.Probe {
		what = fmt.Sprintf("%.0f%%", 100*s.Fraction)
	}
	line := fmt.Sprintf("%s %s %-5s", p.label, s.Combo, what)
	if r := s.Result; r != nil {
		line += fmt.Sprintf("  %8.0f msgs/s  publish p50 %v p99 %v p999 %v", r.AchievedRate,
			r.Publish.P50.Round(time.Microsecond), r.Publish.P99.Round(time.Microsecond), r.Publish.P999.Round(time.Microsecond))
	}
	if s.Error != "" {
		line += "  error: " + s.Error
	}
	if s.Stop != "" {
		line += "  (end of curve: " + s.Stop + ")"
	}
	fmt.Fprintln(p.w, line)
}
