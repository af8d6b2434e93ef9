package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a cluster.
type Options struct {
	// Binary is the sluice executable (required).
	Binary string
	// Dir is the root directory: etcd/, broker-<id>/ and *.log go there
	// (required; the caller owns and removes it).
	Dir string
	// Brokers is the number of brokers (default 3), ids 1..Brokers.
	Brokers int
	// ServeArgs are extra flags for every `sluice serve`.
	ServeArgs []string
	// FastEtcd runs etcd with 10 ms ticks (leases down to a second).
	FastEtcd bool
	// StartTimeout bounds each process's start (default 60 s).
	StartTimeout time.Duration
	// Proxied puts every broker-broker and broker-etcd link through a
	// proxy that can cut it (network.go: Isolate, CutFromEtcd).
	Proxied bool
	// BrokerEnv is added to the brokers' environment (e.g. a planted
	// bug's switch in a binary built with -tags plantedbugs).
	BrokerEnv []string
}

// Proc is one process of the cluster.
type Proc struct {
	Name string
	// Log is the file holding the process's stdout and stderr.
	Log string
	// Ready holds the fields of the process's "ready k=v ..." line.
	Ready map[string]string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end and returns how it ended.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cluster is a running local cluster.
type Cluster struct {
	opts      Options
	Etcd      *Proc
	Endpoints string // etcd client endpoints, comma-separated

	mu      sync.Mutex
	brokers []*Proc // index i is broker id i+1; nil before the first start
	net     *network
}

// Start starts etcd and the brokers and returns once every broker is
// ready. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("localcluster: Binary and Dir are required")
	}
	if opts.Brokers <= 0 {
		opts.Brokers = 3
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	c := &Cluster{opts: opts, brokers: make([]*Proc, opts.Brokers)}
	args := []string{"etcd", "--data-dir", filepath.Join(opts.Dir, "etcd")}
	if opts.FastEtcd {
		args = append(args, "--fast")
	}
	etcd, err := c.spawn(ctx, "etcd", args)
	if err != nil {
		return nil, err
	}
	c.Etcd, c.Endpoints = etcd, etcd.Ready["etcd"]
	if opts.Proxied {
		if c.net, err = newNetwork(opts.Brokers, strings.Split(c.Endpoints, ",")[0]); err != nil {
			_ = c.Close()
			return nil, err
		}
		c.Endpoints = "http://" + c.net.etcd.Addr()
	}
	errs := make([]error, opts.Brokers)
	var wg sync.WaitGroup
	for i := range opts.Brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.StartBroker(ctx, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Len is the number of brokers.
func (c *Cluster) Len() int { return len(c.brokers) }

// Broker returns broker i's process (nil before its first start).
func (c *Cluster) Broker(i int) *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.brokers[i]
}

// DataDir is broker i's data directory.
func (c *Cluster) DataDir(i int) string {
	return filepath.Join(c.opts.Dir, fmt.Sprintf("broker-%d", i+1))
}

// Addrs are the gRPC addresses of the brokers that are running (their
// proxies' when proxied: what the brokers advertise).
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for i, p := range c.brokers {
		switch {
		case p == nil || p.Exited():
		case c.net != nil:
			out = append(out, c.net.grpc[i].Addr())
		default:
			out = append(out, p.Ready["addr"])
		}
	}
	return out
}

// StartBroker starts broker i, on the addresses it had if it ran before.
// It is an error while broker i runs.
func (c *Cluster) StartBroker(ctx context.Context, i int) error {
	c.mu.Lock()
	prev := c.brokers[i]
	c.mu.Unlock()
	if prev != nil && !prev.Exited() {
		return fmt.Errorf("localcluster: broker %d is running (pid %d)", i+1, prev.PID())
	}
	listen, data, admin := "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if prev != nil {
		listen, data, admin = prev.Ready["addr"], prev.Ready["data"], prev.Ready["admin"]
	}
	args := []string{"serve", "--broker-id", strconv.Itoa(i + 1), "--data-dir", c.DataDir(i),
		"--listen", listen, "--data-listen", data, "--admin-listen", admin, "--etcd-endpoints", c.Endpoints}
	if c.net != nil {
		args = append(args, c.net.serveArgs(i)...)
	}
	args = append(args, c.opts.ServeArgs...)
	p, err := c.spawn(ctx, fmt.Sprintf("broker-%d", i+1), args, c.opts.BrokerEnv...)
	if err != nil {
		return err
	}
	if c.net != nil {
		c.net.started(i, p.Ready)
	}
	c.mu.Lock()
	c.brokers[i] = p
	c.mu.Unlock()
	return nil
}

