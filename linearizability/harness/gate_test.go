package harness

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestGateStallsConnections: a held gate stops a connection both ways —
// what the peer sent is not delivered, what the owner writes does not
// leave — and releasing it lets both through, nothing lost.
func TestGateStallsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	g := &gate{}
	c, err := g.dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted
	if peer == nil {
		t.Fatal("no connection accepted")
	}
	defer peer.Close()

	g.hold()
	// Owner → peer: the write waits at the gate.
	wrote := make(chan error, 1)
	go func() { _, err := c.Write([]byte("out")); wrote <- err }()
	// Peer → owner: the bytes arrive in the kernel but the read waits.
	if _, err := peer.Write([]byte("in")); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		buf := make([]byte, 2)
		n, _ := io.ReadFull(c, buf)
		read <- string(buf[:n])
	}()
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := peer.Read(make([]byte, 3)); n != 0 || err == nil {
		t.Fatalf("a held gate let %d bytes out (err %v)", n, err)
	}
	select {
	case s := <-read:
		t.Fatalf("a held gate delivered %q", s)
	default:
	}

	g.release()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Time{})
	out := make([]byte, 3)
	if _, err := io.ReadFull(peer, out); err != nil || string(out) != "out" {
		t.Fatalf("after release the peer read %q, %v", out, err)
	}
	if s := <-read; s != "in" {
		t.Fatalf("after release the owner read %q", s)
	}
	g.release() // releasing an open gate is a no-op
	g.pass()
}
