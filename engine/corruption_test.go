package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// writeLog appends n batches, each of 2 records, and returns the batches'
// positions per segment file as (path, position, baseOffset).
type batchLoc struct {
	path string
	pos  int64
	base int64
	size int
}

func writeLog(t *testing.T, fs vfs.FS, dir string, n int, closeClean bool) []batchLoc {
	t.Helper()
	l := mustOpen(t, testOptions(fs, dir))
	var locs []batchLoc
	for i := 0; i < n; i++ {
		batch := makeBatch(i, 2, 100, int64(i))
		res, err := l.Append(batch)
		if err != nil {
			t.Fatal(err)
		}
		region, err := l.ReadRegion(res.BaseOffset, 1, -1)
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, batchLoc{region.File.Name(), region.Position, res.BaseOffset, len(batch)})
		region.Release()
	}
	if closeClean {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		l.closing.Store(true)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return locs
}

func flipByte(t *testing.T, fs vfs.FS, path string, pos int64) {
	t.Helper()
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func expectCorruptionAt(t *testing.T, err error, loc batchLoc) {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want a CorruptionError, got %v", err)
	}
	if ce.File != loc.path || ce.Position != loc.pos || ce.Offset != loc.base {
		t.Fatalf("corruption reported at %s:%d offset %d, want %s:%d offset %d", ce.File, ce.Position, ce.Offset, loc.path, loc.pos, loc.base)
	}
}

func TestCorruptionMidLogRefusesToOpen(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			t.Run("last segment after a crash", func(t *testing.T) {
				fs, dir := fc.new(t)
				locs := writeLog(t, fs, dir, 40, false)
				// A batch in the middle of the last segment, valid ones after it.
				last := locs[len(locs)-1].path
				var victim batchLoc
				for i := len(locs) - 3; i >= 0; i-- {
					if locs[i].path == last && locs[i+1].path == last {
						victim = locs[i]
						break
					}
				}
				if victim.path == "" {
					t.Fatal("no batch with successors in the last segment")
				}
				flipByte(t, fs, victim.path, victim.pos+int64(victim.size)-5) // a record byte
				_, err := Open(testOptions(fs, dir))
				expectCorruptionAt(t, err, victim)
			})
			t.Run("sealed segment", func(t *testing.T) {
				fs, dir := fc.new(t)
				locs := writeLog(t, fs, dir, 40, true)
				victim := locs[3] // first segment, a sealed one
				if victim.path == locs[len(locs)-1].path {
					t.Fatal("victim is in the active segment")
				}
				flipByte(t, fs, victim.path, victim.pos+record.HeaderSize+3)
				// The default open reads only what a crash can damage, but a
				// copy read never serves the damage.
				l := mustOpen(t, testOptions(fs, dir))
				_, err := l.Read(victim.base, 1)
				expectCorruptionAt(t, err, victim)
				l.Close()
				// VerifyAll finds it on open.
				opts := testOptions(fs, dir)
				opts.Verify = VerifyAll
				_, err = Open(opts)
				expectCorruptionAt(t, err, victim)
			})
			t.Run("sealed segment cut short", func(t *testing.T) {
				fs, dir := fc.new(t)
				locs := writeLog(t, fs, dir, 40, true)
				victim := locs[2]
				f, err := fs.OpenReadWrite(victim.path)
				if err != nil {
					t.Fatal(err)
				}
				size, _ := f.Size()
				if err := f.Truncate(size - 7); err != nil {
					t.Fatal(err)
				}
				f.Close()
				_, err = Open(testOptions(fs, dir))
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("a sealed segment with a cut tail opened: %v", err)
				}
			})
		})
	}
}

func TestTornTailIsRepaired(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			for _, cut := range []int64{1, 11, 12, 40, 61, 62, 150} {
				fs, dir := fc.new(t)
				locs := writeLog(t, fs, dir, 30, false)
				last := locs[len(locs)-1]
				f, err := fs.OpenReadWrite(last.path)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(last.pos + int64(last.size) - cut); err != nil {
					t.Fatal(err)
				}
				f.Close()
				l := mustOpen(t, testOptions(fs, dir))
				if end := l.LogEndOffset(); end != last.base {
					t.Fatalf("cut %d: log end %d, want %d (the torn batch dropped)", cut, end, last.base)
				}
				if got := readAll(t, l); len(got) != int(last.base) {
					t.Fatalf("cut %d: read %d records", cut, len(got))
				}
				// The torn bytes are kept aside, the segment ends where the
				// last whole batch does, and appends continue there.
				torn, err := fs.Stat(last.path + tornSuffix)
				if err != nil || torn.Size != int64(last.size)-cut {
					t.Fatalf("cut %d: torn tail file %+v, %v", cut, torn, err)
				}
				if st := l.Stats(); st.TornTailBytes != int64(last.size)-cut {
					t.Fatalf("cut %d: stats %+v", cut, st)
				}
				res, err := l.Append(makeBatch(777, 1, 10, 0))
				if err != nil || res.BaseOffset != last.base {
					t.Fatalf("cut %d: append at %d, %v", cut, res.BaseOffset, err)
				}
				l.Close()
			}
		})
	}
}

