package vfs

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// volatilePage is the unit the volatile FS keeps unsynced bytes in.
const volatilePage = 4096

// volatileMaxDirty bounds one file's unsynced bytes. Past it the oldest
// state is written back to the inner file without a sync, as the kernel's
// dirty-page write-back does: those bytes then survive a kill (not a real
// power loss, which the inner FS does not model). A sync=never log keeps
// roughly this much at risk.
const volatileMaxDirty = 32 << 20

// Volatile returns an FS over inner whose files keep every byte written
// since their last Sync in process memory, not in inner: a process killed
// with SIGKILL loses exactly its unsynced writes, as a machine losing power
// loses its page cache. It is the file layer of the power-loss fault (F8 in
// TESTING.md) for real broker processes, where MemFS.Crash cannot reach.
//
// Reads, Size and Stat see the unsynced bytes (the process reads its own
// writes, as through the page cache). Truncate, Preallocate and directory
// operations go straight to inner: only data writes are volatile, so a
// crash may keep a truncation or a new file that power loss could undo —
// the model loses less than a disk may, never more. Files implement neither
// Sender nor Mapper (the inner file lacks the unsynced bytes), so the engine
// takes its copy paths.
func Volatile(inner FS) *VolatileFS {
	return &VolatileFS{inner: inner, inodes: map[string]*volatileInode{}}
}

// VolatileFS is the FS Volatile returns.
type VolatileFS struct {
	inner  FS
	mu     sync.Mutex
	inodes map[string]*volatileInode // by cleaned path
	dead   atomic.Bool
}

// PowerOff loses every unsynced byte now, as a kill -9 of the process
// would, for tests that cannot kill their own process: the FS and every
// file opened from it fail with ErrCrashed from then on (closing a file
// writes nothing back), so the inner FS holds what a reboot finds.
func (v *VolatileFS) PowerOff() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dead.Store(true)
	v.inodes = map[string]*volatileInode{}
}

func (v *VolatileFS) crashed(op, name string) error {
	if v.dead.Load() {
		return &os.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	return nil
}

// volatileInode is one file's unsynced state, shared by its open handles
// and kept after they close while it holds dirty pages (a page cache
// outlives file descriptors).
type volatileInode struct {
	flushMu sync.Mutex // one Sync or Truncate at a time

	mu    sync.Mutex
	path  string
	refs  int
	size  int64 // the size readers see
	pages map[int64]*volatileDirty
	gen   uint64
}

type volatileDirty struct {
	data []byte // volatilePage bytes; those at or past size are zero
	gen  uint64 // the write that last changed it
}

// inode returns name's inode, creating it; the caller holds v.mu.
func (v *VolatileFS) inode(name string, size int64) *volatileInode {
	key := filepath.Clean(name)
	ino, ok := v.inodes[key]
	if !ok {
		ino = &volatileInode{path: key, size: size, pages: map[int64]*volatileDirty{}}
		v.inodes[key] = ino
	}
	ino.refs++
	return ino
}

func (v *VolatileFS) open(name string, f File, err error, writable bool) (File, error) {
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return &volatileFile{fs: v, inner: f, ino: v.inode(name, size), writable: writable}, nil
}

func (v *VolatileFS) Create(name string) (File, error) {
	if err := v.crashed("create", name); err != nil {
		return nil, err
	}
	f, err := v.inner.Create(name)
	if err == nil {
		// A leftover inode of a removed file must not shadow the new one.
		v.mu.Lock()
		delete(v.inodes, filepath.Clean(name))
		v.mu.Unlock()
	}
	return v.open(name, f, err, true)
}

func (v *VolatileFS) Open(name string) (File, error) {
	if err := v.crashed("open", name); err != nil {
		return nil, err
	}
	f, err := v.inner.Open(name)
	return v.open(name, f, err, false)
}

func (v *VolatileFS) OpenReadWrite(name string) (File, error) {
	if err := v.crashed("open", name); err != nil {
		return nil, err
	}
	f, err := v.inner.OpenReadWrite(name)
	return v.open(name, f, err, true)
}

func (v *VolatileFS) Remove(name string) error {
	if err := v.crashed("remove", name); err != nil {
		return err
	}
	if err := v.inner.Remove(name); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.inodes, filepath.Clean(name))
	return nil
}

