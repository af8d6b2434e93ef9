package vfs

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// memInode is a file's contents. data is what reads see; synced is what
// the last Sync made durable; log is every change since, in order, so a
// crash can replay any prefix of it onto synced.
type memInode struct {
	data   []byte
	synced []byte
	log    []memOp
}

// memOp is one unsynced change: a write of data at off, or (data == nil,
// truncate set) a truncate to size.
type memOp struct {
	truncate bool
	off      int64 // write offset, or the new size for a truncate
	data     []byte
}

// apply performs op on buf and returns the result. A write that starts past
// the end fills the gap with zeros, as a sparse file reads back.
func (op memOp) apply(buf []byte) []byte {
	if op.truncate {
		return resize(buf, op.off)
	}
	end := op.off + int64(len(op.data))
	if end > int64(len(buf)) {
		buf = resize(buf, end)
	}
	copy(buf[op.off:], op.data)
	return buf
}

// resize grows buf with zeros or shrinks it to size.
func resize(buf []byte, size int64) []byte {
	if size <= int64(len(buf)) {
		return buf[:size]
	}
	if size <= int64(cap(buf)) {
		old := len(buf)
		buf = buf[:size]
		clear(buf[old:])
		return buf
	}
	grown := make([]byte, size, max(size, 2*int64(cap(buf))))
	copy(grown, buf)
	return grown
}

// memFile is an open handle. It keeps its inode after the name is removed
// or replaced, as a POSIX descriptor does.
type memFile struct {
	fs       *MemFS
	ino      *memInode
	name     string
	writable bool
	closed   bool
}

// begin locks the FS and checks the handle is still usable: the FS has not
// crashed, the file is open and, for writes, opened for writing. On success
// the caller must unlock.
func (f *memFile) begin(op string, write bool) error {
	f.fs.mu.Lock()
	var err error
	switch {
	case f.fs.crashed:
		err = ErrCrashed
	case f.closed:
		err = os.ErrClosed
	case write && !f.writable:
		err = syscall.EBADF
	}
	if err != nil {
		f.fs.mu.Unlock()
		return &os.PathError{Op: op, Path: f.name, Err: err}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.begin("read", false); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: syscall.EINVAL}
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	return f.WritevAt([][]byte{p}, off)
}

// WritevAt logs the buffers as one operation, so a torn crash can cut it
// anywhere, as a single pwritev can be cut.
func (f *memFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	if err := f.begin("write", true); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if total == 0 {
		return 0, nil
	}
	data := make([]byte, 0, total)
	for _, b := range bufs {
		data = append(data, b...)
	}
	op := memOp{off: off, data: data}
	f.ino.data = op.apply(f.ino.data)
	f.ino.log = append(f.ino.log, op)
	return total, nil
}

// Sync replays the log onto the durable copy rather than copying the whole
// file, so syncing a long log costs what was written since the last sync.
func (f *memFile) Sync() error {
	if err := f.begin("sync", false); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	for _, op := range f.ino.log {
		f.ino.synced = op.apply(f.ino.synced)
	}
	f.ino.log = nil
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.begin("truncate", true); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	op := memOp{truncate: true, off: size}
	f.ino.data = op.apply(f.ino.data)
	f.ino.log = append(f.ino.log, op)
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.begin("stat", false); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

// Preallocate only validates: memory needs no reservation and the visible
// size must not change.
func (f *memFile) Preallocate(off, length int64) error {
	if err := f.begin("fallocate", true); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	if off < 0 || length < 0 {
		return &os.PathError{Op: "fallocate", Path: f.name, Err: syscall.EINVAL}
	}
	return nil
}

func (f *memFile) Close() error {
	if err := f.begin("close", false); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}

func (f *memFile) Name() string { return f.name }

// MapReadOnly returns a copy of the first size bytes: it has the contents
// and lifetime rules of a mapping, without the sharing, so a test that
// writes to a mapped file after mapping it would see stale bytes here but
// fresh ones on disk. The engine maps only sealed files.
func (f *memFile) MapReadOnly(size int64) ([]byte, func() error, error) {
	if err := f.begin("mmap", false); err != nil {
		return nil, nil, err
	}
	defer f.fs.mu.Unlock()
	if size < 0 {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.name, Err: syscall.EINVAL}
	}
	if size > int64(len(f.ino.data)) {
		return nil, nil, fmt.Errorf("vfs: mmap %s: %d bytes of a %d-byte file: %w", f.name, size, len(f.ino.data), io.ErrUnexpectedEOF)
	}
	data := make([]byte, size)
	copy(data, f.ino.data)
	return data, func() error { return nil }, nil
}
