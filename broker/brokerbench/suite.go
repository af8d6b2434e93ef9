package brokerbench

import (
	"context"
	"fmt"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/engine/enginebench"
)

// Groups are the benchmark groups Run knows, in the order it runs them.
var Groups = []string{"produce", "durable", "fetch"}

// Config shapes a Run. Zero fields take the defaults of DefaultConfig or,
// with Quick, QuickConfig.
type Config struct {
	// Dir is where the temporary directory goes (the system temp dir when
	// empty). Everything Run creates is deleted.
	Dir string
	// Runs is the number of reference/Sluice pairs per comparison.
	Runs int
	// Quick shortens every run (about a minute in all).
	Quick bool
	// Only limits the run to these Groups (all when empty).
	Only []string
	// Quiet is the machine-load gate; the zero value means benchutil.DefaultQuiet
	// (or the quick variant) unless Quiet.Disabled is set.
	Quiet benchutil.QuietOptions
	// Progress receives one line per run (nil: none).
	Progress io.Writer

	MsgSize          int           // value bytes (1 KiB)
	Window           int           // acks=1 window of the main produce row (4096)
	SmallWindow      int           // acks=1 window of the G5 row (500)
	ProduceDuration  time.Duration // each acks=1 produce run
	DurableWindow    int           // total window of the durable runs (500)
	DurableProducers int           // producers (and NATS publishers) sharing it (4)
	DurableDuration  time.Duration // each durable produce run
	PreloadBytes     int64         // preloaded partition / stream of the fetch group
	FetchMaxBytes    int32         // consumer FetchMaxBytes (1 MiB)
	Timeout          time.Duration // bound of the whole Run
}

// DefaultConfig is `sluice bench broker` with no flags: about 2 minutes
// on a quiet 2-core machine.
var DefaultConfig = Config{
	Runs:             3,
	MsgSize:          1024,
	Window:           4096,
	SmallWindow:      500,
	ProduceDuration:  1500 * time.Millisecond,
	DurableWindow:    500,
	DurableProducers: 4,
	DurableDuration:  1500 * time.Millisecond,
	PreloadBytes:     256 << 20,
	FetchMaxBytes:    1 << 20,
	Timeout:          10 * time.Minute,
	Quiet:            benchutil.DefaultQuiet,
}

// QuickConfig is --quick: under a minute.
var QuickConfig = Config{
	Runs:             3,
	MsgSize:          1024,
	Window:           4096,
	SmallWindow:      500,
	ProduceDuration:  400 * time.Millisecond,
	DurableWindow:    500,
	DurableProducers: 4,
	DurableDuration:  400 * time.Millisecond,
	PreloadBytes:     64 << 20,
	FetchMaxBytes:    1 << 20,
	Timeout:          5 * time.Minute,
	Quiet:            benchutil.QuietOptions{Busy: 0.10, Window: 500 * time.Millisecond, Timeout: time.Second, Contaminated: 0.20},
}

