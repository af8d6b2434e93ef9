package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/faultfs"
)

// setting is one broker setting: a flag, an environment variable
// SLUICE_<NAME> and a key of the optional YAML file, in that order of
// precedence over the default.
type setting struct {
	name, def, help string
	apply           func(c *broker.Config, v string) error
}

func envName(name string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func serveSettings() []setting {
	str := func(dst func(*broker.Config) *string) func(*broker.Config, string) error {
		return func(c *broker.Config, v string) error { *dst(c) = v; return nil }
	}
	dur := func(dst func(*broker.Config) *time.Duration) func(*broker.Config, string) error {
		return func(c *broker.Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("want a positive duration such as 5s, got %q", v)
			}
			*dst(c) = d
			return nil
		}
	}
	return []setting{
		{"data-dir", "./sluice-data", "directory for partition logs (and the embedded etcd)", str(func(c *broker.Config) *string { return &c.DataDir })},
		{"listen", broker.DefaultListen, "gRPC address (127.0.0.1:0 picks a free port)", str(func(c *broker.Config) *string { return &c.Listen })},
		{"data-listen", broker.DefaultDataListen, "fetch data-plane address", str(func(c *broker.Config) *string { return &c.DataListen })},
		{"advertise-addr", "", "gRPC address registered for other brokers and clients (a proxy in front of this broker); empty: the bound --listen address", str(func(c *broker.Config) *string { return &c.AdvertiseAddr })},
		{"advertise-data-addr", "", "data-plane address registered for other brokers and clients; empty: the bound --data-listen address", str(func(c *broker.Config) *string { return &c.AdvertiseDataAddr })},
		{"source-ip", "", "loopback IP (e.g. 127.0.0.12) every outgoing connection binds, to other brokers and etcd, so a fault-injection proxy can tell brokers apart; empty: the system's choice", str(func(c *broker.Config) *string { return &c.SourceIP })},
		{"admin-listen", broker.DefaultAdminListen, "HTTP address for /metrics, /healthz and /debug/pprof", str(func(c *broker.Config) *string { return &c.AdminListen })},
		{"etcd-endpoints", "", "comma-separated etcd client URLs; empty starts an embedded etcd in the data dir", func(c *broker.Config, v string) error {
			c.EtcdEndpoints = nil
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					c.EtcdEndpoints = append(c.EtcdEndpoints, e)
				}
			}
			return nil
		}},
		{"etcd-listen", broker.DefaultEtcdListen, "client address of the embedded etcd (other brokers join with --etcd-endpoints)", str(func(c *broker.Config) *string { return &c.EtcdListen })},
		{"broker-id", "0", "this broker's id, unique in the cluster", func(c *broker.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("want a non-negative integer, got %q", v)
			}
			c.ID = int32(n)
			return nil
		}},
		{"cluster", broker.DefaultCluster, "cluster name: the etcd key prefix /sluice/<cluster>/", str(func(c *broker.Config) *string { return &c.Cluster })},
		{"rack", "", "rack or zone name, for replica placement", str(func(c *broker.Config) *string { return &c.Rack })},
		{"session-ttl", broker.DefaultSessionTTL.String(), "etcd lease of the broker's registration; a broker that cannot renew it stops leading", dur(func(c *broker.Config) *time.Duration { return &c.SessionTTL })},
		{"default-replication-factor", "1", "replication factor of topics created without one", func(c *broker.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return fmt.Errorf("want a positive integer, got %q", v)
			}
			c.DefaultReplicationFactor = int32(n)
			return nil
		}},
		{"topic-defaults", "", "comma-separated k=v topic config defaults for this broker, e.g. sync.policy=always", func(c *broker.Config, v string) error {
			m, err := parseKVs(v)
			c.TopicDefaults = m
			return err
		}},
		{"block-cache-bytes", strconv.Itoa(broker.DefaultBlockCache), "copy-path block cache budget; 0 uses the default, -1 disables", func(c *broker.Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			c.BlockCacheBytes = n
			return nil
		}},
		{"produce-timeout", broker.DefaultProduceTimeout.String(), "default acks=all wait", dur(func(c *broker.Config) *time.Duration { return &c.ProduceTimeout })},
		{"shutdown-timeout", broker.DefaultShutdown.String(), "how long SIGTERM waits for in-flight requests", dur(func(c *broker.Config) *time.Duration { return &c.ShutdownTimeout })},
		{"replica-lag-max", broker.DefaultReplicaLagMax.String(), "a follower not caught up for longer leaves the ISR (Kafka's replica.lag.time.max)", dur(func(c *broker.Config) *time.Duration { return &c.ReplicaLagMax })},
		{"replica-fetch-wait", broker.DefaultReplicaFetch.String(), "how long a leader holds a follower fetch that has nothing new", dur(func(c *broker.Config) *time.Duration { return &c.ReplicaFetchWait })},
		{"leader-rebalance-interval", broker.DefaultRebalance.String(), "how often the controller moves leadership back to preferred replicas; negative disables", dur(func(c *broker.Config) *time.Duration { return &c.LeaderRebalanceInterval })},
		{"fast-etcd", "false", "embedded etcd with 10 ms ticks (tests and local trials)", func(c *broker.Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.FastEmbeddedEtcd = b
			return err
		}},
	}
}

// settingValue is a string flag that acts as a boolean flag (no value
// needed) for settings whose default is true or false.
type settingValue struct {
	s      string
	isBool bool
}

func (v *settingValue) String() string     { return v.s }
func (v *settingValue) Set(s string) error { v.s = s; return nil }
func (v *settingValue) IsBoolFlag() bool   { return v.isBool }

