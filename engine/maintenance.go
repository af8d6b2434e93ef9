package engine

import (
	"errors"
	"fmt"
	"github.com/sluice-mq/sluice/engine/record"
	"path/filepath"
	"sort"
	"time"
)

// TruncateTo removes every batch that holds an offset >= offset, for a
// follower whose log diverged from its new leader's (replication truncates
// at a leader-epoch boundary, which is a batch boundary). A batch that
// straddles offset is removed whole, so the new log end may be below offset.
// The truncation is durable when TruncateTo returns.
func (l *Log) TruncateTo(offset int64) error {
	r := &request{kind: opTruncate, offset: offset}
	l.submit(r)
	return r.err
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, for a
// follower so far behind that its leader no longer has the offsets it needs.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("engine: start offset %d is negative", offset)
	}
	r := &request{kind: opTruncateFully, offset: offset}
	l.submit(r)
	return r.err
}

// EnforceRetention deletes the sealed segments that retention allows to go,
// oldest first, and returns how many it deleted. The background cleaner
// calls it every RetentionCheckInterval.
func (l *Log) EnforceRetention(now time.Time) (int, error) {
	r := &request{kind: opRetention, now: now}
	l.submit(r)
	return r.deleted, r.err
}

// Close syncs everything, writes the clean-shutdown marker and closes the
// files. Calls after Close return ErrClosed.
func (l *Log) Close() error { return l.shutdown(opClose) }

// Abandon closes the log the way a crash leaves it, for fault tests: no
// sync, no index flush, no clean-shutdown marker. Whatever the file system
// kept stays; the next Open recovers as after a crash (on a real file
// system unsynced writes survive in the page cache, as after kill -9).
// Calls after Abandon return ErrClosed.
func (l *Log) Abandon() error { return l.shutdown(opAbandon) }

// shutdown stops the background work, runs the closing request (opClose
// or opAbandon) inside the writer, and releases the segments.
func (l *Log) shutdown(kind opKind) error {
	l.bgMu.Lock()
	if !l.closing.CompareAndSwap(false, true) {
		l.bgMu.Unlock()
		return ErrClosed
	}
	close(l.stop)
	l.bgMu.Unlock()
	l.bg.Wait()
	r := &request{kind: kind}
	l.submit(r)
	l.mu.Lock()
	l.closed = true
	segs := l.segments
	l.notifyLocked()
	l.mu.Unlock()
	// Readers still in flight hold their own references; the files close
	// when the last of them is done.
	for _, s := range segs {
		s.release()
	}
	return r.err
}

// closeWriter runs inside the writer: make the log durable and say so.
func (l *Log) closeWriter() error {
	act := l.active()
	if act.physicalSize > act.size {
		if err := act.file.Truncate(act.size); err != nil {
			return l.setPoison(err)
		}
		act.physicalSize = act.size
		l.unsyncedBytes++ // the size changed: force the sync below
	}
	if err := l.syncActive(); err != nil {
		return err
	}
	for _, ix := range []*index{&act.offsetIndex.index, &act.timeIndex.index} {
		if err := persistIndex(ix); err != nil {
			return l.setPoison(err)
		}
	}
	marker, err := l.fs.Create(filepath.Join(l.dir, cleanMarkerName))
	if err != nil {
		return err
	}
	if err := marker.Close(); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.setPoison(err)
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return nil
}

// truncateTo runs inside the writer.
func (l *Log) truncateTo(offset int64) error {
	l.mu.RLock()
	start, end := l.logStartOffset, l.logEndOffset
	l.mu.RUnlock()
	if offset >= end {
		return nil
	}
	if offset < start {
		return &OffsetRangeError{Requested: offset, LogStartOffset: start, LogEndOffset: end}
	}
	idx := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	target := l.segments[idx]
	// Remove later segments from the newest back, and make that durable
	// before touching the target: a crash in between leaves a shorter but
	// contiguous log, never a gap.
	removed := append([]*segment(nil), l.segments[idx+1:]...)
	l.mu.Lock()
	l.segments = l.segments[:idx+1]
	l.mu.Unlock()
	for i := len(removed) - 1; i >= 0; i-- {
		if err := l.removeSegmentFiles(removed[i]); err != nil {
			return l.setPoison(err)
		}
	}
	if len(removed) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.setPoison(err)
		}
	}
	pos, batchBase, err := l.findBatch(target, offset)
	if err != nil {
		return l.setPoison(err)
	}
	if err := target.file.Truncate(pos); err != nil {
		return l.setPoison(err)
	}
	if err := target.file.Sync(); err != nil {
		return l.setPoison(err)
	}
	l.unsyncedBytes = 0
	rel := uint32(batchBase - target.base)
	l.mu.Lock()
	keepOffsets := 0
	for keepOffsets < target.offsetIndex.entries() {
		if r, _ := target.offsetIndex.at(keepOffsets); r >= rel {
			break
		}
		keepOffsets++
	}
	keepTimes := 0
	for keepTimes < target.timeIndex.entries() {
		if _, r := target.timeIndex.at(keepTimes); r >= rel {
			break
		}
		keepTimes++
	}
	errIdx := errors.Join(target.offsetIndex.truncateEntries(keepOffsets), target.timeIndex.truncateEntries(keepTimes))
	target.sealed = false
	target.id = newSegmentID()
	target.size, target.next = pos, batchBase
	target.physicalSize = pos
	target.resetIndexState()
	if n := target.offsetIndex.entries(); n > 0 {
		r, p := target.offsetIndex.at(n - 1)
		target.lastIndexedRel = int64(r)
		target.bytesSinceIdx = int(pos - int64(p))
	} else {
		target.bytesSinceIdx = int(pos)
	}
	target.maxTimestamp = target.timeIndex.lastTimestamp()
	l.logEndOffset = batchBase
	// The truncation was fdatasynced: everything left is durable.
	l.durableEndOffset = batchBase
	l.notifyLocked()
	l.mu.Unlock()
	for _, s := range removed {
		s.release()
	}
	if errIdx != nil {
		return l.setPoison(errIdx)
	}
	// The newest timestamp may sit after the last time index entry.
	return l.refreshMaxTimestamp(target)
}

