package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// powerLossAll is F8b: every broker killed at once on the volatile file
// layer (what none of them synced is gone), then all restarted.
func (n *nemesis) powerLossAll(ctx context.Context, stop <-chan struct{}, detail string) error {
	id := n.rec.StartFault(history.F8bPowerLossAll, "every broker", "kill -9 of every broker, unsynced writes lost; "+detail)
	fmt.Fprintf(n.log, "nemesis: F8b power loss on every broker (%s)\n", detail)
	for i := range n.c.Len() {
		if err := n.c.Kill(ctx, i); err != nil {
			return err
		}
	}
	wait(ctx, nil, jitter(n.rng, time.Second, 2*time.Second))
	var err error
	for i := range n.c.Len() {
		err = errors.Join(err, n.c.StartBroker(ctx, i))
	}
	n.rec.EndFault(id)
	fmt.Fprintf(n.log, "nemesis: F8b every broker restarted\n")
	return err
}

// diskFull is F6: broker i's disk fills (a faultfs build: SIGUSR1 makes
// every write fail with ENOSPC) for 2–4 s, then frees (SIGUSR2).
func (n *nemesis) diskFull(ctx context.Context, stop <-chan struct{}, i int, what, detail string) error {
	id := n.rec.StartFault(history.F6DiskFull, what, "disk full (ENOSPC on every write); "+detail)
	fmt.Fprintf(n.log, "nemesis: F6 disk full on %s (%s)\n", what, detail)
	if err := n.c.Signal(i, syscall.SIGUSR1); err != nil {
		return err
	}
	wait(ctx, nil, jitter(n.rng, 2*time.Second, 4*time.Second))
	err := n.c.Signal(i, syscall.SIGUSR2)
	n.rec.EndFault(id)
	fmt.Fprintf(n.log, "nemesis: F6 space back on %s\n", what)
	return err
}

// tornTail is F7 (and F7b): broker i is killed, the tail of its newest
// segment of the partition is torn (cut inside the last batch) or
// corrupted (a bit flipped in the last batch's records) — or, for F7b, a
// bit flips in an earlier batch, with valid ones after it — and it
// restarts: recovery must drop a damaged tail, the broker quarantine a log
// damaged in the middle, and the replica refetch what it lost.
func (n *nemesis) tornTail(ctx context.Context, stop <-chan struct{}, kind history.FaultKind, i int, part int32, what, detail string) error {
	id := n.rec.StartFault(kind, what, "kill -9, damage the segment, restart; "+detail)
	if err := n.c.Kill(ctx, i); err != nil {
		return err
	}
	dir := filepath.Join(n.c.DataDir(i), "logs", fmt.Sprintf("%s-%d", topic, part))
	how, err := damageSegment(dir, n.rng, kind == history.F7bBitFlip)
	if err != nil {
		how = "nothing damaged: " + err.Error()
	}
	n.rec.Annotate(id, how)
	fmt.Fprintf(n.log, "nemesis: %s %s: %s (%s)\n", kind, what, how, detail)
	wait(ctx, nil, jitter(n.rng, 500*time.Millisecond, 1500*time.Millisecond))
	err = n.c.StartBroker(ctx, i)
	n.rec.EndFault(id)
	fmt.Fprintf(n.log, "nemesis: %s restarted %s\n", kind, what)
	return err
}

// Kafka RecordBatch v2 framing: base offset (8 bytes) and batch length (4,
// the bytes after it); the records start after a 61-byte header.
const (
	batchLengthEnd   = 12
	batchHeaderBytes = 61
)

// damageSegment tears or corrupts the last batch of the newest segment in
// dir, or with mid flips a bit in the records of an earlier batch of it
// (the broker must be stopped), and says what it did.
func damageSegment(dir string, rng *rand.Rand, mid bool) (string, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var segs []string
	for _, e := range names {
		if strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	if len(segs) == 0 {
		return "", fmt.Errorf("no segment in %s", dir)
	}
	slices.Sort(segs) // zero-padded base offsets: the newest sorts last
	path := filepath.Join(dir, segs[len(segs)-1])
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var starts []int
	end := -1
	for pos := 0; pos+batchLengthEnd <= len(data); {
		n := int(int32(binary.BigEndian.Uint32(data[pos+8 : pos+12])))
		next := pos + batchLengthEnd + n
		if n <= batchHeaderBytes || next > len(data) {
			break
		}
		starts = append(starts, pos)
		end = next
		pos = next
	}
	if len(starts) == 0 || mid && len(starts) < 2 {
		return "", fmt.Errorf("too few whole batches in %s (%d)", path, len(starts))
	}
	start := starts[len(starts)-1]
	if mid {
		k := rng.IntN(len(starts) - 1)
		start, end = starts[k], starts[k+1]
	}
	base := int64(binary.BigEndian.Uint64(data[start : start+8]))
	if !mid && rng.IntN(2) == 0 {
		cut := start + 1 + rng.IntN(end-start-1)
		if err := os.Truncate(path, int64(cut)); err != nil {
			return "", err
		}
		return fmt.Sprintf("tore %s at byte %d, inside the batch at offset %d (bytes %d–%d)", filepath.Base(path), cut, base, start, end), nil
	}
	at := start + batchHeaderBytes + rng.IntN(end-start-batchHeaderBytes)
	bit := byte(1) << rng.IntN(8)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{data[at] ^ bit}, int64(at)); err != nil {
		return "", err
	}
	where := "the last batch"
	if mid {
		where = "a batch valid ones follow"
	}
	return fmt.Sprintf("flipped bit %#02x of byte %d of %s, in the records of the batch at offset %d (%s)", bit, at, filepath.Base(path), base, where), f.Sync()
}
