package engine

import (
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// TestPowerLossThroughVolatileFS runs the log on the volatile FS (the
// file layer of the process-level power-loss fault) and "loses power" by
// abandoning the process's memory: under sync=always every acknowledged
// append survives; under sync=never the log recovers to a clean prefix
// that lacks the unsynced tail.
func TestPowerLossThroughVolatileFS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy SyncPolicy
	}{{"always", SyncPolicyAlways}, {"never", SyncPolicyNever}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := vfs.Volatile(vfs.Default)
			opts := testOptions(fs, dir)
			opts.Sync = tc.policy
			l := mustOpen(t, opts)
			var acked []appended
			for i := range 60 {
				batch := makeBatch(i, 1+i%3, 90, int64(i))
				res, err := l.Append(batch)
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, appended{res.BaseOffset, batchValues(t, batch)})
			}
			_, end, _ := l.Offsets()
			fs.PowerOff() // the process dies: its unsynced writes with it
			_ = l.Abandon()

			opts.FS = vfs.Volatile(vfs.Default) // the next boot
			l2 := mustOpen(t, opts)
			defer l2.Close()
			got := readAll(t, l2)
			switch tc.policy.Mode {
			case SyncAlways:
				expectPrefix(t, got, acked)
			default:
				if int64(len(got)) >= end {
					t.Fatalf("sync=never kept all %d records through a power loss: the unsynced tail should be gone", end)
				}
				// What survived is a prefix of what was written.
				expectPrefix(t, got, prefixOf(acked, len(got)))
			}
		})
	}
}

// prefixOf returns the appends wholly within the first n records.
func prefixOf(as []appended, n int) []appended {
	var out []appended
	for _, a := range as {
		if a.base+int64(len(a.values)) <= int64(n) {
			out = append(out, a)
		}
	}
	return out
}