// TinyConfig runs every measurement once, briefly and without the quiet
// gate: for tests that check the shape of the report, never a timing.
func TinyConfig(dir string) Config {
	return Config{
		Dir: dir, Runs: 1, Quick: true,
		ProduceDuration: 100 * time.Millisecond, DurableDuration: 100 * time.Millisecond,
		PreloadBytes: 2 << 20, Quiet: benchutil.QuietOptions{Disabled: true},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Quick {
		d = QuickConfig
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.Runs, d.Runs)
	setInt(&c.MsgSize, d.MsgSize)
	setInt(&c.Window, d.Window)
	setInt(&c.SmallWindow, d.SmallWindow)
	setInt(&c.DurableWindow, d.DurableWindow)
	setInt(&c.DurableProducers, d.DurableProducers)
	setDur(&c.ProduceDuration, d.ProduceDuration)
	setDur(&c.DurableDuration, d.DurableDuration)
	setDur(&c.Timeout, d.Timeout)
	if c.PreloadBytes <= 0 {
		c.PreloadBytes = d.PreloadBytes
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = d.FetchMaxBytes
	}
	if c.Quiet == (benchutil.QuietOptions{}) {
		c.Quiet = d.Quiet
	}
	return c
}

// Row is one line of the report: a Sluice figure, its reference, and the
// median of the per-pair ratios.
type Row struct {
	Group     string  `json:"group"`
	Name      string  `json:"name"`
	Reference string  `json:"reference"`
	Unit      string  `json:"unit"`
	Sluice    float64 `json:"sluice"`          // median over kept pairs
	Baseline  float64 `json:"reference_value"` // median over kept pairs
	// Ratio is the median of sluice/reference over the kept pairs.
	Ratio    float64 `json:"ratio"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
	// GoalValue is the ratio to reach: at least it, or at most it when
	// GoalAtMost; no goal when 0. GoalRef names where the goal comes from.
	GoalValue  float64 `json:"goal,omitempty"`
	GoalAtMost bool    `json:"goal_at_most,omitempty"`
	GoalRef    string  `json:"goal_ref,omitempty"`
	Verdict    string  `json:"verdict"` // pass, short or info
	Kept       int     `json:"kept"`
	Discarded  int     `json:"discarded"`
	// Noisy: no pair was clean, so the figures are over all pairs.
	Noisy  bool   `json:"noisy,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// GoalString is "≥ 3.00 (issue)", "≤ 1.20" or "—".
func (r Row) GoalString() string {
	var s string
	switch {
	case r.GoalValue == 0:
		return "—"
	case r.GoalAtMost:
		s = fmt.Sprintf("≤ %.2f", r.GoalValue)
	default:
		s = fmt.Sprintf("≥ %.2f", r.GoalValue)
	}
	if r.GoalRef != "" {
		s += " (" + r.GoalRef + ")"
	}
	return s
}

// Report is the outcome of Run.
type Report struct {
	Rows []Row `json:"rows"`
	// Setup describes the configurations compared, one line each.
	Setup           []string      `json:"setup"`
	Runs            int           `json:"runs"`
	Dir             string        `json:"dir"`
	Elapsed         time.Duration `json:"elapsed_ns"`
	RunsStartedBusy int           `json:"runs_started_busy"`
	RunsTotal       int           `json:"runs_total"`
	// MaxOthers is the largest share of the machine other processes used
	// during any run; MaxSelf the largest share this process used.
	MaxOthers float64 `json:"max_others"`
	MaxSelf   float64 `json:"max_self"`
}

type suite struct {
	cfg    Config
	env    *Env
	ctx    context.Context
	report *Report
}

// Run starts the servers, runs the selected groups and returns their
// report. It deletes everything it created, whatever happens.
func Run(cfg Config) (rep *Report, err error) {
	cfg = cfg.withDefaults()
	for _, g := range cfg.Only {
		if !slices.Contains(Groups, g) {
			return nil, fmt.Errorf("brokerbench: unknown group %q (want one of %s)", g, strings.Join(Groups, ", "))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	start := time.Now()
	env, err := StartEnv(ctx, cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("brokerbench: %w", err)
	}
	defer func() {
		if cerr := env.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("brokerbench: clean up: %w", cerr)
		}
	}()
	s := &suite{cfg: cfg, env: env, ctx: ctx, report: &Report{Runs: cfg.Runs, Dir: env.Dir()}}
	s.progressf("broker and nats-server up in %v (data under %s)", time.Since(start).Round(time.Millisecond), env.Dir())
	steps := map[string]func() error{"produce": s.produce, "durable": s.durable, "fetch": s.fetch}
	for _, g := range Groups {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, g) {
			continue
		}
		if err := steps[g](); err != nil {
			return s.report, fmt.Errorf("brokerbench: %s: %w", g, err)
		}
	}
	s.report.Elapsed = time.Since(start)
	return s.report, nil
}

func (s *suite) progressf(format string, args ...any) {
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, format+"\n", args...)
	}
}

// measure waits for a quiet machine, runs fn, and records the load.
func (s *suite) measure(label string, fn func() (Measurement, error)) (Measurement, error) {
	var m Measurement
	load, quiet, err := benchutil.Measure(s.cfg.Quiet, func() error {
		var err error
		m, err = fn()
		return err
	})
	m.Load = load
	s.report.RunsTotal++
	if !quiet {
		s.report.RunsStartedBusy++
	}
	s.report.MaxOthers = max(s.report.MaxOthers, load.Others)
	s.report.MaxSelf = max(s.report.MaxSelf, load.Self)
	if err != nil {
		return m, fmt.Errorf("%s: %w", label, err)
	}
	mark := ""
	if s.contaminated(m) {
		mark = "  DISCARD"
	}
	extra := ""
	if m.Fsyncs > 0 {
		extra = fmt.Sprintf("  %.0f fsyncs/s %.1f KB/fsync", m.FsyncsPerSec(), m.BytesPerFsync()/1e3)
	}
	s.progressf("  %-40s %9.0f msg/s %8.1f MB/s %6.2f CPU-s/GB  %v  [%s]%s%s", label, m.MsgsPerSec(), m.MBps(), m.CPUPerGB(),
		m.Elapsed.Round(time.Millisecond), load, extra, mark)
	return m, nil
}

