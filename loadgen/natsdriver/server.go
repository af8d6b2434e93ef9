package natsdriver

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sluice-mq/sluice/loadgen"
)

// Embedded is a nats-server with JetStream run inside this process: one
// server on 127.0.0.1 and a port the kernel picks, file storage under a
// directory of its own.
type Embedded struct {
	srv  *server.Server
	dir  string
	sync loadgen.SyncPolicy
	log  *errorLog
}

// EmbeddedMaxPayload is the embedded server's max_payload: the load
// generator's largest message plus room for headers (nats-server's own
// default, 1 MiB, would refuse the larger sizes a workload may ask for).
const EmbeddedMaxPayload = loadgen.MaxMessageBytes + 64<<10

// StartEmbedded starts a server storing under dir (created if needed),
// with the sync policy mapped onto the server's sync settings, which apply
// to every stream of the server (see SyncMapping).
func StartEmbedded(dir string, sync loadgen.SyncPolicy) (*Embedded, error) {
	if _, err := SyncMapping(sync); err != nil {
		return nil, err
	}
	spec, _ := sync.Parse()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsdriver: %w", err)
	}
	opts := &server.Options{
		ServerName: "loadgen", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir, MaxPayload: EmbeddedMaxPayload,
	}
	switch spec.Kind {
	case loadgen.SyncKindAlways:
		opts.SyncAlways = true
	case loadgen.SyncKindInterval:
		opts.SyncInterval = spec.Interval
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsdriver: nats-server: %w", err)
	}
	// The server's errors and warnings are kept (the last few) so that an
	// API error, which carries only a code, can be explained.
	log := &errorLog{}
	srv.SetLogger(log, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("natsdriver: nats-server not ready after 10s")
	}
	return &Embedded{srv: srv, dir: dir, sync: sync, log: log}, nil
}

// LastErrors returns the server's most recent error and warning lines.
func (e *Embedded) LastErrors() []string { return e.log.last() }

// errorLog is a server.Logger keeping the last errors and warnings.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

const errorLogLines = 8

func (l *errorLog) add(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
	if len(l.lines) > errorLogLines {
		l.lines = l.lines[len(l.lines)-errorLogLines:]
	}
}

func (l *errorLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *errorLog) Noticef(string, ...any)         {}
func (l *errorLog) Debugf(string, ...any)          {}
func (l *errorLog) Tracef(string, ...any)          {}
func (l *errorLog) Warnf(format string, v ...any)  { l.add("warning: "+format, v...) }
func (l *errorLog) Errorf(format string, v ...any) { l.add("error: "+format, v...) }
func (l *errorLog) Fatalf(format string, v ...any) { l.add("fatal: "+format, v...) }

// URL is the client URL.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Dir is the store directory.
func (e *Embedded) Dir() string { return e.dir }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// SyncMapping says what a sync policy becomes on nats-server, whose sync
// settings are server-wide: always → sync_always (every write is synced
// before it is acknowledged); interval=d → sync_interval d; never → the
// default sync_interval of 2 minutes (JetStream has no "never": it always
// syncs in the background, so "never" is the closest, not an equal);
// bytes=n has no counterpart and is unsupported.
func SyncMapping(p loadgen.SyncPolicy) (string, error) {
	spec, err := p.Parse()
	if err != nil {
		return "", err
	}
	switch spec.Kind {
	case loadgen.SyncKindAlways:
		return "server sync_always: every write synced before its ack", nil
	case loadgen.SyncKindInterval:
		return "server sync_interval " + spec.Interval.String(), nil
	case loadgen.SyncKindNever:
		return "server default sync_interval 2m (JetStream has no never; closest)", nil
	}
	return "", fmt.Errorf("%w: sync policy %s: nats-server syncs by time or always, not by bytes", loadgen.ErrUnsupported, p)
}
