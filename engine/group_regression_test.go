package engine

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// These tests pin down bugs found in review: requests queued in one group
// behind a Close or a poisoning write, a crash inside a roll, a disk-full
// group that skipped offsets, and a full truncation cut short.

// holdLeadership makes the test the group-commit leader, so requests queue
// and the next group holds exactly what the test put in it.
func holdLeadership(l *Log) {
	l.qmu.Lock()
	l.leading = true
	l.qmu.Unlock()
}

func waitQueued(t *testing.T, l *Log, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.qmu.Lock()
		k := len(l.queue)
		l.qmu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue never reached %d", n)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// handOff passes the leadership to the head of the queue, as lead() does.
func handOff(l *Log) {
	l.qmu.Lock()
	next := l.queue[0]
	l.qmu.Unlock()
	next.wake <- struct{}{}
}

type appendOutcome struct {
	res AppendResult
	err error
}

func appendAsync(l *Log, batch []byte) chan appendOutcome {
	ch := make(chan appendOutcome, 1)
	go func() { r, err := l.Append(batch); ch <- appendOutcome{r, err} }()
	return ch
}

func TestAppendQueuedBehindCloseIsRefused(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(fs, "/d")
	opts.SegmentBytes = 1 << 20
	opts.Sync = SyncPolicyAlways // zero-fill ahead: the bug left zeros after the clean marker
	l := mustOpen(t, opts)
	if _, err := l.Append(makeBatch(1, 3, 50, 1000)); err != nil {
		t.Fatal(err)
	}
	holdLeadership(l)
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	waitQueued(t, l, 1)
	late := appendAsync(l, makeBatch(2, 3, 50, 2000))
	waitQueued(t, l, 2)
	handOff(l)
	if out := <-late; !errors.Is(out.err, ErrClosed) {
		t.Fatalf("append behind Close in one group: %+v, %v (want ErrClosed)", out.res, out.err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	l2, err := Open(opts)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	defer l2.Close()
	if got := readAll(t, l2); len(got) != 3 {
		t.Fatalf("read %d records after reopen, want 3", len(got))
	}
}

func TestAppendQueuedBehindPoisonIsRefused(t *testing.T) {
	mem := vfs.NewMem()
	var armed atomic.Bool
	fs := vfs.WithErrors(mem, vfs.InjectorFunc(func(op vfs.Op) error {
		if armed.Load() && op.Kind == vfs.OpSyncDir {
			return syscall.EIO
		}
		return nil
	}))
	l := mustOpen(t, testOptions(fs, "/d"))
	for l.SizeBytes() <= 3000 {
		if _, err := l.Append(makeBatch(1, 2, 100, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	holdLeadership(l)
	armed.Store(true)
	big := appendAsync(l, makeBatch(2, 10, 200, 2000)) // needs a roll, which fails
	waitQueued(t, l, 1)
	small := appendAsync(l, makeBatch(3, 1, 10, 3000)) // would fit in the old segment
	waitQueued(t, l, 2)
	handOff(l)
	if out := <-big; !errors.Is(out.err, ErrPoisoned) {
		t.Fatalf("roll failure: %v", out.err)
	}
	if out := <-small; !errors.Is(out.err, ErrPoisoned) {
		t.Fatalf("append after the poisoning request in the same group: %+v, %v", out.res, out.err)
	}
	armed.Store(false)
	l.Close()
	l2, err := Open(testOptions(mem, "/d"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	l2.Close()
}

// A crash after the next segment's files exist but before the old
// segment's final time-index entry was written.
func TestCrashInsideRollReopens(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOptions(mem, "/d")
	l := mustOpen(t, opts)
	for i := 0; i < 5; i++ {
		if _, err := l.Append(makeBatch(i, 2, 50, int64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.closing.Store(true) // the process dies: no Close
	if _, _, err := openSegmentFiles(mem, "/d", l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(opts)
	if err != nil {
		t.Fatalf("reopen after a crash inside a roll: %v", err)
	}
	defer l2.Close()
	if got := readAll(t, l2); len(got) != 10 {
		t.Fatalf("read %d records", len(got))
	}
	if off, ok, err := l2.ReadAtTime(1004); err != nil || !ok || off != 7 { // batch 3 holds 1003, 1004 at offsets 6, 7
		t.Fatalf("time lookup after the repair: %d %v %v", off, ok, err)
	}
}

func TestDiskFullGroupKeepsOffsetsDense(t *testing.T) {
	mem := vfs.NewMem()
	var armed atomic.Bool
	var writes atomic.Int32
	fs := vfs.WithErrors(mem, vfs.InjectorFunc(func(op vfs.Op) error {
		if !armed.Load() {
			return nil
		}
		if op.Kind == vfs.OpCreate {
			return syscall.ENOSPC
		}
		if op.Kind == vfs.OpWrite && writes.Add(1) == 1 {
			return syscall.ENOSPC
		}
		return nil
	}))
	l := mustOpen(t, testOptions(fs, "/d"))
	for l.SizeBytes() < 3000 {
		if _, err := l.Append(makeBatch(1, 2, 100, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	end0 := l.LogEndOffset()
	holdLeadership(l)
	armed.Store(true)
	a := appendAsync(l, makeBatch(2, 2, 100, 2000)) // its write hits ENOSPC
	waitQueued(t, l, 1)
	b := appendAsync(l, makeBatch(3, 10, 200, 2000)) // needs a roll: creating the segment hits ENOSPC
	waitQueued(t, l, 2)
	c := appendAsync(l, makeBatch(4, 1, 10, 3000)) // fits, and succeeds
	waitQueued(t, l, 3)
	handOff(l)
	for name, ch := range map[string]chan appendOutcome{"a": a, "b": b} {
		if out := <-ch; !errors.Is(out.err, ErrDiskFull) {
			t.Fatalf("%s: %v, want disk full", name, out.err)
		}
	}
	out := <-c
	if out.err != nil || out.res.BaseOffset != end0 {
		t.Fatalf("append after a disk-full group: %+v %v, want base offset %d", out.res, out.err, end0)
	}
	armed.Store(false)
	if got := readAll(t, l); int64(len(got)) != l.LogEndOffset() {
		t.Fatalf("offsets not dense: %d records, log end %d", len(got), l.LogEndOffset())
	}
	l.Close()
}

func TestTruncateFullyCutShortReopens(t *testing.T) {
	mem := vfs.NewMem()
	var armed atomic.Bool
	fs := vfs.WithErrors(mem, vfs.InjectorFunc(func(op vfs.Op) error {
		if armed.Load() && op.Kind == vfs.OpRemove && strings.HasSuffix(op.Path, ".log") {
			return syscall.EIO // the process dies right after the checkpoint
		}
		return nil
	}))
	l := mustOpen(t, testOptions(fs, "/d"))
	for i := 0; i < 5; i++ {
		if _, err := l.Append(makeBatch(i, 2, 50, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if err := l.TruncateFullyAndStartAt(100); err == nil {
		t.Fatal("injected failure not reported")
	}
	for _, torn := range []bool{false, true} {
		crashed := mem.Crash(vfs.CrashOptions{TornWrites: torn})
		l2, err := Open(testOptions(crashed, "/d"))
		if err != nil {
			t.Fatalf("reopen after a cut-short full truncation: %v", err)
		}
		if s, e, _ := l2.Offsets(); s > e {
			t.Fatalf("log start %d past log end %d", s, e)
		}
		l2.Close()
	}
	// Cut short after the old segments are gone: it restarts at the checkpoint.
	mem2 := vfs.NewMem()
	l3 := mustOpen(t, testOptions(mem2, "/d"))
	if _, err := l3.Append(makeBatch(1, 2, 50, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(mem2, "/d", logStartMeta, []byte("100")); err != nil {
		t.Fatal(err)
	}
	l3.closing.Store(true)
	for _, name := range []string{"00000000000000000000.log", "00000000000000000000.index", "00000000000000000000.timeindex"} {
		if err := mem2.Remove("/d/" + name); err != nil {
			t.Fatal(err)
		}
	}
	l4, err := Open(testOptions(mem2, "/d"))
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	if s, e, _ := l4.Offsets(); s != 100 || e != 100 {
		t.Fatalf("restarted at %d..%d, want the checkpoint 100", s, e)
	}
}

func TestTruncateToLeavesEverythingDurable(t *testing.T) {
	fs, dir := fsCases[0].new(t)
	l := mustOpen(t, testOptions(fs, dir))
	defer l.Close()
	for i := 0; i < 10; i++ {
		if _, err := l.Append(makeBatch(i, 2, 50, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateTo(8); err != nil {
		t.Fatal(err)
	}
	if _, e, d := l.Offsets(); e != 8 || d != 8 {
		t.Fatalf("after TruncateTo(8): end %d durable %d, want 8 and 8", e, d)
	}
}
