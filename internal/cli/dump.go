package cli

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

const dumpDescription = `
Dump prints every record batch of a segment file, or of every *.log file of a
directory in name order, and checks each batch's CRC-32C. It reads the files
offline, through the engine's file layer, in bounded memory.

A segment is a sequence of Kafka v2 record batches, possibly followed by
zero bytes (preallocated space): a zero batch prefix ends the data.

With --verify it also decodes every record and checks that offsets increase
without gaps across batches and files, and that each file's name matches its
first base offset.

Exit status: 0 if every batch is good; 1 if any is corrupt, a file ends in a
torn (truncated) batch, or --verify finds a gap, each reported on stderr as
"corrupt: file F position P offset O: <reason>"; 2 for usage errors.`

// dumpChunkSize is how much of a file dump reads at a time. Batches larger
// than a chunk are read whole; record.MaxBatchSize bounds them.
const dumpChunkSize = 1 << 20

func runDump(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("dump", "PATH [--verify] [--json]", dumpDescription)
	verify := fs.Bool("verify", false, "also decode every record and check offsets are contiguous across batches and files")
	asJSON := fs.Bool("json", false, "print one JSON object per batch instead of a table")
	withRecords := fs.Bool("records", false, "with --json: each batch lists its records (offset, key, value as base64), as the checkers' final drain reads them")
	paths, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "dump", err)
	}
	if len(paths) != 1 {
		return failf(stderr, exitUsage, "dump: want exactly one PATH (a .log segment file or a directory), got %d (run 'sluice dump -h')", len(paths))
	}
	if *withRecords && !*asJSON {
		return failf(stderr, exitUsage, "dump: --records needs --json")
	}
	d := &dumper{fs: vfs.Default, verify: *verify, json: *asJSON, withRecords: *withRecords, stdout: stdout, stderr: stderr}
	return d.run(paths[0])
}

// dumper holds the state of one `sluice dump` run.
type dumper struct {
	fs             vfs.FS
	verify, json   bool
	withRecords    bool
	stdout, stderr io.Writer
	chunkSize      int // 0 means dumpChunkSize; tests make it small

	// nextOffset is the offset the next batch must start at under --verify;
	// haveNext says whether it is known (not before the first batch, nor
	// after a batch whose header cannot be trusted).
	nextOffset int64
	haveNext   bool

	files, batches, records int
	firstOffset, lastOffset int64
	problems                []string
	wroteHeader             bool
}

// batchInfo is one line of output: a batch, good or bad.
type batchInfo struct {
	File                 string `json:"file"`
	Position             int64  `json:"position"`
	BaseOffset           int64  `json:"base_offset"`
	LastOffset           int64  `json:"last_offset"`
	RecordCount          int32  `json:"record_count"`
	PartitionLeaderEpoch int32  `json:"partition_leader_epoch"`
	BaseTimestamp        string `json:"base_timestamp"`
	BaseTimestampMs      int64  `json:"base_timestamp_ms"`
	MaxTimestamp         string `json:"max_timestamp"`
	MaxTimestampMs       int64  `json:"max_timestamp_ms"`
	ProducerID           int64  `json:"producer_id"`
	ProducerEpoch        int16  `json:"producer_epoch"`
	BaseSequence         int32  `json:"base_sequence"`
	Attributes           uint16 `json:"attributes"`
	Size                 int64  `json:"size"`
	CRC                  string `json:"crc"`             // "ok" or "BAD"
	Error                string `json:"error,omitempty"` // why the batch is bad
	// Records, with --records: the batch's records (a control batch's too;
	// Attributes bit 0x20 says which it is).
	Records []dumpRecord `json:"records,omitempty"`
}

