package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// quietLogger keeps recovery warnings out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// fsCase is one file system the engine tests run on.
type fsCase struct {
	name string
	new  func(t *testing.T) (vfs.FS, string)
}

var fsCases = []fsCase{
	{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/data/p0" }},
	{"os", func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() }},
}

// testOptions are small enough that a few dozen appends roll segments and
// write index entries.
func testOptions(fs vfs.FS, dir string) Options {
	return Options{
		FS:                     fs,
		Dir:                    dir,
		SegmentBytes:           4096,
		IndexIntervalBytes:     256,
		RetentionCheckInterval: -1,
		Logger:                 quietLogger,
	}
}

func mustOpen(t testing.TB, opts Options) *Log {
	t.Helper()
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// makeBatch builds a batch of n records whose values name (id, i), so every
// record in a test is unique and checkable.
func makeBatch(id, n, valueSize int, ts int64) []byte {
	b := record.NewBuilder(record.DefaultBuilderOptions())
	for i := 0; i < n; i++ {
		v := fmt.Appendf(nil, "batch-%d-rec-%d;", id, i)
		for len(v) < valueSize {
			v = append(v, byte('a'+(id+i+len(v))%26))
		}
		b.Append(ts+int64(i), fmt.Appendf(nil, "k%d", i), v, nil)
	}
	return b.Build()
}

// readRecord is one record read back, with its offset.
type readRecord struct {
	offset int64
	value  string
}

// readAll reads every record of the log from its start through the copy
// path and checks that batches are whole and offsets dense.
func readAll(t testing.TB, l *Log) []readRecord {
	t.Helper()
	start, end, _ := l.Offsets()
	var out []readRecord
	for off := start; off < end; {
		res, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("Read(%d) returned nothing below the log end %d", off, end)
		}
		for pos := 0; pos < len(res.Data); {
			b, err := record.Decode(res.Data[pos:])
			if err != nil {
				t.Fatalf("decode at %d: %v", pos, err)
			}
			for _, r := range b.Records {
				o := b.BaseOffset + int64(r.OffsetDelta)
				if o >= off {
					if len(out) > 0 && o != out[len(out)-1].offset+1 {
						t.Fatalf("offset %d follows %d: not dense", o, out[len(out)-1].offset)
					}
					out = append(out, readRecord{o, string(r.Value)})
				}
			}
			pos += b.Size()
		}
		if res.NextOffset <= off {
			t.Fatalf("Read(%d) did not advance (next %d)", off, res.NextOffset)
		}
		off = res.NextOffset
	}
	return out
}

// appended remembers what a test appended, to compare with what it reads.
type appended struct {
	base   int64
	values []string
}

func batchValues(t testing.TB, batch []byte) []string {
	t.Helper()
	b, err := record.Decode(batch)
	if err != nil {
		t.Fatalf("decode own batch: %v", err)
	}
	var vs []string
	for _, r := range b.Records {
		vs = append(vs, string(r.Value))
	}
	return vs
}

// expectPrefix checks that got starts with every record of want, at the
// same offsets.
func expectPrefix(t testing.TB, got []readRecord, want []appended) {
	t.Helper()
	byOffset := map[int64]string{}
	for _, r := range got {
		byOffset[r.offset] = r.value
	}
	for _, a := range want {
		for i, v := range a.values {
			o := a.base + int64(i)
			g, ok := byOffset[o]
			if !ok {
				t.Fatalf("acknowledged record at offset %d (%q) is missing", o, v)
			}
			if g != v {
				t.Fatalf("offset %d holds %q, want %q", o, g, v)
			}
		}
	}
}

func isOffsetRange(err error, start, end int64) bool {
	var re *OffsetRangeError
	return errors.As(err, &re) && re.LogStartOffset == start && re.LogEndOffset == end && errors.Is(err, ErrOffsetOutOfRange)
}

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }
