package vfs_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

func newErrFS(t *testing.T, inj vfs.Injector) (vfs.FS, *vfs.MemFS) {
	t.Helper()
	mem := vfs.NewMem()
	if err := mem.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	return vfs.WithErrors(mem, inj), mem
}

func mustCreate(t *testing.T, fsys vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkInjected fails unless err is an injected error carrying errno and
// wrapped in an *os.PathError, the shape real errors have.
func checkInjected(t *testing.T, what string, err error, errno syscall.Errno) {
	t.Helper()
	var pe *fs.PathError
	switch {
	case !errors.Is(err, vfs.ErrInjected):
		t.Errorf("%s: %v does not match vfs.ErrInjected", what, err)
	case !errors.Is(err, errno):
		t.Errorf("%s: %v does not match %v", what, err, errno)
	case !errors.As(err, &pe):
		t.Errorf("%s: %v is not an *os.PathError", what, err)
	}
}

func TestENOSPCAfter(t *testing.T) {
	space := vfs.ENOSPCAfter(10)
	fsys, mem := newErrFS(t, space)
	f := mustCreate(t, fsys, "/d/f")

	for i := range 2 {
		if n, err := f.WriteAt([]byte("abcd"), int64(4*i)); n != 4 || err != nil {
			t.Fatalf("write %d within budget = %d, %v", i, n, err)
		}
	}
	// Crossing the budget writes what fits and says so.
	n, err := f.WriteAt([]byte("efgh"), 8)
	if n != 2 {
		t.Errorf("crossing write reported %d bytes, want 2", n)
	}
	checkInjected(t, "crossing write", err, syscall.ENOSPC)
	if got, _ := contents(t, mem, "/d/f"); string(got) != "abcdabcdef" {
		t.Errorf("file holds %q, want the 10 budgeted bytes", got)
	}
	// Full: nothing more goes in, vectors included.
	n, err = f.WritevAt([][]byte{[]byte("x")}, 10)
	if n != 0 {
		t.Errorf("write on a full disk reported %d bytes", n)
	}
	checkInjected(t, "write on a full disk", err, syscall.ENOSPC)
	// Other operations do not spend space.
	if err := f.Truncate(100); err != nil {
		t.Errorf("Truncate on a full disk: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync on a full disk: %v", err)
	}

	// Freeing space: a vector crossing the new budget is cut mid-buffer.
	space.SetBudget(5)
	n, err = f.WritevAt([][]byte{[]byte("12"), []byte("3456")}, 0)
	if n != 5 || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WritevAt crossing the new budget = %d, %v; want 5, ENOSPC", n, err)
	}
	if got, _ := contents(t, mem, "/d/f"); string(got[:6]) != "12345b" {
		t.Errorf("file starts %q after partial vector, want %q", got[:6], "12345b")
	}
	if space.Remaining() != 0 {
		t.Errorf("Remaining = %d after spending it all", space.Remaining())
	}

	space.Disable()
	if n, err := f.WriteAt(make([]byte, 1000), 0); n != 1000 || err != nil {
		t.Errorf("write with the injector disabled = %d, %v", n, err)
	}
	space.Enable()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write after Enable = %v, want ENOSPC", err)
	}
}