func (v *VolatileFS) Rename(oldname, newname string) error {
	if err := v.crashed("rename", oldname); err != nil {
		return err
	}
	if err := v.inner.Rename(oldname, newname); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	from, to := filepath.Clean(oldname), filepath.Clean(newname)
	delete(v.inodes, to)
	if ino, ok := v.inodes[from]; ok {
		delete(v.inodes, from)
		ino.mu.Lock()
		ino.path = to
		ino.mu.Unlock()
		v.inodes[to] = ino
	}
	return nil
}

func (v *VolatileFS) MkdirAll(dir string) error {
	if err := v.crashed("mkdir", dir); err != nil {
		return err
	}
	return v.inner.MkdirAll(dir)
}

func (v *VolatileFS) List(dir string) ([]string, error) {
	if err := v.crashed("list", dir); err != nil {
		return nil, err
	}
	return v.inner.List(dir)
}

func (v *VolatileFS) SyncDir(dir string) error {
	if err := v.crashed("syncdir", dir); err != nil {
		return err
	}
	return v.inner.SyncDir(dir)
}

func (v *VolatileFS) Stat(name string) (FileInfo, error) {
	if err := v.crashed("stat", name); err != nil {
		return FileInfo{}, err
	}
	fi, err := v.inner.Stat(name)
	if err != nil || fi.IsDir {
		return fi, err
	}
	v.mu.Lock()
	ino, ok := v.inodes[filepath.Clean(name)]
	v.mu.Unlock()
	if ok {
		ino.mu.Lock()
		fi.Size = ino.size
		ino.mu.Unlock()
	}
	return fi, nil
}

// volatileFile is one open handle.
type volatileFile struct {
	fs    *VolatileFS
	inner File
	ino   *volatileInode
	// writable: opened by Create or OpenReadWrite.
	writable bool
	closed   atomic.Bool
}

// check is the error of every call on a closed handle (as *os.File's) or
// after a power-off.
func (f *volatileFile) check(op string) error {
	if f.closed.Load() {
		return &os.PathError{Op: op, Path: f.Name(), Err: os.ErrClosed}
	}
	return f.fs.crashed(op, f.Name())
}

func (f *volatileFile) Name() string { return f.inner.Name() }

func (f *volatileFile) Size() (int64, error) {
	if err := f.check("size"); err != nil {
		return 0, err
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	return f.ino.size, nil
}

func (f *volatileFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.Name(), Err: os.ErrInvalid}
	}
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if off >= ino.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), ino.size-off))
	// The synced bytes first (zeros past the inner file's end: bytes there
	// are either dirty or a hole), then the dirty pages over them.
	r, err := f.inner.ReadAt(p[:n], off)
	if err != nil && err != io.EOF {
		return 0, err
	}
	clear(p[r:n])
	for pg := off / volatilePage; pg*volatilePage < off+int64(n); pg++ {
		d, ok := ino.pages[pg]
		if !ok {
			continue
		}
		base := pg * volatilePage
		from, to := max(off, base), min(off+int64(n), base+volatilePage)
		copy(p[from-off:to-off], d.data[from-base:to-base])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *volatileFile) WriteAt(p []byte, off int64) (int, error) {
	return f.WritevAt([][]byte{p}, off)
}

func (f *volatileFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: os.ErrInvalid}
	}
	if !f.writable {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.EBADF}
	}
	ino := f.ino
	ino.mu.Lock()
	ino.gen++
	total := 0
	for _, b := range bufs {
		for len(b) > 0 {
			pg := off / volatilePage
			d, err := f.dirtyPage(pg)
			if err != nil {
				ino.mu.Unlock()
				return total, err
			}
			c := copy(d.data[off-pg*volatilePage:], b)
			d.gen = ino.gen
			b, off, total = b[c:], off+int64(c), total+c
		}
	}
	ino.size = max(ino.size, off)
	over := len(ino.pages)*volatilePage > volatileMaxDirty
	ino.mu.Unlock()
	if over {
		if err := f.flush(false); err != nil {
			return total, err
		}
	}
	return total, nil
}

