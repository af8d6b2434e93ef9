package netproxy

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sources of the test clients: the whole of 127/8 is local on Linux.
const (
	srcA = "127.0.0.21"
	srcB = "127.0.0.22"
)

// quiet is how long a test waits to see that nothing arrives. Absence can
// only be shown by waiting; everything else waits on events.
const quiet = 300 * time.Millisecond

// echoServer is the target: it echoes what it reads and reports every
// accepted connection and every read.
type echoServer struct {
	ln       net.Listener
	accepted chan struct{}
	recv     chan string
	seen     strings.Builder // what waitRecv took from recv
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, accepted: make(chan struct{}, 100), recv: make(chan string, 1000)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.accepted <- struct{}{}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.recv <- string(buf[:n])
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// waitRecv waits until the target has read want (possibly split or merged
// with other reads) since it started.
func (s *echoServer) waitRecv(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !strings.Contains(s.seen.String(), want) {
		select {
		case r := <-s.recv:
			s.seen.WriteString(r)
		case <-deadline:
			t.Fatalf("target never received %q (got %q)", want, s.seen.String())
		}
	}
}

// nothingReceived checks that the target reads nothing for a while.
func (s *echoServer) nothingReceived(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.recv:
		t.Fatalf("target received %q through a blackhole", r)
	case <-time.After(quiet):
	}
}

func (s *echoServer) waitAccepted(t *testing.T) {
	t.Helper()
	select {
	case <-s.accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy never connected to the target")
	}
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dialFrom(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// readN reads exactly len(want) bytes within d and compares them.
func readN(t *testing.T, c net.Conn, want string, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %q back: %v", want, err)
	}
	if string(buf) != want {
		t.Fatalf("read %q, want %q", buf, want)
	}
}

// noEcho checks that nothing comes back on c for a while.
func noEcho(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(quiet))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read %d bytes, %v through a blackhole; want a timeout", n, err)
	}
}

func TestPassThrough(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	send(t, c, "hello")
	s.waitRecv(t, "hello")
	readN(t, c, "hello", 5*time.Second)
	// A half-close travels through: the echo server sees EOF and closes.
	_ = c.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after half-close: %d bytes, %v; want EOF", n, err)
	}
	waitFor(t, "the connection to end", func() bool { return p.Stats(srcA).Open == 0 })
	st := p.Stats(srcA)
	if st.Accepted != 1 || st.BytesToTarget != 5 || st.BytesFromTarget != 5 {
		t.Fatalf("stats %+v, want 1 connection and 5 bytes each way", st)
	}
	if got := p.Sources(); len(got) != 1 || got[0] != srcA {
		t.Fatalf("sources %v, want [%s]", got, srcA)
	}
}

func TestSetTarget(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, "")
	// Refused: the RST may come before connect returns, or after.
	if c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("a proxy without a target: read %v, want the connection refused", err)
		}
		_ = c.Close()
	}
	p.SetTarget(s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	send(t, c, "late")
	readN(t, c, "late", 5*time.Second)
}

func TestNewRefusesNonLoopback(t *testing.T) {
	if _, err := New("0.0.0.0:0", "127.0.0.1:1"); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("New on 0.0.0.0: %v, want ErrNotLoopback", err)
	}
}

// TestBlackholeFreezesAndHealResumes: a blackhole freezes an open
// connection mid-stream and stalls new ones (the target sees neither bytes
// nor a connection); healing delivers the held bytes in order.
func TestBlackholeFreezesAndHealResumes(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c1 := dialFrom(t, srcA, p.Addr())
	send(t, c1, "before")
	s.waitAccepted(t)
	s.waitRecv(t, "before")
	readN(t, c1, "before", 5*time.Second)

	p.Blackhole(srcA)
	send(t, c1, "during1")
	c2 := dialFrom(t, srcA, p.Addr())
	send(t, c2, "new")
	s.nothingReceived(t)
	select {
	case <-s.accepted:
		t.Fatal("the proxy connected to the target for a blackholed source")
	default:
	}
	send(t, c1, "during2")
	noEcho(t, c1)

	p.Heal(srcA)
	s.waitRecv(t, "during1")
	s.waitRecv(t, "during2")
	s.waitAccepted(t)
	s.waitRecv(t, "new")
	readN(t, c1, "during1during2", 5*time.Second) // in order
	readN(t, c2, "new", 5*time.Second)
}

// TestOneWay: with only FromTarget cut, the target receives but nothing
// comes back until healed.
func TestOneWay(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	send(t, c, "a")
	readN(t, c, "a", 5*time.Second)
	p.Set(srcA, FromTarget, Fault{Blackhole: true})
	send(t, c, "b")
	s.waitRecv(t, "b")
	noEcho(t, c)
	if to, from := p.Faults(srcA); to.Blackhole || !from.Blackhole {
		t.Fatalf("faults to=%+v from=%+v, want only from-target blackholed", to, from)
	}
	p.HealAll()
	readN(t, c, "b", 5*time.Second)
}

