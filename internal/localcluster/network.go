package localcluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mq/sluice/internal/netproxy"
)

// With Options.Proxied every link goes through a proxy that can cut it:
// broker i (id i+1) makes its outgoing connections from 127.0.0.(11+i),
// advertises the addresses of its own gRPC and data-plane proxies, and
// reaches etcd through an etcd proxy. Clients come from 127.0.0.1, which
// no rule names, so they reach every broker throughout.

// network holds the proxies of a proxied cluster.
type network struct {
	etcd        *netproxy.Proxy
	grpc, data  []*netproxy.Proxy
	etcdTarget  string
	brokerCount int
}

// SourceIP is the loopback address broker i's connections come from.
func SourceIP(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }

func newNetwork(brokers int, etcdEndpoint string) (*network, error) {
	target := strings.TrimPrefix(strings.TrimPrefix(etcdEndpoint, "http://"), "https://")
	n := &network{etcdTarget: target, brokerCount: brokers}
	var err error
	if n.etcd, err = netproxy.New("", target); err != nil {
		return nil, err
	}
	for range brokers {
		g, err := netproxy.New("", "")
		if err != nil {
			n.close()
			return nil, err
		}
		d, err := netproxy.New("", "")
		if err != nil {
			_ = g.Close()
			n.close()
			return nil, err
		}
		n.grpc, n.data = append(n.grpc, g), append(n.data, d)
	}
	return n, nil
}

// serveArgs are broker i's network flags.
func (n *network) serveArgs(i int) []string {
	return []string{"--advertise-addr", n.grpc[i].Addr(), "--advertise-data-addr", n.data[i].Addr(), "--source-ip", SourceIP(i)}
}

// started aims broker i's proxies at its bound addresses.
func (n *network) started(i int, ready map[string]string) {
	n.grpc[i].SetTarget(ready["addr"])
	n.data[i].SetTarget(ready["data"])
}

func (n *network) close() {
	var errs []error
	if n.etcd != nil {
		errs = append(errs, n.etcd.Close())
	}
	for i := range n.grpc {
		errs = append(errs, n.grpc[i].Close(), n.data[i].Close())
	}
	_ = errors.Join(errs...)
}

// Isolate cuts broker i from the other brokers and from etcd, both ways;
// clients still reach it (F4 when i leads).
func (c *Cluster) Isolate(i int) error {
	n, err := c.proxied()
	if err != nil {
		return err
	}
	n.etcd.Blackhole(SourceIP(i))
	for j := range n.brokerCount {
		if j == i {
			continue
		}
		// j cannot reach i, and i cannot reach j.
		n.grpc[i].Blackhole(SourceIP(j))
		n.data[i].Blackhole(SourceIP(j))
		n.grpc[j].Blackhole(SourceIP(i))
		n.data[j].Blackhole(SourceIP(i))
	}
	return nil
}

// CutFromEtcd cuts the given brokers (all when none are named) from etcd
// (F5a, F5b); they still reach each other.
func (c *Cluster) CutFromEtcd(brokers ...int) error {
	n, err := c.proxied()
	if err != nil {
		return err
	}
	if len(brokers) == 0 {
		for i := range n.brokerCount {
			brokers = append(brokers, i)
		}
	}
	for _, i := range brokers {
		n.etcd.Blackhole(SourceIP(i))
	}
	return nil
}

// HealNetwork lifts every network fault.
func (c *Cluster) HealNetwork() error {
	n, err := c.proxied()
	if err != nil {
		return err
	}
	n.etcd.HealAll()
	for i := range n.grpc {
		n.grpc[i].HealAll()
		n.data[i].HealAll()
	}
	return nil
}

func (c *Cluster) proxied() (*network, error) {
	if c.net == nil {
		return nil, errors.New("localcluster: network faults need Options.Proxied")
	}
	return c.net, nil
}
