package engine

import (
	"errors"
	"testing"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// FuzzRecover opens a log whose only segment holds arbitrary bytes. Open
// must never panic and must either refuse with a typed error or produce a
// log whose every batch verifies, whose offsets are dense, and that takes
// appends. Allocation is bounded by the file: the scanner never reads more
// than the file holds and never trusts a declared length past its end.
func FuzzRecover(f *testing.F) {
	var valid []byte
	for i := 0; i < 4; i++ {
		b := makeBatch(i, 1+i, 30, int64(i))
		record.SetBaseOffset(b, int64(i*(i+1)/2))
		valid = append(valid, b...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-9])
	flipped := append([]byte(nil), valid...)
	flipped[100] ^= 1
	f.Add(flipped)
	f.Add(append(append([]byte(nil), valid...), make([]byte, 300)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("/p"); err != nil {
			t.Fatal(err)
		}
		seg, err := fs.Create("/p/00000000000000000000.log")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seg.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		seg.Close()
		opts := Options{FS: fs, Dir: "/p", SegmentBytes: 1 << 20, IndexIntervalBytes: 64, RetentionCheckInterval: -1, Logger: quietLogger}
		l, err := Open(opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed with an untyped error: %v", err)
			}
			return
		}
		defer l.Close()
		start, end, _ := l.Offsets()
		for off := start; off < end; {
			res, err := l.Read(off, 1<<16)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			if err := verifyBatches(res.Data); err != nil {
				t.Fatalf("served a bad batch: %v", err)
			}
			off = res.NextOffset
		}
		res, err := l.Append(makeBatch(9, 2, 5, 0))
		if err != nil || res.BaseOffset != end {
			t.Fatalf("append after recovery: %d %v (end %d)", res.BaseOffset, err, end)
		}
	})
}