func (s *suite) contaminated(m Measurement) bool {
	return m.Load.Known && m.Load.Others > s.cfg.Quiet.Contaminated
}

// pair is one reference run and one Sluice run measured back to back.
type pair struct{ ref, sl Measurement }

func (s *suite) keep(pairs []pair) (kept []pair, discarded int, noisy bool) {
	return benchutil.KeepClean(pairs, func(p pair) bool { return !s.contaminated(p.ref) && !s.contaminated(p.sl) })
}

type goal struct {
	value  float64
	atMost bool
	ref    string
}

// row builds a Row from pairs, taking fig from each run.
func (s *suite) row(group, name, ref, unit string, pairs []pair, fig func(Measurement) float64, g goal) *Row {
	kept, discarded, noisy := s.keep(pairs)
	var sls, refs []float64
	for _, p := range kept {
		sls, refs = append(sls, fig(p.sl)), append(refs, fig(p.ref))
	}
	r := Row{Group: group, Name: name, Reference: ref, Unit: unit, GoalValue: g.value, GoalAtMost: g.atMost, GoalRef: g.ref,
		Kept: len(kept), Discarded: discarded, Noisy: noisy}
	if noisy {
		r.Kept = 0
	}
	rt := benchutil.Ratios(sls, refs)
	r.Sluice, r.Baseline, r.Ratio, r.RatioMin, r.RatioMax = rt.Candidate, rt.Baseline, rt.Median, rt.Min, rt.Max
	r.Verdict = benchutil.Verdict(r.Ratio, g.value, g.atMost)
	s.report.Rows = append(s.report.Rows, r)
	return &s.report.Rows[len(s.report.Rows)-1]
}

// medianOf is the median of fig over the kept pairs' side.
func (s *suite) medianOf(pairs []pair, fig func(pair) float64) float64 {
	kept, _, _ := s.keep(pairs)
	var xs []float64
	for _, p := range kept {
		xs = append(xs, fig(p))
	}
	m, _, _ := benchutil.Median(xs)
	return m
}

func msgsPerSec(m Measurement) float64 { return m.MsgsPerSec() }
func mbps(m Measurement) float64       { return m.MBps() }
func cpuPerGB(m Measurement) float64   { return m.CPUPerGB() }

// --- groups ---

func (s *suite) produce() error {
	c := s.cfg
	s.report.Setup = append(s.report.Setup,
		fmt.Sprintf("produce: %d B values, 1 partition / 1 stream, 1 producer, acks=1 (AcksLeader), sync.policy=never; NATS: JetStream file stream R1, default sync_interval (2 min), jetstream.PublishAsync; window = messages unacknowledged, the same for both; %v per run + drain", c.MsgSize, c.ProduceDuration))
	s.progressf("produce acks=1, sync=never: windows %d and %d, %v per run", c.Window, c.SmallWindow, c.ProduceDuration)
	var big, small, smallDefault []pair
	for i := range c.Runs {
		base := ProduceParams{MsgSize: c.MsgSize, Producers: 1, Duration: c.ProduceDuration}
		pb := base
		pb.Window = c.Window
		nb, err := s.measure(fmt.Sprintf("nats async window %d #%d", c.Window, i+1), func() (Measurement, error) { return NATSProduce(s.ctx, s.env, pb) })
		if err != nil {
			return err
		}
		sb, err := s.measure(fmt.Sprintf("sluice window %d #%d", c.Window, i+1), func() (Measurement, error) { return SluiceProduce(s.ctx, s.env, pb) })
		if err != nil {
			return err
		}
		ps := base
		ps.Window = c.SmallWindow
		ns, err := s.measure(fmt.Sprintf("nats async window %d #%d", c.SmallWindow, i+1), func() (Measurement, error) { return NATSProduce(s.ctx, s.env, ps) })
		if err != nil {
			return err
		}
		s0, err := s.measure(fmt.Sprintf("sluice window %d #%d", c.SmallWindow, i+1), func() (Measurement, error) { return SluiceProduce(s.ctx, s.env, ps) })
		if err != nil {
			return err
		}
		ps5 := ps
		ps5.Linger = 5 * time.Millisecond
		s5, err := s.measure(fmt.Sprintf("sluice window %d linger 5ms #%d", c.SmallWindow, i+1), func() (Measurement, error) { return SluiceProduce(s.ctx, s.env, ps5) })
		if err != nil {
			return err
		}
		big = append(big, pair{nb, sb})
		small = append(small, pair{ns, s0})
		smallDefault = append(smallDefault, pair{ns, s5})
	}
	detail := func(pairs []pair) string {
		return fmt.Sprintf("Sluice %.1f MB/s at %.2f CPU-s/GB; NATS %.1f MB/s at %.2f CPU-s/GB (CPU: whole process, servers + clients)",
			s.medianOf(pairs, func(p pair) float64 { return p.sl.MBps() }), s.medianOf(pairs, func(p pair) float64 { return p.sl.CPUPerGB() }),
			s.medianOf(pairs, func(p pair) float64 { return p.ref.MBps() }), s.medianOf(pairs, func(p pair) float64 { return p.ref.CPUPerGB() }))
	}
	r := s.row("produce", fmt.Sprintf("produce acks=1, window %d", c.Window), fmt.Sprintf("NATS async, window %d", c.Window), "msg/s", big, msgsPerSec, goal{3, false, "issue"})
	r.Detail = "Sluice: ProfileThroughput defaults (no linger, 1 MiB batches). " + detail(big)
	r = s.row("produce", fmt.Sprintf("produce acks=1, window %d", c.SmallWindow), fmt.Sprintf("NATS async, window %d", c.SmallWindow), "msg/s", small, msgsPerSec, goal{2, false, "G5"})
	r.Detail = "Sluice: ProfileThroughput defaults. " + detail(small)
	r = s.row("produce", "  same with Linger 5ms", fmt.Sprintf("NATS async, window %d", c.SmallWindow), "msg/s", smallDefault, msgsPerSec, goal{})
	r.Detail = "one request in flight per partition: a linger holds the next batch while nothing is in flight. " + detail(smallDefault)
	return nil
}

