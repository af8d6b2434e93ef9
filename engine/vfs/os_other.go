//go:build !linux

package vfs

import (
	"os"
)

// Outside Linux the engine runs for development only: the calls below are
// the portable os equivalents, without pwritev, fdatasync or fallocate.

const openCloexec = 0 // os.OpenFile sets close-on-exec where it exists

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (f *osFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := f.f.WriteAt(b, off)
		total += n
		off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (f *osFile) Sync() error { return f.f.Sync() }

func (f *osFile) Preallocate(off, length int64) error { return nil }

func (f *osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
