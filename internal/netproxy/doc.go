// Package netproxy is a TCP proxy for fault injection on loopback: it
// forwards connections to one target and applies faults per source, the IP
// address the connection comes from. Brokers started with a source IP of
// their own (broker.Config.SourceIP, 127.0.0.x) and advertising the proxy's
// address instead of their own (broker.Config.AdvertiseAddr) then reach each
// other and etcd only through proxies that can cut one link, in one
// direction, while clients (127.0.0.1, no rule) still pass.
//
// Faults, per source and per direction (ToTarget: bytes the source sends;
// FromTarget: bytes coming back):
//
//	Blackhole  nothing passes. Bytes are held, not discarded: an open
//	           connection freezes mid-stream and resumes in order on Heal,
//	           as TCP retransmission resumes it after a partition ends.
//	           Discarding would leave a gap in the stream, a corruption TCP
//	           never produces.
//	Delay      each chunk is forwarded no earlier than Delay after the proxy
//	           read it (latency, not a bandwidth limit: chunks in flight
//	           overlap their waits).
//	Loss       each chunk is lost with this probability and "retransmitted"
//	           after a timeout that starts at 200 ms and doubles while it
//	           keeps being lost (capped at 3.2 s): what packet loss looks like
//	           above TCP. Loss 1 stalls the link like Blackhole.
//
// A rule change applies at once to open connections: a chunk waiting for a
// delay or a retransmission re-reads the rules when they change.
//
// Where a proxy differs from a real network: a connection to the proxy is
// accepted by the kernel even under a blackhole (a real SYN would go
// unanswered), so a client sees a connection that never answers rather than
// a connect timeout; the proxy dials the target only once neither direction
// is blackholed, so the target sees no connection meanwhile. The proxy
// acknowledges bytes the target never received, so a sender's writes block
// only once the proxy holds 64 chunks (2 MiB at most) per direction and the
// kernel's buffers are full. Reset aborts connections with a RST, which a partition does not do;
// it is there to test reconnect paths.
//
// Lifecycle: New starts one accept goroutine; each connection runs one
// goroutine to connect and two per direction (a reader and a writer, so
// delays of consecutive chunks overlap). Close stops them all and returns
// once they are gone.
package netproxy
