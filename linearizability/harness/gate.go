package harness

import (
	"context"
	"net"
	"sync"
)

// gate pauses one group consumer as SIGSTOP would pause a consumer
// process (F11): while it is held, the consumer's loop stops before its
// next operation and every connection of its client stalls both ways, so
// heartbeats, fetches and commits already under way hang in the client
// and reach the brokers only when the gate opens, after the member's
// session has lapsed. That is the zombie a pause leaves: a member that
// still believes it owns its partitions and commits for them.
type gate struct {
	mu   sync.Mutex
	held chan struct{} // non-nil while held; closed on release
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// pass returns once the gate is open.
func (g *gate) pass() {
	g.mu.Lock()
	h := g.held
	g.mu.Unlock()
	if h != nil {
		<-h
	}
}

// dial is the client's dialer (gRPC and data plane): connections whose
// reads and writes wait at the gate.
func (g *gate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

// dialGRPC is dial in grpc.WithContextDialer's shape.
func (g *gate) dialGRPC(ctx context.Context, addr string) (net.Conn, error) {
	return g.dial(ctx, "tcp", addr)
}

type gatedConn struct {
	net.Conn
	g *gate
}

// Read delivers what arrived only once the gate is open: a stopped
// process reads nothing, whatever its kernel buffered.
func (c *gatedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.g.pass()
	return n, err
}

func (c *gatedConn) Write(p []byte) (int, error) {
	c.g.pass()
	return c.Conn.Write(p)
}