func TestEIOOnSync(t *testing.T) {
	fsys, mem := newErrFS(t, vfs.EIOOnSync())
	f := mustCreate(t, fsys, "/d/f")
	if _, err := f.WriteAt([]byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	checkInjected(t, "Sync", f.Sync(), syscall.EIO)
	if err := fsys.SyncDir("/d"); err != nil {
		t.Errorf("SyncDir under EIOOnSync: %v", err)
	}
	// The failed Sync never reached the disk: the data is not durable.
	if got, ok := contents(t, mem.Crash(vfs.CrashOptions{}), "/d/f"); !ok || len(got) != 0 {
		t.Errorf("after a failed Sync and a crash the file holds %q (present %v), want empty", got, ok)
	}
}

func TestEIOOnSyncAfter(t *testing.T) {
	inj := vfs.EIOOnSyncAfter(2)
	fsys, _ := newErrFS(t, inj)
	f := mustCreate(t, fsys, "/d/f")
	for i := range 2 {
		if err := f.Sync(); err != nil {
			t.Fatalf("Sync %d: %v", i, err)
		}
	}
	for i := range 3 {
		checkInjected(t, fmt.Sprintf("Sync %d", 2+i), f.Sync(), syscall.EIO)
	}
	inj.Disable()
	if err := f.Sync(); err != nil {
		t.Errorf("Sync after Disable: %v", err)
	}
}

// workload touches every FS and File operation once or more and returns
// the first error.
func workload(fsys vfs.FS) error {
	f, err := fsys.Create("/d/tmp")
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		return err
	}
	if _, err := f.WritevAt([][]byte{[]byte(" "), []byte("world")}, 5); err != nil {
		return err
	}
	if err := f.Preallocate(0, 4096); err != nil {
		return err
	}
	if err := f.Truncate(11); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename("/d/tmp", "/d/final"); err != nil {
		return err
	}
	if err := fsys.SyncDir("/d"); err != nil {
		return err
	}
	if _, err := fsys.List("/d"); err != nil {
		return err
	}
	if _, err := fsys.Stat("/d/final"); err != nil {
		return err
	}
	g, err := fsys.Open("/d/final")
	if err != nil {
		return err
	}
	defer g.Close()
	if _, err := g.Size(); err != nil {
		return err
	}
	if _, err := g.ReadAt(make([]byte, 11), 0); err != nil {
		return err
	}
	return fsys.Remove("/d/final")
}

func TestAtOpFailsEachOperationOnce(t *testing.T) {
	var counter vfs.OpCounter
	fsys, _ := newErrFS(t, &counter)
	if err := workload(fsys); err != nil {
		t.Fatalf("workload without faults: %v", err)
	}
	total := counter.Count()
	if total < 15 {
		t.Fatalf("OpCounter saw %d operations; the workload does at least 15", total)
	}
	if counter.CountKind(vfs.OpWrite) != 2 || counter.CountKind(vfs.OpSync) != 1 || counter.CountKind(vfs.OpClose) != 2 {
		t.Errorf("by kind: write %d sync %d close %d; want 2, 1, 2",
			counter.CountKind(vfs.OpWrite), counter.CountKind(vfs.OpSync), counter.CountKind(vfs.OpClose))
	}

	boom := errors.New("boom")
	for i := range total {
		inj := vfs.AtOp(i, boom)
		fsys, _ := newErrFS(t, inj)
		err := workload(fsys)
		if !inj.Fired() {
			t.Errorf("op %d: never reached", i)
		}
		// The last op is the deferred Close, whose error the workload
		// drops; every other failure must surface.
		if i == total-1 {
			continue
		}
		if !errors.Is(err, boom) || !errors.Is(err, vfs.ErrInjected) {
			t.Errorf("op %d: workload returned %v, want boom and ErrInjected", i, err)
		}
	}
	inj := vfs.AtOp(total, boom)
	fsys, _ = newErrFS(t, inj)
	if err := workload(fsys); err != nil || inj.Fired() {
		t.Errorf("op past the end: %v, fired %v", err, inj.Fired())
	}
}

func TestAtOpDefaultsToEIO(t *testing.T) {
	fsys, _ := newErrFS(t, vfs.AtOp(0, nil))
	_, err := fsys.Create("/d/f")
	checkInjected(t, "Create", err, syscall.EIO)
	// Only the chosen op fails.
	if _, err := fsys.Create("/d/f"); err != nil {
		t.Errorf("op 1: %v", err)
	}
}

func TestInjectedRenameIsLinkError(t *testing.T) {
	fsys, _ := newErrFS(t, vfs.AtOp(0, nil))
	err := fsys.Rename("/d/a", "/d/b")
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, vfs.ErrInjected) {
		t.Errorf("Rename = %v, want an injected *os.LinkError", err)
	}
}

func TestInjectedCloseStillCloses(t *testing.T) {
	var counter vfs.OpCounter
	fsys, _ := newErrFS(t, vfs.Chain(&counter, vfs.AtOp(1, nil)))
	f := mustCreate(t, fsys, "/d/f") // op 0
	if err := f.Close(); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Close = %v, want injected", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v; the first should have closed the inner file", err)
	}
}

