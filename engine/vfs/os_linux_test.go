package vfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

func TestDefaultFileCapabilities(t *testing.T) {
	f, err := vfs.Default.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(vfs.Sender); !ok {
		t.Error("Default file is not a vfs.Sender")
	}
	if _, ok := f.(vfs.Mapper); !ok {
		t.Error("Default file is not a vfs.Mapper")
	}
	if _, ok := f.(vfs.RangeSyncer); !ok {
		t.Error("Default file is not a vfs.RangeSyncer")
	}
}

func TestDefaultCreatePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := vfs.Default.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "f")
	f, err := vfs.Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The umask can only remove bits.
	for path, limit := range map[string]os.FileMode{name: 0o644, dir: 0o755} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if extra := fi.Mode().Perm() &^ limit; extra != 0 {
			t.Errorf("%s has mode %v, more than %v", path, fi.Mode().Perm(), limit)
		}
	}
}

func TestDefaultErrorsCarryErrnoOpAndPath(t *testing.T) {
	// /dev/full fails every write with ENOSPC: a real disk-full errno
	// without filling a disk.
	f, err := vfs.Default.OpenReadWrite("/dev/full")
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer f.Close()
	_, err = f.WritevAt([][]byte{[]byte("x")}, 0)
	var pe *fs.PathError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) || pe.Op != "pwritev" || pe.Path != "/dev/full" {
		t.Errorf("WritevAt on /dev/full = %#v, want *PathError{pwritev, /dev/full, ENOSPC}", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("WriteAt on /dev/full = %v, want ENOSPC", err)
	}

	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	w, err := vfs.Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, err := vfs.Default.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.WritevAt([][]byte{[]byte("x")}, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("WritevAt on a read-only file = %v, want EBADF", err)
	}
	if err := r.Preallocate(0, 4096); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Preallocate on a read-only file = %v, want EBADF", err)
	}
	if err := vfs.Default.SyncDir(name); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("SyncDir on a file = %v, want ENOTDIR", err)
	}
}

func TestDefaultMappingOutlivesClose(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := vfs.Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("sealed index"), 0); err != nil {
		t.Fatal(err)
	}
	data, unmap, err := f.(vfs.Mapper).MapReadOnly(12)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if string(data) != "sealed index" {
		t.Errorf("mapping after Close reads %q", data)
	}
	if err := unmap(); err != nil {
		t.Error(err)
	}
	if err := unmap(); err != nil {
		t.Errorf("second unmap: %v (must be a no-op, never a second munmap)", err)
	}
}

func TestSendFileWaitsForSlowReceiverUntilDeadline(t *testing.T) {
	// A receiver that never reads: sendfile fills the socket buffers, gets
	// EAGAIN and must wait in the poller, then give up at the deadline
	// rather than spin or block for ever.
	name := filepath.Join(t.TempDir(), "big")
	f, err := vfs.Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 256 << 20
	if err := f.Truncate(size); err != nil { // sparse: reads as zeros, costs no disk
		t.Fatal(err)
	}
	ln, err := listen(t)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			<-t.Context().Done()
			c.Close()
		}
	}()
	conn, err := dial(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := vfs.SendFile(conn, f, 0, size)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("SendFile to a stalled receiver = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= size {
		t.Errorf("sent %d bytes before the deadline; want some but not all", n)
	}
}
