package vfs

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// injected returns an error matching both ErrInjected and errno, so a test
// can tell it was made up and the engine sees the errno a disk would give.
func injected(errno syscall.Errno) error {
	return fmt.Errorf("%w: %w", ErrInjected, errno)
}

// SpaceInjector fails writes once a byte budget is spent, like a disk
// filling up. Only writes spend it; truncates and preallocations do not.
type SpaceInjector struct {
	remaining atomic.Int64
	disabled  atomic.Bool
}

// ENOSPCAfter lets the first budget bytes of writes through and fails the
// rest with an error matching syscall.ENOSPC and ErrInjected. The write
// that crosses the limit writes the bytes that still fit and reports them
// with the error, as a real file system does when the last blocks go.
func ENOSPCAfter(budget int64) *SpaceInjector {
	s := &SpaceInjector{}
	s.remaining.Store(budget)
	return s
}

// Inject implements Injector.
func (s *SpaceInjector) Inject(op Op) error {
	if op.Kind != OpWrite || op.Len == 0 || s.disabled.Load() {
		return nil
	}
	for {
		rem := s.remaining.Load()
		if op.Len <= rem {
			if s.remaining.CompareAndSwap(rem, rem-op.Len) {
				return nil
			}
			continue
		}
		if !s.remaining.CompareAndSwap(rem, 0) {
			continue
		}
		err := injected(syscall.ENOSPC)
		if rem <= 0 {
			return err
		}
		return &ShortWriteError{N: rem, Err: err}
	}
}

// SetBudget makes budget more bytes writable from now on, as if space had
// been freed.
func (s *SpaceInjector) SetBudget(budget int64) { s.remaining.Store(budget) }

// Remaining returns the bytes that can still be written.
func (s *SpaceInjector) Remaining() int64 { return s.remaining.Load() }

// Disable lets every write through without spending the budget; Enable
// resumes counting where it stopped.
func (s *SpaceInjector) Disable() { s.disabled.Store(true) }

// Enable undoes Disable.
func (s *SpaceInjector) Enable() { s.disabled.Store(false) }

// SyncInjector fails File.Sync with EIO after a number of successes. It
// leaves SyncDir alone: a directory fsync failing is a different test.
type SyncInjector struct {
	okLeft   atomic.Int64
	disabled atomic.Bool
}

// EIOOnSync fails every File.Sync with an error matching syscall.EIO and
// ErrInjected.
func EIOOnSync() *SyncInjector { return EIOOnSyncAfter(0) }

// EIOOnSyncAfter lets the first n File.Sync calls succeed and fails every
// later one with an error matching syscall.EIO and ErrInjected.
func EIOOnSyncAfter(n int64) *SyncInjector {
	s := &SyncInjector{}
	s.okLeft.Store(n)
	return s
}

// Inject implements Injector.
func (s *SyncInjector) Inject(op Op) error {
	if op.Kind != OpSync || s.disabled.Load() {
		return nil
	}
	if s.okLeft.Add(-1) >= 0 {
		return nil
	}
	s.okLeft.Store(-1) // keep the counter from drifting toward overflow
	return injected(syscall.EIO)
}

// Disable lets every Sync through, as if the fault had cleared.
func (s *SyncInjector) Disable() { s.disabled.Store(true) }

// Enable undoes Disable.
func (s *SyncInjector) Enable() { s.disabled.Store(false) }

// AtOpInjector fails exactly one operation, chosen by its position.
type AtOpInjector struct {
	at    int64
	err   error
	seen  atomic.Int64
	fired atomic.Bool
}

// AtOp fails the i-th operation (counting every Inject call from 0, of any
// kind) with err, which is wrapped to match ErrInjected if it does not
// already; a nil err means EIO. Run a workload once under an OpCounter to
// learn how many operations it does, then once per i to see that every
// single failure is handled.
func AtOp(i int64, err error) *AtOpInjector {
	switch {
	case err == nil:
		err = injected(syscall.EIO)
	case !errors.Is(err, ErrInjected):
		err = fmt.Errorf("%w: %w", ErrInjected, err)
	}
	return &AtOpInjector{at: i, err: err}
}

// Inject implements Injector.
func (a *AtOpInjector) Inject(op Op) error {
	if a.seen.Add(1)-1 != a.at {
		return nil
	}
	a.fired.Store(true)
	return a.err
}

// Fired reports whether the chosen operation has happened, i.e. whether
// the workload got far enough to see the failure.
func (a *AtOpInjector) Fired() bool { return a.fired.Load() }

// OpCounter injects nothing and counts operations, in total and by kind.
// The zero value is ready to use.
type OpCounter struct {
	total  atomic.Int64
	byKind [numOpKinds]atomic.Int64
}

// Inject implements Injector.
func (c *OpCounter) Inject(op Op) error {
	c.total.Add(1)
	if op.Kind < numOpKinds {
		c.byKind[op.Kind].Add(1)
	}
	return nil
}

// Count returns the number of operations seen.
func (c *OpCounter) Count() int64 { return c.total.Load() }

// CountKind returns the number of operations of kind k seen.
func (c *OpCounter) CountKind(k OpKind) int64 {
	if k >= numOpKinds {
		return 0
	}
	return c.byKind[k].Load()
}

// Latency delays operations of the given kinds (all kinds if none) by d
// and never fails them, to widen race windows and exercise timeouts.
func Latency(d time.Duration, kinds ...OpKind) Injector {
	return InjectorFunc(func(op Op) error {
		if len(kinds) == 0 || slices.Contains(kinds, op.Kind) {
			time.Sleep(d)
		}
		return nil
	})
}

// Chain asks each injector in turn and returns the first error; the
// injectors after a failing one are not asked about that operation.
func Chain(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) error {
		for _, inj := range injs {
			if err := inj.Inject(op); err != nil {
				return err
			}
		}
		return nil
	})
}
