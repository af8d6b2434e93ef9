package engine

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// File names inside a log directory (format: tools and operators rely on
// them). A segment is named by its base offset, zero-padded to 20 digits so
// lexical order is offset order.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	tornSuffix      = ".torn"
	tmpSuffix       = ".tmp"
	cleanMarkerName = ".clean-shutdown"
)

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName returns the base offset of a "<base>.log" name.
func parseSegmentName(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	return base, err == nil && base >= 0
}

var segmentIDs atomic.Uint64

// segment is one .log file with its two indexes.
//
// Fields marked (mu) are published under Log.mu and read by readers; fields
// marked (writer) belong to the goroutine holding the write leadership.
type segment struct {
	base int64
	path string // path of the .log file
	file vfs.File

	// id names the segment's bytes in the block cache. It changes whenever
	// bytes below the segment's size could change (truncation), so stale
	// cache entries are never looked up again.
	id uint64 // (mu)

	offsetIndex offsetIndex // (mu) entries; file writes by the writer
	timeIndex   timeIndex   // (mu)

	// Invariant: size is the position just past the last whole batch, and
	// next is that batch's last offset + 1 (base when empty).
	size         int64 // (mu)
	next         int64 // (mu)
	maxTimestamp int64 // (mu) newest record timestamp, -1 when unknown
	sealed       bool  // (mu)

	created        time.Time // (writer) first append, for the age roll
	bytesSinceIdx  int       // (writer)
	physicalSize   int64     // (writer) file size including zero fill
	lastIndexedRel int64     // (writer) relOffset of the last index entry, -1 none

	// refs counts the segment list's own reference plus each reader in
	// flight; the file is closed when it drops to zero.
	refs atomic.Int32
}

func newSegmentID() uint64 { return segmentIDs.Add(1) }

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the files after the last one, so a
// reader in the middle of a sendfile never sees its descriptor closed by
// retention.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.offsetIndex.close()
		_ = s.timeIndex.close()
		_ = s.file.Close()
	}
}

func segmentPaths(dir string, base int64) (logPath, indexPath, timeIndexPath string) {
	stem := filepath.Join(dir, segmentName(base))
	return stem + logSuffix, stem + indexSuffix, stem + timeIndexSuffix
}

// openOrCreate opens name read-write, creating it when absent.
func openOrCreate(fs vfs.FS, name string) (f vfs.File, created bool, err error) {
	f, err = fs.OpenReadWrite(name)
	if err == nil {
		return f, false, nil
	}
	if !vfs.IsNotExist(err) {
		return nil, false, err
	}
	f, err = fs.Create(name)
	return f, err == nil, err
}

// openSegmentFiles opens (or creates) the three files of a segment.
func openSegmentFiles(fs vfs.FS, dir string, base int64) (*segment, bool, error) {
	logPath, indexPath, timeIndexPath := segmentPaths(dir, base)
	s := &segment{base: base, path: logPath, id: newSegmentID(), next: base, maxTimestamp: -1, lastIndexedRel: -1}
	var created bool
	var err error
	if s.file, created, err = openOrCreate(fs, logPath); err != nil {
		return nil, false, err
	}
	ixf, _, err := openOrCreate(fs, indexPath)
	if err != nil {
		_ = s.file.Close()
		return nil, false, err
	}
	tixf, _, err := openOrCreate(fs, timeIndexPath)
	if err != nil {
		_ = s.file.Close()
		_ = ixf.Close()
		return nil, false, err
	}
	s.offsetIndex = offsetIndex{index{entrySize: offsetEntrySize, file: ixf}}
	s.timeIndex = timeIndex{index{entrySize: timeEntrySize, file: tixf}}
	s.refs.Store(1)
	return s, created, nil
}

// loadIndexes reads both index files into memory (for validation and, for
// the active segment, further appends).
func (s *segment) loadIndexes() error {
	for _, ix := range []*index{&s.offsetIndex.index, &s.timeIndex.index} {
		size, err := ix.file.Size()
		if err != nil {
			return err
		}
		ix.data = make([]byte, size)
		if _, err := ix.file.ReadAt(ix.data, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		ix.flushed = int(size)
	}
	return nil
}

// indexBatch records index entries for a batch appended at pos, when the
// interval has passed. Called by the writer under Log.mu.
func (s *segment) indexBatch(h record.Header, pos int64, interval int) {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp = h.MaxTimestamp
	}
	rel := h.BaseOffset - s.base
	if s.bytesSinceIdx >= interval && rel > s.lastIndexedRel {
		s.offsetIndex.add(uint32(rel), uint32(pos))
		s.timeIndex.add(s.maxTimestamp, uint32(rel))
		s.lastIndexedRel = rel
		s.bytesSinceIdx = 0
	}
	s.bytesSinceIdx += h.Size()
}

