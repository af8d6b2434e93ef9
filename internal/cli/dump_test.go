package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// testBatch is one batch written into a test segment.
type testBatch struct {
	pos, size int64
	base      int64
	records   int
}

// buildSegment encodes nBatches batches of recordsPer records each, with
// contiguous offsets starting at base, and returns the bytes and the batches.
func buildSegment(t *testing.T, base int64, nBatches, recordsPer int) ([]byte, []testBatch) {
	t.Helper()
	var seg []byte
	var batches []testBatch
	off := base
	for i := 0; i < nBatches; i++ {
		b := record.NewBuilder(record.DefaultBuilderOptions())
		for j := 0; j < recordsPer; j++ {
			key := []byte(fmt.Sprintf("key-%d", off+int64(j)))
			value := bytes.Repeat([]byte{byte('a' + j%26)}, 100+j)
			b.Append(1_700_000_000_000+off+int64(j), key, value, []record.RecordHeader{{Key: "h", Value: []byte("v")}})
		}
		buf := b.Build()
		record.SetBaseOffset(buf, off)
		batches = append(batches, testBatch{pos: int64(len(seg)), size: int64(len(buf)), base: off, records: recordsPer})
		seg = append(seg, buf...)
		off += int64(recordsPer)
	}
	return seg, batches
}

func segmentName(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.log", base))
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rows returns the table rows of text output: lines that are neither the
// header nor the summary.
func rows(out string) []string {
	var r []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "FILE ") || strings.Contains(line, " files, ") {
			continue
		}
		r = append(r, line)
	}
	return r
}

func TestDumpGoodSegment(t *testing.T) {
	dir := t.TempDir()
	seg, batches := buildSegment(t, 0, 5, 10)
	seg = append(seg, make([]byte, 4096)...) // preallocated space
	name := segmentName(dir, 0)
	writeFile(t, name, seg)

	for _, args := range [][]string{{"dump", name}, {"dump", name, "--verify"}, {"dump", "--verify", dir}} {
		code, out, errOut := run(args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q\n%s", args, code, errOut, out)
		}
		r := rows(out)
		if len(r) != len(batches) {
			t.Fatalf("%v: %d rows, want %d:\n%s", args, len(r), len(batches), out)
		}
		for i, b := range batches {
			f := strings.Fields(r[i])
			want := []string{filepath.Base(name), fmt.Sprint(b.pos), fmt.Sprint(b.base), fmt.Sprint(b.base + int64(b.records) - 1), fmt.Sprint(b.records)}
			if strings.Join(f[:5], " ") != strings.Join(want, " ") || f[len(f)-1] != "ok" || f[len(f)-2] != fmt.Sprint(b.size) {
				t.Errorf("%v: row %d = %q, want it to start %q and end %d ok", args, i, r[i], want, b.size)
			}
		}
		if !strings.Contains(out, "1 files, 5 batches, 50 records, offsets 0..49: all batches ok") {
			t.Errorf("%v: summary missing:\n%s", args, out)
		}
	}
}

func TestDumpDirectoryInNameOrderAndSmallChunks(t *testing.T) {
	dir := t.TempDir()
	seg1, b1 := buildSegment(t, 0, 3, 4)
	seg2, b2 := buildSegment(t, 12, 3, 4)
	writeFile(t, segmentName(dir, 12), seg2)
	writeFile(t, segmentName(dir, 0), seg1)
	writeFile(t, filepath.Join(dir, "00000000000000000000.index"), []byte("not a segment"))

	var out, errOut bytes.Buffer
	d := &dumper{fs: vfs.Default, verify: true, stdout: &out, stderr: &errOut, chunkSize: 7}
	if code := d.run(dir); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	r := rows(out.String())
	if len(r) != len(b1)+len(b2) {
		t.Fatalf("%d rows, want %d:\n%s", len(r), len(b1)+len(b2), out.String())
	}
	if !strings.HasPrefix(r[0], "00000000000000000000.log") || !strings.HasPrefix(r[len(r)-1], "00000000000000000012.log") {
		t.Errorf("files not in name order:\n%s", out.String())
	}
}

func TestDumpFlippedByte(t *testing.T) {
	dir := t.TempDir()
	seg, batches := buildSegment(t, 100, 4, 5)
	bad := batches[1]
	seg[bad.pos+record.HeaderSize+7] ^= 0x40 // inside the records of batch 1
	name := segmentName(dir, 100)
	writeFile(t, name, seg)

	code, out, errOut := run("dump", name)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	want := fmt.Sprintf("corrupt: file %s position %d offset %d: ", name, bad.pos, bad.base)
	if !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "checksum") {
		t.Errorf("stderr %q, want it to start %q and name the checksum", errOut, want)
	}
	// The batches after the bad one are still listed: its length was intact.
	if r := rows(out); len(r) != len(batches) || !strings.Contains(r[1], " BAD ") {
		t.Errorf("want %d rows with row 1 BAD:\n%s", len(batches), out)
	}
}

func TestDumpBadMagicStopsTheFile(t *testing.T) {
	dir := t.TempDir()
	seg, batches := buildSegment(t, 0, 3, 2)
	seg[batches[1].pos+16] = 7 // magic
	name := segmentName(dir, 0)
	writeFile(t, name, seg)
	code, out, errOut := run("dump", "--json", name)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("position %d offset %d: ", batches[1].pos, batches[1].base)) || !strings.Contains(errOut, "magic") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("want 2 JSON lines (one good batch, the bad one), got %d:\n%s", n, out)
	}
}