func TestGarbageTailAfterLastBatch(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	locs := writeLog(t, fs, dir, 10, false)
	last := locs[len(locs)-1]
	f, err := fs.OpenReadWrite(last.path)
	if err != nil {
		t.Fatal(err)
	}
	// Zeros (preallocated space) are not a tear; random bytes are.
	end := last.pos + int64(last.size)
	if _, err := f.WriteAt(make([]byte, 500), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := mustOpen(t, testOptions(fs, dir))
	if l.LogEndOffset() != last.base+2 || l.Stats().TornTailBytes != 0 {
		t.Fatalf("zero tail: end %d stats %+v", l.LogEndOffset(), l.Stats())
	}
	l.closing.Store(true)
	f, _ = fs.OpenReadWrite(last.path)
	if _, err := f.WriteAt([]byte("garbage that is not a batch at all, not even close"), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l = mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	if l.LogEndOffset() != last.base+2 || l.Stats().TornTailBytes == 0 {
		t.Fatalf("garbage tail: end %d stats %+v", l.LogEndOffset(), l.Stats())
	}
}

func TestIndexRebuiltWhenItDisagrees(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	locs := writeLog(t, fs, dir, 40, true)
	first := locs[0].path
	indexPath := first[:len(first)-len(logSuffix)] + indexSuffix
	// Point the first entry (checked at open: rebuilt) and a middle one
	// (checked when a read uses it) somewhere wrong.
	f, err := fs.OpenReadWrite(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 1, 0, 0, 0, 7}, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l := mustOpen(t, testOptions(fs, dir))
	checkReads(t, l, locs)
	l.Close()
	f, err = fs.OpenReadWrite(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 4, 0, 0, 0, 9}, offsetEntrySize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l = mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	checkReads(t, l, locs)
}

func checkReads(t *testing.T, l *Log, locs []batchLoc) {
	t.Helper()
	got := readAll(t, l)
	if len(got) != 80 {
		t.Fatalf("read %d records after index rebuild", len(got))
	}
	for _, loc := range locs {
		res, err := l.Read(loc.base, 1)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := record.ParseHeader(res.Data); h.BaseOffset != loc.base {
			t.Fatalf("Read(%d) starts at %d", loc.base, h.BaseOffset)
		}
	}
}

func TestRetention(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	now := time.UnixMilli(100_000_000)
	opts := testOptions(fs, dir)
	opts.RetentionTime = time.Hour
	opts.Now = func() time.Time { return now }
	l := mustOpen(t, opts)
	defer l.Close()
	// Old records (two hours ago) then new ones.
	old := now.Add(-2 * time.Hour).UnixMilli()
	for i := 0; i < 30; i++ {
		if _, err := l.Append(makeBatch(i, 2, 100, old)); err != nil {
			t.Fatal(err)
		}
	}
	oldEnd := l.LogEndOffset()
	for i := 30; i < 60; i++ {
		if _, err := l.Append(makeBatch(i, 2, 100, now.UnixMilli())); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.SegmentCount()
	n, err := l.EnforceRetention(now)
	if err != nil || n == 0 {
		t.Fatalf("retention deleted %d, %v", n, err)
	}
	start := l.LogStartOffset()
	if start > oldEnd || start == 0 || l.SegmentCount() != segs-n {
		t.Fatalf("log start %d (old data ended at %d), %d segments", start, oldEnd, l.SegmentCount())
	}
	// Whole segments only: the new log start is a segment base and reads
	// below it say where the valid range is.
	if _, err := l.Read(0, 100); !isOffsetRange(err, start, l.LogEndOffset()) {
		t.Fatalf("read below log start: %v", err)
	}
	got := readAll(t, l)
	if got[0].offset != start || got[len(got)-1].offset != l.LogEndOffset()-1 {
		t.Fatal("retention broke the remaining log")
	}
	// Size retention keeps at most RetentionBytes (plus the active segment).
	l.Close()
	opts.RetentionTime = -1
	opts.RetentionBytes = 5000
	l = mustOpen(t, opts)
	if l.LogStartOffset() != start {
		t.Fatalf("log start after reopen %d, want %d", l.LogStartOffset(), start)
	}
	if _, err := l.EnforceRetention(now); err != nil {
		t.Fatal(err)
	}
	if size := l.SizeBytes(); size > 5000+4096 {
		t.Fatalf("size %d after size retention", size)
	}
	// Nothing more goes when nothing is due.
	if n, err := l.EnforceRetention(now); n != 0 || err != nil {
		t.Fatalf("second retention pass deleted %d, %v", n, err)
	}
}