// refreshMaxTimestamp rescans the batches after the last index entry.
func (l *Log) refreshMaxTimestamp(s *segment) error {
	from := int64(0)
	if n := s.offsetIndex.entries(); n > 0 {
		_, p := s.offsetIndex.at(n - 1)
		from = int64(p)
	}
	sc := newBatchScanner(s.file, from, s.size, record.MaxBatchSize, false)
	maxTS := s.maxTimestamp
	for {
		h, _, err := sc.next()
		if err != nil {
			break
		}
		maxTS = max(maxTS, h.MaxTimestamp)
	}
	l.mu.Lock()
	s.maxTimestamp = maxTS
	l.mu.Unlock()
	return nil
}

// truncateFully runs inside the writer. The order keeps every crash point
// recoverable: the new log start is checkpointed first, then the old
// segments go (newest first, made durable), and only then is the new empty
// segment created; a crash in between reopens at the checkpoint.
func (l *Log) truncateFully(offset int64) error {
	if err := l.writeLogStart(offset); err != nil {
		return err
	}
	old := l.segments
	for i := len(old) - 1; i >= 0; i-- {
		if err := l.removeSegmentFiles(old[i]); err != nil {
			return l.setPoison(err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.setPoison(err)
	}
	s, _, err := openSegmentFiles(l.fs, l.dir, offset)
	if err != nil {
		return l.setPoison(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.release()
		return l.setPoison(err)
	}
	l.mu.Lock()
	l.segments = []*segment{s}
	l.logStartOffset, l.logEndOffset, l.durableEndOffset = offset, offset, offset
	l.notifyLocked()
	l.mu.Unlock()
	for _, o := range old {
		o.release()
	}
	l.unsyncedBytes = 0
	return l.prepareActive(s)
}

// enforceRetention runs inside the writer. Only sealed segments go, oldest
// first, and only whole segments: a consumer below the new log start gets
// ErrOffsetOutOfRange with the valid range, never a silent skip.
func (l *Log) enforceRetention(now time.Time) (int, error) {
	l.mu.RLock()
	var total int64
	for _, s := range l.segments {
		total += s.size
	}
	n := 0
	for n < len(l.segments)-1 {
		s := l.segments[n]
		expired := l.opts.RetentionTime > 0 && s.maxTimestamp >= 0 &&
			now.Sub(time.UnixMilli(s.maxTimestamp)) > l.opts.RetentionTime
		oversize := l.opts.RetentionBytes > 0 && total-s.size >= l.opts.RetentionBytes
		if !expired && !oversize {
			break
		}
		total -= s.size
		n++
	}
	l.mu.RUnlock()
	if n == 0 {
		return 0, nil
	}
	l.mu.Lock()
	gone := append([]*segment(nil), l.segments[:n]...)
	l.segments = append([]*segment(nil), l.segments[n:]...)
	l.logStartOffset = max(l.logStartOffset, l.segments[0].base)
	l.notifyLocked()
	l.mu.Unlock()
	for _, s := range gone {
		l.logger.Info("retention deleting segment", "file", s.path, "bytes", s.size, "maxTimestamp", s.maxTimestamp)
	}
	return n, l.dropSegments(gone)
}

// startBackground starts the interval flusher and the retention cleaner.
func (l *Log) startBackground() {
	if l.opts.Sync.Mode == SyncInterval {
		l.every(l.opts.Sync.Interval, func() { _ = l.Sync() })
	}
	if l.opts.RetentionCheckInterval > 0 {
		l.every(l.opts.RetentionCheckInterval, func() { _, _ = l.EnforceRetention(l.opts.Now()) })
	}
}

func (l *Log) every(d time.Duration, fn func()) {
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

// findBatch returns the position and base offset of the batch holding
// offset. Called by the writer, the only goroutine that changes segments.
func (l *Log) findBatch(s *segment, offset int64) (int64, int64, error) {
	pos, h, err := l.batchContaining(s, offset)
	if err != nil {
		return 0, 0, err
	}
	return pos, h.BaseOffset, nil
}
