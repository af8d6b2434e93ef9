package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/client"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	brokers string
	timeout time.Duration
	json    bool
}

func addClientFlags(fs *flag.FlagSet, withJSON bool) *clientFlags {
	cf := &clientFlags{}
	def := broker.DefaultListen
	if v, ok := os.LookupEnv("SLUICE_BROKERS"); ok && v != "" {
		def = v
	}
	fs.StringVar(&cf.brokers, "brokers", def, "comma-separated broker gRPC addresses (env SLUICE_BROKERS)")
	fs.DurationVar(&cf.timeout, "request-timeout", 30*time.Second, "how long to wait for the cluster on each request")
	if withJSON {
		fs.BoolVar(&cf.json, "json", false, "print JSON instead of text")
	}
	return cf
}

func (cf *clientFlags) bootstrap() []string {
	var out []string
	for _, b := range strings.Split(cf.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// dial connects to the cluster, bounded by the request timeout.
func (cf *clientFlags) dial() (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	c, err := client.Dial(ctx, cf.bootstrap())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cf.brokers, err)
	}
	return c, nil
}

func (cf *clientFlags) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), cf.timeout)
}

// repeated is a flag that may be given many times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func kvs(list []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}
