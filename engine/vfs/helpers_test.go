package vfs_test

import (
	"io"
	"net"
	"testing"
)

func listen(t testing.TB) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	return ln, err
}

func dial(ln net.Listener) (net.Conn, error) {
	return net.Dial("tcp", ln.Addr().String())
}

// pipe returns the client end of a loopback TCP connection and a channel
// that yields everything the server end read once the client closes.
func pipe(t testing.TB) (net.Conn, <-chan []byte) {
	t.Helper()
	ln, err := listen(t)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			out <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		out <- b
	}()
	c, err := dial(ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, out
}
