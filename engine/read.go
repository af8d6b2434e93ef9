package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// ReadResult is a copy read: whole batches, in offset order.
type ReadResult struct {
	// Data holds whole batches; empty when offset is at the read limit.
	Data []byte
	// NextOffset is where the next read continues.
	NextOffset int64
	// LogStartOffset and LogEndOffset as of the read.
	LogStartOffset int64
	LogEndOffset   int64
}

// Region is a zero-copy read: a byte range of one segment file, holding
// whole batches. The segment stays open until Release, even if retention or
// truncation removes it meanwhile.
type Region struct {
	File           vfs.File
	Position       int64
	Length         int64
	NextOffset     int64
	LogStartOffset int64
	LogEndOffset   int64
	seg            *segment
}

// SendTo writes the region to conn with sendfile(2) where the file system
// and the connection allow it.
func (r *Region) SendTo(conn net.Conn) (int64, error) {
	if r.Length == 0 {
		return 0, nil
	}
	return vfs.SendFile(conn, r.File, r.Position, r.Length)
}

// Release lets the segment's files close. Call it exactly once.
func (r *Region) Release() {
	if r.seg != nil {
		r.seg.release()
		r.seg = nil
	}
}

// Read returns whole batches starting with the one that holds offset, up to
// maxBytes (at least one batch, so a batch larger than maxBytes still makes
// progress) and up to the log end. Offsets outside [log start, log end]
// give an *OffsetRangeError.
func (l *Log) Read(offset int64, maxBytes int) (ReadResult, error) {
	return l.ReadUpTo(offset, maxBytes, -1)
}

// ReadUpTo is Read bounded by limitOffset (exclusive): the broker passes the
// high watermark so consumers never see uncommitted records. A negative
// limit means the log end.
func (l *Log) ReadUpTo(offset int64, maxBytes int, limitOffset int64) (ReadResult, error) {
	loc, err := l.locate(offset, maxBytes, limitOffset)
	if err != nil {
		return ReadResult{}, err
	}
	res := ReadResult{NextOffset: loc.next, LogStartOffset: loc.logStart, LogEndOffset: loc.logEnd}
	if loc.seg == nil {
		return res, nil
	}
	defer loc.seg.release()
	res.Data = make([]byte, loc.end-loc.start)
	if err := l.readAt(loc.seg, loc.id, res.Data, loc.start, loc.segSize); err != nil {
		return ReadResult{}, err
	}
	// The copy path has the bytes in hand: check them, so damage that Open
	// did not read (a sealed segment's middle) is reported, never served.
	if err := verifyBatches(res.Data); err != nil {
		var ce *batchError
		errors.As(err, &ce)
		return ReadResult{}, l.corruptAt(loc.seg, loc.start+ce.pos, ce.offset, ce.err)
	}
	return res, nil
}

// ReadRegion is ReadUpTo for the zero-copy path: it returns the file range
// instead of the bytes. The caller must Release the region.
func (l *Log) ReadRegion(offset int64, maxBytes int, limitOffset int64) (Region, error) {
	loc, err := l.locate(offset, maxBytes, limitOffset)
	if err != nil {
		return Region{}, err
	}
	r := Region{NextOffset: loc.next, LogStartOffset: loc.logStart, LogEndOffset: loc.logEnd}
	if loc.seg != nil {
		r.File, r.Position, r.Length, r.seg = loc.seg.file, loc.start, loc.end-loc.start, loc.seg
	}
	return r, nil
}

type location struct {
	seg              *segment // holds a reference; nil when there is nothing to read
	id               uint64
	start, end       int64 // byte range of whole batches
	segSize          int64
	next             int64
	logStart, logEnd int64
}