// dirtyPage returns page pg's dirty copy, loading it from the visible
// bytes; the caller holds ino.mu.
func (f *volatileFile) dirtyPage(pg int64) (*volatileDirty, error) {
	ino := f.ino
	if d, ok := ino.pages[pg]; ok {
		return d, nil
	}
	d := &volatileDirty{data: make([]byte, volatilePage)}
	base := pg * volatilePage
	if base < ino.size {
		n := min(volatilePage, ino.size-base)
		r, err := f.inner.ReadAt(d.data[:n], base)
		if err != nil && err != io.EOF {
			return nil, err
		}
		clear(d.data[r:n])
	}
	ino.pages[pg] = d
	return d, nil
}

// Sync writes the dirty pages to the inner file and syncs it.
func (f *volatileFile) Sync() error {
	if err := f.check("sync"); err != nil {
		return err
	}
	return f.flush(true)
}

// flush writes the dirty pages back to the inner file (and syncs it when
// sync is set). Pages written again meanwhile stay dirty.
func (f *volatileFile) flush(sync bool) error {
	ino := f.ino
	ino.flushMu.Lock()
	defer ino.flushMu.Unlock()
	type snap struct {
		pg   int64
		data []byte
		gen  uint64
	}
	ino.mu.Lock()
	var todo []snap
	for _, pg := range slices.Sorted(maps.Keys(ino.pages)) {
		d := ino.pages[pg]
		n := min(volatilePage, ino.size-pg*volatilePage)
		if n <= 0 {
			continue
		}
		todo = append(todo, snap{pg, slices.Clone(d.data[:n]), d.gen})
	}
	ino.mu.Unlock()
	for _, s := range todo {
		if _, err := f.inner.WriteAt(s.data, s.pg*volatilePage); err != nil {
			return err
		}
	}
	if sync {
		if err := f.inner.Sync(); err != nil {
			return err
		}
	}
	ino.mu.Lock()
	for _, s := range todo {
		if d, ok := ino.pages[s.pg]; ok && d.gen == s.gen {
			delete(ino.pages, s.pg)
		}
	}
	ino.mu.Unlock()
	return nil
}

func (f *volatileFile) Truncate(size int64) error {
	if err := f.check("truncate"); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: os.ErrInvalid}
	}
	ino := f.ino
	ino.flushMu.Lock()
	defer ino.flushMu.Unlock()
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.inner.Truncate(size); err != nil {
		return err
	}
	for pg, d := range ino.pages {
		base := pg * volatilePage
		switch {
		case base >= size:
			delete(ino.pages, pg)
		case base+volatilePage > size:
			clear(d.data[size-base:])
		}
	}
	ino.size = size
	return nil
}

func (f *volatileFile) Preallocate(off, length int64) error {
	if err := f.check("preallocate"); err != nil {
		return err
	}
	return f.inner.Preallocate(off, length)
}

// Close releases the handle. The last handle of a file writes its dirty
// pages back (without a sync): a kill after close keeps them, as it keeps a
// closed file's page cache; a file the engine relies on is synced anyway.
func (f *volatileFile) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return &os.PathError{Op: "close", Path: f.Name(), Err: os.ErrClosed}
	}
	if err := f.fs.crashed("close", f.Name()); err != nil {
		_ = f.inner.Close()
		return err
	}
	var err error
	func() {
		f.fs.mu.Lock()
		f.ino.mu.Lock()
		last := f.ino.refs == 1 && len(f.ino.pages) > 0
		f.ino.mu.Unlock()
		f.fs.mu.Unlock()
		if last && f.writable {
			err = f.flush(false)
		}
		err = errors.Join(err, f.inner.Close())
		v, ino := f.fs, f.ino
		v.mu.Lock()
		defer v.mu.Unlock()
		ino.mu.Lock()
		defer ino.mu.Unlock()
		ino.refs--
		if ino.refs == 0 && len(ino.pages) == 0 && v.inodes[ino.path] == ino {
			delete(v.inodes, ino.path)
		}
	}()
	return err
}
