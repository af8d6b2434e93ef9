package engine

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// Open opens the log in opts.Dir, creating it when absent, and recovers it
// exactly as DESIGN.md §3 says:
//
//   - every sealed segment's index is validated against the segment (sizes,
//     monotone entries, the indexed batch really starts there) and its tail
//     after the last index entry is read and checked; an index that disagrees
//     is rebuilt from the log;
//   - after an unclean shutdown every batch of the last segment is read and
//     checked; the first bad one starts the torn tail, which is copied aside
//     (<segment>.log.torn) and truncated, unless a valid batch follows it:
//     then it is corruption in the middle of the log and Open fails with a
//     *CorruptionError naming file, position and offset;
//   - a bad batch in a sealed segment is always corruption: sealed segments
//     were fsynced before the next one was created.
func Open(opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	l := &Log{
		opts:    opts,
		fs:      opts.FS,
		dir:     opts.Dir,
		logger:  opts.Logger.With("log", opts.Dir),
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		arrived: make(chan struct{}, 1),
	}
	if err := l.recover(); err != nil {
		for _, s := range l.segments {
			s.release()
		}
		return nil, err
	}
	l.startBackground()
	return l, nil
}

func (l *Log) recover() error {
	fs, dir := l.fs, l.dir
	if err := fs.MkdirAll(dir); err != nil {
		return err
	}
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	var bases []int64
	logs := map[string]bool{}
	dirty := false
	for _, name := range names {
		switch {
		case name == cleanMarkerName:
			l.openedClean = true
		case strings.HasSuffix(name, tmpSuffix):
			// An atomic metadata write that never reached its rename.
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
			dirty = true
		default:
			if base, ok := parseSegmentName(name); ok {
				bases = append(bases, base)
				logs[segmentName(base)] = true
			}
		}
	}
	// Index files whose log is gone (retention stopped between removals).
	for _, name := range names {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if stem, ok := strings.CutSuffix(name, suffix); ok && !logs[stem] {
				if err := fs.Remove(filepath.Join(dir, name)); err != nil {
					return err
				}
				dirty = true
			}
		}
	}
	if l.openedClean {
		// From now on a crash must be seen as unclean: the marker's removal
		// is made durable before anything else is written.
		if err := fs.Remove(filepath.Join(dir, cleanMarkerName)); err != nil {
			return err
		}
		dirty = true
	}
	if len(names) == 0 {
		// An empty directory is a new log: nothing can have been lost, so
		// it counts as cleanly shut down (replication's unclean-restart
		// rule must not hold a brand-new replica back).
		l.openedClean = true
	}
	if len(bases) == 0 {
		// A full truncation cut short after removing the old segments leaves
		// only its checkpoint: start there.
		start := l.opts.InitialOffset
		if cp, err := l.loadLogStart(); err != nil {
			return err
		} else if cp > start {
			start = cp
		}
		s, _, err := openSegmentFiles(fs, dir, start)
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		dirty = true
	}
	for i, base := range bases {
		s, _, err := openSegmentFiles(fs, dir, base)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		last := i == len(bases)-1
		if last && !l.openedClean {
			err = l.recoverActive(s)
		} else {
			err = l.loadSegment(s, last)
		}
		if err != nil {
			return err
		}
	}
	if removed, err := l.dropEmptySealed(); err != nil {
		return err
	} else if removed {
		dirty = true
	}
	for i := 0; i+1 < len(l.segments); i++ {
		if a, b := l.segments[i], l.segments[i+1]; a.next != b.base {
			return &CorruptionError{File: b.path, Position: 0, Offset: a.next,
				Err: fmt.Errorf("segment starts at offset %d but the previous segment ends at %d", b.base, a.next)}
		}
	}
	if dirty {
		if err := fs.SyncDir(dir); err != nil {
			return err
		}
	}
	act := l.active()
	if err := l.prepareActive(act); err != nil {
		return err
	}
	// What is in the file now may be only in the page cache (a process
	// crash keeps it, a power loss would not): sync once so the durable end
	// starts at the log end.
	if err := act.file.Sync(); err != nil {
		return err
	}
	l.logStartOffset = l.segments[0].base
	l.logEndOffset = act.next
	if cp, err := l.loadLogStart(); err != nil {
		return err
	} else if cp > l.logStartOffset {
		l.logStartOffset = min(cp, l.logEndOffset)
	}
	l.durableEndOffset = act.next
	return nil
}

