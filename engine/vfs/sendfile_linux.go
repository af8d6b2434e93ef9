package vfs

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxSendfileChunk bounds one sendfile(2) call; Linux itself stops at a
// little under 2 GiB per call.
const maxSendfileChunk = 1 << 30

// SendTo copies n bytes at off to conn with sendfile(2), so fetch responses
// go from the page cache to the socket without a user-space copy.
// Connections that do not expose a descriptor (TLS, test pipes) and sockets
// the kernel refuses take the copyTo path instead. A file shorter than
// off+n ends with io.ErrUnexpectedEOF and the count sent.
func (f *osFile) SendTo(conn net.Conn, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, &os.PathError{Op: "sendfile", Path: f.Name(), Err: unix.EINVAL}
	}
	if n == 0 {
		return 0, nil
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return copyTo(conn, f, off, n)
	}
	out, err := sc.SyscallConn()
	if err != nil {
		return copyTo(conn, f, off, n)
	}

	var (
		sent    int64
		sendErr error
		pos     = off
	)
	ctlErr := f.rc.Control(func(in uintptr) {
		// out.Write calls the function when the socket is writable and
		// again after the poller sees it writable whenever it returns
		// false, so EAGAIN costs a poller wait, not a spin. It honours
		// the connection's write deadline.
		werr := out.Write(func(outFd uintptr) bool {
			for sent < n {
				chunk := min(n-sent, maxSendfileChunk)
				m, err := unix.Sendfile(int(outFd), int(in), &pos, int(chunk))
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return false
				case err != nil:
					sendErr = err
					return true
				case m == 0:
					sendErr = io.ErrUnexpectedEOF
					return true
				}
				sent += int64(m)
			}
			return true
		})
		if werr != nil && sendErr == nil {
			sendErr = werr
		}
	})
	if ctlErr != nil {
		return 0, &os.PathError{Op: "sendfile", Path: f.Name(), Err: os.ErrClosed}
	}
	switch sendErr {
	case nil:
		return sent, nil
	case io.ErrUnexpectedEOF:
		return sent, io.ErrUnexpectedEOF
	case unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP:
		// The kernel cannot sendfile between this pair (an unusual
		// socket or file system); the bytes can still be copied.
		k, err := copyTo(conn, f, off+sent, n-sent)
		return sent + k, err
	}
	if _, ok := sendErr.(unix.Errno); ok {
		sendErr = &os.PathError{Op: "sendfile", Path: f.Name(), Err: sendErr}
	}
	return sent, sendErr
}
