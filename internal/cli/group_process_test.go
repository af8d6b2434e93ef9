package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
)

// The three delivery modes, process level: values are produced while a
// consumer process reads them as a group member and is killed (-9) and
// restarted several times mid-stream.

const (
	deliveryValues    = 1500
	deliveryParts     = 3
	deliveryKills     = 4
	deliverySession   = "1s" // the broker's minimum: a killed member's partitions move after it
	linesBeforeKill   = 40
	helperEnvAddr     = "SLUICE_EOS_HELPER_ADDR"
	helperEnvState    = "SLUICE_EOS_HELPER_STATE"
	helperEnvIdleExit = "SLUICE_EOS_HELPER_IDLE"
)

// produceSlowly writes v-000000 … round robin over the partitions, a few
// per millisecond, so that consumers are killed mid-stream.
func produceSlowly(t *testing.T, addr, topic string, n int) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	c, err := client.Dial(ctx, []string{addr})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		defer c.Close()
		defer p.Close()
		for i := range n {
			if _, err := p.Send(ctx, client.Message{Topic: topic, Partition: int32(i % deliveryParts), Value: fmt.Appendf(nil, "v-%06d", i)}); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			if i%5 == 4 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return done
}

// countLines counts the lines of a file (0 if it does not exist).
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// killCycles starts consumer processes one after the other with stdout
// appended to out; each is killed with SIGKILL once it has printed
// linesBeforeKill more lines (checked by lines), and the last runs until it
// exits on its own.
func killCycles(t *testing.T, out string, lines func() int, produced <-chan struct{}, start func(stdout *os.File, last bool) *exec.Cmd) (kills int) {
	t.Helper()
	for cycle := 0; ; cycle++ {
		last := cycle == deliveryKills
		if last {
			<-produced
		}
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		before := lines()
		cmd := start(f, last)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if last {
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("final consumer: %v\n%s", err, stderr.String())
				}
			case <-time.After(40 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("final consumer did not finish\n%s", stderr.String())
			}
			return kills
		}
		deadline := time.Now().Add(20 * time.Second)
		for lines() < before+linesBeforeKill && time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("consumer exited early: %v\n%s", err, stderr.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
		_ = cmd.Process.Kill()
		<-exited
		kills++
	}
}

