package engine

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrOffsetOutOfRange is returned by reads and truncations asking for an
	// offset outside [log start, log end]. The error is an *OffsetRangeError
	// that carries the valid range, so a consumer can reset instead of guessing.
	ErrOffsetOutOfRange = errors.New("engine: offset out of range")
	// ErrCorrupt is returned by Open when a batch before the tail of the log
	// fails its checks (bad CRC, bad length, offsets that do not continue).
	// The error is a *CorruptionError naming file, position and offset; the log
	// refuses to open rather than silently drop acknowledged data.
	ErrCorrupt = errors.New("engine: corrupt log")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("engine: log closed")
	// ErrPoisoned wraps the first fsync or write error the log met. Once
	// poisoned, every later call returns the same error: after a failed fsync
	// the kernel may have dropped the dirty pages, so retrying the fsync would
	// report success for data that is gone (the PostgreSQL fsyncgate lesson).
	ErrPoisoned = errors.New("engine: log poisoned by an earlier I/O error")
	// ErrDiskFull is returned by Append when the file system is out of space.
	// Nothing of the failed group stays in the log and the log is not
	// poisoned: appends succeed again once space returns.
	ErrDiskFull = errors.New("engine: disk full")
	// ErrInvalidBatch is returned by Append for bytes that are not one whole,
	// valid record batch (it wraps the record package's error).
	ErrInvalidBatch = errors.New("engine: invalid batch")
	// ErrOffsetMismatch is returned by AppendReplica when the batch's base
	// offset is not the log end offset: a follower must append densely.
	ErrOffsetMismatch = errors.New("engine: batch offset does not continue the log")
	// ErrBatchTooLarge is returned by Append for a batch larger than a segment.
	ErrBatchTooLarge = errors.New("engine: batch larger than the segment size")
)

// OffsetRangeError is the detail behind ErrOffsetOutOfRange.
type OffsetRangeError struct {
	Requested      int64
	LogStartOffset int64
	LogEndOffset   int64
}

func (e *OffsetRangeError) Error() string {
	return fmt.Sprintf("engine: offset %d out of range [%d, %d]", e.Requested, e.LogStartOffset, e.LogEndOffset)
}

// Unwrap makes errors.Is(err, ErrOffsetOutOfRange) hold.
func (e *OffsetRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// CorruptionError locates a batch that failed its checks before the tail.
type CorruptionError struct {
	File     string // segment file path
	Position int64  // byte position of the bad batch in the file
	Offset   int64  // offset the log expected at that position
	Err      error  // what failed (a record package error)
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("engine: corrupt log: file %s position %d offset %d: %v", e.File, e.Position, e.Offset, e.Err)
}

// Unwrap lets errors.Is match both ErrCorrupt and the record-level cause.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// poisonError keeps the original I/O error reachable (errors.Is(err,
// syscall.EIO) still works) while marking the log as poisoned.
type poisonError struct{ cause error }

func (e *poisonError) Error() string   { return "engine: log poisoned: " + e.cause.Error() }
func (e *poisonError) Unwrap() []error { return []error{ErrPoisoned, e.cause} }

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func diskFull(cause error) error { return fmt.Errorf("%w: %w", ErrDiskFull, cause) }
