package vfs

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
)

// Copy buffer sizes. Small sends (an index entry, a short fetch) would waste
// a large buffer; large sends want few syscalls per megabyte. Two pooled
// classes cover both without allocating per call.
const (
	smallCopyBuf = 64 << 10
	largeCopyBuf = 1 << 20
)

var (
	smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallCopyBuf); return &b }}
	largeBufPool = sync.Pool{New: func() any { b := make([]byte, largeCopyBuf); return &b }}
)

// copyTo is SendFile's fallback for files that are not Senders and
// connections that are not sockets: read a chunk, write it, repeat. A file
// shorter than off+n ends with io.ErrUnexpectedEOF and the count sent, the
// same result sendfile(2) gives.
func copyTo(conn net.Conn, f File, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, &os.PathError{Op: "sendfile", Path: f.Name(), Err: os.ErrInvalid}
	}
	if n == 0 {
		return 0, nil
	}
	pool := &smallBufPool
	if n >= largeCopyBuf {
		pool = &largeBufPool
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	buf := *bp

	var sent int64
	for sent < n {
		chunk := min(n-sent, int64(len(buf)))
		r, rerr := f.ReadAt(buf[:chunk], off+sent)
		if r > 0 {
			w, werr := conn.Write(buf[:r])
			sent += int64(w)
			if werr != nil {
				return sent, werr
			}
			if w < r {
				return sent, io.ErrShortWrite
			}
		}
		switch {
		case errors.Is(rerr, io.EOF):
			if sent < n {
				return sent, io.ErrUnexpectedEOF
			}
		case rerr != nil:
			return sent, rerr
		case r == 0:
			// ReaderAt promises an error with a short read; guard against
			// implementations that break it rather than spin forever.
			return sent, io.ErrUnexpectedEOF
		}
	}
	return sent, nil
}
