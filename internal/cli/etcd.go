package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-mq/sluice/broker/coord"
)

const etcdDescription = `Runs a single-member etcd on loopback, for a local cluster whose brokers
join it with --etcd-endpoints (sluice bench and sluice check start one, so
that any broker can be killed without taking the metadata store along).
Restarting on the same --data-dir with the same addresses brings the same
member back. When it serves it prints one line:

  ready etcd=<client endpoints>

SIGTERM or SIGINT stops it. For anything beyond a local trial run a real
etcd cluster.`

func runEtcd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("etcd", "[flags]", etcdDescription)
	dir := fs.String("data-dir", "", "etcd data directory (required)")
	listen := fs.String("listen", "127.0.0.1:0", "client address (loopback)")
	peer := fs.String("peer-listen", "127.0.0.1:0", "peer address (loopback)")
	fast := fs.Bool("fast", false, "10 ms ticks: ready in ~70 ms and leases down to one second (tests, local trials)")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return parseFailed(stderr, "etcd", err)
	}
	if *dir == "" {
		return failf(stderr, exitUsage, "etcd: --data-dir is required")
	}
	cfg := coord.EmbeddedConfig{Dir: *dir, ClientAddr: *listen, PeerAddr: *peer, Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if *fast {
		cfg.TickMs, cfg.ElectionMs = 10, 100
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	e, err := coord.StartEmbedded(cfg)
	if err != nil {
		return failf(stderr, exitFailure, "etcd: %v", err)
	}
	fmt.Fprintf(stdout, "ready etcd=%s\n", strings.Join(e.Endpoints(), ","))
	<-ctx.Done()
	if err := e.Close(); err != nil {
		return failf(stderr, exitFailure, "etcd: %v", err)
	}
	return exitOK
}
