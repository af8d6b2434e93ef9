package replication

import (
	"errors"
	"slices"
	"testing"
)

func entries(pairs ...int64) []EpochEntry {
	var es []EpochEntry
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, EpochEntry{Epoch: Epoch(pairs[i]), StartOffset: pairs[i+1]})
	}
	return es
}

func TestEpochCacheAssign(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial []EpochEntry
		epoch   Epoch
		start   int64
		changed bool
		want    []EpochEntry
	}{
		{"first", nil, 1, 0, true, entries(1, 0)},
		{"newer epoch later", entries(1, 0), 2, 5, true, entries(1, 0, 2, 5)},
		{"same epoch is a no-op", entries(1, 0, 2, 5), 2, 7, false, entries(1, 0, 2, 5)},
		{"same epoch earlier is a no-op", entries(1, 0, 2, 5), 2, 3, false, entries(1, 0, 2, 5)},
		{"older epoch is a no-op", entries(1, 0, 3, 5), 2, 9, false, entries(1, 0, 3, 5)},
		{"newer epoch at the same start replaces", entries(1, 0, 2, 5), 3, 5, true, entries(1, 0, 3, 5)},
		{"newer epoch below existing removes them", entries(1, 0, 2, 5, 3, 9), 4, 4, true, entries(1, 0, 4, 4)},
		{"newer epoch below everything", entries(1, 3, 2, 5), 4, 0, true, entries(4, 0)},
		{"skipped epochs are fine", entries(1, 0), 7, 10, true, entries(1, 0, 7, 10)},
		{"negative epoch ignored", entries(1, 0), -1, 10, false, entries(1, 0)},
		{"negative offset ignored", entries(1, 0), 2, -1, false, entries(1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewEpochCache(tc.initial...)
			if got := c.Assign(tc.epoch, tc.start); got != tc.changed {
				t.Errorf("Assign changed = %v, want %v", got, tc.changed)
			}
			if got := c.Entries(); !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEpochCacheTruncate(t *testing.T) {
	base := entries(1, 0, 2, 5, 4, 10)
	for _, tc := range []struct {
		name      string
		fromEnd   bool
		offset    int64
		changed   bool
		want      []EpochEntry
		wantEpoch Epoch // LatestEpoch after
	}{
		{"end: beyond everything", true, 100, false, base, 4},
		{"end: inside the last epoch keeps it", true, 10 + 1, false, base, 4},
		{"end: at the last start removes it", true, 10, true, entries(1, 0, 2, 5), 2},
		{"end: inside a middle epoch", true, 7, true, entries(1, 0, 2, 5), 2},
		{"end: at a middle start", true, 5, true, entries(1, 0), 1},
		{"end: to zero empties", true, 0, true, nil, NoEpoch},
		{"start: at the first start", false, 0, false, base, 4},
		{"start: inside the first epoch", false, 3, true, entries(1, 3, 2, 5, 4, 10), 4},
		{"start: at a middle start", false, 5, true, entries(2, 5, 4, 10), 4},
		{"start: inside a middle epoch", false, 7, true, entries(2, 7, 4, 10), 4},
		{"start: beyond the last start", false, 12, true, entries(4, 12), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewEpochCache(base...)
			var changed bool
			if tc.fromEnd {
				changed = c.TruncateFromEnd(tc.offset)
			} else {
				changed = c.TruncateFromStart(tc.offset)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if got := c.Entries(); !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
			if got := c.LatestEpoch(); got != tc.wantEpoch {
				t.Errorf("latest epoch %d, want %d", got, tc.wantEpoch)
			}
		})
	}
	c := NewEpochCache(entries(3, 4)...)
	if c.TruncateFromStart(2) {
		t.Errorf("TruncateFromStart below the first entry changed the cache: %v", c)
	}
}

func TestEpochCacheEndOffsetFor(t *testing.T) {
	// Epochs 2 and 5 and 6; 1, 3, 4 never led here.
	c := NewEpochCache(entries(2, 10, 5, 20, 6, 30)...)
	const logEnd = 42
	for _, tc := range []struct {
		name      string
		requested Epoch
		epoch     Epoch
		end       int64
	}{
		{"undefined", NoEpoch, NoEpoch, -1},
		{"latest ends at the log end", 6, 6, logEnd},
		{"newer than all is unknown", 7, NoEpoch, -1},
		{"known middle epoch ends where the next starts", 5, 5, 30},
		{"first epoch ends where the next starts", 2, 2, 20},
		{"unknown epoch between: the largest below it", 3, 2, 20},
		{"unknown epoch just below the latest", 4, 2, 20},
		{"older than all: the first start", 1, 1, 10},
		{"older than all: zero", 0, 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epoch, end := c.EndOffsetFor(tc.requested, logEnd)
			if epoch != tc.epoch || end != tc.end {
				t.Errorf("EndOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.requested, epoch, end, tc.epoch, tc.end)
			}
		})
	}
	if epoch, end := (&EpochCache{}).EndOffsetFor(3, 7); epoch != NoEpoch || end != -1 {
		t.Errorf("empty cache: (%d, %d), want (-1, -1)", epoch, end)
	}
}

func TestEpochCacheEpochAt(t *testing.T) {
	c := NewEpochCache(entries(2, 10, 5, 20)...)
	for offset, want := range map[int64]Epoch{0: NoEpoch, 9: NoEpoch, 10: 2, 19: 2, 20: 5, 1000: 5} {
		if got := c.EpochAt(offset); got != want {
			t.Errorf("EpochAt(%d) = %d, want %d", offset, got, want)
		}
	}
}

func TestEpochCacheMarshal(t *testing.T) {
	for _, es := range [][]EpochEntry{nil, entries(0, 0), entries(1, 0, 2, 5, 1<<30, 1<<40)} {
		c := NewEpochCache(es...)
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got EpochCache
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%v: %v", es, err)
		}
		if !slices.Equal(got.Entries(), c.Entries()) {
			t.Errorf("round trip %v -> %v", c, &got)
		}
	}
	good, _ := NewEpochCache(entries(1, 0, 2, 5)...).MarshalBinary()
	bad := map[string][]byte{
		"empty":           nil,
		"short":           good[:4],
		"version":         append([]byte{9}, good[1:]...),
		"truncated entry": good[:len(good)-1],
		"extra bytes":     append(append([]byte(nil), good...), 0),
		"not increasing":  mustMarshal(t, []EpochEntry{{2, 5}, {1, 0}}),
		"same offset":     mustMarshal(t, []EpochEntry{{1, 5}, {2, 5}}),
		"negative":        mustMarshal(t, []EpochEntry{{-2, 5}}),
	}
	for name, b := range bad {
		var c EpochCache
		if err := c.UnmarshalBinary(b); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: err = %v, want ErrInvalidMessage", name, err)
		}
	}
}

// mustMarshal encodes entries without the cache's validation.
func mustMarshal(t *testing.T, es []EpochEntry) []byte {
	t.Helper()
	b, err := (&EpochCache{entries: es}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMemoryStore(t *testing.T) {
	s := NewMemoryStore()
	s.Append(1, "a", "b", "c")
	if s.LogEndOffset() != 3 || s.DurableEndOffset() != 0 {
		t.Fatalf("after append: end %d durable %d", s.LogEndOffset(), s.DurableEndOffset())
	}
	s.Sync()
	s.Append(2, "d")
	if err := s.AppendReplica(Entry{Offset: 5, Epoch: 2}); err == nil {
		t.Errorf("AppendReplica with a gap succeeded")
	}
	if err := s.AppendReplica(Entry{Offset: 4, Epoch: 2, Value: "e"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Epochs().Entries(); !slices.Equal(got, entries(1, 0, 2, 3)) {
		t.Errorf("epochs %v", got)
	}
	s.Crash()
	if s.LogEndOffset() != 3 {
		t.Errorf("crash kept %d entries, want the 3 synced", s.LogEndOffset())
	}
	s.TruncateTo(1)
	if s.LogEndOffset() != 1 || s.DurableEndOffset() != 1 {
		t.Errorf("truncate: end %d durable %d", s.LogEndOffset(), s.DurableEndOffset())
	}
	s.Reset(10)
	if s.LogStartOffset() != 10 || s.LogEndOffset() != 10 || len(s.Entries(0, 100)) != 0 {
		t.Errorf("reset: start %d end %d", s.LogStartOffset(), s.LogEndOffset())
	}
}
