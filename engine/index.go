package engine

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Index file formats (format constants: never change silently).
//
//	.index      offset index, one entry per IndexIntervalBytes of log:
//	            +----------------------+---------------------+
//	            | relOffset uint32 BE  | position uint32 BE  |   8 bytes
//	            +----------------------+---------------------+
//	            relOffset = batch base offset - segment base offset;
//	            position  = byte position of that batch in the .log file.
//
//	.timeindex  time index, written with every offset index entry:
//	            +----------------------+---------------------+
//	            | timestamp int64 BE   | relOffset uint32 BE |   12 bytes
//	            +----------------------+---------------------+
//	            timestamp = the largest record timestamp (ms) of the segment
//	            up to and including the batch at relOffset; nondecreasing.
//	            A sealed segment ends with an entry for its newest timestamp.
//
// Indexes are derived data: they are never fsynced on the append path (one
// fdatasync per group commit covers the log alone) and are rebuilt from the
// log when they disagree with it.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// index is the in-memory view of one index file. The active segment's index
// lives on the heap and is written to its file lazily; a sealed segment's
// index is memory-mapped read-only, so thousands of sealed segments cost no
// heap.
type index struct {
	entrySize int
	file      vfs.File
	data      []byte
	flushed   int          // bytes of data already written to file
	unmap     func() error // non-nil while data is a read-only mapping
}

func (ix *index) entries() int { return len(ix.data) / ix.entrySize }

func (ix *index) entry(i int) []byte { return ix.data[i*ix.entrySize : (i+1)*ix.entrySize] }

// appendEntry adds one encoded entry. The index must not be mapped.
func (ix *index) appendEntry(e []byte) { ix.data = append(ix.data, e...) }

// flushThreshold bounds how much unwritten index the active segment keeps: a
// clean shutdown writes the rest, an unclean one rebuilds it.
const indexFlushThreshold = 4096

func (ix *index) maybeFlush() error {
	if len(ix.data)-ix.flushed >= indexFlushThreshold {
		return ix.flush()
	}
	return nil
}

func (ix *index) flush() error {
	if ix.unmap != nil || ix.flushed == len(ix.data) {
		return nil
	}
	if _, err := ix.file.WriteAt(ix.data[ix.flushed:], int64(ix.flushed)); err != nil {
		return err
	}
	ix.flushed = len(ix.data)
	return nil
}

// seal writes the whole index, makes it durable and maps it read-only.
func (ix *index) seal() error {
	if ix.unmap != nil {
		return nil
	}
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ix.file.Truncate(int64(len(ix.data))); err != nil {
		return err
	}
	if err := ix.file.Sync(); err != nil {
		return err
	}
	return ix.mapFile(int64(len(ix.data)))
}

// mapFile replaces the heap copy with a read-only mapping of the file's first
// size bytes, when the file system offers mappings.
func (ix *index) mapFile(size int64) error {
	m, ok := ix.file.(vfs.Mapper)
	if !ok || size == 0 {
		return nil
	}
	data, unmap, err := m.MapReadOnly(size)
	if err != nil {
		return err
	}
	ix.data, ix.unmap, ix.flushed = data, unmap, int(size)
	return nil
}

// unseal turns a mapped index back into a heap copy so it can change again
// (TruncateTo into a sealed segment).
func (ix *index) unseal() error {
	if ix.unmap == nil {
		return nil
	}
	heap := append([]byte(nil), ix.data...)
	err := ix.unmap()
	ix.data, ix.unmap = heap, nil
	return err
}

// truncateEntries keeps the first n entries, in memory and in the file.
func (ix *index) truncateEntries(n int) error {
	if err := ix.unseal(); err != nil {
		return err
	}
	ix.data = ix.data[:n*ix.entrySize]
	if ix.flushed > len(ix.data) {
		ix.flushed = len(ix.data)
	}
	return ix.file.Truncate(int64(ix.flushed))
}

// reset drops every entry (the index is about to be rebuilt).
func (ix *index) reset() error { return ix.truncateEntries(0) }