func (s *suite) durable() error {
	c := s.cfg
	s.report.Setup = append(s.report.Setup,
		fmt.Sprintf("durable: %d producers (Sluice: client.Producers with ProfileThroughput, Linger 0, each on its own connection; NATS: publishers on their own connections) sharing a window of %d messages (%d each), 1 partition / 1 stream; Sluice sync.policy=always + acks=all (1 replica: appended and fsynced); NATS sync_interval: always (SyncAlways); %v per run; raw: pwrite+fdatasync loop at Sluice's mean bytes per fsync",
			c.DurableProducers, c.DurableWindow, max(c.DurableWindow/c.DurableProducers, 1), c.DurableDuration))
	s.progressf("produce acks=all, sync=always: %d producers sharing a window of %d, %v per run", c.DurableProducers, c.DurableWindow, c.DurableDuration)
	p := ProduceParams{MsgSize: c.MsgSize, Window: c.DurableWindow, Producers: c.DurableProducers, Duration: c.DurableDuration, Durable: true, Linger: -1}
	var vsNATS, vsRaw []pair
	for i := range c.Runs {
		n, err := s.measure(fmt.Sprintf("nats sync_interval=always #%d", i+1), func() (Measurement, error) { return NATSProduce(s.ctx, s.env, p) })
		if err != nil {
			return err
		}
		sl, err := s.measure(fmt.Sprintf("sluice sync=always acks=all #%d", i+1), func() (Measurement, error) { return SluiceProduce(s.ctx, s.env, p) })
		if err != nil {
			return err
		}
		commit := max(int(math.Round(sl.BytesPerFsync())), c.MsgSize)
		raw, err := s.measure(fmt.Sprintf("raw pwrite+fdatasync %d B #%d", commit, i+1), func() (Measurement, error) {
			rm, err := enginebench.RawWriteSync(s.env.Dir(), enginebench.RawSyncParams{CommitBytes: commit, Duration: c.DurableDuration})
			return Measurement{Msgs: rm.Ops, Bytes: rm.Bytes, Elapsed: rm.Elapsed, Fsyncs: rm.Syncs, SyncedBytes: rm.SyncedBytes}, err
		})
		if err != nil {
			return err
		}
		vsNATS = append(vsNATS, pair{n, sl})
		vsRaw = append(vsRaw, pair{raw, sl})
	}
	r := s.row("durable", fmt.Sprintf("produce acks=all sync=always, %d producers, window %d", c.DurableProducers, c.DurableWindow),
		"NATS sync_interval=always, same window", "msg/s", vsNATS, msgsPerSec, goal{10, false, "issue; G7: 5"})
	r.Detail = fmt.Sprintf("Sluice %.1f MB/s, %.0f fsyncs/s, %.1f KB/fsync, %.1f appends/group commit; NATS %.1f MB/s",
		s.medianOf(vsNATS, func(p pair) float64 { return p.sl.MBps() }),
		s.medianOf(vsNATS, func(p pair) float64 { return p.sl.FsyncsPerSec() }),
		s.medianOf(vsNATS, func(p pair) float64 { return p.sl.BytesPerFsync() / 1e3 }),
		s.medianOf(vsNATS, func(p pair) float64 {
			if p.sl.GroupCommits == 0 {
				return 0
			}
			return float64(p.sl.Appends) / float64(p.sl.GroupCommits)
		}),
		s.medianOf(vsNATS, func(p pair) float64 { return p.ref.MBps() }))
	r = s.row("durable", "  same vs raw pwrite+fdatasync at its KB/fsync", "raw pwrite+fdatasync loop", "MB/s", vsRaw, mbps, goal{0.6, false, "G7"})
	r.Detail = fmt.Sprintf("raw: %.0f fsyncs/s", s.medianOf(vsRaw, func(p pair) float64 { return p.ref.FsyncsPerSec() }))
	return nil
}

