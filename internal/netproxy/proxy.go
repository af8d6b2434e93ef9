package netproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is one way of a proxied connection, or both.
type Direction uint8

const (
	// ToTarget is the bytes the source sends to the target.
	ToTarget Direction = 1 << iota
	// FromTarget is the bytes the target sends back to the source.
	FromTarget
	// Both directions.
	Both = ToTarget | FromTarget
)

func (d Direction) String() string {
	switch d {
	case ToTarget:
		return "to-target"
	case FromTarget:
		return "from-target"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Fault is what one direction of one source's connections suffers. The zero
// Fault lets everything through.
type Fault struct {
	Blackhole bool          // nothing passes; bytes are held until healed
	Delay     time.Duration // each chunk passes no earlier than Delay after it was read
	Loss      float64       // probability that a chunk is lost and retransmitted later
}

// Stats are one source's counters since the proxy started.
type Stats struct {
	Accepted        int64 // connections accepted from the source
	Open            int64 // of which still open
	BytesToTarget   int64 // bytes forwarded to the target
	BytesFromTarget int64 // bytes forwarded back to the source
	Lost            int64 // chunks lost by Loss (each retransmission counts)
}

// Retransmission timeouts of Loss: Linux's minimum RTO, doubled per loss
// of the same chunk up to a cap that keeps tests short.
const (
	minRTO = 200 * time.Millisecond
	maxRTO = 3200 * time.Millisecond
)

const (
	chunkBytes = 32 << 10 // largest read
	// queueChunks are read ahead per direction while the writer waits: as
	// many chunks as can be in flight at once under a delay (fewer would
	// turn a latency into a bandwidth limit), and what a blackhole holds
	// (at most 2 MiB) before the sender's writes back up.
	queueChunks = 64
	dialTimeout = 5 * time.Second
)

// ErrNotLoopback is returned by New for a listen address that is not a
// loopback address: the proxy has no authentication.
var ErrNotLoopback = errors.New("netproxy: listen address is not loopback")

// Proxy forwards the connections it accepts to its target, applying the
// faults set for each connection's source IP. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln   net.Listener
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	// rules is replaced whole on every change (copy on write), so the
	// forwarding path reads it without a lock; each set's changed channel
	// is closed when it is replaced, waking waiters to re-read.
	rules   atomic.Pointer[ruleSet]
	rulesMu sync.Mutex // serializes replacements of rules

	mu     sync.Mutex
	target string
	closed bool
	links  map[*link]struct{}
	stats  map[netip.Addr]*counters

	rngMu sync.Mutex
	rng   *rand.Rand
}

type ruleSet struct {
	faults  map[netip.Addr][2]Fault // [0] ToTarget, [1] FromTarget
	changed chan struct{}
}

func (rs *ruleSet) fault(src netip.Addr, dir Direction) Fault {
	f := rs.faults[src]
	if dir == FromTarget {
		return f[1]
	}
	return f[0]
}

type counters struct {
	accepted, open, toTarget, fromTarget, lost atomic.Int64
}

// New listens on listen (a loopback address; "" is 127.0.0.1:0, a free
// port) and forwards every accepted connection to target (host:port; ""
// refuses connections until SetTarget).
func New(listen, target string) (*Proxy, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("netproxy: listen address %q: %w", listen, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("netproxy: %w", err)
	}
	p := &Proxy{
		ln: ln, done: make(chan struct{}), target: target,
		links: map[*link]struct{}{}, stats: map[netip.Addr]*counters{},
		rng: rand.New(rand.NewPCG(0, 0)),
	}
	p.rules.Store(&ruleSet{faults: map[netip.Addr][2]Fault{}, changed: make(chan struct{})})
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on: what a broker advertises.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is where new connections go.
func (p *Proxy) Target() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// SetTarget changes where new connections go (a broker restarted on
// another port); open connections keep their target. "" refuses new
// connections.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Seed reseeds the random source of Loss (seed 0 until called).
func (p *Proxy) Seed(seed uint64) {
	p.rngMu.Lock()
	p.rng = rand.New(rand.NewPCG(seed, seed))
	p.rngMu.Unlock()
}

func (p *Proxy) lost(probability float64) bool {
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return p.rng.Float64() < probability
}

// Set replaces the fault of src's connections in dir (ToTarget, FromTarget
// or Both). src is an IP address (a port, if any, is ignored); anything
// else is a bug of the caller and panics.
func (p *Proxy) Set(src string, dir Direction, f Fault) {
	p.update(src, dir, func(old *Fault) { *old = f })
}

// Blackhole cuts src off in both directions: open connections freeze, new
// ones stall (see the package doc). Delay and Loss settings are kept.
func (p *Proxy) Blackhole(src string) {
	p.update(src, Both, func(f *Fault) { f.Blackhole = true })
}

// Delay sets the latency of src's connections in both directions.
func (p *Proxy) Delay(src string, d time.Duration) {
	p.update(src, Both, func(f *Fault) { f.Delay = d })
}

// Drop sets the chunk loss probability of src's connections in both
// directions (see Loss in the package doc).
func (p *Proxy) Drop(src string, probability float64) {
	p.update(src, Both, func(f *Fault) { f.Loss = probability })
}

// Heal removes every fault of src.
func (p *Proxy) Heal(src string) {
	a := parseSource(src)
	p.replaceRules(func(m map[netip.Addr][2]Fault) { delete(m, a) })
}

// HealAll removes every fault.
func (p *Proxy) HealAll() {
	p.replaceRules(func(m map[netip.Addr][2]Fault) { clear(m) })
}

// Faults returns src's faults in each direction.
func (p *Proxy) Faults(src string) (toTarget, fromTarget Fault) {
	f := p.rules.Load().faults[parseSource(src)]
	return f[0], f[1]
}

func (p *Proxy) update(src string, dir Direction, fn func(*Fault)) {
	if dir&Both == 0 || dir&^Both != 0 {
		panic(fmt.Sprintf("netproxy: invalid direction %d", dir))
	}
	a := parseSource(src)
	p.replaceRules(func(m map[netip.Addr][2]Fault) {
		f := m[a]
		if dir&ToTarget != 0 {
			fn(&f[0])
		}
		if dir&FromTarget != 0 {
			fn(&f[1])
		}
		if f == [2]Fault{} {
			delete(m, a)
		} else {
			m[a] = f
		}
	})
}

// replaceRules installs a modified copy of the rules and wakes every
// waiter of the old set.
func (p *Proxy) replaceRules(fn func(map[netip.Addr][2]Fault)) {
	p.rulesMu.Lock()
	defer p.rulesMu.Unlock()
	old := p.rules.Load()
	m := make(map[netip.Addr][2]Fault, len(old.faults)+1)
	for k, v := range old.faults {
		m[k] = v
	}
	fn(m)
	p.rules.Store(&ruleSet{faults: m, changed: make(chan struct{})})
	close(old.changed)
}

func parseSource(src string) netip.Addr {
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(src)
	if err != nil {
		panic(fmt.Sprintf("netproxy: source %q is not an IP address", src))
	}
	return a.Unmap()
}

// Reset aborts src's open connections with a RST both ways (a connection
// drop; a partition is Blackhole).
func (p *Proxy) Reset(src string) {
	a := parseSource(src)
	p.mu.Lock()
	var victims []*link
	for l := range p.links {
		if l.src == a {
			victims = append(victims, l)
		}
	}
	p.mu.Unlock()
	for _, l := range victims {
		l.abort()
	}
}

// Stats returns src's counters.
func (p *Proxy) Stats(src string) Stats {
	a := parseSource(src)
	p.mu.Lock()
	c := p.stats[a]
	p.mu.Unlock()
	if c == nil {
		return Stats{}
	}
	return Stats{
		Accepted: c.accepted.Load(), Open: c.open.Load(),
		BytesToTarget: c.toTarget.Load(), BytesFromTarget: c.fromTarget.Load(), Lost: c.lost.Load(),
	}
}

// Sources are the IPs connections came from, sorted.
func (p *Proxy) Sources() []string {
	p.mu.Lock()
	addrs := make([]netip.Addr, 0, len(p.stats))
	for a := range p.stats {
		addrs = append(addrs, a)
	}
	p.mu.Unlock()
	slices.SortFunc(addrs, netip.Addr.Compare)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Close stops accepting, closes every open connection and returns once
// every goroutine of the proxy has ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	close(p.done)
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: back off briefly.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-p.done:
				return
			}
			continue
		}
		p.admit(c)
	}
}

