package brokertest

import (
	"testing"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// ReadValues reads every record value of a replica's log directory (of a
// stopped broker: <data dir>/logs/<topic>-<partition>) straight from the
// engine, in offset order, control batches left out.
func ReadValues(t testing.TB, dir string) []string {
	t.Helper()
	l, err := engine.Open(engine.Options{FS: vfs.Default, Dir: dir, RetentionCheckInterval: -1})
	if err != nil {
		t.Fatalf("brokertest: open %s: %v", dir, err)
	}
	defer l.Close()
	var out []string
	start, end, _ := l.Offsets()
	for off := start; off < end; {
		res, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("brokertest: read %s at %d: %v", dir, off, err)
		}
		for pos := 0; pos < len(res.Data); {
			h, err := record.ParseHeader(res.Data[pos:])
			if err != nil {
				t.Fatalf("brokertest: %s: %v", dir, err)
			}
			if h.Attributes.IsControl() {
				pos += h.Size() // leader-change markers: not values
				continue
			}
			if err := record.ForEachRecord(res.Data[pos:pos+h.Size()], func(r record.Record) error {
				out = append(out, string(r.Value))
				return nil
			}); err != nil {
				t.Fatalf("brokertest: %s: %v", dir, err)
			}
			pos += h.Size()
		}
		off = res.NextOffset
	}
	return out
}

// CheckAcked fails the test unless every acknowledged value is in got
// exactly once and in the order acknowledged (values not acknowledged may
// be there too: their producer gave up on them, not the broker).
func CheckAcked(t testing.TB, who string, got, acked []string) {
	t.Helper()
	pos := map[string]int{}
	for i, v := range got {
		if _, dup := pos[v]; dup {
			t.Fatalf("%s holds %q twice", who, v)
		}
		pos[v] = i
	}
	last := -1
	for _, v := range acked {
		i, ok := pos[v]
		if !ok {
			t.Fatalf("%s lost acknowledged %q (holds %d records)", who, v, len(got))
		}
		if i < last {
			t.Fatalf("%s holds acknowledged %q out of order", who, v)
		}
		last = i
	}
}
