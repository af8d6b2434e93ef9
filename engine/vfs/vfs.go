package vfs

import (
	"errors"
	"io"
	"net"
	"os"
)

// FS is the engine's only door to the disk. Paths are plain strings joined
// with path/filepath; every implementation treats them the same way.
//
// Durability contract, shared by every implementation and checked by the
// conformance suite in engine/vfs/vfstest:
//   - bytes written to a File survive a crash only after File.Sync returns nil;
//   - a created, renamed or removed directory entry survives a crash only after
//     SyncDir on its parent returns nil.
type FS interface {
	// Create makes a new file for reading and writing; it fails with an error
	// matching os.ErrExist if the name exists.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat returns the size of a file; errors match os.ErrNotExist when absent.
	Stat(name string) (FileInfo, error)
	// SyncDir makes the directory's entries (creates, renames, removes) durable.
	SyncDir(dir string) error
}

// FileInfo is the part of os.FileInfo the engine uses.
type FileInfo struct {
	Name  string
	Size  int64
	IsDir bool
}

// File is an open file. Writes are positional only: the engine always knows
// where its bytes go, and positional writes let readers and the writer share
// one descriptor without a seek offset.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// WritevAt writes all bufs contiguously at off with one system call where
	// the platform allows (pwritev). A short write returns an error.
	WritevAt(bufs [][]byte, off int64) (int, error)
	// Sync makes the file's data durable (fdatasync: data and the size, not
	// the access time).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size returns the current size of the file.
	Size() (int64, error)
	// Preallocate reserves [off, off+length) without changing the visible
	// size (fallocate with KEEP_SIZE). Implementations without it return nil.
	Preallocate(off, length int64) error
	// Name returns the path the file was opened with.
	Name() string
}

// Sender is an optional File capability: copy n bytes at off straight to a
// socket without passing through user space (sendfile(2)). Files that do not
// implement it are served by SendFile's copy fallback.
type Sender interface {
	SendTo(conn net.Conn, off, n int64) (int64, error)
}

// Mapper is an optional File capability: map the first size bytes read-only.
// The engine maps sealed index files so lookups cost no heap and no read
// calls. The returned unmap must be called exactly once, after the last use
// of the slice.
type Mapper interface {
	MapReadOnly(size int64) (data []byte, unmap func() error, err error)
}

// RangeSyncer is an optional File capability: start write-back of a range
// without waiting (sync_file_range SYNC_FILE_RANGE_WRITE). It lets a later
// fdatasync find less dirty data; it is never a durability point.
type RangeSyncer interface {
	StartWriteback(off, n int64) error
}

// ErrInjected marks errors made up by the error-injecting FS, so tests can
// tell an injected failure from a real one.
var ErrInjected = errors.New("vfs: injected error")

// SendFile copies n bytes of f at off to conn, zero-copy when f is a Sender
// and conn can take it, through a pooled buffer otherwise.
func SendFile(conn net.Conn, f File, off, n int64) (int64, error) {
	if s, ok := f.(Sender); ok {
		return s.SendTo(conn, off, n)
	}
	return copyTo(conn, f, off, n)
}

// IsNotExist reports whether err says a file or directory is absent.
func IsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// IsExist reports whether err says a file already exists.
func IsExist(err error) bool { return errors.Is(err, os.ErrExist) }