// loadSegment opens a segment whose tail is trusted to be whole: a sealed
// segment, or the last one after a clean shutdown. The index is validated
// and the bytes after its last entry are read and checked; on disagreement
// the index is rebuilt from a full scan.
func (l *Log) loadSegment(s *segment, last bool) error {
	size, err := s.file.Size()
	if err != nil {
		return err
	}
	if err := s.loadIndexes(); err != nil {
		return err
	}
	from, expect := int64(0), s.base
	ok := s.offsetIndex.validate(size) == nil && s.timeIndex.validate() == nil
	if ok {
		if ok, err = l.indexEndsAgree(s); err != nil {
			return err
		}
	}
	if l.opts.Verify == VerifyAll {
		// Read everything: the rebuild checks every batch's CRC and offsets.
		ok = false
	}
	if ok && s.offsetIndex.entries() > 0 {
		rel, pos := s.offsetIndex.at(s.offsetIndex.entries() - 1)
		from, expect = int64(pos), s.base+int64(rel)
		s.lastIndexedRel = int64(rel)
	}
	if ok {
		s.maxTimestamp = s.timeIndex.lastTimestamp()
		s.size = from
		s.next = expect
		if err := l.scanTail(s, size, expect, false); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return err
			}
			ok = false
			l.logger.Warn("index disagrees with segment, rebuilding", "file", s.path, "err", err)
		}
	}
	if !ok {
		if err := l.rebuild(s, size, last); err != nil {
			return err
		}
	}
	if last {
		return nil
	}
	s.sealed = true
	s.finalTimeEntry()
	if !ok || len(s.timeIndex.data) > s.timeIndex.flushed {
		// A rebuilt index, or a final time entry the file does not have yet
		// (a crash during the roll): write it out before mapping it.
		if err := s.offsetIndex.seal(); err != nil {
			return err
		}
		return s.timeIndex.seal()
	}
	if err := s.offsetIndex.mapFile(int64(len(s.offsetIndex.data))); err != nil {
		return err
	}
	return s.timeIndex.mapFile(int64(len(s.timeIndex.data)))
}

// indexEndsAgree checks that the first and last offset index entries point
// at batch starts with the offsets they claim. Entries in between are
// checked when a read uses them (indexedPosition). Read errors are returned:
// only a disagreement may lead to a rebuild.
func (l *Log) indexEndsAgree(s *segment) (bool, error) {
	n := s.offsetIndex.entries()
	if n == 0 {
		return true, nil
	}
	for _, i := range []int{0, n - 1} {
		rel, pos := s.offsetIndex.at(i)
		var b [record.HeaderSize]byte
		if _, err := s.file.ReadAt(b[:], int64(pos)); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		h, err := record.ParseHeader(b[:])
		if err != nil || h.BaseOffset != s.base+int64(rel) {
			return false, nil
		}
	}
	return true, nil
}

// scanTail reads and checks the batches from s.size to end, which must
// continue at offset expect and end exactly at end. With index=true it also
// adds index entries (rebuild).
func (l *Log) scanTail(s *segment, end, expect int64, index bool) error {
	sc := newBatchScanner(s.file, s.size, end, record.MaxBatchSize, true)
	for {
		h, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !isFormatError(err) {
			return err
		}
		if err != nil {
			return &CorruptionError{File: s.path, Position: sc.pos, Offset: expect, Err: err}
		}
		if h.BaseOffset != expect {
			return &CorruptionError{File: s.path, Position: sc.pos - int64(h.Size()), Offset: expect,
				Err: fmt.Errorf("batch has base offset %d", h.BaseOffset)}
		}
		if index {
			s.indexBatch(h, sc.pos-int64(h.Size()), l.opts.IndexIntervalBytes)
		} else if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp = h.MaxTimestamp
		}
		expect = h.NextOffset()
		s.size, s.next = sc.pos, expect
	}
}

// rebuild reads the whole segment and rebuilds both indexes. Any bad batch
// is corruption here: the segment's tail was trusted.
func (l *Log) rebuild(s *segment, end int64, last bool) error {
	if err := s.offsetIndex.reset(); err != nil {
		return err
	}
	if err := s.timeIndex.reset(); err != nil {
		return err
	}
	s.resetIndexState()
	s.size, s.next = 0, s.base
	return l.scanTail(s, end, s.base, true)
}

// recoverActive reads every batch of the last segment after an unclean
// shutdown, rebuilding its index, and repairs a torn tail.
func (l *Log) recoverActive(s *segment) error {
	end, err := s.file.Size()
	if err != nil {
		return err
	}
	if err := s.offsetIndex.reset(); err != nil {
		return err
	}
	if err := s.timeIndex.reset(); err != nil {
		return err
	}
	s.resetIndexState()
	s.size, s.next = 0, s.base
	sc := newBatchScanner(s.file, 0, end, record.MaxBatchSize, true)
	for {
		h, _, err := sc.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !isFormatError(err) {
			return err
		}
		if err == nil && h.BaseOffset != s.next {
			err = fmt.Errorf("%w: batch has base offset %d, expected %d", record.ErrCorrupt, h.BaseOffset, s.next)
		}
		if err == nil {
			s.indexBatch(h, sc.pos-int64(h.Size()), l.opts.IndexIntervalBytes)
			s.size, s.next = sc.pos, h.NextOffset()
			continue
		}
		return l.repairTail(s, end, err)
	}
}

