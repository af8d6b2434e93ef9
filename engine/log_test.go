package engine

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
)

func TestAppendReadRoundTrip(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fs, dir := fc.new(t)
			l := mustOpen(t, testOptions(fs, dir))
			var want []appended
			for i := 0; i < 60; i++ {
				batch := makeBatch(i, 1+i%5, 40+i%30, int64(1000+i))
				vals := batchValues(t, batch)
				res, err := l.Append(batch)
				if err != nil {
					t.Fatalf("Append %d: %v", i, err)
				}
				if res.LastOffset-res.BaseOffset+1 != int64(len(vals)) {
					t.Fatalf("Append %d: offsets %d..%d for %d records", i, res.BaseOffset, res.LastOffset, len(vals))
				}
				want = append(want, appended{res.BaseOffset, vals})
			}
			if l.SegmentCount() < 3 {
				t.Fatalf("expected several segments with 4 KiB segments, got %d", l.SegmentCount())
			}
			got := readAll(t, l)
			expectPrefix(t, got, want)
			last := want[len(want)-1]
			if end := l.LogEndOffset(); end != last.base+int64(len(last.values)) || int64(len(got)) != end {
				t.Fatalf("log end %d, read %d records, last batch ends at %d", end, len(got), last.base+int64(len(last.values)))
			}
			// Reading from every offset starts with the batch holding it.
			for _, r := range got {
				res, err := l.Read(r.offset, 1)
				if err != nil {
					t.Fatalf("Read(%d): %v", r.offset, err)
				}
				h, err := record.Verify(res.Data)
				if err != nil || h.BaseOffset > r.offset || h.LastOffset() < r.offset || h.Size() != len(res.Data) {
					t.Fatalf("Read(%d, 1) = batch %d..%d (%v), size %d of %d", r.offset, h.BaseOffset, h.LastOffset(), err, h.Size(), len(res.Data))
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// A clean reopen trusts the indexes and reads the same log.
			l2 := mustOpen(t, testOptions(fs, dir))
			defer l2.Close()
			if !l2.OpenedClean() {
				t.Fatal("reopen after Close should be clean")
			}
			expectPrefix(t, readAll(t, l2), want)
			res, err := l2.Append(makeBatch(999, 2, 10, 5000))
			if err != nil || res.BaseOffset != last.base+int64(len(last.values)) {
				t.Fatalf("append after reopen at %d (%v), want %d", res.BaseOffset, err, last.base+int64(len(last.values)))
			}
		})
	}
}

