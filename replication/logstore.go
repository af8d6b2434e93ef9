package replication

import (
	"fmt"
)

// LogStore is the node's read-only view of the replica's log: the three
// offsets the protocol needs. The driver owns the log and does every write
// (appends, syncs, truncations) itself, in the order doc.go gives; the node
// only reads. engine.Log satisfies it as is.
//
// The leader-epoch cache is not here: it is protocol state, owned by the
// Node (Config.EpochCache in, Ready.EpochCache out), because the node
// assigns epochs when it takes over and truncates them on divergence.
type LogStore interface {
	// LogStartOffset is the first offset still in the log.
	LogStartOffset() int64
	// LogEndOffset is the offset the next append gets (written, maybe not
	// synced).
	LogEndOffset() int64
	// DurableEndOffset is the end of the synced prefix.
	//
	// Invariant: LogStartOffset() <= DurableEndOffset() <= LogEndOffset().
	DurableEndOffset() int64
}

// Entry is one record of a MemoryStore: the stand-in for a batch in tests
// and simulations (the epoch is the batch's partitionLeaderEpoch).
type Entry struct {
	Offset int64
	Epoch  Epoch
	Value  string
}

func (e Entry) String() string { return fmt.Sprintf("%d:e%d:%s", e.Offset, e.Epoch, e.Value) }

// MemoryStore is an in-memory log with the engine's semantics, for tests and
// the simulation: appends only at the end, a durable end that moves on Sync,
// TruncateTo, and Crash, which loses everything not yet synced. It
// implements LogStore. Not safe for concurrent use.
type MemoryStore struct {
	start int64
	// entries[i].Offset == start+i.
	entries []Entry
	// Invariant: start <= durableEnd <= start+len(entries).
	durableEnd int64
}

var _ LogStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty log starting at offset 0.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// LogStartOffset implements LogStore.
func (s *MemoryStore) LogStartOffset() int64 { return s.start }

// LogEndOffset implements LogStore.
func (s *MemoryStore) LogEndOffset() int64 { return s.start + int64(len(s.entries)) }

// DurableEndOffset implements LogStore.
func (s *MemoryStore) DurableEndOffset() int64 { return s.durableEnd }

// Append appends values as the leader of epoch does and returns the offset
// of the first one.
func (s *MemoryStore) Append(epoch Epoch, values ...string) int64 {
	first := s.LogEndOffset()
	for i, v := range values {
		s.entries = append(s.entries, Entry{Offset: first + int64(i), Epoch: epoch, Value: v})
	}
	return first
}

// AppendReplica appends entries copied from the leader, as
// engine.Log.AppendReplica does: the first one must be at the log end and
// offsets must be contiguous.
func (s *MemoryStore) AppendReplica(entries ...Entry) error {
	for _, e := range entries {
		if e.Offset != s.LogEndOffset() {
			return fmt.Errorf("memory store: append at %d, log end is %d", e.Offset, s.LogEndOffset())
		}
		s.entries = append(s.entries, e)
	}
	return nil
}

// Sync makes everything written durable.
func (s *MemoryStore) Sync() { s.durableEnd = s.LogEndOffset() }

// TruncateTo removes the entries at offset and beyond. Truncating below the
// log start empties the log but keeps its start (as the engine does).
func (s *MemoryStore) TruncateTo(offset int64) {
	if offset < s.start {
		offset = s.start
	}
	if offset >= s.LogEndOffset() {
		return
	}
	s.entries = s.entries[:offset-s.start]
	s.durableEnd = min(s.durableEnd, offset)
}

// Reset empties the log and restarts it at offset (a follower that fell
// below the leader's log start).
func (s *MemoryStore) Reset(offset int64) {
	s.entries, s.start, s.durableEnd = nil, offset, offset
}

// Crash drops every entry beyond the durable end: what a power loss does
// to a log whose unsynced writes sat in the page cache.
func (s *MemoryStore) Crash() { s.entries = s.entries[:s.durableEnd-s.start] }

// Entries returns a copy of the entries in [from, to), clamped to the log.
func (s *MemoryStore) Entries(from, to int64) []Entry {
	from, to = max(from, s.start), min(to, s.LogEndOffset())
	if from >= to {
		return nil
	}
	return append([]Entry(nil), s.entries[from-s.start:to-s.start]...)
}

// At returns the entry at offset, and false when offset is outside the log.
func (s *MemoryStore) At(offset int64) (Entry, bool) {
	if offset < s.start || offset >= s.LogEndOffset() {
		return Entry{}, false
	}
	return s.entries[offset-s.start], true
}

// Epochs derives the leader-epoch cache from the entries' epochs: the cache
// a replica holding exactly this log must have (minus an epoch that has no
// entries yet). Tests compare it with the node's.
func (s *MemoryStore) Epochs() *EpochCache {
	c := &EpochCache{}
	for _, e := range s.entries {
		c.Assign(e.Epoch, e.Offset)
	}
	return c
}
