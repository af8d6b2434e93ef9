package enginebench

import (
	"fmt"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/engine"
)

// GroupDelay is the GroupCommitDelay of the delayed group-commit run.
const GroupDelay = time.Millisecond

// Groups are the benchmark groups Run knows, in the order it runs them.
var Groups = []string{"append", "sync", "latency", "read", "prealloc"}

// Config shapes a Run. Zero fields take the defaults of DefaultConfig or,
// with Quick, QuickConfig.
type Config struct {
	// Dir is where the benchmark's temporary directory goes (the system
	// temp dir when empty). Everything Run creates is deleted.
	Dir string
	// Runs is the number of baseline/engine pairs per comparison (>= 3 for
	// a claim; fewer are allowed for smoke tests).
	Runs int
	// Quick shortens every run (about 45 s in all).
	Quick bool
	// Only limits the run to these Groups (all when empty).
	Only []string
	// Quiet is the machine-load gate; the zero value means benchutil.DefaultQuiet
	// (or the quick variant) unless Quiet.Disabled is set.
	Quiet benchutil.QuietOptions
	// Progress receives one line per run (nil: none).
	Progress io.Writer

	NeverBytes        int64         // sync=never bytes per run
	NeverMax          time.Duration // bound of a sync=never run
	SyncDuration      time.Duration // each sync=always throughput run
	Appenders         []int         // appender counts of the sync group
	LatencyDuration   time.Duration // each latency run
	ReadBytes         int64         // preloaded log size of the read group
	ReadDuration      time.Duration // each read run
	CacheBudget       int64         // BlockCache budget of the cached copy run
	PreallocDuration  time.Duration // each prealloc run
	PreallocAppenders []int         // appender counts of the prealloc group
	OverwriteBytes    int64         // pre-written file of the raw overwrite run
}

// DefaultConfig is `sluice bench engine` with no flags: about 3 minutes on a
// quiet 2-core machine.
var DefaultConfig = Config{
	Runs:              3,
	NeverBytes:        512 << 20,
	NeverMax:          3 * time.Second,
	SyncDuration:      1500 * time.Millisecond,
	Appenders:         []int{1, 4, 16, 64},
	LatencyDuration:   1500 * time.Millisecond,
	ReadBytes:         256 << 20,
	ReadDuration:      time.Second,
	CacheBudget:       512 << 20,
	PreallocDuration:  time.Second,
	PreallocAppenders: []int{1, 16},
	OverwriteBytes:    64 << 20,
	Quiet:             benchutil.DefaultQuiet,
}