func (ix *index) close() error {
	var err error
	if ix.unmap != nil {
		err = ix.unmap()
		ix.unmap = nil
	}
	ix.data = nil
	if cerr := ix.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// offsetIndex maps relative offsets to file positions.
type offsetIndex struct{ index }

func (ix *offsetIndex) add(relOffset uint32, position uint32) {
	var e [offsetEntrySize]byte
	binary.BigEndian.PutUint32(e[0:4], relOffset)
	binary.BigEndian.PutUint32(e[4:8], position)
	ix.appendEntry(e[:])
}

func (ix *offsetIndex) at(i int) (relOffset, position uint32) {
	e := ix.entry(i)
	return binary.BigEndian.Uint32(e[0:4]), binary.BigEndian.Uint32(e[4:8])
}

// floor returns the entry with the largest relOffset <= rel, or ok=false when
// every entry is larger (the caller then scans from position 0).
func (ix *offsetIndex) floor(rel uint32) (relOffset, position uint32, ok bool) {
	n := ix.entries()
	i := sort.Search(n, func(i int) bool { r, _ := ix.at(i); return r > rel }) - 1
	if i < 0 {
		return 0, 0, false
	}
	relOffset, position = ix.at(i)
	return relOffset, position, true
}

// floorPosition returns the entry with the largest position <= pos.
func (ix *offsetIndex) floorPosition(pos uint32) (relOffset, position uint32, ok bool) {
	n := ix.entries()
	i := sort.Search(n, func(i int) bool { _, p := ix.at(i); return p > pos }) - 1
	if i < 0 {
		return 0, 0, false
	}
	relOffset, position = ix.at(i)
	return relOffset, position, true
}

// validate checks the invariants a usable index must hold against a
// segment of size bytes: entries strictly increasing in both fields and
// every position inside the file.
func (ix *offsetIndex) validate(size int64) error {
	if len(ix.data)%offsetEntrySize != 0 {
		return fmt.Errorf("offset index size %d is not a multiple of %d", len(ix.data), offsetEntrySize)
	}
	var prevRel, prevPos uint32
	for i := 0; i < ix.entries(); i++ {
		rel, pos := ix.at(i)
		if i > 0 && (rel <= prevRel || pos <= prevPos) {
			return fmt.Errorf("offset index entry %d (%d, %d) does not increase", i, rel, pos)
		}
		if int64(pos) >= size {
			return fmt.Errorf("offset index entry %d points at %d beyond the segment size %d", i, pos, size)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

// timeIndex maps timestamps to relative offsets.
type timeIndex struct{ index }

func (ix *timeIndex) add(timestamp int64, relOffset uint32) {
	var e [timeEntrySize]byte
	binary.BigEndian.PutUint64(e[0:8], uint64(timestamp))
	binary.BigEndian.PutUint32(e[8:12], relOffset)
	ix.appendEntry(e[:])
}

func (ix *timeIndex) at(i int) (timestamp int64, relOffset uint32) {
	e := ix.entry(i)
	return int64(binary.BigEndian.Uint64(e[0:8])), binary.BigEndian.Uint32(e[8:12])
}

// lastTimestamp is the newest timestamp recorded, or -1.
func (ix *timeIndex) lastTimestamp() int64 {
	if ix.entries() == 0 {
		return -1
	}
	ts, _ := ix.at(ix.entries() - 1)
	return ts
}

// before returns the last entry whose timestamp is < ts: every batch up to
// and including it is older than ts, so a search for ts may start there.
func (ix *timeIndex) before(ts int64) (relOffset uint32, ok bool) {
	n := ix.entries()
	i := sort.Search(n, func(i int) bool { t, _ := ix.at(i); return t >= ts }) - 1
	if i < 0 {
		return 0, false
	}
	_, relOffset = ix.at(i)
	return relOffset, true
}

func (ix *timeIndex) validate() error {
	if len(ix.data)%timeEntrySize != 0 {
		return fmt.Errorf("time index size %d is not a multiple of %d", len(ix.data), timeEntrySize)
	}
	var prevTS int64
	var prevRel uint32
	for i := 0; i < ix.entries(); i++ {
		ts, rel := ix.at(i)
		if i > 0 && (ts < prevTS || rel < prevRel) {
			return fmt.Errorf("time index entry %d (%d, %d) goes backwards", i, ts, rel)
		}
		prevTS, prevRel = ts, rel
	}
	return nil
}
