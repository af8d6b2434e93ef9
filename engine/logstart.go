package engine

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// logStartMeta checkpoints a log start offset that lies inside a segment
// (AdvanceLogStart); without it the log start is the first segment's base.
const logStartMeta = "log-start-offset"

// AdvanceLogStart makes offset the first readable offset, as Kafka's
// DeleteRecords does: reads below it get ErrOffsetOutOfRange, segments that
// lie wholly below it are deleted, and the new start survives restarts.
// Moving it backwards is a no-op; beyond the log end is an error.
func (l *Log) AdvanceLogStart(offset int64) error {
	r := &request{kind: opAdvanceStart, offset: offset}
	l.submit(r)
	return r.err
}

// advanceLogStart runs inside the writer.
func (l *Log) advanceLogStart(offset int64) error {
	l.mu.RLock()
	start, end := l.logStartOffset, l.logEndOffset
	l.mu.RUnlock()
	if offset > end {
		return &OffsetRangeError{Requested: offset, LogStartOffset: start, LogEndOffset: end}
	}
	if offset <= start {
		return nil
	}
	if err := WriteFileAtomic(l.fs, l.dir, logStartMeta, []byte(strconv.FormatInt(offset, 10))); err != nil {
		return err
	}
	l.mu.Lock()
	l.logStartOffset = offset
	n := 0
	for n < len(l.segments)-1 && l.segments[n].next <= offset {
		n++
	}
	gone := append([]*segment(nil), l.segments[:n]...)
	l.segments = append([]*segment(nil), l.segments[n:]...)
	l.notifyLocked()
	l.mu.Unlock()
	return l.dropSegments(gone)
}

// dropSegments deletes segments already removed from the list.
func (l *Log) dropSegments(gone []*segment) error {
	for _, s := range gone {
		if err := l.removeSegmentFiles(s); err != nil {
			return l.setPoison(err)
		}
		l.stats.deletedSegs.Add(1)
		l.stats.deletedBytes.Add(s.size)
		s.release()
	}
	if len(gone) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.setPoison(err)
		}
	}
	return nil
}

// loadLogStart reads the checkpoint at open; a damaged one is ignored with a
// warning (the log start falls back to the first segment's base, which
// exposes records that were deleted logically but never lost).
func (l *Log) loadLogStart() (int64, error) {
	data, err := ReadFileChecked(l.fs, l.dir, logStartMeta)
	if vfs.IsNotExist(err) {
		return -1, nil
	}
	if errors.Is(err, ErrMetaCorrupt) {
		l.logger.Warn("ignoring a damaged log start checkpoint", "err", err)
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		l.logger.Warn("ignoring a malformed log start checkpoint", "value", string(data))
		return -1, nil
	}
	return v, nil
}

func (l *Log) writeLogStart(offset int64) error {
	if err := WriteFileAtomic(l.fs, l.dir, logStartMeta, []byte(strconv.FormatInt(offset, 10))); err != nil {
		return fmt.Errorf("engine: log start checkpoint: %w", err)
	}
	return nil
}
