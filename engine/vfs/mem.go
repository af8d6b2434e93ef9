package vfs

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MemFS is an in-memory FS that knows what a power cut would keep. Every
// file remembers its bytes as of its last Sync and the writes and truncates
// since; every directory remembers its entries as of its last SyncDir. Crash
// turns that knowledge into the FS the machine would boot with.
//
// Paths are cleaned with filepath.Clean and resolved from an implicit root
// "/", so "data/x" and "/data/x" name the same file. Errors carry the same
// errno values the kernel would return (syscall.ENOENT, EEXIST, ...), so
// IsNotExist, IsExist and errors.Is(err, syscall.ENOTEMPTY) behave as on
// disk.
//
// Simplification: directories made by MkdirAll are durable at once, as if
// their parents had been synced. The engine creates its directories at
// startup; modelling their loss would test the installer, not the log.
//
// MemFS is safe for concurrent use; one mutex serialises everything, which
// is plenty for tests.
type MemFS struct {
	mu      sync.Mutex
	root    *memDir
	crashed bool
}

// memDir is a directory: entries is what List shows now, durable is what a
// crash keeps. The values are *memDir or *memInode.
type memDir struct {
	entries map[string]any
	durable map[string]any
}

func newMemDir() *memDir {
	return &memDir{entries: map[string]any{}, durable: map[string]any{}}
}

// NewMem returns an empty MemFS holding only the root directory.
func NewMem() *MemFS { return &MemFS{root: newMemDir()} }

// splitPath cleans name into its components below the root.
func splitPath(name string) []string {
	clean := filepath.ToSlash(filepath.Clean("/" + name))
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// lookupDir walks to the directory holding parts; the caller holds m.mu.
func (m *MemFS) lookupDir(parts []string) (*memDir, error) {
	d := m.root
	for _, p := range parts {
		switch n := d.entries[p].(type) {
		case *memDir:
			d = n
		case nil:
			return nil, syscall.ENOENT
		default:
			return nil, syscall.ENOTDIR
		}
	}
	return d, nil
}

// lookup returns the parent directory, the base name and the node (nil if
// absent) for name. Naming the root returns a nil parent.
func (m *MemFS) lookup(name string) (parent *memDir, base string, node any, err error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return nil, "", m.root, nil
	}
	parent, err = m.lookupDir(parts[:len(parts)-1])
	if err != nil {
		return nil, "", nil, err
	}
	base = parts[len(parts)-1]
	return parent, base, parent.entries[base], nil
}

// begin locks the FS and fails if it has crashed. On success the caller
// must unlock.
func (m *MemFS) begin(op, name string) error {
	m.mu.Lock()
	if m.crashed {
		m.mu.Unlock()
		return &os.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	return nil
}

func (m *MemFS) Create(name string) (File, error) {
	if err := m.begin("open", name); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	parent, base, node, err := m.lookup(name)
	switch {
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	case node != nil:
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EEXIST}
	}
	ino := &memInode{}
	parent.entries[base] = ino
	return &memFile{fs: m, ino: ino, name: name, writable: true}, nil
}

func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) open(name string, writable bool) (File, error) {
	if err := m.begin("open", name); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	_, _, node, err := m.lookup(name)
	if err == nil && node == nil {
		err = syscall.ENOENT
	}
	if _, ok := node.(*memDir); ok {
		err = syscall.EISDIR
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return &memFile{fs: m, ino: node.(*memInode), name: name, writable: writable}, nil
}

// Remove unlinks name. Open handles keep the inode, as on POSIX; the entry
// stays in the durable view until the parent is synced.
func (m *MemFS) Remove(name string) error {
	if err := m.begin("remove", name); err != nil {
		return err
	}
	defer m.mu.Unlock()
	parent, base, node, err := m.lookup(name)
	switch {
	case err != nil:
	case node == nil:
		err = syscall.ENOENT
	case parent == nil:
		err = syscall.EBUSY // the root
	default:
		if d, ok := node.(*memDir); ok && len(d.entries) > 0 {
			err = syscall.ENOTEMPTY
		}
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	delete(parent.entries, base)
	return nil
}

// Rename moves oldname to newname, replacing a file there. Like rename(2)
// it refuses to put a directory over a file, a file over a directory, a
// directory over a non-empty one or a directory inside itself.
func (m *MemFS) Rename(oldname, newname string) error {
	if err := m.begin("rename", oldname); err != nil {
		return err
	}
	defer m.mu.Unlock()
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	oldParent, oldBase, node, err := m.lookup(oldname)
	if err == nil && node == nil {
		err = syscall.ENOENT
	}
	if err == nil && oldParent == nil {
		err = syscall.EBUSY
	}
	if err != nil {
		return fail(err)
	}
	newParent, newBase, target, err := m.lookup(newname)
	if err == nil && newParent == nil {
		err = syscall.EBUSY
	}
	if err != nil {
		return fail(err)
	}
	if target == node {
		return nil // same entry: rename(2) does nothing
	}
	_, srcIsDir := node.(*memDir)
	switch t := target.(type) {
	case *memDir:
		if !srcIsDir {
			return fail(syscall.EISDIR)
		}
		if len(t.entries) > 0 {
			return fail(syscall.ENOTEMPTY)
		}
	case *memInode:
		if srcIsDir {
			return fail(syscall.ENOTDIR)
		}
	}
	if srcIsDir {
		oldParts, newParts := splitPath(oldname), splitPath(newname)
		if len(newParts) > len(oldParts) && slices.Equal(newParts[:len(oldParts)], oldParts) {
			return fail(syscall.EINVAL)
		}
	}
	delete(oldParent.entries, oldBase)
	newParent.entries[newBase] = node
	return nil
}

// MkdirAll creates dir and its parents, durably at once (see MemFS).
func (m *MemFS) MkdirAll(dir string) error {
	if err := m.begin("mkdir", dir); err != nil {
		return err
	}
	defer m.mu.Unlock()
	d := m.root
	for _, p := range splitPath(dir) {
		switch n := d.entries[p].(type) {
		case *memDir:
			d = n
		case nil:
			child := newMemDir()
			d.entries[p] = child
			d.durable[p] = child
			d = child
		default:
			return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
	}
	return nil
}

func (m *MemFS) List(dir string) ([]string, error) {
	if err := m.begin("open", dir); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	d, err := m.lookupDir(splitPath(dir))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func (m *MemFS) Stat(name string) (FileInfo, error) {
	if err := m.begin("stat", name); err != nil {
		return FileInfo{}, err
	}
	defer m.mu.Unlock()
	_, _, node, err := m.lookup(name)
	if err == nil && node == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return FileInfo{}, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	fi := FileInfo{Name: filepath.Base(name)}
	switch n := node.(type) {
	case *memDir:
		fi.IsDir = true
	case *memInode:
		fi.Size = int64(len(n.data))
	}
	return fi, nil
}

// SyncDir makes dir's current entries its durable ones: creates, renames
// and removes in dir from now on survive a crash.
func (m *MemFS) SyncDir(dir string) error {
	if err := m.begin("fsync", dir); err != nil {
		return err
	}
	defer m.mu.Unlock()
	d, err := m.lookupDir(splitPath(dir))
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	d.durable = maps.Clone(d.entries)
	return nil
}
