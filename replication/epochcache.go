package replication

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// EpochEntry says that epoch Epoch begins at StartOffset: the first batch
// appended by that epoch's leader has this base offset (or, for an epoch
// without batches yet, the leader's log end offset when it took over).
type EpochEntry struct {
	Epoch       Epoch
	StartOffset int64
}

func (e EpochEntry) String() string { return fmt.Sprintf("%d@%d", e.Epoch, e.StartOffset) }

// EpochCache is the leader-epoch cache of one replica (Kafka's
// LeaderEpochFileCache, KIP-101): the start offset of every leader epoch in
// the replica's log. It answers "where does epoch E end in my log?", which is
// how a follower finds the point where its log diverges from the leader's
// without trusting the high watermark.
//
// It is a pure data structure: the Node owns one, and the driver persists
// it (MarshalBinary + engine WriteMeta) whenever Ready.EpochCache is set.
// Not safe for concurrent use.
type EpochCache struct {
	// Invariant: entries are strictly increasing in both Epoch and
	// StartOffset, and every Epoch and StartOffset is >= 0.
	entries []EpochEntry
}

// NewEpochCache returns a cache holding entries (see Assign for how each
// one is added).
func NewEpochCache(entries ...EpochEntry) *EpochCache {
	c := &EpochCache{}
	for _, e := range entries {
		c.Assign(e.Epoch, e.StartOffset)
	}
	return c
}

// Entries returns a copy of the entries, oldest first.
func (c *EpochCache) Entries() []EpochEntry {
	return append([]EpochEntry(nil), c.entries...)
}

// Len is the number of entries.
func (c *EpochCache) Len() int { return len(c.entries) }

// Clone returns an independent copy.
func (c *EpochCache) Clone() *EpochCache { return &EpochCache{entries: c.Entries()} }

// Latest returns the newest entry, and false when the cache is empty.
func (c *EpochCache) Latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{Epoch: NoEpoch, StartOffset: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// LatestEpoch is the newest epoch, or NoEpoch.
func (c *EpochCache) LatestEpoch() Epoch {
	e, _ := c.Latest()
	return e.Epoch
}

// Assign records that epoch begins at startOffset and reports whether the
// cache changed.
//
// It is a no-op when epoch is not newer than the latest entry (Kafka keeps
// the first start offset of an epoch: later batches of the same epoch, and
// stale epochs, change nothing) or when epoch or startOffset is negative.
// A newer epoch starting at or below existing entries removes those entries
// first: their epochs have no batches left below the new start (the
// follower truncated them, or the leader took over at that offset), so they
// no longer describe the log.
func (c *EpochCache) Assign(epoch Epoch, startOffset int64) bool {
	if epoch < 0 || startOffset < 0 {
		return false
	}
	if latest, ok := c.Latest(); ok && epoch <= latest.Epoch {
		return false
	}
	i := len(c.entries)
	for i > 0 && c.entries[i-1].StartOffset >= startOffset {
		i--
	}
	c.entries = append(c.entries[:i], EpochEntry{Epoch: epoch, StartOffset: startOffset})
	c.check()
	return true
}

// TruncateFromEnd removes the entries that start at or after offset: called
// after the log was truncated to offset (TruncateTo), when those epochs have
// no batches left. It reports whether the cache changed.
func (c *EpochCache) TruncateFromEnd(offset int64) bool {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset >= offset })
	if i == len(c.entries) {
		return false
	}
	c.entries = c.entries[:i]
	return true
}

// TruncateFromStart is called when the log start offset moved to offset
// (retention, DeleteRecords): entries that end at or before offset are
// removed and the entry covering offset now starts at offset. It reports
// whether the cache changed.
func (c *EpochCache) TruncateFromStart(offset int64) bool {
	// i is the number of entries starting at or before offset.
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > offset })
	if i == 0 || (i == 1 && c.entries[0].StartOffset == offset) {
		return false
	}
	covering := c.entries[i-1]
	covering.StartOffset = offset
	c.entries = append([]EpochEntry{covering}, c.entries[i:]...)
	return true
}

// Clear removes every entry (the log was emptied and restarted elsewhere).
func (c *EpochCache) Clear() bool {
	changed := len(c.entries) > 0
	c.entries = c.entries[:0]
	return changed
}

// EpochAt returns the epoch of the batch at offset: the epoch of the last
// entry starting at or before offset, or NoEpoch when offset precedes every
// entry. The caller checks that offset is inside the log.
func (c *EpochCache) EpochAt(offset int64) Epoch {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > offset })
	if i == 0 {
		return NoEpoch
	}
	return c.entries[i-1].Epoch
}