// tally counts each value's occurrences.
func tally(values []string) (counts map[string]int, dups, missing int) {
	counts = map[string]int{}
	for _, v := range values {
		if v != "" {
			counts[v]++
		}
	}
	for i := range deliveryValues {
		switch c := counts[fmt.Sprintf("v-%06d", i)]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	return counts, dups, missing
}

func TestGroupDeliveryModesProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	s := startServe(t, t.TempDir())
	for _, mode := range []string{"at-least-once", "at-most-once", "exactly-once"} {
		t.Run(mode, func(t *testing.T) {
			topic, group := "dv-"+mode, "g-"+mode
			sluice(t, s, "", "topic", "create", topic, "--partitions", fmt.Sprint(deliveryParts))
			out := filepath.Join(t.TempDir(), "out")
			produced := produceSlowly(t, s.addr, topic, deliveryValues)
			var kills int
			var got []string
			if mode == "exactly-once" {
				state := filepath.Join(t.TempDir(), "state.json")
				lines := func() int { st, _ := readEOSState(state); return len(st.Values) }
				kills = killCycles(t, out, lines, produced, func(stdout *os.File, last bool) *exec.Cmd {
					cmd := exec.Command(os.Args[0], "-test.run=^TestExactlyOnceConsumerHelper$", "-test.count=1")
					cmd.Env = append(os.Environ(), helperEnvAddr+"="+s.addr, helperEnvState+"="+state, "TOPIC="+topic, "GROUP="+group)
					if last {
						cmd.Env = append(cmd.Env, helperEnvIdleExit+"=3s")
					}
					cmd.Stdout = stdout
					return cmd
				})
				st, err := readEOSState(state)
				if err != nil {
					t.Fatal(err)
				}
				got = st.Values
			} else {
				kills = killCycles(t, out, func() int { return countLines(out) }, produced, func(stdout *os.File, last bool) *exec.Cmd {
					args := []string{"consume", topic, "--group", group, "--delivery", mode, "--from-beginning",
						"--session-timeout", deliverySession, "--brokers", s.addr}
					if last {
						args = append(args, "--timeout", "4s")
					}
					cmd := exec.Command(sluiceBinary(t), args...)
					cmd.Stdout = stdout
					return cmd
				})
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				got = strings.Split(string(b), "\n")
			}
			_, dups, missing := tally(got)
			t.Logf("%s: %d values, %d consumer processes killed with SIGKILL: %d delivered twice, %d lost", mode, deliveryValues, kills, dups, missing)
			switch mode {
			case "at-least-once":
				if missing > 0 {
					t.Errorf("at-least-once lost %d values", missing)
				}
			case "at-most-once":
				if dups > 0 {
					t.Errorf("at-most-once delivered %d values twice", dups)
				}
			case "exactly-once":
				if missing > 0 || dups > 0 {
					t.Errorf("exactly-once: %d lost, %d twice", missing, dups)
				}
			}
			if mode == "at-most-once" {
				return
			}
			// The group's committed offsets (the mirror, for exactly-once)
			// and lag match what was consumed: everything, lag 0.
			var d struct {
				Members    []json.RawMessage
				Partitions []struct {
					Partition     int32
					Committed     int64
					HighWatermark int64 `json:"high_watermark"`
					Lag           int64
					Owner         string
				}
			}
			if err := json.Unmarshal([]byte(sluice(t, s, "", "group", "describe", group, "--json")), &d); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, p := range d.Partitions {
				total += p.Committed
				if p.Committed != p.HighWatermark || p.Lag != 0 || p.Owner != "" {
					t.Errorf("group describe, partition %d: committed %d, high watermark %d, lag %d, owner %q", p.Partition, p.Committed, p.HighWatermark, p.Lag, p.Owner)
				}
			}
			if len(d.Members) != 0 || len(d.Partitions) != deliveryParts || total != deliveryValues {
				t.Errorf("group describe: %d members, %d partitions, committed offsets sum to %d; want 0, %d, %d", len(d.Members), len(d.Partitions), total, deliveryParts, deliveryValues)
			}
			text := sluice(t, s, "", "group", "describe", group)
			if !strings.Contains(text, "group "+group+"  state empty") || !strings.Contains(text, "high-watermark") {
				t.Errorf("group describe:\n%s", text)
			}
		})
	}
	list := sluice(t, s, "", "group", "list")
	for _, g := range []string{"g-at-least-once", "g-at-most-once", "g-exactly-once"} {
		if !strings.Contains(list, g+"\t") {
			t.Errorf("group list misses %s:\n%s", g, list)
		}
	}
	if got := sluice(t, s, "", "group", "reset", "g-at-least-once", "--topic", "dv-at-least-once", "--to-offset", "5", "--partition", "1"); got != "dv-at-least-once/1\t5\n" {
		t.Errorf("group reset: %q", got)
	}
	// --max-messages leaves the group cleanly, committing what it printed.
	if got := sluice(t, s, "", "consume", "dv-at-least-once", "--group", "g-at-least-once", "--max-messages", "3", "--timeout", "20s"); got != "v-000016\nv-000019\nv-000022\n" {
		t.Errorf("consume after reset to offset 5 of partition 1:\n%s", got)
	}
	var d struct {
		Partitions []struct {
			Partition int32
			Committed int64
		}
	}
	if err := json.Unmarshal([]byte(sluice(t, s, "", "group", "describe", "g-at-least-once", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Partitions {
		if p.Partition == 1 && p.Committed != 8 {
			t.Errorf("partition 1 committed %d after consuming 3 from offset 5; want 8", p.Partition)
		}
	}
	if got := sluice(t, s, "", "group", "delete", "g-at-most-once"); got != "deleted group g-at-most-once\n" {
		t.Errorf("group delete: %q", got)
	}
}

// eosState is the exactly-once helper's store: its output and the next
// offset of each partition, in one file replaced atomically.
type eosState struct {
	Positions map[int32]int64
	Values    []string
}

func readEOSState(path string) (eosState, error) {
	st := eosState{Positions: map[int32]int64{}}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// writeEOSState replaces the file with fsync and rename: after a crash it
// holds either the old state or the new one, never a mix.
func writeEOSState(path string, st eosState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type filePositions struct {
	mu   *sync.Mutex
	path string
}

func (fp filePositions) Positions(_ context.Context, tps []client.TopicPartition) (map[client.TopicPartition]int64, error) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	st, err := readEOSState(fp.path)
	if err != nil {
		return nil, err
	}
	out := map[client.TopicPartition]int64{}
	for _, tp := range tps {
		if off, ok := st.Positions[tp.Partition]; ok {
			out[tp] = off
		}
	}
	return out, nil
}

// TestExactlyOnceConsumerHelper is not a test: TestGroupDeliveryModesProcess
// runs the test binary with it as an ExactlyOnce consumer process, which it
// kills with SIGKILL. It stores each polled batch's values together with the
// partitions' next offsets (writeEOSState), then mirrors the offsets to the
// group.
func TestExactlyOnceConsumerHelper(t *testing.T) {
	addr := os.Getenv(helperEnvAddr)
	if addr == "" {
		t.Skip("helper process for TestGroupDeliveryModesProcess")
	}
	statePath := os.Getenv(helperEnvState)
	ctx := context.Background()
	c, err := client.Dial(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	co, err := c.NewConsumer(client.ConsumerOptions{
		Group: os.Getenv("GROUP"), Topics: []string{os.Getenv("TOPIC")}, Delivery: client.ExactlyOnce,
		PositionStore: filePositions{mu: &mu, path: statePath}, AutoOffsetReset: client.Earliest, SessionTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	idle, _ := time.ParseDuration(os.Getenv(helperEnvIdleExit))
	last := time.Now()
	for idle == 0 || time.Since(last) < idle {
		recs, err := co.Poll(ctx)
		if err != nil && !client.IsRetryable(err) && !client.IsMembershipLost(err) {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			continue
		}
		last = time.Now()
		mu.Lock()
		st, err := readEOSState(statePath)
		if err != nil {
			t.Fatal(err)
		}
		mirror := map[client.TopicPartition]int64{}
		for _, r := range recs {
			st.Values = append(st.Values, string(r.Value))
			st.Positions[r.Partition] = r.Offset + 1
			mirror[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		if err := writeEOSState(statePath, st); err != nil {
			t.Fatal(err)
		}
		mu.Unlock()
		if err := co.CommitOffsets(ctx, mirror); err != nil && !client.IsMembershipLost(err) {
			t.Fatal(err)
		}
	}
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
}
