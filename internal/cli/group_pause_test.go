package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type describedGroup struct {
	Members []struct {
		MemberID string `json:"member_id"`
	}
	Partitions []struct {
		Partition int32
		Committed int64
	}
}

func describeGroup(t *testing.T, s *server, group string) describedGroup {
	t.Helper()
	var d describedGroup
	if err := json.Unmarshal([]byte(sluice(t, s, "", "group", "describe", group, "--json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// TestPausedMemberCannotCommit: a consumer process is stopped (SIGSTOP)
// past its session timeout; another member takes its partition over and
// commits the end of the log; the paused process resumes (SIGCONT) with its
// old member epoch, and its commit is refused: the group's committed offset
// does not go back to the paused member's position.
func TestPausedMemberCannotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	s := startServe(t, t.TempDir())
	sluice(t, s, "", "topic", "create", "paused", "--partitions", "1")
	sluice(t, s, lines(100, 0), "produce", "paused")
	dir := t.TempDir()
	outA, err := os.Create(filepath.Join(dir, "a.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outA.Close()
	var errA strings.Builder
	a := exec.Command(sluiceBinary(t), "consume", "paused", "--group", "g", "--from-beginning",
		"--session-timeout", "2s", "--brokers", s.addr)
	a.Stdout, a.Stderr = outA, &lockedStringWriter{b: &errA}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() { aDone <- a.Wait() }()
	t.Cleanup(func() {
		_ = a.Process.Signal(syscall.SIGCONT)
		_ = a.Process.Kill()
		<-aDone
	})
	// A consumes everything and commits it (at-least-once: after printing).
	waitFor(t, 30*time.Second, "first consumer reads the topic", func() bool { return countLines(outA.Name()) == 100 })
	waitFor(t, 30*time.Second, "first consumer commits", func() bool {
		d := describeGroup(t, s, "g")
		return len(d.Partitions) == 1 && d.Partitions[0].Committed == 100
	})
	before := describeGroup(t, s, "g")
	if len(before.Members) != 1 || before.Members[0].MemberID == "" {
		t.Fatalf("members before the pause: %+v", before.Members)
	}
	// Stop A past its session timeout: the coordinator removes it.
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the paused member is removed", func() bool { return len(describeGroup(t, s, "g").Members) == 0 })
	// While A sleeps, the group (empty now) is reset to 40 and B reads 30
	// records and commits 70.
	sluice(t, s, "", "group", "reset", "g", "--topic", "paused", "--to-offset", "40")
	if got := sluice(t, s, "", "consume", "paused", "--group", "g", "--max-messages", "30", "--timeout", "20s"); got != lines(30, 40) {
		t.Fatalf("second member read:\n%s", got)
	}
	if d := describeGroup(t, s, "g"); d.Partitions[0].Committed != 70 {
		t.Fatalf("committed after the second member: %d", d.Partitions[0].Committed)
	}
	defer func() {
		if t.Failed() {
			t.Logf("describe at the end: %s\nstderr of the paused member:\n%s", sluice(t, s, "", "group", "describe", "g", "--json"), errA.String())
		}
	}()
	// A wakes up believing it still owns the partition at offset 100 under
	// its old member epoch. Were that epoch still accepted, A would carry on
	// from 100 and its commits would move the offset to 100. Fenced, it must
	// drop the partition, rejoin, and resume from the committed 70: it prints
	// 70..99 a second time (at-least-once), and the group ends at 100 only
	// through that re-read.
	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the fenced member re-reads from the committed offset", func() bool { return countLines(outA.Name()) == 130 })
	data, err := os.ReadFile(outA.Name())
	if err != nil {
		t.Fatal(err)
	}
	if want := lines(100, 0) + lines(30, 70); string(data) != want {
		t.Fatalf("the paused member's output after it resumed:\n%s", data)
	}
	waitFor(t, 30*time.Second, "the group ends committed at 100", func() bool {
		d := describeGroup(t, s, "g")
		return len(d.Members) == 1 && d.Partitions[0].Committed == 100
	})
}

type lockedStringWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedStringWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