func parseKVs(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("want key=value, got %q", kv)
		}
		m[k] = val
	}
	return m, nil
}

const serveDescription = `Runs a broker. With no --etcd-endpoints it starts an embedded etcd in the
data directory, so this one command runs a working single-node broker.

Every setting is a flag, an environment variable (SLUICE_<NAME>, e.g.
SLUICE_DATA_DIR) and a key of the optional YAML file given with --config, in
that order of precedence. When the broker is ready it prints one line:

  ready broker=<id> addr=<grpc> data=<data plane> admin=<http> etcd=<endpoints>

with the bound addresses, followed by advertised=<grpc> and
advertised-data=<data plane> when --advertise-addr or --advertise-data-addr
is set.

SIGTERM or SIGINT shuts it down gracefully: it stops taking requests,
finishes those in flight, syncs every partition, writes the clean-shutdown
markers and exits 0.`

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "[flags]", serveDescription)
	settings := serveSettings()
	vals := map[string]*string{}
	for _, s := range settings {
		v := &settingValue{s: s.def, isBool: s.def == "true" || s.def == "false"}
		vals[s.name] = &v.s
		fs.Var(v, s.name, fmt.Sprintf("%s (env %s)", s.help, envName(s.name)))
	}
	configFile := fs.String("config", "", "optional YAML file with any of these settings as keys (env SLUICE_CONFIG)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (env SLUICE_LOG_LEVEL)")
	logJSON := fs.Bool("log-json", false, "log as JSON lines (env SLUICE_LOG_JSON)")
	if _, err := parseArgs(fs, args, stdout); err != nil {
		return parseFailed(stderr, "serve", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg, err := resolveServeConfig(settings, vals, set, *configFile, os.LookupEnv)
	if err != nil {
		return failf(stderr, exitUsage, "serve: %v", err)
	}
	level := new(slog.LevelVar)
	if lv, ok := os.LookupEnv("SLUICE_LOG_LEVEL"); ok && !set["log-level"] {
		*logLevel = lv
	}
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return failf(stderr, exitUsage, "serve: --log-level %q: want debug, info, warn or error", *logLevel)
	}
	if v, ok := os.LookupEnv("SLUICE_LOG_JSON"); ok && !set["log-json"] {
		*logJSON, _ = strconv.ParseBool(v)
	}
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if *logJSON {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	cfg.Logger = slog.New(h)

	// The checkers' disk faults (a test build only; see internal/faultfs).
	ffs, err := faultfs.FromEnv()
	if err != nil {
		return failf(stderr, exitUsage, "serve: %v", err)
	}
	if ffs != nil {
		cfg.FS = ffs
		cfg.Logger.Warn("serving on the fault file layer: a test build", faultfs.EnvVar, os.Getenv(faultfs.EnvVar))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return failf(stderr, exitFailure, "serve: %v", err)
	}
	fmt.Fprintln(stdout, readyLine(b, cfg))
	<-ctx.Done()
	stop()
	if err := b.Stop(context.Background()); err != nil {
		return failf(stderr, exitFailure, "serve: shutdown: %v", err)
	}
	return exitOK
}

// readyLine is what serve prints once the broker is ready: the bound
// addresses (a harness aims its proxies at them), then the advertised ones
// that were set.
func readyLine(b *broker.Broker, cfg broker.Config) string {
	line := fmt.Sprintf("ready broker=%d addr=%s data=%s admin=%s etcd=%s", b.ID(), b.Addr(), b.DataAddr(), b.AdminAddr(), strings.Join(b.EtcdEndpoints(), ","))
	if cfg.AdvertiseAddr != "" {
		line += " advertised=" + b.AdvertisedAddr()
	}
	if cfg.AdvertiseDataAddr != "" {
		line += " advertised-data=" + b.AdvertisedDataAddr()
	}
	return line
}

// resolveServeConfig applies defaults, then the YAML file, then SLUICE_*
// variables, then the flags given on the command line.
func resolveServeConfig(settings []setting, flagVals map[string]*string, flagSet map[string]bool, configFile string, lookupEnv func(string) (string, bool)) (broker.Config, error) {
	var cfg broker.Config
	values := map[string]string{}
	for _, s := range settings {
		values[s.name] = s.def
	}
	if configFile == "" {
		configFile, _ = lookupEnv("SLUICE_CONFIG")
	}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		fileVals, err := parseYAMLSettings(data, settings)
		if err != nil {
			return cfg, fmt.Errorf("config file %s: %w", configFile, err)
		}
		for k, v := range fileVals {
			values[k] = v
		}
	}
	for _, s := range settings {
		if v, ok := lookupEnv(envName(s.name)); ok {
			values[s.name] = v
		}
		if flagSet[s.name] {
			values[s.name] = *flagVals[s.name]
		}
	}
	for _, s := range settings {
		if err := s.apply(&cfg, values[s.name]); err != nil {
			return cfg, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return cfg, nil
}

// parseYAMLSettings reads a YAML mapping of setting names to scalar values.
func parseYAMLSettings(data []byte, settings []setting) (map[string]string, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("want a mapping of setting names to values: %w", err)
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.name] = true
	}
	out := map[string]string{}
	for k, v := range raw {
		if !known[k] {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("unknown setting %q (known: %s)", k, strings.Join(names, ", "))
		}
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[k] = strings.Join(parts, ",")
		case map[string]any:
			parts := make([]string, 0, len(x))
			for mk, mv := range x {
				parts = append(parts, fmt.Sprintf("%s=%v", mk, mv))
			}
			sort.Strings(parts)
			out[k] = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("setting %q: unsupported value %v", k, v)
		}
	}
	return out, nil
}