// dumpRecord is one record of a batch (--records); key and value are
// base64 in JSON, a null key or value is null.
type dumpRecord struct {
	Offset int64  `json:"offset"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
}

func (d *dumper) run(path string) int {
	info, err := d.fs.Stat(path)
	if err != nil {
		return failf(d.stderr, exitFailure, "dump: %v", err)
	}
	files := []string{path}
	if info.IsDir {
		names, err := d.fs.List(path)
		if err != nil {
			return failf(d.stderr, exitFailure, "dump: %v", err)
		}
		files = files[:0]
		sort.Strings(names)
		for _, name := range names {
			if !strings.HasSuffix(name, ".log") {
				continue
			}
			full := filepath.Join(path, name)
			if fi, err := d.fs.Stat(full); err == nil && fi.IsDir {
				continue
			}
			files = append(files, full)
		}
		if len(files) == 0 {
			return failf(d.stderr, exitFailure, "dump: no *.log segment files in %s", path)
		}
	}
	for _, name := range files {
		if err := d.dumpFile(name); err != nil {
			return failf(d.stderr, exitFailure, "dump: %v", err)
		}
	}
	if !d.json {
		d.printSummary()
	}
	for _, p := range d.problems {
		fmt.Fprintln(d.stderr, p)
	}
	if len(d.problems) > 0 {
		return exitFailure
	}
	return exitOK
}

// problem records a bad batch (or gap) for the final report.
func (d *dumper) problem(file string, pos int64, offset string, format string, args ...any) string {
	reason := fmt.Sprintf(format, args...)
	d.problems = append(d.problems, fmt.Sprintf("corrupt: file %s position %d offset %s: %s", file, pos, offset, reason))
	return reason
}

// dumpFile walks the batches of one segment file. It returns an error only
// for I/O failures; bad data is recorded with problem.
func (d *dumper) dumpFile(name string) error {
	f, err := d.fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	d.files++
	w := &window{f: f, size: size, chunk: d.chunkSize}
	if w.chunk <= 0 {
		w.chunk = dumpChunkSize
	}

	first := true
	var header [record.HeaderSize]byte
	for pos := int64(0); pos < size; {
		remaining := size - pos
		window, err := w.at(pos, int(min(remaining, record.HeaderSize)))
		if err != nil {
			return err
		}
		// A copy: later reads through w reuse its buffer.
		prefix := header[:copy(header[:], window)]
		if len(prefix) >= record.LengthFieldEnd && allZero(prefix[:record.LengthFieldEnd]) || len(prefix) < record.LengthFieldEnd && allZero(prefix) {
			// End of data, unless something follows the zeros.
			at, err := w.firstNonZero(pos)
			if err != nil {
				return err
			}
			if at >= 0 {
				d.bad(name, pos, nil, "zero batch header at position %d, but data follows at position %d", pos, at)
				d.haveNext = false
			}
			return nil
		}
		if remaining < record.HeaderSize {
			d.bad(name, pos, prefix, "torn tail: %d bytes left, a batch header needs %d", remaining, record.HeaderSize)
			return nil
		}
		h, err := record.ParseHeader(prefix)
		if err != nil {
			// Nothing after a header we cannot parse can be located.
			d.bad(name, pos, prefix, "%v%s", err, d.tailHint(w, pos+record.HeaderSize))
			d.haveNext = false
			return nil
		}
		if int64(h.Size()) > remaining {
			d.bad(name, pos, prefix, "torn tail: batch declares %d bytes, the file has %d left", h.Size(), remaining)
			return nil
		}
		b, err := w.at(pos, h.Size())
		if err != nil {
			return err
		}
		bi := d.info(name, pos, h)
		if _, err := record.Verify(b); err != nil {
			bi.CRC = "BAD"
			bi.Error = d.problem(name, pos, strconv.FormatInt(h.BaseOffset, 10), "%v%s", err, d.tailHint(w, pos+int64(h.Size())))
			d.haveNext = false
		} else {
			if reason := d.verifyBatch(name, pos, h, b, first); reason != "" {
				bi.Error = reason
			}
			if d.withRecords {
				if batch, err := record.Decode(b); err == nil {
					for _, r := range batch.Records {
						bi.Records = append(bi.Records, dumpRecord{Offset: h.BaseOffset + int64(r.OffsetDelta), Key: r.Key, Value: r.Value})
					}
				}
			}
		}
		d.emit(bi)
		d.batches++
		d.records += int(h.RecordCount)
		if d.batches == 1 {
			d.firstOffset = h.BaseOffset
		}
		d.lastOffset = h.LastOffset()
		first = false
		pos += int64(h.Size())
	}
	return nil
}

// verifyBatch runs the --verify checks on a batch whose CRC is good and
// updates the expected next offset. It returns the reasons found, joined.
func (d *dumper) verifyBatch(name string, pos int64, h record.Header, b []byte, first bool) string {
	if !d.verify {
		return ""
	}
	var reasons []string
	off := strconv.FormatInt(h.BaseOffset, 10)
	if first {
		base := strings.TrimSuffix(filepath.Base(name), ".log")
		if n, err := strconv.ParseInt(base, 10, 64); err == nil && n != h.BaseOffset {
			reasons = append(reasons, d.problem(name, pos, off, "file name says base offset %d, its first batch starts at %d", n, h.BaseOffset))
		}
	}
	if d.haveNext && h.BaseOffset != d.nextOffset {
		if h.BaseOffset > d.nextOffset {
			reasons = append(reasons, d.problem(name, pos, off, "offset gap: expected %d, batch starts at %d (%d offsets missing)", d.nextOffset, h.BaseOffset, h.BaseOffset-d.nextOffset))
		} else {
			reasons = append(reasons, d.problem(name, pos, off, "offsets go backwards: expected %d, batch starts at %d", d.nextOffset, h.BaseOffset))
		}
	}
	batch, err := record.Decode(b)
	switch {
	case errors.Is(err, record.ErrUnsupportedCompression):
		// The CRC covers the compressed bytes; the records cannot be
		// checked here. Not a fault of the data.
	case err != nil:
		reasons = append(reasons, d.problem(name, pos, off, "records: %v", err))
	default:
		prev := int32(-1)
		for i, r := range batch.Records {
			if r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta {
				reasons = append(reasons, d.problem(name, pos, off, "record %d has offset delta %d (previous %d, lastOffsetDelta %d)", i, r.OffsetDelta, prev, h.LastOffsetDelta))
				break
			}
			prev = r.OffsetDelta
		}
	}
	if h.LastOffsetDelta < 0 {
		reasons = append(reasons, d.problem(name, pos, off, "negative lastOffsetDelta %d", h.LastOffsetDelta))
	}
	d.nextOffset, d.haveNext = h.NextOffset(), true
	return strings.Join(reasons, "; ")
}

// bad reports a batch that could not be read at all: its header is unusable
// or the file ends inside it.
func (d *dumper) bad(name string, pos int64, prefix []byte, format string, args ...any) {
	offset := "?"
	var h record.Header
	if len(prefix) >= record.HeaderSize {
		h, _ = record.ParseHeader(prefix) // fields as found, even if invalid
		offset = strconv.FormatInt(h.BaseOffset, 10)
	} else if len(prefix) >= 8 {
		h.BaseOffset = int64(binary.BigEndian.Uint64(prefix))
		offset = strconv.FormatInt(h.BaseOffset, 10)
	}
	bi := d.info(name, pos, h)
	bi.CRC = "BAD"
	bi.Error = d.problem(name, pos, offset, format, args...)
	d.emit(bi)
}

// tailHint says whether the bad batch is the last data in the file: a crash
// in the middle of an append leaves exactly that.
func (d *dumper) tailHint(w *window, end int64) string {
	if end >= w.size {
		return " (last batch of the file: a torn write looks like this)"
	}
	if at, err := w.firstNonZero(end); err == nil && at < 0 {
		return " (last batch of the file: a torn write looks like this)"
	}
	return ""
}

func (d *dumper) info(name string, pos int64, h record.Header) batchInfo {
	return batchInfo{
		File:                 name,
		Position:             pos,
		BaseOffset:           h.BaseOffset,
		LastOffset:           h.LastOffset(),
		RecordCount:          h.RecordCount,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		BaseTimestamp:        formatMs(h.BaseTimestamp),
		BaseTimestampMs:      h.BaseTimestamp,
		MaxTimestamp:         formatMs(h.MaxTimestamp),
		MaxTimestampMs:       h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Attributes:           uint16(h.Attributes),
		Size:                 int64(h.Size()),
		CRC:                  "ok",
	}
}

// formatMs formats a Kafka millisecond timestamp as RFC 3339 in UTC; Kafka's
// "no timestamp" (-1) prints as "-".
func formatMs(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

const dumpRowFormat = "%-24s %10s %12s %12s %6s %6s %-24s %-24s %12s %6s %10s %9s %-3s %s\n"

func (d *dumper) emit(bi batchInfo) {
	if d.json {
		line, err := json.Marshal(bi)
		if err != nil {
			panic(err) // batchInfo has only plain fields
		}
		fmt.Fprintf(d.stdout, "%s\n", line)
		return
	}
	if !d.wroteHeader {
		fmt.Fprintf(d.stdout, dumpRowFormat, "FILE", "POSITION", "BASE", "LAST", "COUNT", "EPOCH",
			"BASE_TIME", "MAX_TIME", "PRODUCER", "PEPOCH", "BASE_SEQ", "SIZE", "CRC", "NOTE")
		d.wroteHeader = true
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	fmt.Fprintf(d.stdout, dumpRowFormat, filepath.Base(bi.File), i(bi.Position), i(bi.BaseOffset), i(bi.LastOffset),
		i(int64(bi.RecordCount)), i(int64(bi.PartitionLeaderEpoch)), bi.BaseTimestamp, bi.MaxTimestamp,
		i(bi.ProducerID), i(int64(bi.ProducerEpoch)), i(int64(bi.BaseSequence)), i(bi.Size), bi.CRC, bi.Error)
}

func (d *dumper) printSummary() {
	offsets := "no offsets"
	if d.batches > 0 {
		offsets = fmt.Sprintf("offsets %d..%d", d.firstOffset, d.lastOffset)
	}
	verdict := "all batches ok"
	if len(d.problems) > 0 {
		verdict = fmt.Sprintf("%d problems (on stderr)", len(d.problems))
	}
	fmt.Fprintf(d.stdout, "%d files, %d batches, %d records, %s: %s\n", d.files, d.batches, d.records, offsets, verdict)
}

// window reads a file through one reusable buffer: the bytes [start,
// start+len(buf)) of the file. Memory stays at one chunk, or one batch when
// a batch is larger (at most record.MaxBatchSize).
type window struct {
	f     vfs.File
	size  int64
	chunk int
	start int64
	buf   []byte
}

// at returns the n bytes of the file at pos, which the caller has checked
// lie within the file. The slice is valid until the next call.
func (w *window) at(pos int64, n int) ([]byte, error) {
	if pos >= w.start && pos+int64(n) <= w.start+int64(len(w.buf)) {
		return w.buf[pos-w.start : pos-w.start+int64(n)], nil
	}
	want := int(min(int64(max(n, w.chunk)), w.size-pos))
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	got, err := w.f.ReadAt(w.buf, pos)
	if got < want {
		w.buf = w.buf[:0]
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%s: short read at position %d: %d of %d bytes (file changed while reading?)", w.f.Name(), pos, got, want)
		}
		return nil, err
	}
	w.start = pos
	return w.buf[:n], nil
}

// firstNonZero returns the position of the first non-zero byte at or after
// pos, or -1 if the rest of the file is zeros.
func (w *window) firstNonZero(pos int64) (int64, error) {
	for pos < w.size {
		n := int(min(int64(w.chunk), w.size-pos))
		b, err := w.at(pos, n)
		if err != nil {
			return 0, err
		}
		for i, c := range b {
			if c != 0 {
				return pos + int64(i), nil
			}
		}
		pos += int64(n)
	}
	return -1, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