func TestReadBounds(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	for i := 0; i < 20; i++ {
		if _, err := l.Append(makeBatch(i, 3, 50, 100)); err != nil {
			t.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	if _, err := l.Read(end+1, 100); !isOffsetRange(err, 0, end) {
		t.Fatalf("read past end: %v", err)
	}
	if _, err := l.Read(-1, 100); !isOffsetRange(err, 0, end) {
		t.Fatalf("read below start: %v", err)
	}
	res, err := l.Read(end, 100)
	if err != nil || len(res.Data) != 0 || res.NextOffset != end {
		t.Fatalf("read at end: %d bytes, next %d, %v", len(res.Data), res.NextOffset, err)
	}
	// The limit (high watermark) is exclusive and respected exactly.
	res, err = l.ReadUpTo(0, 1<<20, 9)
	if err != nil {
		t.Fatal(err)
	}
	var last int64 = -1
	for pos := 0; pos < len(res.Data); {
		h, err := record.Verify(res.Data[pos:])
		if err != nil {
			t.Fatal(err)
		}
		last = h.LastOffset()
		pos += h.Size()
	}
	if last != 8 || res.NextOffset != 9 {
		t.Fatalf("ReadUpTo(limit 9) ended at %d, next %d", last, res.NextOffset)
	}
	// A limit inside a batch excludes the batch.
	res, err = l.ReadUpTo(9, 1<<20, 10)
	if err != nil || len(res.Data) != 0 {
		t.Fatalf("ReadUpTo(9, limit 10) returned %d bytes, %v", len(res.Data), err)
	}
	// maxBytes smaller than a batch still returns that one batch.
	res, err = l.Read(3, 1)
	if h, verr := record.Verify(res.Data); err != nil || verr != nil || h.Size() != len(res.Data) || h.BaseOffset != 3 {
		t.Fatalf("Read(3, 1): %v %v", err, verr)
	}
}

func TestReadRegionSendfile(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fs, dir := fc.new(t)
			l := mustOpen(t, testOptions(fs, dir))
			defer l.Close()
			for i := 0; i < 30; i++ {
				if _, err := l.Append(makeBatch(i, 4, 60, 100)); err != nil {
					t.Fatal(err)
				}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			received := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					received <- nil
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c)
				received <- b
			}()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			var sent []byte
			for off := int64(0); off < l.LogEndOffset(); {
				region, err := l.ReadRegion(off, 700, -1)
				if err != nil {
					t.Fatal(err)
				}
				copyRes, err := l.ReadUpTo(off, 700, -1)
				if err != nil {
					t.Fatal(err)
				}
				if copyRes.NextOffset != region.NextOffset || int64(len(copyRes.Data)) != region.Length {
					t.Fatalf("region and copy read disagree at %d", off)
				}
				if _, err := region.SendTo(conn); err != nil {
					t.Fatal(err)
				}
				region.Release()
				sent = append(sent, copyRes.Data...)
				off = region.NextOffset
			}
			conn.Close()
			if got := <-received; !equalBytes(got, sent) {
				t.Fatalf("sendfile delivered %d bytes, copy path %d", len(got), len(sent))
			}
		})
	}
}

func TestReadAtTime(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	// Batch i holds records with timestamps 1000*i + 0..2.
	for i := 0; i < 40; i++ {
		if _, err := l.Append(makeBatch(i, 3, 80, int64(1000*i))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts   int64
		want int64
		ok   bool
	}{
		{-5, 0, true}, {0, 0, true}, {1, 1, true}, {2, 2, true}, {3, 3, true},
		{17001, 52, true}, {39002, 119, true}, {39003, 0, false},
	}
	for _, c := range cases {
		got, ok, err := l.ReadAtTime(c.ts)
		if err != nil || ok != c.ok || (ok && got != c.want) {
			t.Errorf("ReadAtTime(%d) = %d, %v, %v; want %d, %v", c.ts, got, ok, err, c.want, c.ok)
		}
	}
	// The same after a clean reopen (sealed segments from their indexes).
	l.Close()
	l = mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	for _, c := range cases {
		got, ok, err := l.ReadAtTime(c.ts)
		if err != nil || ok != c.ok || (ok && got != c.want) {
			t.Errorf("after reopen ReadAtTime(%d) = %d, %v, %v; want %d, %v", c.ts, got, ok, err, c.want, c.ok)
		}
	}
}

func TestTruncateTo(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fs, dir := fc.new(t)
			l := mustOpen(t, testOptions(fs, dir))
			var want []appended
			for i := 0; i < 50; i++ {
				batch := makeBatch(i, 2, 70, 100)
				vals := batchValues(t, batch)
				res, err := l.Append(batch)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, appended{res.BaseOffset, vals})
			}
			segsBefore := l.SegmentCount()
			// Offset 31 is inside batch 15 (offsets 30, 31): the batch goes.
			if err := l.TruncateTo(31); err != nil {
				t.Fatal(err)
			}
			if end := l.LogEndOffset(); end != 30 {
				t.Fatalf("log end after TruncateTo(31) = %d, want 30", end)
			}
			if l.SegmentCount() >= segsBefore {
				t.Fatalf("segments after truncation %d, before %d", l.SegmentCount(), segsBefore)
			}
			got := readAll(t, l)
			if len(got) != 30 {
				t.Fatalf("read %d records after truncation", len(got))
			}
			expectPrefix(t, got, want[:15])
			// Appends continue densely and a new batch replaces the old data.
			batch := makeBatch(1000, 3, 70, 200)
			res, err := l.Append(batch)
			if err != nil || res.BaseOffset != 30 {
				t.Fatalf("append after truncate at %d, %v", res.BaseOffset, err)
			}
			want = append(want[:15], appended{30, batchValues(t, batch)})
			expectPrefix(t, readAll(t, l), want)
			if err := l.TruncateTo(-1); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("TruncateTo(-1): %v", err)
			}
			// Truncation survives an unclean restart (no Close).
			l.closing.Store(true)
			l2 := mustOpen(t, testOptions(fs, dir))
			defer l2.Close()
			if l2.LogEndOffset() != 33 {
				t.Fatalf("log end after reopen %d, want 33", l2.LogEndOffset())
			}
			expectPrefix(t, readAll(t, l2), want)
			if err := l2.TruncateFullyAndStartAt(500); err != nil {
				t.Fatal(err)
			}
			if s, e, d := l2.Offsets(); s != 500 || e != 500 || d != 500 {
				t.Fatalf("after TruncateFullyAndStartAt(500): %d %d %d", s, e, d)
			}
			res, err = l2.Append(makeBatch(1, 1, 10, 0))
			if err != nil || res.BaseOffset != 500 {
				t.Fatalf("append after full truncation: %d %v", res.BaseOffset, err)
			}
		})
	}
}