// locate finds the byte range of whole batches to return. It holds mu
// shared: the range's bounds come from the index and a few batch headers.
func (l *Log) locate(offset int64, maxBytes int, limit int64) (location, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkUsableLocked(); err != nil {
		return location{}, err
	}
	loc := location{logStart: l.logStartOffset, logEnd: l.logEndOffset, next: offset}
	if offset < l.logStartOffset || offset > l.logEndOffset {
		return location{}, &OffsetRangeError{Requested: offset, LogStartOffset: l.logStartOffset, LogEndOffset: l.logEndOffset}
	}
	if limit < 0 || limit > l.logEndOffset {
		limit = l.logEndOffset
	}
	if offset >= limit {
		return loc, nil
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	s := l.segments[i]
	loc.id, loc.segSize = s.id, s.size
	start, h, err := l.batchContaining(s, offset)
	if err != nil {
		return location{}, err
	}
	end, next := s.size, s.next
	if limit < s.next {
		p, base, err := l.batchStartAtOrAfter(s, limit)
		if err != nil {
			return location{}, err
		}
		end, next = p, base
	}
	if end <= start {
		// The batch holding offset reaches past the limit.
		return loc, nil
	}
	if maxBytes < h.Size() {
		maxBytes = h.Size()
	}
	if end-start > int64(maxBytes) {
		rel, p, ok := s.offsetIndex.floorPosition(uint32(min(start+int64(maxBytes), 1<<32-1)))
		if ok && int64(p) > start {
			end, next = int64(p), s.base+int64(rel)
		} else {
			end, next, err = l.scanForward(s, start, start+int64(maxBytes))
			if err != nil {
				return location{}, err
			}
		}
	}
	s.acquire()
	loc.seg, loc.start, loc.end, loc.next = s, start, end, next
	return loc, nil
}

// batchContaining returns the position and header of the batch holding
// offset, scanning headers from the nearest index entry.
func (l *Log) batchContaining(s *segment, offset int64) (int64, record.Header, error) {
	pos, err := l.indexedPosition(s, offset)
	if err != nil {
		return 0, record.Header{}, err
	}
	for pos < s.size {
		h, err := l.headerAt(s, pos)
		if err != nil {
			return 0, record.Header{}, err
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += int64(h.Size())
	}
	return 0, record.Header{}, l.corruptAt(s, pos, offset, errors.New("offset not found in its segment"))
}

// indexedPosition returns where to start scanning for offset: the position
// of the nearest index entry at or below it, after checking that a batch
// with the entry's offset really starts there. An entry that disagrees
// (a damaged index file that Open's checks of the first and last entries
// did not catch) is not trusted: the scan starts at the segment's start.
func (l *Log) indexedPosition(s *segment, offset int64) (int64, error) {
	rel, p, ok := s.offsetIndex.floor(uint32(offset - s.base))
	if !ok {
		return 0, nil
	}
	h, err := l.headerAt(s, int64(p))
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return 0, err
	}
	if err != nil || h.BaseOffset != s.base+int64(rel) {
		l.logger.Warn("offset index entry disagrees with the segment; scanning from its start",
			"file", s.path, "relOffset", rel, "position", p)
		return 0, nil
	}
	return int64(p), nil
}

// batchStartAtOrAfter returns the position and base offset of the first
// batch that holds any offset >= offset (the segment end when none): the
// end of a read limited to offsets below offset. A batch straddling the
// limit is excluded whole.
func (l *Log) batchStartAtOrAfter(s *segment, offset int64) (int64, int64, error) {
	pos, err := l.indexedPosition(s, offset)
	if err != nil {
		return 0, 0, err
	}
	for pos < s.size {
		h, err := l.headerAt(s, pos)
		if err != nil {
			return 0, 0, err
		}
		if h.LastOffset() >= offset {
			return pos, h.BaseOffset, nil
		}
		pos += int64(h.Size())
	}
	return s.size, s.next, nil
}

// scanForward returns the end of the whole batches from start that fit
// before limitPos (at least one batch).
func (l *Log) scanForward(s *segment, start, limitPos int64) (int64, int64, error) {
	pos, next := start, int64(0)
	for pos < s.size {
		h, err := l.headerAt(s, pos)
		if err != nil {
			return 0, 0, err
		}
		if pos != start && pos+int64(h.Size()) > limitPos {
			return pos, h.BaseOffset, nil
		}
		pos += int64(h.Size())
		next = h.NextOffset()
	}
	return pos, next, nil
}

type batchError struct {
	pos, offset int64
	err         error
}

func (e *batchError) Error() string { return e.err.Error() }

// verifyBatches checks the CRC of every batch in data (whole batches).
func verifyBatches(data []byte) error {
	for pos := 0; pos < len(data); {
		h, err := record.Verify(data[pos:])
		if err != nil {
			off := int64(-1)
			if len(data)-pos >= record.LengthFieldEnd {
				off = int64(binary.BigEndian.Uint64(data[pos:]))
			}
			return &batchError{pos: int64(pos), offset: off, err: err}
		}
		pos += h.Size()
	}
	return nil
}

func (l *Log) headerAt(s *segment, pos int64) (record.Header, error) {
	var b [record.HeaderSize]byte
	if err := l.readAt(s, s.id, b[:], pos, s.size); err != nil {
		return record.Header{}, err
	}
	h, err := record.ParseHeader(b[:])
	if err != nil {
		return record.Header{}, l.corruptAt(s, pos, -1, err)
	}
	return h, nil
}

func (l *Log) corruptAt(s *segment, pos, offset int64, err error) error {
	return &CorruptionError{File: s.path, Position: pos, Offset: offset, Err: err}
}

// readAt fills p from the segment at off, through the block cache when the
// log has one.
func (l *Log) readAt(s *segment, id uint64, p []byte, off, segSize int64) error {
	if l.opts.Cache != nil {
		return l.opts.Cache.readAt(s.file, id, p, off, segSize)
	}
	n, err := s.file.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	return fmt.Errorf("engine: read %s at %d: %w", s.path, off, err)
}

// ReadAtTime returns the offset of the first record whose timestamp is >=
// ts (milliseconds), for ListOffsets by timestamp. ok is false when every
// record is older.
func (l *Log) ReadAtTime(ts int64) (offset int64, ok bool, err error) {
	l.mu.RLock()
	if err := l.checkUsableLocked(); err != nil {
		l.mu.RUnlock()
		return 0, false, err
	}
	var s *segment
	for _, c := range l.segments {
		if c.maxTimestamp >= ts {
			s = c
			break
		}
	}
	if s == nil {
		l.mu.RUnlock()
		return 0, false, nil
	}
	from := s.base
	if rel, ok := s.timeIndex.before(ts); ok {
		from = s.base + int64(rel)
	}
	pos, _, err := l.batchContaining(s, max(from, l.logStartOffset))
	if err != nil {
		l.mu.RUnlock()
		return 0, false, err
	}
	var h record.Header
	for ; pos < s.size; pos += int64(h.Size()) {
		if h, err = l.headerAt(s, pos); err != nil {
			l.mu.RUnlock()
			return 0, false, err
		}
		if h.MaxTimestamp >= ts {
			break
		}
	}
	size, id := s.size, s.id
	s.acquire()
	l.mu.RUnlock()
	defer s.release()
	if pos >= size {
		return 0, false, nil
	}
	if h.Attributes.TimestampType() == record.TimestampLogAppendTime || h.Attributes.Compression() != record.None {
		return h.BaseOffset, true, nil
	}
	b := make([]byte, h.Size())
	if err := l.readAt(s, id, b, pos, size); err != nil {
		return 0, false, err
	}
	found := h.BaseOffset
	stop := errors.New("found")
	err = record.ForEachRecord(b, func(r record.Record) error {
		if h.BaseTimestamp+r.TimestampDelta >= ts {
			found = h.BaseOffset + int64(r.OffsetDelta)
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return 0, false, l.corruptAt(s, pos, h.BaseOffset, err)
	}
	return found, true, nil
}