// admit registers an accepted connection and starts forwarding it.
func (p *Proxy) admit(c net.Conn) {
	src := netip.IPv4Unspecified()
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = ta.AddrPort().Addr().Unmap()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	l := &link{p: p, src: src, client: c}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.done = l.ctx.Done()
	cnt := p.stats[src]
	if cnt == nil {
		cnt = &counters{}
		p.stats[src] = cnt
	}
	l.cnt = cnt
	p.links[l] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	cnt.accepted.Add(1)
	cnt.open.Add(1)
	go l.run()
}

// link is one proxied connection.
type link struct {
	p      *Proxy
	src    netip.Addr
	cnt    *counters
	client net.Conn
	// ctx is canceled (done closed) by close.
	ctx    context.Context
	cancel context.CancelFunc
	done   <-chan struct{}

	mu     sync.Mutex
	target net.Conn // nil until dialed
	once   sync.Once
}

func (l *link) run() {
	defer l.p.wg.Done()
	defer func() {
		l.close()
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
		l.cnt.open.Add(-1)
	}()
	// A handshake needs both directions: dial only once neither is
	// blackholed.
	for {
		rs := l.p.rules.Load()
		if !rs.fault(l.src, ToTarget).Blackhole && !rs.fault(l.src, FromTarget).Blackhole {
			break
		}
		select {
		case <-rs.changed:
		case <-l.done:
			return
		}
	}
	target := l.p.Target()
	if target == "" {
		l.abort()
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, dialTimeout)
	t, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		l.abort() // the client sees the refusal as a reset
		return
	}
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		_ = t.Close()
		return
	default:
	}
	l.target = t
	l.mu.Unlock()

	var writers, readers sync.WaitGroup
	for _, d := range []struct {
		dir      Direction
		from, to net.Conn
		bytes    *atomic.Int64
	}{{ToTarget, l.client, t, &l.cnt.toTarget}, {FromTarget, t, l.client, &l.cnt.fromTarget}} {
		q := make(chan chunk, queueChunks)
		readers.Add(1)
		go func() { defer readers.Done(); l.read(d.from, q) }()
		writers.Add(1)
		go func() { defer writers.Done(); l.write(d.dir, d.to, q, d.bytes) }()
	}
	writers.Wait()
	l.close()
	readers.Wait()
}