func TestAppendReplicaRequiresDenseOffsets(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	b := makeBatch(0, 3, 10, 0)
	record.SetBaseOffset(b, 0)
	if _, err := l.AppendReplica(b); err != nil {
		t.Fatal(err)
	}
	b2 := makeBatch(1, 2, 10, 0)
	record.SetBaseOffset(b2, 5)
	if _, err := l.AppendReplica(b2); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("gap accepted: %v", err)
	}
	record.SetBaseOffset(b2, 3)
	if res, err := l.AppendReplica(b2); err != nil || res.BaseOffset != 3 {
		t.Fatalf("dense replica append: %v", err)
	}
	bad := makeBatch(2, 2, 10, 0)
	bad[len(bad)-1] ^= 0xff
	if _, err := l.Append(bad); !errors.Is(err, ErrInvalidBatch) || !errors.Is(err, record.ErrChecksum) {
		t.Fatalf("corrupt batch accepted: %v", err)
	}
	if _, err := l.Append(append(makeBatch(3, 1, 10, 0), 0)); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
	huge := makeBatch(4, 10, 500, 0)
	if _, err := l.Append(huge); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("batch larger than a segment accepted: %v", err)
	}
	if l.LogEndOffset() != 5 {
		t.Fatalf("rejected appends changed the log end: %d", l.LogEndOffset())
	}
}

// TestGroupCommitConcurrent runs many appenders at sync=always: offsets
// must be unique and dense, and appends must share fsyncs.
func TestGroupCommitConcurrent(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	opts := testOptions(fs, dir)
	opts.SegmentBytes = 1 << 20
	opts.Sync = SyncPolicyAlways
	l := mustOpen(t, opts)
	defer l.Close()
	const appenders, each = 16, 50
	var mu sync.Mutex
	var want []appended
	var wg sync.WaitGroup
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				batch := makeBatch(a*1000+i, 2, 30, 0)
				vals := batchValues(t, batch)
				res, err := l.Append(batch)
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Durable {
					t.Error("sync=always append returned before it was durable")
				}
				mu.Lock()
				want = append(want, appended{res.BaseOffset, vals})
				mu.Unlock()
			}
		}(a)
	}
	wg.Wait()
	got := readAll(t, l)
	if len(got) != appenders*each*2 {
		t.Fatalf("read %d records, want %d", len(got), appenders*each*2)
	}
	expectPrefix(t, got, want)
	st := l.Stats()
	if st.Appends != appenders*each || st.Syncs > st.GroupCommits || st.Syncs == 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, e, d := l.Offsets(); d != e {
		t.Fatalf("durable end %d != log end %d under sync=always", d, e)
	}
}