// EndOffsetFor answers Kafka's OffsetsForLeaderEpoch for this log, whose log
// end offset is logEndOffset: the largest epoch <= requested that the cache
// knows, and the offset where it ends (exclusive) — the start offset of the
// next epoch, or logEndOffset when it is the latest epoch.
//
// Precisely:
//   - requested is NoEpoch (or negative), or the cache is empty, or
//     requested is newer than every known epoch: (NoEpoch, -1), "unknown".
//     A follower's epoch newer than the leader's latest cannot happen
//     between replicas of the same epoch (both are fenced first), so the
//     caller treats it as no information.
//   - requested equals the latest epoch: (requested, logEndOffset).
//   - requested is older than every known epoch: (requested, start offset
//     of the oldest entry). Nothing of the requester's epoch survives here;
//     everything before the oldest entry may be kept (Kafka's choice: the
//     log start moved past those epochs).
//   - otherwise: (largest known epoch <= requested, start offset of the
//     smallest known epoch > requested).
func (c *EpochCache) EndOffsetFor(requested Epoch, logEndOffset int64) (Epoch, int64) {
	latest, ok := c.Latest()
	switch {
	case requested < 0 || !ok || requested > latest.Epoch:
		return NoEpoch, -1
	case requested == latest.Epoch:
		return requested, logEndOffset
	case requested < c.entries[0].Epoch:
		return requested, c.entries[0].StartOffset
	}
	// higher is the first entry with Epoch > requested; it exists because
	// requested < latest.Epoch, and higher >= 1 because requested >=
	// entries[0].Epoch.
	higher := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > requested })
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

func (c *EpochCache) String() string {
	parts := make([]string, len(c.entries))
	for i, e := range c.entries {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Persisted form (format: never change silently; bump the version):
//
//	version uint8 (= 1) | count uint32 | count × (epoch int32 | startOffset int64)
//
// big-endian. No checksum: the driver stores it with engine WriteMeta,
// whose file carries one.
const epochCacheFormatVersion = 1

// MarshalBinary encodes the cache.
func (c *EpochCache) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 5+12*len(c.entries))
	b = append(b, epochCacheFormatVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.entries)))
	for _, e := range c.entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.StartOffset))
	}
	return b, nil
}

// UnmarshalBinary decodes data written by MarshalBinary, replacing the
// cache's entries. It validates everything (this is a gateway: the bytes
// come from disk) and wraps ErrInvalidMessage on malformed input.
func (c *EpochCache) UnmarshalBinary(data []byte) error {
	if len(data) < 5 {
		return fmt.Errorf("%w: epoch cache: %d bytes, want at least 5", ErrInvalidMessage, len(data))
	}
	if data[0] != epochCacheFormatVersion {
		return fmt.Errorf("%w: epoch cache: format version %d, want %d", ErrInvalidMessage, data[0], epochCacheFormatVersion)
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if uint64(len(data)-5) != uint64(n)*12 {
		return fmt.Errorf("%w: epoch cache: %d entries in %d bytes", ErrInvalidMessage, n, len(data))
	}
	entries := make([]EpochEntry, 0, n)
	for p := 5; p < len(data); p += 12 {
		e := EpochEntry{
			Epoch:       Epoch(int32(binary.BigEndian.Uint32(data[p:]))),
			StartOffset: int64(binary.BigEndian.Uint64(data[p+4:])),
		}
		if e.Epoch < 0 || e.StartOffset < 0 {
			return fmt.Errorf("%w: epoch cache: negative entry %v", ErrInvalidMessage, e)
		}
		if k := len(entries); k > 0 && (e.Epoch <= entries[k-1].Epoch || e.StartOffset <= entries[k-1].StartOffset) {
			return fmt.Errorf("%w: epoch cache: entry %v does not follow %v", ErrInvalidMessage, e, entries[k-1])
		}
		entries = append(entries, e)
	}
	c.entries = entries
	return nil
}

// check asserts the invariant (compiled in under the invariants or race
// build tags).
func (c *EpochCache) check() {
	if !invariantsEnabled {
		return
	}
	for i, e := range c.entries {
		assertf(e.Epoch >= 0 && e.StartOffset >= 0, "epoch cache: negative entry %v", e)
		if i > 0 {
			p := c.entries[i-1]
			assertf(e.Epoch > p.Epoch && e.StartOffset > p.StartOffset, "epoch cache: %v follows %v", e, p)
		}
	}
}