// chunk is what one Read returned, or the end of the stream (end; err nil
// for EOF, a half-close).
type chunk struct {
	data   []byte
	readAt time.Time
	end    bool
	err    error
}

func (l *link) read(from net.Conn, q chan<- chunk) {
	buf := make([]byte, chunkBytes)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			select {
			case q <- chunk{data: bytes.Clone(buf[:n]), readAt: time.Now()}:
			case <-l.done:
				return
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c := chunk{end: true, readAt: time.Now()}
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			select {
			case q <- c:
			case <-l.done:
			}
			return
		}
	}
}

func (l *link) write(dir Direction, to net.Conn, q <-chan chunk, bytes *atomic.Int64) {
	for {
		var c chunk
		select {
		case c = <-q:
		case <-l.done:
			return
		}
		if !l.gate(dir, c.readAt) {
			return
		}
		if c.end {
			if c.err != nil {
				l.abort() // pass a reset on as a reset
				return
			}
			if cw, ok := to.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			return
		}
		n, err := to.Write(c.data)
		bytes.Add(int64(n))
		if err != nil {
			l.abort()
			return
		}
	}
}

// gate waits until a chunk read at readAt may pass in dir under the
// current rules, re-reading them whenever they change. It returns false
// when the connection closed meanwhile.
func (l *link) gate(dir Direction, readAt time.Time) bool {
	rto := minRTO
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		rs := l.p.rules.Load()
		f := rs.fault(l.src, dir)
		var wait time.Duration
		switch {
		case f.Blackhole:
			wait = -1 // until the rules change
		case f.Delay > 0 && time.Until(readAt.Add(f.Delay)) > 0:
			wait = time.Until(readAt.Add(f.Delay))
		case f.Loss > 0 && l.p.lost(f.Loss):
			l.cnt.lost.Add(1)
			wait, rto = rto, min(2*rto, maxRTO)
		default:
			return true
		}
		var timeout <-chan time.Time
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timeout = timer.C
		}
		select {
		case <-rs.changed:
		case <-timeout:
		case <-l.done:
			return false
		}
	}
}

// close ends the connection both ways (idempotent).
func (l *link) close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.cancel()
		t := l.target
		l.mu.Unlock()
		_ = l.client.Close()
		if t != nil {
			_ = t.Close()
		}
	})
}

// abort ends the connection with a RST both ways.
func (l *link) abort() {
	l.mu.Lock()
	t := l.target
	l.mu.Unlock()
	for _, c := range []net.Conn{l.client, t} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	l.close()
}