func (s *suite) fetch() error {
	c := s.cfg
	s.progressf("fetch: preloading %d MiB of %d B messages into a partition and a stream", c.PreloadBytes>>20, c.MsgSize)
	start := time.Now()
	f, err := NewFetchFixture(s.ctx, s.env, c.PreloadBytes, c.MsgSize, false)
	if err != nil {
		return err
	}
	defer f.Close()
	s.progressf("  preloaded %d messages in %v", f.Msgs(), time.Since(start).Round(time.Millisecond))
	s.report.Setup = append(s.report.Setup,
		fmt.Sprintf("fetch: %d messages (%d MiB) preloaded (page cache), 1 consumer from the beginning to the end, FetchMaxBytes %d KiB; data plane (sendfile on the broker) vs gRPC Fetch; NATS: ordered consumer (jetstream.OrderedConsumer, deliver all, client defaults); CPU = whole process (broker + consumer, or nats-server + client)",
			f.Msgs(), c.PreloadBytes>>20, c.FetchMaxBytes>>10))
	var dataVsGRPC, dataVsNATS []pair
	for i := range c.Runs {
		d, err := s.measure(fmt.Sprintf("sluice fetch data plane #%d", i+1), func() (Measurement, error) {
			return f.Sluice(s.ctx, client.TransportDataPlane, c.FetchMaxBytes)
		})
		if err != nil {
			return err
		}
		g, err := s.measure(fmt.Sprintf("sluice fetch gRPC #%d", i+1), func() (Measurement, error) {
			return f.Sluice(s.ctx, client.TransportGRPC, c.FetchMaxBytes)
		})
		if err != nil {
			return err
		}
		n, err := s.measure(fmt.Sprintf("nats ordered consumer #%d", i+1), func() (Measurement, error) { return f.NATS(s.ctx) })
		if err != nil {
			return err
		}
		dataVsGRPC = append(dataVsGRPC, pair{g, d})
		dataVsNATS = append(dataVsNATS, pair{n, d})
	}
	r := s.row("fetch", "fetch data plane vs gRPC", "Sluice gRPC Fetch", "MB/s", dataVsGRPC, mbps, goal{1.05, false, "G4"})
	r.Detail = fmt.Sprintf("%.0f vs %.0f msg/s", s.medianOf(dataVsGRPC, func(p pair) float64 { return p.sl.MsgsPerSec() }),
		s.medianOf(dataVsGRPC, func(p pair) float64 { return p.ref.MsgsPerSec() }))
	s.row("fetch", "  CPU per GB, data plane vs gRPC", "Sluice gRPC Fetch", "CPU-s/GB", dataVsGRPC, cpuPerGB, goal{1, true, ""})
	r = s.row("fetch", "consume data plane vs NATS ordered consumer", "NATS ordered consumer", "msg/s", dataVsNATS, msgsPerSec, goal{3, false, "G9"})
	r.Detail = fmt.Sprintf("%.1f vs %.1f MB/s", s.medianOf(dataVsNATS, func(p pair) float64 { return p.sl.MBps() }),
		s.medianOf(dataVsNATS, func(p pair) float64 { return p.ref.MBps() }))
	s.row("fetch", "  CPU per GB, data plane vs NATS", "NATS ordered consumer", "CPU-s/GB", dataVsNATS, cpuPerGB, goal{})
	return nil
}
