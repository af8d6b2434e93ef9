package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBinary builds cmd/sluice once per test run.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sluice-mq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a `sluice serve` process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
	done   chan error
}

func startServe(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	args := []string{"serve", "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--data-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--etcd-listen", "127.0.0.1:0", "--fast-etcd", "--session-ttl", "2s"}
	cmd := exec.Command(sluiceBinary(t), append(args, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{w: s.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "ready ") {
				ready <- line
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case line := <-ready:
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "addr="); ok {
				s.addr = v
			}
		}
	case err := <-s.done:
		t.Fatalf("serve exited before it was ready: %v\n%s", err, s.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready in time\n%s", s.stderr)
	}
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sluice runs a client command of the real binary against the server.
func sluice(t *testing.T, s *server, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBinary(t), append(args, "--brokers", s.addr)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %v: %v\nstderr: %s", args, err, errb.String())
	}
	return out.String()
}

func lines(n, from int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "message-%04d\n", i)
	}
	return b.String()
}

// TestServeKillRestart runs the real binary: serve on free ports, produce,
// consume, kill -9, restart, consume again (every acknowledged message
// there, in order), then SIGTERM for a clean exit.
func TestServeKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	dataDir := t.TempDir()
	s := startServe(t, dataDir)
	sluice(t, s, "", "topic", "create", "orders", "--partitions", "1")
	offsets := sluice(t, s, lines(200, 0), "produce", "orders", "--acks", "all", "--print-offsets")
	want := ""
	for i := range 200 {
		want += fmt.Sprintf("0 %d\n", i)
	}
	if offsets != want {
		t.Fatalf("produce printed offsets:\n%s", offsets)
	}
	if got := sluice(t, s, "", "consume", "orders", "--from-beginning", "--max-messages", "200", "--timeout", "20s"); got != lines(200, 0) {
		t.Fatalf("consume before the kill:\n%s", got)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done

	s = startServe(t, dataDir)
	if got := sluice(t, s, "", "consume", "orders", "--from-beginning", "--max-messages", "200", "--timeout", "20s"); got != lines(200, 0) {
		t.Fatalf("consume after kill -9 and restart:\n%s", got)
	}
	if got := sluice(t, s, lines(10, 200), "produce", "orders", "--print-offsets"); !strings.HasPrefix(got, "0 200\n") || !strings.HasSuffix(got, "0 209\n") {
		t.Fatalf("produce after restart:\n%s", got)
	}
	if got := sluice(t, s, "", "consume", "orders", "--offset", "205", "--max-messages", "5", "--json", "--timeout", "20s"); strings.Count(got, `"offset":`) != 5 || !strings.Contains(got, `"value":"message-0209"`) {
		t.Fatalf("consume --json from offset 205:\n%s", got)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("SIGTERM: serve exited with %v\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	s = startServe(t, dataDir)
	if got := sluice(t, s, "", "consume", "orders", "--from-beginning", "--max-messages", "210", "--timeout", "20s"); got != lines(210, 0) {
		t.Fatalf("consume after a clean restart:\n%s", got)
	}
	out := sluice(t, s, "", "topic", "describe", "orders")
	if !strings.Contains(out, "topic orders") || !strings.Contains(out, "210") {
		t.Fatalf("topic describe:\n%s", out)
	}
}
