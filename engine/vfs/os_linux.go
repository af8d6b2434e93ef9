package vfs

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// openCloexec is explicit although os.OpenFile adds it too: a descriptor
// leaking into a child process would keep deleted segments alive.
const openCloexec = unix.O_CLOEXEC

// iovMax is the kernel's limit on buffers per pwritev call (IOV_MAX).
const iovMax = 1024

func (osFS) SyncDir(dir string) error {
	fd, err := retryEINTR(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if _, err := retryEINTR(func() (int, error) { return 0, unix.Fsync(fd) }); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// WritevAt gathers bufs into pwritev calls, continuing after short writes
// (a signal or a full pipe of dirty pages can cut one short) until every
// byte is written or the kernel reports an error.
func (f *osFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "pwritev", Path: f.Name(), Err: unix.EINVAL}
	}
	// Copy the slice headers so advancing past written bytes does not
	// disturb the caller's slice; skip empty buffers so they cannot make a
	// zero-byte call look like no progress.
	pending := make([][]byte, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			pending = append(pending, b)
		}
	}
	total := 0
	err := f.control("pwritev", func(fd int) error {
		for len(pending) > 0 {
			batch := pending[:min(len(pending), iovMax)]
			n, err := unix.Pwritev(fd, batch, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrShortWrite
			}
			total += n
			off += int64(n)
			for n > 0 {
				if n >= len(pending[0]) {
					n -= len(pending[0])
					pending = pending[1:]
				} else {
					pending[0] = pending[0][n:]
					n = 0
				}
			}
		}
		return nil
	})
	return total, err
}

// Sync is fdatasync: the data and the size, which is all recovery reads.
func (f *osFile) Sync() error {
	return f.control("fdatasync", func(fd int) error {
		_, err := retryEINTR(func() (int, error) { return 0, unix.Fdatasync(fd) })
		return err
	})
}

// Preallocate reserves blocks with FALLOC_FL_KEEP_SIZE so the visible size,
// which recovery trusts, does not move. File systems without fallocate
// (EOPNOTSUPP) lose nothing but the reservation, so that is not an error.
func (f *osFile) Preallocate(off, length int64) error {
	if length == 0 {
		return nil // fallocate rejects a zero length with EINVAL
	}
	return f.control("fallocate", func(fd int) error {
		_, err := retryEINTR(func() (int, error) {
			return 0, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, length)
		})
		if err == unix.EOPNOTSUPP {
			return nil
		}
		return err
	})
}

func (f *osFile) Size() (int64, error) {
	var st unix.Stat_t
	err := f.control("fstat", func(fd int) error { return unix.Fstat(fd, &st) })
	if err != nil {
		return 0, err
	}
	return st.Size, nil
}

// StartWriteback asks the kernel to begin writing [off, off+n) back. It
// waits for nothing and promises nothing; kernels or file systems without
// sync_file_range simply skip the hint.
func (f *osFile) StartWriteback(off, n int64) error {
	return f.control("sync_file_range", func(fd int) error {
		err := unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
		if err == unix.ENOSYS || err == unix.EOPNOTSUPP {
			return nil
		}
		return err
	})
}

// retryEINTR repeats a call interrupted by a signal. Go installs its
// handlers with SA_RESTART, but not every call is restartable.
func retryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			return n, err
		}
	}
}
