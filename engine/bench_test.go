package engine_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/enginebench"
)

// The engine benchmarks. Each iteration measures one baseline/engine pair
// with engine/enginebench (the same code as `sluice bench engine`) in
// b.TempDir() and reports the engine's own figure as MB/s, the baseline's
// next to it, and their ratio. They are sized so that -benchtime=1x takes
// a second or two each; `sluice bench engine` is the honest, interleaved,
// load-gated version (TESTING.md §8).

const benchRun = 300 * time.Millisecond

// pairMetrics reports medians of the engine and baseline figures and of
// their per-iteration ratios.
type pairMetrics struct {
	eng, base, ratio []float64
	bytes            int64
}

func (p *pairMetrics) add(eng, base float64, bytes int64) {
	p.eng, p.base = append(p.eng, eng), append(p.base, base)
	if base > 0 {
		p.ratio = append(p.ratio, eng/base)
	}
	p.bytes += bytes
}

func (p *pairMetrics) report(b *testing.B, unit string) {
	if len(p.eng) == 0 {
		return
	}
	b.SetBytes(p.bytes / int64(len(p.eng)))
	b.ReportMetric(med(p.eng), unit)
	b.ReportMetric(med(p.base), "raw-"+unit)
	b.ReportMetric(med(p.ratio), "ratio")
}

func med(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s { // insertion sort: a handful of values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}

func BenchmarkAppendSyncNever(b *testing.B) {
	dir := b.TempDir()
	p := enginebench.NeverParams{TotalBytes: 64 << 20, MaxDuration: 2 * time.Second}
	var pm pairMetrics
	for b.Loop() {
		raw, err := enginebench.RawWriteNever(dir, p)
		if err != nil {
			b.Fatal(err)
		}
		eng, err := enginebench.AppendNever(dir, p)
		if err != nil {
			b.Fatal(err)
		}
		pm.add(eng.MBps(), raw.MBps(), eng.Bytes)
	}
	pm.report(b, "MB/s")
}

func BenchmarkAppendSyncAlways(b *testing.B) {
	for _, n := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			var pm pairMetrics
			var perSync, syncs []float64
			for b.Loop() {
				eng, err := enginebench.AppendSync(dir, enginebench.SyncParams{Appenders: n, Records: enginebench.SmallBatchRecords, Duration: benchRun})
				if err != nil {
					b.Fatal(err)
				}
				raw, err := enginebench.RawWriteSync(dir, enginebench.RawSyncParams{CommitBytes: int(math.Round(eng.BytesPerSync())), Duration: benchRun})
				if err != nil {
					b.Fatal(err)
				}
				pm.add(eng.MBps(), raw.MBps(), eng.Bytes)
				perSync = append(perSync, eng.BytesPerSync())
				syncs = append(syncs, eng.SyncsPerSec())
			}
			pm.report(b, "MB/s")
			b.ReportMetric(med(perSync), "B/fsync")
			b.ReportMetric(med(syncs), "fsyncs/s")
		})
	}
}

func BenchmarkAppendLatency(b *testing.B) {
	dir := b.TempDir()
	batch := len(enginebench.MakeBatch(enginebench.SmallBatchRecords, 0))
	var p50, p99, rp50, rp99 []float64
	var bytes int64
	for b.Loop() {
		raw, err := enginebench.RawWriteSync(dir, enginebench.RawSyncParams{CommitBytes: batch, Duration: benchRun, RecordLatency: true})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := enginebench.AppendSync(dir, enginebench.SyncParams{Appenders: 1, Records: enginebench.SmallBatchRecords, Duration: benchRun, RecordLatency: true})
		if err != nil {
			b.Fatal(err)
		}
		us := func(d time.Duration) float64 { return float64(d) / 1e3 }
		p50 = append(p50, us(enginebench.Percentile(eng.OpLatency, 50)))
		p99 = append(p99, us(enginebench.Percentile(eng.OpLatency, 99)))
		rp50 = append(rp50, us(enginebench.Percentile(raw.OpLatency, 50)))
		rp99 = append(rp99, us(enginebench.Percentile(raw.OpLatency, 99)))
		bytes += eng.Bytes
	}
	b.SetBytes(bytes / int64(len(p50)))
	b.ReportMetric(med(p50), "p50-µs")
	b.ReportMetric(med(p99), "p99-µs")
	b.ReportMetric(med(rp50), "raw-p50-µs")
	b.ReportMetric(med(rp99), "raw-p99-µs")
}

func BenchmarkRead(b *testing.B) {
	fx, err := enginebench.NewReadFixture(b.TempDir(), 32<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := fx.Close(); err != nil {
			b.Error(err)
		}
	})
	cases := []struct {
		name     string
		eng, raw func() (enginebench.Measurement, error)
	}{
		{"sendfile", func() (enginebench.Measurement, error) { return fx.SendfileEngine(benchRun) },
			func() (enginebench.Measurement, error) { return fx.SendfileRaw(benchRun) }},
		{"copy", func() (enginebench.Measurement, error) { return fx.CopyEngine(benchRun, 0) },
			func() (enginebench.Measurement, error) { return fx.CopyRaw(benchRun) }},
		{"copy-cache", func() (enginebench.Measurement, error) { return fx.CopyEngine(benchRun, 64<<20) },
			func() (enginebench.Measurement, error) { return fx.CopyRaw(benchRun) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var pm pairMetrics
			var hits []float64
			for b.Loop() {
				raw, err := c.raw()
				if err != nil {
					b.Fatal(err)
				}
				eng, err := c.eng()
				if err != nil {
					b.Fatal(err)
				}
				pm.add(eng.MBps(), raw.MBps(), eng.Bytes)
				hits = append(hits, eng.CacheHitRate())
			}
			pm.report(b, "MB/s")
			if c.name == "copy-cache" {
				b.ReportMetric(100*med(hits), "hit-%")
			}
		})
	}
}

func BenchmarkPrealloc(b *testing.B) {
	for _, mode := range []engine.Prealloc{engine.PreallocNone, engine.PreallocFallocate, engine.PreallocZeroFill} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/appenders=%d", mode, n), func(b *testing.B) {
				dir := b.TempDir()
				var mb, p50, p99 []float64
				var bytes int64
				for b.Loop() {
					m, err := enginebench.AppendSync(dir, enginebench.SyncParams{Appenders: n, Records: enginebench.SmallBatchRecords, Duration: benchRun, Prealloc: mode})
					if err != nil {
						b.Fatal(err)
					}
					mb = append(mb, m.MBps())
					p50 = append(p50, float64(enginebench.Percentile(m.SyncLatency, 50))/1e3)
					p99 = append(p99, float64(enginebench.Percentile(m.SyncLatency, 99))/1e3)
					bytes += m.Bytes
				}
				b.SetBytes(bytes / int64(len(mb)))
				b.ReportMetric(med(mb), "MB/s")
				b.ReportMetric(med(p50), "fsync-p50-µs")
				b.ReportMetric(med(p99), "fsync-p99-µs")
			})
		}
	}
}
