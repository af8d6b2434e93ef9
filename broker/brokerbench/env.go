package brokerbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/client"
)

// Env is one Sluice broker and up to two embedded nats-servers (default
// sync_interval and sync_interval: always), all on 127.0.0.1 with data in
// one temporary directory.
type Env struct {
	dir    string
	broker *broker.Broker
	client *client.Client
	nats   *natsServer // default sync_interval (2 min)
	always *natsServer // sync_interval: always
	seq    atomic.Int64
}

// natsServer is an embedded nats-server with JetStream.
type natsServer struct {
	srv        *server.Server
	syncAlways bool
}

// StartEnv starts a broker in a new temporary directory under parent (the
// system temp dir when empty). Close stops everything and deletes the
// directory.
func StartEnv(ctx context.Context, parent string) (_ *Env, err error) {
	dir, err := os.MkdirTemp(parent, "sluice-brokerbench-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	e.broker, err = broker.Start(ctx, broker.Config{
		DataDir: filepath.Join(dir, "sluice"), Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0",
		AdminListen: "127.0.0.1:0", EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true,
		SessionTTL: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	e.client, err = client.Dial(ctx, []string{e.broker.Addr()})
	if err != nil {
		return nil, fmt.Errorf("dial broker: %w", err)
	}
	// The first topic waits for the broker to elect itself controller.
	name, err := e.CreateTopic(ctx, 1, "never")
	if err != nil {
		return nil, err
	}
	return e, e.client.DeleteTopic(ctx, name)
}

// Dir is the temporary directory holding all data.
func (e *Env) Dir() string { return e.dir }

// Close stops the servers and deletes the directory.
func (e *Env) Close() error {
	var errs []error
	if e.client != nil {
		errs = append(errs, e.client.Close())
	}
	if e.broker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs = append(errs, e.broker.Stop(ctx))
		cancel()
	}
	for _, n := range []*natsServer{e.nats, e.always} {
		if n != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
		}
	}
	errs = append(errs, os.RemoveAll(e.dir))
	return errors.Join(errs...)
}

func (e *Env) name(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, e.seq.Add(1))
}

// CreateTopic creates a new single-replica topic with the given sync.policy,
// retrying while the broker is still electing itself controller.
func (e *Env) CreateTopic(ctx context.Context, partitions int32, syncPolicy string) (string, error) {
	name := e.name("bench-")
	for {
		_, err := e.client.CreateTopic(ctx, name, partitions, 1, map[string]string{"sync.policy": syncPolicy})
		if err == nil {
			return name, nil
		}
		if !client.IsRetryable(err) {
			return "", fmt.Errorf("create topic %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("create topic %s: %w", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DeleteTopic deletes a topic made by CreateTopic.
func (e *Env) DeleteTopic(ctx context.Context, name string) error {
	return e.client.DeleteTopic(ctx, name)
}

// natsFor returns the embedded nats-server of that sync mode, starting it
// on first use.
func (e *Env) natsFor(syncAlways bool) (*natsServer, error) {
	p := &e.nats
	sub := "nats"
	if syncAlways {
		p, sub = &e.always, "nats-always"
	}
	if *p != nil {
		return *p, nil
	}
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: filepath.Join(e.dir, sub),
		// The server's defaults: SyncInterval 2 min, or with SyncAlways
		// (sync_interval: always) every write is followed by a sync.
		SyncAlways: syncAlways,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats-server: not ready after 10s")
	}
	*p = &natsServer{srv: srv, syncAlways: syncAlways}
	return *p, nil
}

// connect opens a client connection to n.
func (n *natsServer) connect() (*nats.Conn, error) {
	return nats.Connect(n.srv.ClientURL(), nats.MaxReconnects(0))
}

// createStream creates a file-stored R1 stream with one subject.
func (n *natsServer) createStream(ctx context.Context, nc *nats.Conn, name string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name}, Storage: jetstream.FileStorage, Replicas: 1,
	})
	return err
}

func (n *natsServer) deleteStream(ctx context.Context, nc *nats.Conn, name string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return js.DeleteStream(ctx, name)
}

// partitionCounters reads the broker's engine counters for one partition
// from /metrics: fsyncs, bytes made durable, group commits, appends.
type partitionCounters struct {
	Fsyncs, SyncedBytes, GroupCommits, Appends int64
	// FetchData and FetchGRPC are the broker's record bytes served over the
	// data plane and over gRPC (all topics).
	FetchData, FetchGRPC int64
}

func (e *Env) counters(ctx context.Context, topic string) (partitionCounters, error) {
	var c partitionCounters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.broker.AdminAddr()+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, err
	}
	label := `topic="` + topic + `"`
	for _, line := range strings.Split(string(body), "\n") {
		name, _, _ := strings.Cut(line, "{")
		_, val, _ := strings.Cut(line, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "sluice_fetch_bytes_total" && strings.Contains(line, `path="dataplane"`):
			c.FetchData += int64(v)
		case name == "sluice_fetch_bytes_total" && strings.Contains(line, `path="grpc"`):
			c.FetchGRPC += int64(v)
		}
		if !strings.Contains(line, label) {
			continue
		}
		switch name {
		case "sluice_partition_fsyncs_total":
			c.Fsyncs += int64(v)
		case "sluice_partition_synced_bytes_total":
			c.SyncedBytes += int64(v)
		case "sluice_partition_group_commits_total":
			c.GroupCommits += int64(v)
		case "sluice_partition_appends_total":
			c.Appends += int64(v)
		}
	}
	return c, nil
}
