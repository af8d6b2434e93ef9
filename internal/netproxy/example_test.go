package netproxy_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sluice-mq/sluice/internal/netproxy"
)

// A target reached through a proxy; the connections of one source are cut
// and healed while the others pass. In the fault-injection harness the
// target is a broker's listener, the proxy's address is what the broker
// advertises, and the sources are the other brokers' SourceIPs.
func Example() {
	target, _ := net.Listen("tcp", "127.0.0.1:0")
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }() // echo
		}
	}()

	p, err := netproxy.New("127.0.0.1:0", target.Addr().String())
	if err != nil {
		panic(err)
	}
	defer p.Close()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.12")}}
	c, _ := d.Dial("tcp", p.Addr())
	defer c.Close()
	buf := make([]byte, 4)

	p.Blackhole("127.0.0.12")
	_, _ = c.Write([]byte("ping"))
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = io.ReadFull(c, buf)
	fmt.Println("partitioned:", err != nil)

	p.Heal("127.0.0.12")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, buf)
	fmt.Println("healed:", string(buf), err)
	fmt.Println("bytes to target:", p.Stats("127.0.0.12").BytesToTarget)
	// Output:
	// partitioned: true
	// healed: ping <nil>
	// bytes to target: 4
}
