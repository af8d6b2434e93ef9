package vfs

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

// OpKind names an operation the error-injecting FS reports to its Injector.
type OpKind uint8

// The operations of FS and File. Open covers Open and OpenReadWrite; Write
// covers WriteAt and WritevAt; Read covers ReadAt and the reads of SendTo
// and MapReadOnly when the inner file cannot do them natively.
const (
	OpCreate OpKind = iota
	OpOpen
	OpRemove
	OpRename
	OpMkdir
	OpList
	OpStat
	OpSyncDir
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpPreallocate
	OpSize
	OpClose
	OpSend
	OpMap
	OpWriteback
	numOpKinds
)

var opKindNames = [numOpKinds]string{
	OpCreate: "create", OpOpen: "open", OpRemove: "remove", OpRename: "rename",
	OpMkdir: "mkdir", OpList: "list", OpStat: "stat", OpSyncDir: "syncdir",
	OpRead: "read", OpWrite: "write", OpSync: "sync", OpTruncate: "truncate",
	OpPreallocate: "preallocate", OpSize: "size", OpClose: "close",
	OpSend: "send", OpMap: "map", OpWriteback: "writeback",
}

func (k OpKind) String() string {
	if k < numOpKinds {
		return opKindNames[k]
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Op describes one operation about to run.
type Op struct {
	Kind OpKind
	// Path is the file or directory the operation is on; for a rename,
	// the old name.
	Path string
	// Off is the file offset for reads, writes, sends, preallocations,
	// write-backs and the new size for a truncate.
	Off int64
	// Len is the byte count of a read, write, send, map, preallocation or
	// write-back.
	Len int64
}

// Injector decides whether an operation fails. WithErrors calls Inject
// before every operation; a nil result lets the operation run, an error
// makes it fail with that error without reaching the inner FS (Close still
// releases the inner file, as close(2) does whatever it returns). For an
// OpWrite the error may be a *ShortWriteError to let part of the write
// through. Injectors are called from many goroutines at once.
type Injector interface {
	Inject(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op) error

// Inject calls fn(op).
func (fn InjectorFunc) Inject(op Op) error { return fn(op) }

// ShortWriteError, returned by an Injector for an OpWrite, writes the first
// N bytes through to the inner file and then fails the write with Err,
// reporting N as the count written. That is how a real disk fails a write
// that crosses the end of free space.
type ShortWriteError struct {
	N   int64
	Err error
}

func (e *ShortWriteError) Error() string { return e.Err.Error() }
func (e *ShortWriteError) Unwrap() error { return e.Err }

// WithErrors returns an FS that asks inj before each operation on inner or
// on the files it opens. A nil inj injects nothing. Injected errors come
// back wrapped in *os.PathError (or *os.LinkError for Rename), as real ones
// do.
//
// Every File from it implements Sender, Mapper and RangeSyncer whatever the
// inner file does: Sender and Mapper fall back to ReadAt through the
// injector, and StartWriteback is a no-op, so wrapping never changes which
// code path the engine can take, only whether it fails.
func WithErrors(inner FS, inj Injector) FS {
	if inj == nil {
		inj = InjectorFunc(func(Op) error { return nil })
	}
	return &errFS{inner: inner, inj: inj}
}

type errFS struct {
	inner FS
	inj   Injector
}

func (e *errFS) Create(name string) (File, error) {
	if err := e.inj.Inject(Op{Kind: OpCreate, Path: name}); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return e.wrap(e.inner.Create(name))
}

func (e *errFS) Open(name string) (File, error) {
	if err := e.inj.Inject(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return e.wrap(e.inner.Open(name))
}

func (e *errFS) OpenReadWrite(name string) (File, error) {
	if err := e.inj.Inject(Op{Kind: OpOpen, Path: name}); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return e.wrap(e.inner.OpenReadWrite(name))
}

func (e *errFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errFile{inner: f, inj: e.inj}, nil
}

func (e *errFS) Remove(name string) error {
	if err := e.inj.Inject(Op{Kind: OpRemove, Path: name}); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return e.inner.Remove(name)
}

func (e *errFS) Rename(oldname, newname string) error {
	if err := e.inj.Inject(Op{Kind: OpRename, Path: oldname}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return e.inner.Rename(oldname, newname)
}

func (e *errFS) MkdirAll(dir string) error {
	if err := e.inj.Inject(Op{Kind: OpMkdir, Path: dir}); err != nil {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return e.inner.MkdirAll(dir)
}

func (e *errFS) List(dir string) ([]string, error) {
	if err := e.inj.Inject(Op{Kind: OpList, Path: dir}); err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return e.inner.List(dir)
}

func (e *errFS) Stat(name string) (FileInfo, error) {
	if err := e.inj.Inject(Op{Kind: OpStat, Path: name}); err != nil {
		return FileInfo{}, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return e.inner.Stat(name)
}

func (e *errFS) SyncDir(dir string) error {
	if err := e.inj.Inject(Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return e.inner.SyncDir(dir)
}

type errFile struct {
	inner File
	inj   Injector
}

func (f *errFile) inject(kind OpKind, opName string, off, n int64) error {
	if err := f.inj.Inject(Op{Kind: kind, Path: f.inner.Name(), Off: off, Len: n}); err != nil {
		return &os.PathError{Op: opName, Path: f.inner.Name(), Err: err}
	}
	return nil
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inject(OpRead, "read", off, int64(len(p))); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *errFile) WriteAt(p []byte, off int64) (int, error) {
	return f.WritevAt([][]byte{p}, off)
}

// WritevAt asks once for the whole vector; a ShortWriteError sends its
// first N bytes through, as one partial pwritev would.
func (f *errFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	var total int64
	for _, b := range bufs {
		total += int64(len(b))
	}
	err := f.inj.Inject(Op{Kind: OpWrite, Path: f.inner.Name(), Off: off, Len: total})
	if err == nil {
		return f.inner.WritevAt(bufs, off)
	}
	var short *ShortWriteError
	if !errors.As(err, &short) {
		return 0, &os.PathError{Op: "write", Path: f.inner.Name(), Err: err}
	}
	n, werr := 0, error(nil)
	if prefix := prefixBufs(bufs, short.N); len(prefix) > 0 {
		n, werr = f.inner.WritevAt(prefix, off)
	}
	if werr != nil {
		return n, werr
	}
	return n, &os.PathError{Op: "write", Path: f.inner.Name(), Err: short.Err}
}

// prefixBufs returns the first n bytes of bufs as a vector sharing their
// memory.
func prefixBufs(bufs [][]byte, n int64) [][]byte {
	var out [][]byte
	for _, b := range bufs {
		if n <= 0 {
			break
		}
		if int64(len(b)) > n {
			b = b[:n]
		}
		out = append(out, b)
		n -= int64(len(b))
	}
	return out
}

func (f *errFile) Sync() error {
	if err := f.inject(OpSync, "sync", 0, 0); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *errFile) Truncate(size int64) error {
	if err := f.inject(OpTruncate, "truncate", size, 0); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *errFile) Size() (int64, error) {
	if err := f.inject(OpSize, "stat", 0, 0); err != nil {
		return 0, err
	}
	return f.inner.Size()
}

func (f *errFile) Preallocate(off, length int64) error {
	if err := f.inject(OpPreallocate, "fallocate", off, length); err != nil {
		return err
	}
	return f.inner.Preallocate(off, length)
}

// Close releases the inner file even when the injector fails it: on Linux
// close(2) frees the descriptor whatever it returns, and a leak here would
// hide the engine's own leaks.
func (f *errFile) Close() error {
	injErr := f.inject(OpClose, "close", 0, 0)
	err := f.inner.Close()
	if injErr != nil {
		return injErr
	}
	return err
}

func (f *errFile) Name() string { return f.inner.Name() }

// SendTo lets a Sender inner file send natively after one OpSend check, and
// otherwise copies through this file's ReadAt, so each chunk read can fail.
func (f *errFile) SendTo(conn net.Conn, off, n int64) (int64, error) {
	if err := f.inject(OpSend, "sendfile", off, n); err != nil {
		return 0, err
	}
	if s, ok := f.inner.(Sender); ok {
		return s.SendTo(conn, off, n)
	}
	return copyTo(conn, f, off, n)
}

// MapReadOnly maps natively when the inner file can and otherwise reads the
// bytes into a fresh slice, which is a valid read-only mapping to any caller
// that honours the contract.
func (f *errFile) MapReadOnly(size int64) ([]byte, func() error, error) {
	if err := f.inject(OpMap, "mmap", 0, size); err != nil {
		return nil, nil, err
	}
	if m, ok := f.inner.(Mapper); ok {
		return m.MapReadOnly(size)
	}
	if size < 0 {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: os.ErrInvalid}
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); n < len(data) {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("vfs: mmap %s: %d bytes of a %d-byte file: %w", f.Name(), size, n, io.ErrUnexpectedEOF)
		}
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// StartWriteback passes the hint on when the inner file takes it.
func (f *errFile) StartWriteback(off, n int64) error {
	if err := f.inject(OpWriteback, "sync_file_range", off, n); err != nil {
		return err
	}
	if r, ok := f.inner.(RangeSyncer); ok {
		return r.StartWriteback(off, n)
	}
	return nil
}
