package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/internal/netproxy"
)

// TestServeAdvertiseAndSourceIP: the three settings resolve from a flag,
// SLUICE_* and the YAML file like every other; a broker started with them
// reaches etcd from its source IP, and the ready line keeps the bound
// addresses and adds the advertised ones.
func TestServeAdvertiseAndSourceIP(t *testing.T) {
	etcd, err := coord.StartEmbedded(coord.EmbeddedConfig{Dir: filepath.Join(t.TempDir(), "etcd"), TickMs: 10, ElectionMs: 100,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	etcdProxy, err := netproxy.New("", strings.TrimPrefix(etcd.Endpoints()[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer etcdProxy.Close()

	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte("advertise-data-addr: 127.0.0.1:19401\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_ADVERTISE_ADDR": "127.0.0.1:19400", "SLUICE_SOURCE_IP": "127.0.0.1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	settings := serveSettings()
	flagVals := map[string]*string{}
	for _, s := range settings {
		v := s.def
		flagVals[s.name] = &v
	}
	*flagVals["source-ip"] = "127.0.0.31"
	*flagVals["data-dir"] = t.TempDir()
	*flagVals["etcd-endpoints"] = "http://" + etcdProxy.Addr()
	for _, name := range []string{"listen", "data-listen", "admin-listen"} {
		*flagVals[name] = "127.0.0.1:0"
	}
	given := map[string]bool{"source-ip": true, "data-dir": true, "etcd-endpoints": true, "listen": true, "data-listen": true, "admin-listen": true}
	cfg, err := resolveServeConfig(settings, flagVals, given, file, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdvertiseAddr != "127.0.0.1:19400" || cfg.AdvertiseDataAddr != "127.0.0.1:19401" || cfg.SourceIP != "127.0.0.31" {
		t.Fatalf("advertise-addr %q, advertise-data-addr %q, source-ip %q", cfg.AdvertiseAddr, cfg.AdvertiseDataAddr, cfg.SourceIP)
	}

	cfg.SessionTTL, cfg.ShutdownTimeout = 2*time.Second, 5*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	line := readyLine(b, cfg)
	for _, want := range []string{" addr=" + b.Addr() + " ", " data=" + b.DataAddr() + " ", " advertised=127.0.0.1:19400", " advertised-data=127.0.0.1:19401"} {
		if !strings.Contains(line, want) {
			t.Errorf("ready line %q lacks %q", line, want)
		}
	}
	if got := etcdProxy.Sources(); !slices.Equal(got, []string{"127.0.0.31"}) {
		t.Errorf("etcd saw connections from %v, want only the source IP 127.0.0.31", got)
	}

	cfg.AdvertiseAddr, cfg.AdvertiseDataAddr = "", ""
	if line := readyLine(b, cfg); strings.Contains(line, "advertised") {
		t.Errorf("ready line %q mentions advertised addresses that were not set", line)
	}
}
