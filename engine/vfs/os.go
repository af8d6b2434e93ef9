package vfs

import (
	"os"
	"path/filepath"
	"syscall"
)

// Default is the FS backed by the operating system.
var Default FS = osFS{}

// Permissions for new files and directories; the umask applies on top.
const (
	filePerm = 0o644
	dirPerm  = 0o755
)

// osFS is the real file system. The directory-level calls are portable os
// calls; the file-level calls that need more than the os package offers live
// in os_linux.go (and a plain fallback in os_other.go).
type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return openOS(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|openCloexec)
}

func (osFS) Open(name string) (File, error) {
	return openOS(name, os.O_RDONLY|openCloexec)
}

func (osFS) OpenReadWrite(name string) (File, error) {
	return openOS(name, os.O_RDWR|openCloexec)
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, dirPerm) }

func (osFS) List(dir string) ([]string, error) {
	// ReadDir sorts by name, which is the order List promises.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) Stat(name string) (FileInfo, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Name: filepath.Base(name), Size: fi.Size(), IsDir: fi.IsDir()}, nil
}

// osFile is an open *os.File. Calls the os package covers go through it,
// so they inherit its EINTR handling and closed-file checks; the rest use
// the descriptor through rc, which keeps it from being closed and reused
// underneath a running syscall.
type osFile struct {
	f  *os.File
	rc syscall.RawConn
}

func openOS(name string, flag int) (File, error) {
	f, err := os.OpenFile(name, flag, filePerm)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{f: f, rc: rc}, nil
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f *osFile) Truncate(size int64) error                { return f.f.Truncate(size) }
func (f *osFile) Close() error                             { return f.f.Close() }
func (f *osFile) Name() string                             { return f.f.Name() }

// control runs fn on the descriptor and labels its error with op and the
// file's name. RawConn.Control only fails when the file is closed; that is
// reported as os.ErrClosed, the same error the os methods give.
func (f *osFile) control(op string, fn func(fd int) error) error {
	var opErr error
	if err := f.rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: os.ErrClosed}
	}
	if opErr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: opErr}
	}
	return nil
}