func TestChangedNotifies(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any append")
	default:
	}
	if _, err := l.Append(makeBatch(0, 1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("append did not signal Changed")
	}
}

func TestSyncPolicies(t *testing.T) {
	cases := []struct {
		policy      SyncPolicy
		wantDurable bool
	}{
		{SyncPolicyAlways, true},
		{SyncPolicyNever, false},
		{SyncPolicy{Mode: SyncBytes, Bytes: 1}, true},
		{SyncPolicy{Mode: SyncBytes, Bytes: 1 << 30}, false},
	}
	for _, c := range cases {
		t.Run(c.policy.String(), func(t *testing.T) {
			fs, dir := fsCases[0].new(t)
			opts := testOptions(fs, dir)
			opts.Sync = c.policy
			l := mustOpen(t, opts)
			defer l.Close()
			res, err := l.Append(makeBatch(0, 2, 10, 0))
			if err != nil {
				t.Fatal(err)
			}
			if res.Durable != c.wantDurable {
				t.Fatalf("Durable = %v", res.Durable)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, e, d := l.Offsets(); d != e {
				t.Fatalf("after Sync durable %d != end %d", d, e)
			}
		})
	}
	t.Run("interval", func(t *testing.T) {
		fs, dir := fsCases[0].new(t)
		opts := testOptions(fs, dir)
		opts.Sync = SyncPolicy{Mode: SyncInterval, Interval: time.Millisecond}
		l := mustOpen(t, opts)
		defer l.Close()
		if _, err := l.Append(makeBatch(0, 2, 10, 0)); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for {
			if _, e, d := l.Offsets(); d == e {
				return
			}
			select {
			case <-l.Changed():
			case <-deadline:
				t.Fatal("the interval flusher never synced")
			}
		}
	})
	for _, s := range []string{"always", "never", "interval=250ms", "bytes=4096"} {
		p, err := ParseSyncPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "sometimes", "interval=", "interval=-1s", "bytes=0", "bytes=x"} {
		if _, err := ParseSyncPolicy(s); err == nil {
			t.Errorf("ParseSyncPolicy(%q) accepted", s)
		}
	}
}

func TestSegmentAgeRoll(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	now := time.Unix(1_000_000, 0)
	opts := testOptions(fs, dir)
	opts.SegmentBytes = 1 << 20
	opts.SegmentMaxAge = time.Hour
	opts.Now = func() time.Time { return now }
	l := mustOpen(t, opts)
	defer l.Close()
	for i := 0; i < 3; i++ {
		if _, err := l.Append(makeBatch(i, 1, 10, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if l.SegmentCount() != 1 {
		t.Fatalf("rolled early: %d segments", l.SegmentCount())
	}
	now = now.Add(time.Hour)
	if _, err := l.Append(makeBatch(9, 1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 2 {
		t.Fatalf("no age roll: %d segments", l.SegmentCount())
	}
}

func TestMetaFiles(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fs, dir := fc.new(t)
			l := mustOpen(t, testOptions(fs, dir))
			defer l.Close()
			if _, err := l.ReadMeta("leader-epoch-checkpoint"); err == nil {
				t.Fatal("missing meta file read without error")
			}
			for _, v := range []string{"epoch 1 at 0", "epoch 2 at 17"} {
				if err := l.WriteMeta("leader-epoch-checkpoint", []byte(v)); err != nil {
					t.Fatal(err)
				}
				got, err := l.ReadMeta("leader-epoch-checkpoint")
				if err != nil || string(got) != v {
					t.Fatalf("ReadMeta = %q, %v", got, err)
				}
			}
			for _, bad := range []string{"", "../x", "00000000000000000000.log", ".clean-shutdown", "a.tmp"} {
				if err := l.WriteMeta(bad, nil); err == nil {
					t.Errorf("WriteMeta(%q) accepted", bad)
				}
			}
			// A damaged file is reported, not returned.
			f, err := fs.OpenReadWrite(dir + "/leader-epoch-checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{'X'}, metaHeaderSize); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if _, err := l.ReadMeta("leader-epoch-checkpoint"); !errors.Is(err, ErrMetaCorrupt) {
				t.Fatalf("corrupt meta: %v", err)
			}
		})
	}
}

func TestBlockCache(t *testing.T) {
	cache, err := NewBlockCache(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	fs, dir := fsCases[0].new(t)
	opts := testOptions(fs, dir)
	opts.SegmentBytes = 4 << 20
	opts.Cache = cache
	l := mustOpen(t, opts)
	defer l.Close()
	for i := 0; i < 400; i++ {
		if _, err := l.Append(makeBatch(i, 4, 200, 0)); err != nil {
			t.Fatal(err)
		}
	}
	first := readAll(t, l)
	cache.Wait()
	before := cache.Stats()
	second := readAll(t, l)
	after := cache.Stats()
	if len(first) != len(second) {
		t.Fatal("cached read differs")
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("cached read differs at %d", i)
		}
	}
	if before.Misses == 0 || after.Hits <= before.Hits {
		t.Fatalf("cache stats before %+v after %+v: expected misses then hits", before, after)
	}
	if _, err := NewBlockCache(10); err == nil {
		t.Fatal("tiny budget accepted")
	}
}

func TestReconfigure(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	now := time.UnixMilli(50_000_000)
	opts := testOptions(fs, dir)
	opts.SegmentBytes = 1 << 20
	opts.Now = func() time.Time { return now }
	l := mustOpen(t, opts)
	defer l.Close()
	big := makeBatch(1, 20, 200, now.UnixMilli()) // > 4 KiB
	if _, err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	small := int64(4096)
	always := SyncPolicyAlways
	if err := l.Reconfigure(Reconfig{SegmentBytes: &small, Sync: &always}); err != nil {
		t.Fatal(err)
	}
	if l.SyncPolicy() != SyncPolicyAlways {
		t.Fatal("sync policy not changed")
	}
	res, err := l.Append(makeBatch(2, 1, 10, now.UnixMilli()))
	if err != nil || !res.Durable {
		t.Fatalf("append after reconfigure: durable=%v %v", res.Durable, err)
	}
	if _, err := l.Append(makeBatch(3, 20, 200, 0)); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("batch over the new segment size: %v", err)
	}
	for i := 0; i < 20; i++ {
		if _, err := l.Append(makeBatch(10+i, 2, 100, now.UnixMilli())); err != nil {
			t.Fatal(err)
		}
	}
	if l.SegmentCount() < 3 {
		t.Fatalf("smaller segments did not roll: %d", l.SegmentCount())
	}
	// The old, larger batch still reads back after a reopen with the
	// smaller segment size.
	l.Close()
	opts.SegmentBytes = small
	l = mustOpen(t, opts)
	if got := readAll(t, l); len(got) != 20+1+40 {
		t.Fatalf("read %d records", len(got))
	}
	bad := int64(10)
	if err := l.Reconfigure(Reconfig{SegmentBytes: &bad}); err == nil {
		t.Fatal("invalid segment size accepted")
	}
}

func TestAdvanceLogStart(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fs, dir := fc.new(t)
			opts := testOptions(fs, dir)
			l := mustOpen(t, opts)
			for i := 0; i < 40; i++ {
				if _, err := l.Append(makeBatch(i, 2, 100, int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			segs := l.SegmentCount()
			end := l.LogEndOffset()
			if err := l.AdvanceLogStart(end + 1); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("beyond the end: %v", err)
			}
			if err := l.AdvanceLogStart(45); err != nil {
				t.Fatal(err)
			}
			if l.LogStartOffset() != 45 || l.SegmentCount() >= segs {
				t.Fatalf("log start %d, segments %d (before %d)", l.LogStartOffset(), l.SegmentCount(), segs)
			}
			if _, err := l.Read(44, 100); !isOffsetRange(err, 45, end) {
				t.Fatalf("read below the new start: %v", err)
			}
			res, err := l.Read(45, 100)
			if err != nil || len(res.Data) == 0 {
				t.Fatalf("read at the new start: %v", err)
			}
			if err := l.AdvanceLogStart(10); err != nil || l.LogStartOffset() != 45 {
				t.Fatalf("moving backwards: %v, start %d", err, l.LogStartOffset())
			}
			// Survives a clean and an unclean restart.
			l.Close()
			l = mustOpen(t, opts)
			if l.LogStartOffset() != 45 {
				t.Fatalf("after reopen log start %d", l.LogStartOffset())
			}
			l.closing.Store(true)
			l = mustOpen(t, opts)
			defer l.Close()
			if l.LogStartOffset() != 45 {
				t.Fatalf("after unclean reopen log start %d", l.LogStartOffset())
			}
			if err := l.TruncateFullyAndStartAt(100); err != nil || l.LogStartOffset() != 100 {
				t.Fatalf("truncate fully: %v %d", err, l.LogStartOffset())
			}
		})
	}
}

func TestAppendReplicasOneGroupOneSync(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	opts := testOptions(fs, dir)
	opts.Sync = SyncPolicy{Mode: SyncAlways}
	opts.SegmentBytes = 1 << 20
	l := mustOpen(t, opts)
	defer l.Close()
	var batches [][]byte
	next := int64(0)
	for i := range 5 {
		b := makeBatch(i, 2, 10, 0)
		record.SetBaseOffset(b, next)
		next += 2
		batches = append(batches, b)
	}
	before := l.Stats().Syncs
	res, err := l.AppendReplicas(batches)
	if err != nil || len(res) != 5 {
		t.Fatalf("AppendReplicas: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.BaseOffset != int64(2*i) || !r.Durable {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if got := l.Stats().Syncs - before; got != 1 {
		t.Fatalf("%d fsyncs for one AppendReplicas, want 1", got)
	}
	if l.DurableEndOffset() != 10 {
		t.Fatalf("durable end %d, want 10", l.DurableEndOffset())
	}
	// A single batch (the expansion must not mistake it for a plain
	// request).
	one := makeBatch(9, 1, 10, 0)
	record.SetBaseOffset(one, 10)
	if res, err := l.AppendReplicas([][]byte{one}); err != nil || len(res) != 1 || l.LogEndOffset() != 11 {
		t.Fatalf("one batch: %v %v, log end %d", res, err, l.LogEndOffset())
	}
	next = 11
	// A gap in the middle: the prefix is written, the rest refused.
	a, gap := makeBatch(10, 1, 10, 0), makeBatch(11, 1, 10, 0)
	record.SetBaseOffset(a, next)
	record.SetBaseOffset(gap, next+2)
	res, err = l.AppendReplicas([][]byte{a, gap})
	if !errors.Is(err, ErrOffsetMismatch) || len(res) != 1 || res[0].BaseOffset != next {
		t.Fatalf("gap: %v results, %v", res, err)
	}
	if l.LogEndOffset() != next+1 {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), next+1)
	}
	bad := makeBatch(12, 1, 10, 0)
	record.SetBaseOffset(bad, next+1)
	bad[len(bad)-1] ^= 1
	if _, err := l.AppendReplicas([][]byte{bad}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("corrupt batch accepted: %v", err)
	}
	got := readAll(t, l)
	if len(got) != 12 {
		t.Fatalf("read back %d records, want 12", len(got))
	}
}

func TestAbandonLeavesNoCleanMarker(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	if _, err := l.Append(makeBatch(0, 3, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(makeBatch(1, 1, 10, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Abandon: %v", err)
	}
	l2 := mustOpen(t, testOptions(fs, dir))
	defer l2.Close()
	if l2.OpenedClean() {
		t.Fatal("a log abandoned like a crash reopened as cleanly shut down")
	}
	if got := readAll(t, l2); len(got) != 3 {
		t.Fatalf("read %d records after reopening, want the 3 written (the page cache survives)", len(got))
	}
}