// TestPerSourceIsolation: source A blackholed, source B flows through the
// same proxy.
func TestPerSourceIsolation(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	a := dialFrom(t, srcA, p.Addr())
	send(t, a, "a1")
	readN(t, a, "a1", 5*time.Second)
	p.Blackhole(srcA)
	b := dialFrom(t, srcB, p.Addr())
	send(t, a, "a2")
	send(t, b, "b1")
	readN(t, b, "b1", 5*time.Second)
	noEcho(t, a)
	if st := p.Stats(srcA); st.BytesToTarget != 2 {
		t.Fatalf("source A forwarded %d bytes, want the 2 sent before the blackhole", st.BytesToTarget)
	}
	if st := p.Stats(srcB); st.BytesToTarget != 2 || st.BytesFromTarget != 2 {
		t.Fatalf("source B stats %+v", st)
	}
}

func TestDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	send(t, c, "warm")
	readN(t, c, "warm", 5*time.Second)

	p.Delay(srcA, d)
	start := time.Now()
	send(t, c, "x")
	readN(t, c, "x", 5*time.Second)
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip %v with %v each way, want at least %v", rtt, d, 2*d)
	}

	// One way only.
	p.Set(srcA, FromTarget, Fault{})
	start = time.Now()
	send(t, c, "y")
	readN(t, c, "y", 5*time.Second)
	if rtt := time.Since(start); rtt < d {
		t.Fatalf("round trip %v with %v to the target, want at least %v", rtt, d, d)
	}

	// Latency, not a bandwidth limit: chunks in flight wait together.
	start = time.Now()
	for i := range 5 {
		send(t, c, string(rune('0'+i)))
		time.Sleep(5 * time.Millisecond) // separate reads, so separate chunks
	}
	readN(t, c, "01234", 5*time.Second)
	if el := time.Since(start); el >= 5*d {
		t.Fatalf("5 chunks sent together took %v with a %v delay: delays add up instead of overlapping", el, d)
	}
}

// TestDelayChangeAppliesToWaitingChunks: lowering a delay releases a chunk
// already waiting for the old one.
func TestDelayChangeAppliesToWaitingChunks(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	p.Delay(srcA, time.Hour)
	send(t, c, "held")
	s.nothingReceived(t)
	p.Heal(srcA)
	s.waitRecv(t, "held")
}

// TestLoss: loss 1 stalls the link and counts losses; healed, the bytes
// arrive intact and in order (loss is retransmission, never a gap).
func TestLoss(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	c := dialFrom(t, srcA, p.Addr())
	send(t, c, "a")
	s.waitRecv(t, "a")
	readN(t, c, "a", 5*time.Second)
	p.Set(srcA, ToTarget, Fault{Loss: 1})
	send(t, c, "b")
	s.nothingReceived(t)
	if p.Stats(srcA).Lost == 0 {
		t.Fatal("no loss counted")
	}
	p.Seed(7)
	p.Drop(srcA, 0.5)
	msg := strings.Repeat("c", 100)
	send(t, c, msg)
	readN(t, c, "b"+msg, 30*time.Second)
}

func TestReset(t *testing.T) {
	s := startEcho(t)
	p := newProxy(t, s.ln.Addr().String())
	a := dialFrom(t, srcA, p.Addr())
	b := dialFrom(t, srcB, p.Addr())
	send(t, a, "a")
	send(t, b, "b")
	readN(t, a, "a", 5*time.Second)
	readN(t, b, "b", 5*time.Second)
	p.Reset(srcA)
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read after Reset: %v, want the connection closed", err)
	}
	send(t, b, "still")
	readN(t, b, "still", 5*time.Second)
}

// TestCloseEndsEverything: Close returns with frozen connections, a
// connection waiting to dial and a flowing one open, and leaves no
// goroutine of the proxy behind.
func TestCloseEndsEverything(t *testing.T) {
	s := startEcho(t)
	p, err := New("", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	frozen := dialFrom(t, srcA, p.Addr())
	send(t, frozen, "x")
	readN(t, frozen, "x", 5*time.Second)
	p.Blackhole(srcA)
	// More than the proxy holds; the write may block once the kernel's
	// buffers are full too.
	_ = frozen.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = frozen.Write(make([]byte, 1<<20))
	waiting := dialFrom(t, srcA, p.Addr())
	flowing := dialFrom(t, srcB, p.Addr())
	send(t, flowing, "y")
	readN(t, flowing, "y", 5*time.Second)
	waitFor(t, "three open connections", func() bool { return p.Stats(srcA).Open == 2 && p.Stats(srcB).Open == 1 })

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	// Close waited for every goroutine's last step (wg.Done); the runtime
	// may still list one for an instant while it returns.
	deadline := time.Now().Add(time.Second)
	for g := proxyGoroutines(); g != ""; g = proxyGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of the proxy left after Close:\n%s", g)
		}
		runtime.Gosched()
	}
	for _, c := range []*net.TCPConn{frozen, waiting, flowing} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); isTimeout(err) {
			t.Fatalf("a connection is still open after Close: %v", err)
		}
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("the proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// proxyGoroutines returns the stacks of goroutines running proxy code.
func proxyGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "netproxy.(*Proxy)") || strings.Contains(g, "netproxy.(*link)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
