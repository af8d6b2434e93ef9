package harness

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fakeBatch frames a batch the way Kafka v2 does at its start: base
// offset, length of the rest, then header and records (filler here).
func fakeBatch(base int64, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(size-batchLengthEnd))
	for i := batchLengthEnd; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

// TestDamageTail: F7 damages only the last whole batch of the newest
// segment — a cut inside it or one flipped bit in its records — and
// leaves everything before it alone.
func TestDamageTail(t *testing.T) {
	seen := map[string]bool{}
	for seed := range uint64(20) {
		dir := t.TempDir()
		old := append(fakeBatch(0, 100), fakeBatch(1, 120)...)
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), old, 0o644); err != nil {
			t.Fatal(err)
		}
		newest := append(fakeBatch(2, 90), fakeBatch(3, 150)...)
		path := filepath.Join(dir, "00000000000000000002.log")
		if err := os.WriteFile(path, newest, 0o644); err != nil {
			t.Fatal(err)
		}
		how, err := damageSegment(dir, rand.New(rand.NewPCG(seed, 1)), false)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "00000000000000000000.log")); !bytes.Equal(b, old) {
			t.Fatal("an older segment was touched")
		}
		got, _ := os.ReadFile(path)
		switch {
		case len(got) < len(newest):
			if len(got) <= 90 || !bytes.Equal(got, newest[:len(got)]) {
				t.Fatalf("%s: cut at %d, want inside the last batch (90, %d)", how, len(got), len(newest))
			}
			seen["torn"] = true
		default:
			var diff []int
			for i := range got {
				if got[i] != newest[i] {
					diff = append(diff, i)
				}
			}
			if len(diff) != 1 || diff[0] < 90+batchHeaderBytes {
				t.Fatalf("%s: bytes %v differ, want one in the last batch's records (from %d)", how, diff, 90+batchHeaderBytes)
			}
			seen["flip"] = true
		}
	}
	if !seen["torn"] || !seen["flip"] {
		t.Fatalf("20 seeds did only %v", seen)
	}
	if _, err := damageSegment(t.TempDir(), rand.New(rand.NewPCG(1, 1)), false); err == nil {
		t.Fatal("damaging a directory without segments did not fail")
	}
}

// TestDamageSegmentMid: F7b flips one bit in the records of a batch that
// is not the last, so valid batches follow the damage.
func TestDamageSegmentMid(t *testing.T) {
	for seed := range uint64(10) {
		dir := t.TempDir()
		seg := append(append(fakeBatch(0, 100), fakeBatch(1, 120)...), fakeBatch(2, 90)...)
		path := filepath.Join(dir, "00000000000000000000.log")
		if err := os.WriteFile(path, seg, 0o644); err != nil {
			t.Fatal(err)
		}
		how, err := damageSegment(dir, rand.New(rand.NewPCG(seed, 2)), true)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		var diff []int
		for i := range got {
			if got[i] != seg[i] {
				diff = append(diff, i)
			}
		}
		inRecords := len(diff) == 1 && (diff[0] >= batchHeaderBytes && diff[0] < 100 || diff[0] >= 100+batchHeaderBytes && diff[0] < 220)
		if len(got) != len(seg) || !inRecords {
			t.Fatalf("%s: bytes %v differ (size %d), want one in the records of batch 0 or 1", how, diff, len(got))
		}
	}
	one := t.TempDir()
	if err := os.WriteFile(filepath.Join(one, "00000000000000000000.log"), fakeBatch(0, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := damageSegment(one, rand.New(rand.NewPCG(1, 1)), true); err == nil {
		t.Fatal("a mid-segment flip in a one-batch segment did not fail")
	}
}
