package enginebench

import (
	"github.com/sluice-mq/sluice/internal/benchutil"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// These tests run every measurement in a tiny configuration and check that
// it produces positive figures and leaves no files behind. They assert no
// timing.

const tiny = 100 * time.Millisecond

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	names, err := vfs.Default.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("%s still holds %v", dir, names)
	}
}

func assertPositive(t *testing.T, name string, m Measurement) {
	t.Helper()
	if m.Bytes <= 0 || m.Ops <= 0 || m.Elapsed <= 0 || m.MBps() <= 0 {
		t.Errorf("%s: bytes %d, ops %d, elapsed %v", name, m.Bytes, m.Ops, m.Elapsed)
	}
}

func TestMakeBatchSizes(t *testing.T) {
	if got := len(MakeBatch(BigBatchRecords, 0)); got > 64<<10 || got < 63<<10 {
		t.Errorf("64 KiB batch is %d bytes", got)
	}
	if got, want := len(MakeBatch(SmallBatchRecords, 0)), 4*RecordBytes+61; got != want {
		t.Errorf("small batch is %d bytes, want %d", got, want)
	}
}

func TestAppendMeasurements(t *testing.T) {
	dir := t.TempDir()
	p := NeverParams{TotalBytes: 4 << 20, MaxDuration: time.Second}
	m, err := AppendNever(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	assertPositive(t, "AppendNever", m)
	if m, err = RawWriteNever(dir, p); err != nil {
		t.Fatal(err)
	}
	assertPositive(t, "RawWriteNever", m)
	for _, mode := range []engine.Prealloc{engine.PreallocNone, engine.PreallocFallocate, engine.PreallocZeroFill} {
		m, err := AppendSync(dir, SyncParams{Appenders: 4, Records: SmallBatchRecords, Duration: tiny, Prealloc: mode, RecordLatency: true})
		if err != nil {
			t.Fatal(err)
		}
		assertPositive(t, "AppendSync "+mode.String(), m)
		if m.Syncs <= 0 || m.BytesPerSync() <= 0 || len(m.SyncLatency) == 0 || int64(len(m.OpLatency)) != m.Ops {
			t.Errorf("AppendSync %s: %d syncs, %.0f B/sync, %d sync latencies, %d op latencies for %d ops",
				mode, m.Syncs, m.BytesPerSync(), len(m.SyncLatency), len(m.OpLatency), m.Ops)
		}
	}
	for _, over := range []bool{false, true} {
		m, err := RawWriteSync(dir, RawSyncParams{CommitBytes: 10000, Duration: tiny, Overwrite: over, OverwriteBytes: 1 << 20, RecordLatency: true})
		if err != nil {
			t.Fatal(err)
		}
		assertPositive(t, "RawWriteSync", m)
		if m.Syncs != m.Ops || m.BytesPerSync() != 10000 || Percentile(m.OpLatency, 99) <= 0 {
			t.Errorf("RawWriteSync overwrite=%v: %d syncs for %d ops, %.0f B/sync", over, m.Syncs, m.Ops, m.BytesPerSync())
		}
	}
	assertEmpty(t, dir)
}

func TestReadMeasurements(t *testing.T) {
	dir := t.TempDir()
	fx, err := NewReadFixture(dir, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]func() (Measurement, error){
		"SendfileEngine": func() (Measurement, error) { return fx.SendfileEngine(tiny) },
		"SendfileRaw":    func() (Measurement, error) { return fx.SendfileRaw(tiny) },
		"CopyEngine":     func() (Measurement, error) { return fx.CopyEngine(tiny, 0) },
		"CopyRaw":        func() (Measurement, error) { return fx.CopyRaw(tiny) },
	}
	for name, run := range runs {
		m, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertPositive(t, name, m)
	}
	m, err := fx.CopyEngine(tiny, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	assertPositive(t, "CopyEngine with cache", m)
	if m.CacheHits+m.CacheMisses == 0 {
		t.Error("CopyEngine with cache: no cache lookups")
	}
	if err := fx.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dir)
}

func TestRunTiny(t *testing.T) {
	dir := t.TempDir()
	rep, err := Run(TinyConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) == 0 || len(rep.Prealloc) == 0 || len(rep.PreallocWinner) == 0 {
		t.Fatalf("report: %d rows, %d prealloc results, winner %v", len(rep.Rows), len(rep.Prealloc), rep.PreallocWinner)
	}
	for _, r := range rep.Rows {
		if r.Engine <= 0 || r.Baseline <= 0 || r.Ratio <= 0 || r.Kept+r.Discarded != 1 {
			t.Errorf("row %q: %+v", r.Name, r)
		}
	}
	for _, p := range rep.Prealloc {
		if p.MBps <= 0 || p.SyncP50us <= 0 {
			t.Errorf("prealloc %+v", p)
		}
	}
	assertEmpty(t, dir)
}

func TestPercentileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if Percentile(d, 50) != 5 || Percentile(d, 99) != 10 || Percentile(d, 10) != 1 || Percentile(nil, 50) != 0 {
		t.Error("Percentile")
	}
	if m, lo, hi := benchutil.Median([]float64{3, 1, 2, 10}); m != 2.5 || lo != 1 || hi != 10 {
		t.Errorf("median = %v %v %v", m, lo, hi)
	}
}

func TestUnknownGroup(t *testing.T) {
	if _, err := Run(Config{Dir: t.TempDir(), Only: []string{"nope"}}); err == nil {
		t.Error("Run accepted an unknown group")
	}
}