// repairTail handles the first bad batch of the last segment at s.size.
func (l *Log) repairTail(s *segment, end int64, cause error) error {
	pos := s.size
	if errors.Is(cause, errZeroHeader) {
		zero, err := rangeIsZero(s.file, pos, end)
		if err != nil {
			return err
		}
		if zero {
			// Preallocated space, not a tear: keep the zeros for reuse.
			s.physicalSize = end
			return nil
		}
	}
	if found, at, err := findValidBatch(s.file, pos+1, end, s.next, record.MaxBatchSize); err != nil {
		return err
	} else if found {
		return &CorruptionError{File: s.path, Position: pos, Offset: s.next,
			Err: fmt.Errorf("%w (a valid batch follows at position %d, so this is not a torn tail)", cause, at)}
	}
	if err := l.keepAside(s, pos, end); err != nil {
		return err
	}
	if err := s.file.Truncate(pos); err != nil {
		return err
	}
	if err := s.file.Sync(); err != nil {
		return err
	}
	l.stats.tornTailBytes.Add(end - pos)
	l.logger.Warn("truncated torn tail", "file", s.path, "position", pos, "offset", s.next, "bytes", end-pos, "cause", cause)
	return nil
}

// keepAside copies the torn bytes [from, to) next to the segment, so an
// operator can look at what was cut. All-zero tails are not worth keeping.
func (l *Log) keepAside(s *segment, from, to int64) error {
	if zero, err := rangeIsZero(s.file, from, to); err != nil || zero {
		return err
	}
	name := s.path + tornSuffix
	for i := 1; ; i++ {
		if _, err := l.fs.Stat(name); vfs.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("%s%s.%d", s.path, tornSuffix, i)
	}
	f, err := l.fs.Create(name)
	if err != nil {
		return err
	}
	buf := make([]byte, min(to-from, 1<<20))
	for pos := from; pos < to; {
		n := min(int64(len(buf)), to-pos)
		if _, err := s.file.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			_ = f.Close()
			return err
		}
		if _, err := f.WriteAt(buf[:n], pos-from); err != nil {
			_ = f.Close()
			return err
		}
		pos += n
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return l.fs.SyncDir(l.dir)
}

// findValidBatch looks for a whole, CRC-valid batch starting anywhere in
// [from, end) whose base offset is at least minOffset. Finding one after a
// bad batch means the bad batch is damage in the middle of the log.
func findValidBatch(f vfs.File, from, end, minOffset int64, maxBatch int) (bool, int64, error) {
	const chunk = 4 << 20
	buf := make([]byte, 0, chunk+record.HeaderSize)
	for start := from; start+record.HeaderSize <= end; start += chunk {
		n := min(int64(chunk+record.HeaderSize), end-start)
		buf = buf[:n]
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return false, 0, err
		}
		for i := 0; i < len(buf)-record.HeaderSize+1 && i < chunk; i++ {
			// magic sits at byte 16 of a header; skip positions cheaply.
			if buf[i+16] != byte(record.Magic) {
				continue
			}
			h, err := record.ParseHeader(buf[i:])
			if err != nil || h.BaseOffset < minOffset || h.Size() > maxBatch || start+int64(i)+int64(h.Size()) > end {
				continue
			}
			b := make([]byte, h.Size())
			if _, err := f.ReadAt(b, start+int64(i)); err != nil && !errors.Is(err, io.EOF) {
				return false, 0, err
			}
			if _, err := record.Verify(b); err == nil {
				return true, start + int64(i), nil
			}
		}
	}
	return false, 0, nil
}

// dropEmptySealed removes empty segments that are not the last one (left by
// a truncation that was cut short).
func (l *Log) dropEmptySealed() (bool, error) {
	kept := l.segments[:0]
	removed := false
	for i, s := range l.segments {
		if s.size == 0 && i < len(l.segments)-1 {
			if err := l.removeSegmentFiles(s); err != nil {
				return removed, err
			}
			s.release()
			removed = true
			continue
		}
		kept = append(kept, s)
	}
	l.segments = kept
	return removed, nil
}

// prepareActive readies the last segment for appends: a heap index, the
// physical size, and preallocation.
func (l *Log) prepareActive(s *segment) error {
	s.sealed = false
	if err := s.offsetIndex.unseal(); err != nil {
		return err
	}
	if err := s.timeIndex.unseal(); err != nil {
		return err
	}
	if s.physicalSize < s.size {
		s.physicalSize = s.size
	}
	if l.opts.prealloc() != PreallocZeroFill && s.physicalSize > s.size {
		// A zero tail from an earlier zero-fill run: drop it.
		if err := s.file.Truncate(s.size); err != nil {
			return err
		}
		s.physicalSize = s.size
	}
	if l.opts.prealloc() == PreallocFallocate {
		if err := s.file.Preallocate(s.size, l.opts.SegmentBytes-s.size); err != nil {
			return err
		}
	}
	s.created = l.opts.Now()
	return nil
}

func (l *Log) removeSegmentFiles(s *segment) error {
	logPath, indexPath, timeIndexPath := segmentPaths(l.dir, s.base)
	for _, p := range []string{logPath, indexPath, timeIndexPath} {
		if err := l.fs.Remove(p); err != nil && !vfs.IsNotExist(err) {
			return err
		}
	}
	return nil
}