// Kill sends SIGKILL to broker i and waits for it to end.
func (c *Cluster) Kill(ctx context.Context, i int) error {
	return c.signalAndWait(ctx, i, syscall.SIGKILL)
}

// Stop sends SIGTERM to broker i (a clean shutdown) and waits; if it has
// not ended when ctx does, it is killed.
func (c *Cluster) Stop(ctx context.Context, i int) error {
	err := c.signalAndWait(ctx, i, syscall.SIGTERM)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		kctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, c.Kill(kctx, i))
	}
	return err
}

// Pause stops broker i with SIGSTOP (its sessions keep nothing alive:
// keepalives stop too); Resume continues it.
func (c *Cluster) Pause(i int) error  { return c.signal(i, syscall.SIGSTOP) }
func (c *Cluster) Resume(i int) error { return c.signal(i, syscall.SIGCONT) }

// Signal sends sig to broker i (a test build's fault switch: SIGUSR1 and
// SIGUSR2 fill and free the disk of a faultfs broker).
func (c *Cluster) Signal(i int, sig syscall.Signal) error { return c.signal(i, sig) }

func (c *Cluster) signal(i int, sig syscall.Signal) error {
	p := c.Broker(i)
	if p == nil || p.Exited() {
		return fmt.Errorf("localcluster: broker %d is not running", i+1)
	}
	return p.cmd.Process.Signal(sig)
}

func (c *Cluster) signalAndWait(ctx context.Context, i int, sig syscall.Signal) error {
	p := c.Broker(i)
	if p == nil || p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !p.Exited() {
		return err
	}
	if sig == syscall.SIGTERM {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused broker must run to exit
	}
	err := p.Wait(ctx)
	if ctx.Err() != nil {
		return err
	}
	return nil // how it ended is expected: it was told to
}

// Close stops every broker cleanly (killing those that do not end within
// 30 s), then etcd.
func (c *Cluster) Close() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range c.brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Stop(ctx, i); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("broker %d: %w", i+1, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if c.net != nil {
		c.net.close()
	}
	if c.Etcd != nil && !c.Etcd.Exited() {
		_ = c.Etcd.cmd.Process.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if c.Etcd.Wait(ctx) != nil && ctx.Err() != nil {
			_ = c.Etcd.cmd.Process.Kill()
			<-c.Etcd.done
		}
		cancel()
	}
	return errors.Join(errs...)
}

// spawn starts one process and waits for its ready line.
func (c *Cluster) spawn(ctx context.Context, name string, args []string, env ...string) (*Proc, error) {
	logPath := filepath.Join(c.opts.Dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.opts.Binary, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	ready := make(chan map[string]string, 1)
	cmd.Stderr = logf
	cmd.Stdout = &readyWriter{out: logf, ready: ready}
	// Its own process group: a Ctrl-C meant for the tool reaches the
	// cluster only through Close, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	timer := time.NewTimer(c.opts.StartTimeout)
	defer timer.Stop()
	select {
	case p.Ready = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("localcluster: %s exited before it was ready (%v); its log: %s%s", name, p.err, logPath, tail(logPath))
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	<-p.done
	return nil, fmt.Errorf("localcluster: %s not ready in %v; its log: %s%s", name, c.opts.StartTimeout, logPath, tail(logPath))
}

// readyWriter copies a process's stdout to its log and hands on the
// fields of the first "ready k=v ..." line.
type readyWriter struct {
	out   *os.File
	ready chan map[string]string
	line  []byte
}

func (w *readyWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if c != '\n' {
			if len(w.line) < 4096 {
				w.line = append(w.line, c)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(string(w.line), "ready "); ok {
			fields := map[string]string{}
			for _, f := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(f, "="); ok {
					fields[k] = v
				}
			}
			select {
			case w.ready <- fields:
			default:
			}
		}
		w.line = w.line[:0]
	}
	return w.out.Write(b)
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return "\n" + string(data)
}