func TestDumpTornTail(t *testing.T) {
	seg, batches := buildSegment(t, 0, 3, 5)
	last := batches[len(batches)-1]
	// A cut inside the first 12 bytes must keep a non-zero byte (offset 10 is
	// 0x..0a at byte 7): an all-zero prefix is indistinguishable from
	// preallocated space and rightly ends the data.
	for _, cut := range []int64{last.pos + 10, last.pos + record.HeaderSize + 3, last.pos + last.size - 1} {
		dir := t.TempDir()
		name := segmentName(dir, 0)
		writeFile(t, name, seg[:cut])
		code, out, errOut := run("dump", "--verify", name)
		want := fmt.Sprintf("corrupt: file %s position %d offset ", name, last.pos)
		if code != 1 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "torn tail") {
			t.Errorf("cut at %d: exit %d, stderr %q; want 1 and %q ... torn tail", cut, code, errOut, want)
		}
		if r := rows(out); len(r) != len(batches) {
			t.Errorf("cut at %d: want %d rows:\n%s", cut, len(batches), out)
		}
	}
}

func TestDumpZerosThenData(t *testing.T) {
	dir := t.TempDir()
	seg, _ := buildSegment(t, 0, 2, 2)
	pos := len(seg)
	seg = append(seg, make([]byte, 100)...)
	seg = append(seg, 1)
	name := segmentName(dir, 0)
	writeFile(t, name, seg)
	code, _, errOut := run("dump", name)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("position %d offset ?: zero batch header", pos)) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestDumpVerifyFindsGaps(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := buildSegment(t, 0, 2, 5)   // offsets 0..9
	seg2, b2 := buildSegment(t, 15, 2, 5) // 15..24: a gap of 5
	writeFile(t, segmentName(dir, 0), seg1)
	writeFile(t, segmentName(dir, 10), seg2) // and the name disagrees

	code, _, _ := run("dump", dir)
	if code != 0 {
		t.Errorf("without --verify gaps are not checked: exit %d", code)
	}
	code, _, errOut := run("dump", dir, "--verify")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		fmt.Sprintf("corrupt: file %s position 0 offset %d: file name says base offset 10", segmentName(dir, 10), b2[0].base),
		fmt.Sprintf("corrupt: file %s position 0 offset %d: offset gap: expected 10, batch starts at 15", segmentName(dir, 10), b2[0].base),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestDumpJSONLinesParse(t *testing.T) {
	dir := t.TempDir()
	seg, batches := buildSegment(t, 7, 3, 3)
	seg[batches[2].pos+record.HeaderSize] ^= 1
	name := segmentName(dir, 7)
	writeFile(t, name, seg)

	code, out, errOut := run("dump", name, "--json", "--verify")
	if code != 1 || !strings.Contains(errOut, "corrupt: ") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(batches) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(batches), out)
	}
	for i, line := range lines {
		var bi batchInfo
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&bi); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		wantCRC := "ok"
		if i == 2 {
			wantCRC = "BAD"
		}
		if bi.File != name || bi.Position != batches[i].pos || bi.BaseOffset != batches[i].base ||
			bi.RecordCount != 3 || bi.Size != batches[i].size || bi.CRC != wantCRC || (bi.Error != "") != (i == 2) {
			t.Errorf("line %d: %+v", i, bi)
		}
		if bi.BaseTimestamp != formatMs(bi.BaseTimestampMs) || !strings.HasSuffix(bi.BaseTimestamp, "Z") {
			t.Errorf("line %d: base timestamp %q for %d", i, bi.BaseTimestamp, bi.BaseTimestampMs)
		}
	}
}

// TestDumpRecords: --json --records lists every record of the good
// batches with its offset, key and value; a corrupt batch lists none.
func TestDumpRecords(t *testing.T) {
	dir := t.TempDir()
	seg, batches := buildSegment(t, 10, 3, 2)
	seg[batches[1].pos+record.HeaderSize] ^= 1
	writeFile(t, segmentName(dir, 10), seg)
	if code, _, _ := run("dump", dir, "--records"); code != exitUsage {
		t.Errorf("--records without --json: exit %d, want %d", code, exitUsage)
	}
	_, out, _ := run("dump", dir, "--json", "--records")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, line := range lines {
		var bi batchInfo
		if err := json.Unmarshal([]byte(line), &bi); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if len(bi.Records) != 0 {
				t.Errorf("the corrupt batch lists records: %+v", bi.Records)
			}
			continue
		}
		if len(bi.Records) != 2 {
			t.Fatalf("batch %d: %d records, want 2", i, len(bi.Records))
		}
		for j, r := range bi.Records {
			off := batches[i].base + int64(j)
			if r.Offset != off || string(r.Key) != fmt.Sprintf("key-%d", off) || len(r.Value) != 100+j || r.Value[0] != byte('a'+j) {
				t.Errorf("batch %d record %d: offset %d key %q value %d bytes", i, j, r.Offset, r.Key, len(r.Value))
			}
		}
	}
}

func TestFormatMs(t *testing.T) {
	if got := formatMs(1_700_000_000_123); got != "2023-11-14T22:13:20.123Z" {
		t.Errorf("formatMs = %q", got)
	}
	if got := formatMs(-1); got != "-" {
		t.Errorf("formatMs(-1) = %q", got)
	}
}
