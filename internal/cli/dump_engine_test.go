package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// TestDumpReadsWhatTheEngineWrote runs `sluice dump --verify` over a log
// directory written by the engine itself (several segments, their index
// files, the clean-shutdown marker), then over the same log with one byte
// flipped in a sealed segment.
func TestDumpReadsWhatTheEngineWrote(t *testing.T) {
	dir := t.TempDir()
	l, err := engine.Open(engine.Options{FS: vfs.Default, Dir: dir, SegmentBytes: 8192, IndexIntervalBytes: 512, RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := buildSegment(t, 0, 40, 3)
	batches := splitBatches(t, seg)
	var firstPos, firstBase int64 = -1, -1
	for i, b := range batches {
		res, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			r, err := l.ReadRegion(res.BaseOffset, 1, -1)
			if err != nil {
				t.Fatal(err)
			}
			firstPos, firstBase = r.Position, res.BaseOffset
			r.Release()
		}
	}
	segments := l.SegmentCount()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if segments < 2 {
		t.Fatalf("want several segments, got %d", segments)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"dump", dir, "--verify"}, &stdout, &stderr); code != 0 {
		t.Fatalf("dump of a healthy engine log exited %d: %s", code, stderr.String())
	}
	if got := len(rows(stdout.String())); got != len(batches) {
		t.Fatalf("dump listed %d batches, the engine wrote %d:\n%s", got, len(batches), stdout.String())
	}
	// Flip one byte of batch 5's records.
	path := segmentName(dir, 0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[firstPos+70] ^= 0x40
	writeFile(t, path, data)
	stdout.Reset()
	stderr.Reset()
	if code := Main([]string{"dump", dir, "--verify"}, &stdout, &stderr); code != 1 {
		t.Fatalf("dump of a damaged log exited %d", code)
	}
	want := fmt.Sprintf("position %d offset %d", firstPos, firstBase)
	if !strings.Contains(stderr.String(), want) {
		t.Fatalf("dump did not locate the damage (%s):\n%s", want, stderr.String())
	}
}

// splitBatches cuts a concatenation of batches into separate slices.
func splitBatches(t *testing.T, seg []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for pos := 0; pos < len(seg); {
		n := int(uint32(seg[pos+8])<<24|uint32(seg[pos+9])<<16|uint32(seg[pos+10])<<8|uint32(seg[pos+11])) + 12
		out = append(out, append([]byte(nil), seg[pos:pos+n]...))
		pos += n
	}
	return out
}
