package vfs

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// MapReadOnly maps the first size bytes shared and read-only. The mapping
// must not reach past the end of the file: touching such a page raises
// SIGBUS, so a size beyond the file fails up front with an error matching
// io.ErrUnexpectedEOF. A zero size needs no mapping (mmap rejects it) and
// gets an empty, non-nil slice.
func (f *osFile) MapReadOnly(size int64) ([]byte, func() error, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: unix.EINVAL}
	}
	fileSize, err := f.Size()
	if err != nil {
		return nil, nil, err
	}
	if size > fileSize {
		return nil, nil, fmt.Errorf("vfs: mmap %s: %d bytes of a %d-byte file: %w", f.Name(), size, fileSize, io.ErrUnexpectedEOF)
	}
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	var data []byte
	err = f.control("mmap", func(fd int) error {
		var err error
		data, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// The mapping outlives the descriptor, so closing the file first is
	// fine; unmapping twice would unmap whatever reused the address range,
	// so later calls do nothing.
	var once sync.Once
	unmap := func() error {
		var err error
		once.Do(func() {
			if e := unix.Munmap(data); e != nil {
				err = &os.PathError{Op: "munmap", Path: f.Name(), Err: e}
			}
		})
		return err
	}
	return data, unmap, nil
}