// QuickConfig is --quick: about 45 s.
var QuickConfig = Config{
	Runs:              3,
	NeverBytes:        128 << 20,
	NeverMax:          time.Second,
	SyncDuration:      300 * time.Millisecond,
	Appenders:         []int{1, 16},
	LatencyDuration:   300 * time.Millisecond,
	ReadBytes:         64 << 20,
	ReadDuration:      300 * time.Millisecond,
	CacheBudget:       128 << 20,
	PreallocDuration:  300 * time.Millisecond,
	PreallocAppenders: []int{1},
	OverwriteBytes:    32 << 20,
	Quiet:             benchutil.QuietOptions{Busy: 0.10, Window: 500 * time.Millisecond, Timeout: time.Second, Contaminated: 0.20},
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
	setInt64 := func(v *int64, def int64) {
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
	setInt64(&c.NeverBytes, d.NeverBytes)
	setDur(&c.NeverMax, d.NeverMax)
	setDur(&c.SyncDuration, d.SyncDuration)
	setDur(&c.LatencyDuration, d.LatencyDuration)
	setInt64(&c.ReadBytes, d.ReadBytes)
	setDur(&c.ReadDuration, d.ReadDuration)
	setInt64(&c.CacheBudget, d.CacheBudget)
	setDur(&c.PreallocDuration, d.PreallocDuration)
	setInt64(&c.OverwriteBytes, d.OverwriteBytes)
	if len(c.Appenders) == 0 {
		c.Appenders = d.Appenders
	}
	if len(c.PreallocAppenders) == 0 {
		c.PreallocAppenders = d.PreallocAppenders
	}
	if c.Quiet == (benchutil.QuietOptions{}) {
		c.Quiet = d.Quiet
	}
	return c
}

// Row is one line of the report: an engine figure, its baseline, and the
// median of the per-pair ratios.
type Row struct {
	Group    string  `json:"group"`
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Engine   float64 `json:"engine"`   // median over kept pairs
	Baseline float64 `json:"baseline"` // median over kept pairs
	// Ratio is the median of engine/baseline over the kept pairs.
	Ratio    float64 `json:"ratio"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
	// Goal is the ratio the row must reach: at least GoalValue, or at most
	// it when GoalAtMost. No goal when GoalValue is 0.
	GoalValue  float64 `json:"goal,omitempty"`
	GoalAtMost bool    `json:"goal_at_most,omitempty"`
	Verdict    string  `json:"verdict"` // pass, short or info
	Kept       int     `json:"kept"`
	Discarded  int     `json:"discarded"`
	// Noisy: no pair was clean, so the figures are over all pairs.
	Noisy  bool   `json:"noisy,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// GoalString is "≥ 0.90", "≤ 1.20" or "—".
func (r Row) GoalString() string {
	switch {
	case r.GoalValue == 0:
		return "—"
	case r.GoalAtMost:
		return fmt.Sprintf("≤ %.2f", r.GoalValue)
	}
	return fmt.Sprintf("≥ %.2f", r.GoalValue)
}

// PreallocResult is one prealloc mode (or raw file) at one appender count,
// medians over the kept runs.
type PreallocResult struct {
	Mode         string  `json:"mode"`
	Appenders    int     `json:"appenders"`
	MBps         float64 `json:"mb_per_s"`
	SyncsPerSec  float64 `json:"fsyncs_per_s"`
	BytesPerSync float64 `json:"bytes_per_fsync"`
	SyncP50us    float64 `json:"fsync_p50_us"`
	SyncP99us    float64 `json:"fsync_p99_us"`
	Kept         int     `json:"kept"`
	Discarded    int     `json:"discarded"`
	Noisy        bool    `json:"noisy,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Rows     []Row            `json:"rows"`
	Prealloc []PreallocResult `json:"prealloc,omitempty"`
	// PreallocWinner per appender count: the engine mode with the highest
	// MB/s, and why.
	PreallocWinner []string      `json:"prealloc_winner,omitempty"`
	Runs           int           `json:"runs"`
	Dir            string        `json:"dir"`
	Elapsed        time.Duration `json:"elapsed_ns"`
	// RunsStartedBusy counts runs whose quiet wait timed out.
	RunsStartedBusy int `json:"runs_started_busy"`
	RunsTotal       int `json:"runs_total"`
}

type suite struct {
	cfg    Config
	dir    string
	report *Report
}

// Run runs the selected groups and returns their report. It creates one
// temporary directory under cfg.Dir and removes it, whatever happens.
func Run(cfg Config) (rep *Report, err error) {
	cfg = cfg.withDefaults()
	for _, g := range cfg.Only {
		if !slices.Contains(Groups, g) {
			return nil, fmt.Errorf("enginebench: unknown group %q (want one of %s)", g, strings.Join(Groups, ", "))
		}
	}
	dir, err := NewTempDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := RemoveDir(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	s := &suite{cfg: cfg, dir: dir, report: &Report{Runs: cfg.Runs, Dir: dir}}
	start := time.Now()
	steps := map[string]func() error{
		"append": s.appendNever, "sync": s.syncGroup, "latency": s.latency,
		"read": s.read, "prealloc": s.prealloc,
	}
	for _, g := range Groups {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, g) {
			continue
		}
		if err := steps[g](); err != nil {
			return s.report, fmt.Errorf("enginebench: %s: %w", g, err)
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
	if err != nil {
		return m, fmt.Errorf("%s: %w", label, err)
	}
	mark := ""
	if s.contaminated(m) {
		mark = "  DISCARD"
	}
	s.progressf("  %-34s %9.1f MB/s %8.0f ops/s  %v  [%s]%s", label, m.MBps(), m.OpsPerSec(), m.Elapsed.Round(time.Millisecond), load, mark)
	return m, nil
}

func (s *suite) contaminated(m Measurement) bool {
	return m.Load.Known && m.Load.Others > s.cfg.Quiet.Contaminated
}

// pair is one baseline run and one engine run measured back to back.
type pair struct{ base, eng Measurement }

// keep returns the pairs with neither run contaminated, or all of them
// (noisy) when none is clean.
func (s *suite) keep(pairs []pair) (kept []pair, discarded int, noisy bool) {
	return benchutil.KeepClean(pairs, func(p pair) bool { return !s.contaminated(p.base) && !s.contaminated(p.eng) })
}

// row builds a Row from pairs with the figure fig taken from each run.
func (s *suite) row(group, name, unit string, pairs []pair, engFig, baseFig func(Measurement) float64, goal float64, atMost bool) Row {
	kept, discarded, noisy := s.keep(pairs)
	var engs, bases []float64
	for _, p := range kept {
		engs, bases = append(engs, engFig(p.eng)), append(bases, baseFig(p.base))
	}
	r := Row{Group: group, Name: name, Unit: unit, GoalValue: goal, GoalAtMost: atMost,
		Kept: len(kept), Discarded: discarded, Noisy: noisy}
	if noisy {
		r.Kept = 0
	}
	rt := benchutil.Ratios(engs, bases)
	r.Engine, r.Baseline, r.Ratio, r.RatioMin, r.RatioMax = rt.Candidate, rt.Baseline, rt.Median, rt.Min, rt.Max
	r.Verdict = benchutil.Verdict(r.Ratio, goal, atMost)
	s.report.Rows = append(s.report.Rows, r)
	return r
}

func mbps(m Measurement) float64 { return m.MBps() }

// --- groups ---

func (s *suite) appendNever() error {
	c := s.cfg
	p := NeverParams{TotalBytes: c.NeverBytes, MaxDuration: c.NeverMax}
	s.progressf("append, sync=never: 1 KiB records in 64 KiB batches, up to %d MiB per run", c.NeverBytes>>20)
	var pairs, checked []pair
	pv := p
	pv.Verified = true
	for i := range c.Runs {
		base, err := s.measure(fmt.Sprintf("raw pwrite #%d", i+1), func() (Measurement, error) { return RawWriteNever(s.dir, p) })
		if err != nil {
			return err
		}
		eng, err := s.measure(fmt.Sprintf("engine AppendVerified #%d", i+1), func() (Measurement, error) { return AppendNever(s.dir, pv) })
		if err != nil {
			return err
		}
		full, err := s.measure(fmt.Sprintf("engine Append (own CRC) #%d", i+1), func() (Measurement, error) { return AppendNever(s.dir, p) })
		if err != nil {
			return err
		}
		pairs = append(pairs, pair{base, eng})
		checked = append(checked, pair{base, full})
	}
	s.row("append", "append sync=never, 64 KiB batches", "MB/s", pairs, mbps, mbps, 0.90, false)
	s.report.Rows[len(s.report.Rows)-1].Detail = "AppendVerified: the broker's path, the CRC checked once upstream as Kafka's LogValidator does"
	s.row("append", "  same with Append's own CRC pass", "MB/s", checked, mbps, mbps, 0, false)
	return nil
}

func (s *suite) syncGroup() error {
	c := s.cfg
	batch := len(MakeBatch(SmallBatchRecords, 0))
	s.progressf("append, sync=always: %d x 1 KiB records = %d B per Append, %v per run; raw pwrite+fdatasync at the engine's bytes per fsync", SmallBatchRecords, batch, c.SyncDuration)
	byN := map[int][]pair{}
	for i := range c.Runs {
		for _, n := range c.Appenders {
			eng, err := s.measure(fmt.Sprintf("engine %d appenders #%d", n, i+1), func() (Measurement, error) {
				return AppendSync(s.dir, SyncParams{Appenders: n, Records: SmallBatchRecords, Duration: c.SyncDuration})
			})
			if err != nil {
				return err
			}
			commit := max(int(math.Round(eng.BytesPerSync())), batch)
			base, err := s.measure(fmt.Sprintf("raw commit %d B #%d", commit, i+1), func() (Measurement, error) {
				return RawWriteSync(s.dir, RawSyncParams{CommitBytes: commit, Duration: c.SyncDuration})
			})
			if err != nil {
				return err
			}
			byN[n] = append(byN[n], pair{base, eng})
		}
	}
	for _, n := range c.Appenders {
		goal := 0.0
		if n == 16 {
			goal = 0.85
		}
		s.row("sync", fmt.Sprintf("append sync=always, %d appenders", n), "MB/s", byN[n], mbps, mbps, goal, false)
		kept, _, _ := s.keep(byN[n])
		var aps, bps, sps, rsps, gs []float64
		for _, p := range kept {
			gs = append(gs, p.eng.AppendsPerGroup())
			aps = append(aps, p.eng.OpsPerSec())
			bps = append(bps, p.eng.BytesPerSync())
			sps = append(sps, p.eng.SyncsPerSec())
			rsps = append(rsps, p.base.SyncsPerSec())
		}
		a, _, _ := benchutil.Median(aps)
		b, _, _ := benchutil.Median(bps)
		f, _, _ := benchutil.Median(sps)
		rf, _, _ := benchutil.Median(rsps)
		g, _, _ := benchutil.Median(gs)
		s.report.Rows[len(s.report.Rows)-1].Detail = fmt.Sprintf("%.0f appends/s, %.1f appends/group, %.1f KB/fsync, %.0f fsyncs/s (raw %.0f fsyncs/s)", a, g, b/1e3, f, rf)
	}
	// Group commit: the k-th 16-appender run against the k-th 1-appender run.
	if one, sixteen := byN[1], byN[16]; len(one) > 0 && len(sixteen) == len(one) {
		var pairs, delayed []pair
		for k := range one {
			pairs = append(pairs, pair{base: one[k].eng, eng: sixteen[k].eng})
			// The same with a commit delay, measured right after: the leader
			// may wait (at most the delay) for every appender to queue.
			d, err := s.measure(fmt.Sprintf("engine 16 appenders, delay %v #%d", GroupDelay, k+1), func() (Measurement, error) {
				return AppendSync(s.dir, SyncParams{Appenders: 16, Records: SmallBatchRecords, Duration: c.SyncDuration, GroupCommitDelay: GroupDelay})
			})
			if err != nil {
				return err
			}
			delayed = append(delayed, pair{base: one[k].eng, eng: d})
		}
		// A pair here is two engine runs; either being contaminated drops it.
		s.row("sync", "group commit: 16 vs 1 appenders (engine)", "MB/s", pairs, mbps, mbps, 8, false)
		s.report.Rows[len(s.report.Rows)-1].Detail = "no commit delay: a group holds at most the appenders outside the group in flight (N/2)"
		r := s.row("sync", fmt.Sprintf("  same with GroupCommitDelay=%v", GroupDelay), "MB/s", delayed, mbps, mbps, 8, false)
		kept, _, _ := s.keep(delayed)
		var gs []float64
		for _, p := range kept {
			gs = append(gs, p.eng.AppendsPerGroup())
		}
		g, _, _ := benchutil.Median(gs)
		s.report.Rows[len(s.report.Rows)-1].Detail = fmt.Sprintf("%.1f appends/group with the delay (verdict %s)", g, r.Verdict)
	}
	return nil
}

func (s *suite) latency() error {
	c := s.cfg
	batch := len(MakeBatch(SmallBatchRecords, 0))
	s.progressf("durable append latency: 1 appender, %d B per Append, %v per run; raw pwrite+fdatasync of %d B", batch, c.LatencyDuration, batch)
	var pairs []pair
	for i := range c.Runs {
		base, err := s.measure(fmt.Sprintf("raw pwrite+fdatasync #%d", i+1), func() (Measurement, error) {
			return RawWriteSync(s.dir, RawSyncParams{CommitBytes: batch, Duration: c.LatencyDuration, RecordLatency: true})
		})
		if err != nil {
			return err
		}
		eng, err := s.measure(fmt.Sprintf("engine Append #%d", i+1), func() (Measurement, error) {
			return AppendSync(s.dir, SyncParams{Appenders: 1, Records: SmallBatchRecords, Duration: c.LatencyDuration, RecordLatency: true})
		})
		if err != nil {
			return err
		}
		pairs = append(pairs, pair{base, eng})
	}
	p50 := func(m Measurement) float64 { return micros(Percentile(m.OpLatency, 50)) }
	p99 := func(m Measurement) float64 { return micros(Percentile(m.OpLatency, 99)) }
	s.row("latency", "durable append latency p50", "µs", pairs, p50, p50, 1.2, true)
	s.row("latency", "durable append latency p99", "µs", pairs, p99, p99, 1.5, true)
	return nil
}

func (s *suite) read() (err error) {
	c := s.cfg
	s.progressf("reads to loopback TCP: %d MiB page-cached log, 1 MiB fetches, %v per run", c.ReadBytes>>20, c.ReadDuration)
	fx, err := NewReadFixture(s.dir, c.ReadBytes)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fx.Close(); err == nil {
			err = cerr
		}
	}()
	var sendPairs, copyPairs, cachePairs, sendVsCopy []pair
	for i := range c.Runs {
		rawSend, err := s.measure(fmt.Sprintf("raw sendfile #%d", i+1), func() (Measurement, error) { return fx.SendfileRaw(c.ReadDuration) })
		if err != nil {
			return err
		}
		engSend, err := s.measure(fmt.Sprintf("engine ReadRegion+SendTo #%d", i+1), func() (Measurement, error) { return fx.SendfileEngine(c.ReadDuration) })
		if err != nil {
			return err
		}
		rawCopy, err := s.measure(fmt.Sprintf("raw pread+write #%d", i+1), func() (Measurement, error) { return fx.CopyRaw(c.ReadDuration) })
		if err != nil {
			return err
		}
		engCopy, err := s.measure(fmt.Sprintf("engine Read+Write #%d", i+1), func() (Measurement, error) { return fx.CopyEngine(c.ReadDuration, 0) })
		if err != nil {
			return err
		}
		engCache, err := s.measure(fmt.Sprintf("engine Read+Write, cache #%d", i+1), func() (Measurement, error) { return fx.CopyEngine(c.ReadDuration, c.CacheBudget) })
		if err != nil {
			return err
		}
		sendPairs = append(sendPairs, pair{rawSend, engSend})
		copyPairs = append(copyPairs, pair{rawCopy, engCopy})
		cachePairs = append(cachePairs, pair{rawCopy, engCache})
		sendVsCopy = append(sendVsCopy, pair{engCopy, engSend})
	}
	s.row("read", "sendfile read (ReadRegion+SendTo)", "MB/s", sendPairs, mbps, mbps, 0.90, false)
	s.row("read", "copy read (Read+Write), no cache", "MB/s", copyPairs, mbps, mbps, 0, false)
	s.row("read", "copy read, BlockCache", "MB/s", cachePairs, mbps, mbps, 0, false)
	kept, _, _ := s.keep(cachePairs)
	var hits []float64
	for _, p := range kept {
		hits = append(hits, p.eng.CacheHitRate())
	}
	h, hlo, hhi := benchutil.Median(hits)
	s.report.Rows[len(s.report.Rows)-1].Detail = fmt.Sprintf("cache hit rate %.0f%% (%.0f..%.0f%%), budget %d MiB, cold at each run's start", 100*h, 100*hlo, 100*hhi, c.CacheBudget>>20)
	s.row("read", "engine sendfile vs engine copy (G4)", "MB/s", sendVsCopy, mbps, mbps, 1.05, false)
	return nil
}

func (s *suite) prealloc() error {
	c := s.cfg
	batch := len(MakeBatch(SmallBatchRecords, 0))
	s.progressf("preallocation: sync=always, %d B per Append, %v per run; raw 4 KiB-ish (%d B) pwrite+fdatasync to a new file vs over a pre-written one", batch, c.PreallocDuration, batch)
	modes := []engine.Prealloc{engine.PreallocNone, engine.PreallocFallocate, engine.PreallocZeroFill}
	type key struct {
		mode string
		n    int
	}
	runs := map[key][]Measurement{}
	var rawPairs []pair
	for i := range c.Runs {
		for j := range modes {
			mode := modes[(i+j)%len(modes)] // rotate the order between rounds
			for _, n := range c.PreallocAppenders {
				m, err := s.measure(fmt.Sprintf("engine %s %d appenders #%d", mode, n, i+1), func() (Measurement, error) {
					return AppendSync(s.dir, SyncParams{Appenders: n, Records: SmallBatchRecords, Duration: c.PreallocDuration, Prealloc: mode})
				})
				if err != nil {
					return err
				}
				runs[key{mode.String(), n}] = append(runs[key{mode.String(), n}], m)
			}
		}
		fresh, err := s.measure(fmt.Sprintf("raw new file #%d", i+1), func() (Measurement, error) {
			return RawWriteSync(s.dir, RawSyncParams{CommitBytes: batch, Duration: c.PreallocDuration})
		})
		if err != nil {
			return err
		}
		over, err := s.measure(fmt.Sprintf("raw overwrite #%d", i+1), func() (Measurement, error) {
			return RawWriteSync(s.dir, RawSyncParams{CommitBytes: batch, Duration: c.PreallocDuration, Overwrite: true, OverwriteBytes: c.OverwriteBytes})
		})
		if err != nil {
			return err
		}
		runs[key{"raw new file", 1}] = append(runs[key{"raw new file", 1}], fresh)
		runs[key{"raw overwrite", 1}] = append(runs[key{"raw overwrite", 1}], over)
		rawPairs = append(rawPairs, pair{fresh, over})
	}
	summarize := func(mode string, n int) PreallocResult {
		all := runs[key{mode, n}]
		var kept []Measurement
		for _, m := range all {
			if !s.contaminated(m) {
				kept = append(kept, m)
			}
		}
		res := PreallocResult{Mode: mode, Appenders: n, Kept: len(kept), Discarded: len(all) - len(kept)}
		if len(kept) == 0 {
			kept, res.Noisy, res.Kept = all, true, 0
		}
		var mb, sps, bps, p50, p99 []float64
		for _, m := range kept {
			mb = append(mb, m.MBps())
			sps = append(sps, m.SyncsPerSec())
			bps = append(bps, m.BytesPerSync())
			p50 = append(p50, micros(Percentile(m.SyncLatency, 50)))
			p99 = append(p99, micros(Percentile(m.SyncLatency, 99)))
		}
		res.MBps, _, _ = benchutil.Median(mb)
		res.SyncsPerSec, _, _ = benchutil.Median(sps)
		res.BytesPerSync, _, _ = benchutil.Median(bps)
		res.SyncP50us, _, _ = benchutil.Median(p50)
		res.SyncP99us, _, _ = benchutil.Median(p99)
		return res
	}
	for _, n := range c.PreallocAppenders {
		var best PreallocResult
		var none PreallocResult
		for _, mode := range modes {
			r := summarize(mode.String(), n)
			s.report.Prealloc = append(s.report.Prealloc, r)
			if mode == engine.PreallocNone {
				none = r
			}
			if r.MBps > best.MBps {
				best = r
			}
		}
		s.report.PreallocWinner = append(s.report.PreallocWinner, fmt.Sprintf(
			"%d appender(s): %s wins at %.1f MB/s (%.2fx none), fsync p50 %.0f µs vs none %.0f µs",
			n, best.Mode, best.MBps, best.MBps/math.Max(none.MBps, 1e-9), best.SyncP50us, none.SyncP50us))
	}
	for _, mode := range []string{"raw new file", "raw overwrite"} {
		s.report.Prealloc = append(s.report.Prealloc, summarize(mode, 1))
	}
	syncP50 := func(m Measurement) float64 { return micros(Percentile(m.SyncLatency, 50)) }
	s.row("prealloc", "raw fdatasync p50: overwrite vs new file", "µs", rawPairs, syncP50, syncP50, 0, true)
	s.row("prealloc", "raw 4 KiB durable writes: overwrite vs new file", "MB/s", rawPairs, mbps, mbps, 0, false)
	return nil
}

// TinyConfig is a smoke-test configuration: one pair of every comparison,
// a few MiB and 100 ms per run, no load gate.
func TinyConfig(dir string) Config {
	return Config{
		Dir:               dir,
		Runs:              1,
		NeverBytes:        4 << 20,
		NeverMax:          time.Second,
		SyncDuration:      100 * time.Millisecond,
		Appenders:         []int{1, 16},
		LatencyDuration:   100 * time.Millisecond,
		ReadBytes:         4 << 20,
		ReadDuration:      100 * time.Millisecond,
		CacheBudget:       8 << 20,
		PreallocDuration:  100 * time.Millisecond,
		PreallocAppenders: []int{1},
		OverwriteBytes:    1 << 20,
		Quiet:             benchutil.QuietOptions{Disabled: true},
	}
}