// resetIndexState forgets writer-side index bookkeeping before a rebuild.
func (s *segment) resetIndexState() {
	s.bytesSinceIdx = 0
	s.lastIndexedRel = -1
	s.maxTimestamp = -1
}

// finalTimeEntry makes the time index end with the segment's newest
// timestamp, so a sealed segment's maxTimestamp is known after a restart
// without scanning it.
func (s *segment) finalTimeEntry() {
	if s.size == 0 || s.maxTimestamp < 0 || s.maxTimestamp <= s.timeIndex.lastTimestamp() {
		return
	}
	s.timeIndex.add(s.maxTimestamp, uint32(s.lastBatchRel()))
}

// lastBatchRel is the relOffset of some batch start <= the last batch: the
// last index entry is always a valid batch start.
func (s *segment) lastBatchRel() int64 {
	if s.lastIndexedRel >= 0 {
		return s.lastIndexedRel
	}
	return 0
}

// batchScanner reads whole batches sequentially from a segment file with a
// large buffer: recovery and index rebuilds read each byte once.
type batchScanner struct {
	f       vfs.File
	pos     int64 // position of the next batch
	end     int64 // readable size of the file
	maxSize int   // largest batch accepted
	verify  bool  // check CRCs

	buf    []byte
	bufPos int64 // file position of buf[0]
}

// Scanner outcomes besides a batch.
var (
	errZeroHeader = errors.New("zero bytes where a batch header should be")
	errShortTail  = errors.New("fewer bytes than a batch header at the end of the segment")
)

func newBatchScanner(f vfs.File, from, end int64, maxBatch int, verify bool) *batchScanner {
	verify = verify && !planted("torn-tail-kept") // the planted bug: no CRC checks when reading the log back
	return &batchScanner{f: f, pos: from, end: end, maxSize: maxBatch, verify: verify, bufPos: from}
}

// window returns n bytes at the scanner position, reading ahead in large
// chunks. It returns io.ErrUnexpectedEOF when the file holds fewer bytes.
func (s *batchScanner) window(n int) ([]byte, error) {
	if s.pos+int64(n) > s.end {
		return nil, io.ErrUnexpectedEOF
	}
	off := int(s.pos - s.bufPos)
	if off >= 0 && off+n <= len(s.buf) {
		return s.buf[off : off+n], nil
	}
	want := max(n, 1<<20)
	if rest := s.end - s.pos; int64(want) > rest {
		want = int(rest)
	}
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	s.bufPos = s.pos
	if _, err := s.f.ReadAt(s.buf, s.pos); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return s.buf[:n], nil
}

// next returns the batch at the scanner position and advances past it. At
// the end of the file it returns io.EOF. Any other error leaves the position
// at the bad batch.
func (s *batchScanner) next() (record.Header, []byte, error) {
	if s.pos == s.end {
		return record.Header{}, nil, io.EOF
	}
	prefix, err := s.window(record.LengthFieldEnd)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return record.Header{}, nil, errShortTail
	}
	if err != nil {
		return record.Header{}, nil, err
	}
	if allZero(prefix) {
		return record.Header{}, nil, errZeroHeader
	}
	hb, err := s.window(record.HeaderSize)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return record.Header{}, nil, fmt.Errorf("%w: header cut at the end of the segment", record.ErrTruncated)
	}
	if err != nil {
		return record.Header{}, nil, err
	}
	h, err := record.ParseHeader(hb)
	if err != nil {
		return record.Header{}, nil, err
	}
	if h.Size() > s.maxSize {
		return record.Header{}, nil, fmt.Errorf("%w: batch of %d bytes larger than the segment limit %d", record.ErrBadLength, h.Size(), s.maxSize)
	}
	b, err := s.window(h.Size())
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return record.Header{}, nil, fmt.Errorf("%w: batch of %d bytes cut at the end of the segment", record.ErrTruncated, h.Size())
	}
	if err != nil {
		return record.Header{}, nil, err
	}
	if s.verify {
		if _, err := record.Verify(b); err != nil {
			return record.Header{}, nil, err
		}
	}
	s.pos += int64(h.Size())
	return h, b, nil
}

// isFormatError reports whether a scanner error is about the bytes (a bad
// or cut batch) rather than the I/O: only the former may be repaired or
// reported as corruption; an I/O error must reach the caller as it is.
func isFormatError(err error) bool {
	return errors.Is(err, record.ErrCorrupt) || errors.Is(err, record.ErrTruncated) ||
		errors.Is(err, errZeroHeader) || errors.Is(err, errShortTail)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// rangeIsZero reports whether [from, to) of f holds only zero bytes.
func rangeIsZero(f vfs.File, from, to int64) (bool, error) {
	buf := make([]byte, min(to-from, 1<<20))
	for pos := from; pos < to; {
		n := min(int64(len(buf)), to-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if !allZero(buf[:n]) {
			return false, nil
		}
		pos += n
	}
	return true, nil
}