func TestChainFirstErrorWins(t *testing.T) {
	first := errors.New("first")
	var after vfs.OpCounter
	inj := vfs.Chain(vfs.AtOp(0, first), vfs.AtOp(0, errors.New("second")), &after)
	if err := inj.Inject(vfs.Op{Kind: vfs.OpRead}); !errors.Is(err, first) {
		t.Errorf("Chain returned %v, want first", err)
	}
	if after.Count() != 0 {
		t.Error("Chain asked injectors after a failing one")
	}
	// The second injector first sees the second op, so that is its op 0.
	if err := inj.Inject(vfs.Op{Kind: vfs.OpRead}); err == nil || errors.Is(err, first) || after.Count() != 0 {
		t.Errorf("second op: %v, counted %d; want the second injector's error", err, after.Count())
	}
	if err := inj.Inject(vfs.Op{Kind: vfs.OpRead}); err != nil || after.Count() != 1 {
		t.Errorf("third op: %v, counted %d", err, after.Count())
	}
}

func TestLatency(t *testing.T) {
	const d = 20 * time.Millisecond
	fsys, _ := newErrFS(t, vfs.Latency(d, vfs.OpSync))
	f := mustCreate(t, fsys, "/d/f")
	start := time.Now()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("Sync took %v under %v of injected latency", took, d)
	}
	// Kinds not listed are not delayed at all: an hour would hang the test.
	if err := vfs.Latency(time.Hour, vfs.OpSync).Inject(vfs.Op{Kind: vfs.OpWrite}); err != nil {
		t.Error(err)
	}
}

// bareFS hands out files without Sender, Mapper or RangeSyncer, to check
// that the error-injecting wrapper emulates them.
type bareFS struct{ vfs.FS }

func (b bareFS) Create(name string) (vfs.File, error) {
	f, err := b.FS.Create(name)
	return struct{ vfs.File }{f}, err
}

func TestErrorFileEmulatesCapabilities(t *testing.T) {
	mem := vfs.NewMem()
	if err := mem.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	var counter vfs.OpCounter
	f := mustCreate(t, vfs.WithErrors(bareFS{mem}, &counter), "/d/f")
	if _, err := f.WriteAt([]byte("mapped bytes"), 0); err != nil {
		t.Fatal(err)
	}

	data, unmap, err := f.(vfs.Mapper).MapReadOnly(6)
	if err != nil || string(data) != "mapped" {
		t.Errorf("emulated MapReadOnly = %q, %v", data, err)
	} else if err := unmap(); err != nil {
		t.Error(err)
	}
	if _, _, err := f.(vfs.Mapper).MapReadOnly(100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("emulated MapReadOnly past EOF = %v, want io.ErrUnexpectedEOF", err)
	}
	if err := f.(vfs.RangeSyncer).StartWriteback(0, 12); err != nil {
		t.Errorf("emulated StartWriteback: %v", err)
	}
	if counter.CountKind(vfs.OpMap) != 2 || counter.CountKind(vfs.OpWriteback) != 1 {
		t.Errorf("map/writeback not reported to the injector: %d, %d",
			counter.CountKind(vfs.OpMap), counter.CountKind(vfs.OpWriteback))
	}
}

func TestInjectedReadFailsSendFile(t *testing.T) {
	readFails := vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpRead && op.Off > 0 {
			return fmt.Errorf("%w: %w", vfs.ErrInjected, syscall.EIO)
		}
		return nil
	})
	fsys, _ := newErrFS(t, readFails)
	f := mustCreate(t, fsys, "/d/f")
	if _, err := f.WriteAt(make([]byte, 200<<10), 0); err != nil {
		t.Fatal(err)
	}
	// MemFS is not a Sender, so the wrapper copies through its own ReadAt:
	// the first 64 KiB chunk goes, the second read fails.
	client, server := pipe(t)
	n, err := vfs.SendFile(client, f, 0, 200<<10)
	client.Close()
	<-server
	if !errors.Is(err, vfs.ErrInjected) || !errors.Is(err, syscall.EIO) || n != 64<<10 {
		t.Errorf("SendFile = %d, %v; want %d and an injected EIO", n, err, 64<<10)
	}
}

func TestOpKindString(t *testing.T) {
	var names []string
	for k := vfs.OpCreate; k <= vfs.OpWriteback; k++ {
		names = append(names, k.String())
	}
	if slices.Contains(names, "") || slices.Index(names, "write") < 0 {
		t.Errorf("OpKind names = %q", names)
	}
}
