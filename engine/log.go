package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Log is one partition replica's append-only log: a directory of segments.
//
// Concurrency: any number of goroutines may call any method. Appends and
// every other mutation go through one write queue served by one writer at a
// time (group commit, see append.go); reads take mu shared and never wait
// for a write or a sync in progress.
//
// Lock order: qmu is never held while taking mu for writing by anyone but the
// writer, and the writer never holds mu while doing I/O on the active
// segment's data.
type Log struct {
	opts   Options
	fs     vfs.FS
	dir    string
	logger *slog.Logger

	mu       sync.RWMutex
	segments []*segment // sorted by base offset; the last one is active
	// Invariant: logStartOffset <= durableEndOffset <= logEndOffset.
	logStartOffset   int64
	logEndOffset     int64
	durableEndOffset int64
	changed          chan struct{} // closed and replaced on every change
	closed           bool
	poison           error

	qmu             sync.Mutex
	queue           []*request
	leading         bool
	waitingForGroup bool          // the leader waits in awaitGroup
	arrived         chan struct{} // signalled when a request queues while it waits
	inflight        atomic.Int64  // goroutines inside submit

	// Writer-only state.
	unsyncedBytes int64

	openedClean bool
	closing     atomic.Bool
	stats       counters

	bgMu sync.Mutex // serialises stopping and starting the background goroutines
	stop chan struct{}
	bg   sync.WaitGroup
}

type counters struct {
	appends       atomic.Int64
	groups        atomic.Int64
	writtenBytes  atomic.Int64
	syncs         atomic.Int64
	syncedBytes   atomic.Int64
	rolls         atomic.Int64
	deletedSegs   atomic.Int64
	deletedBytes  atomic.Int64
	tornTailBytes atomic.Int64
	unsynced      atomic.Int64 // mirror of the writer's unsyncedBytes
}

// Stats are cumulative counters since Open, for metrics and benchmarks
// (mean bytes per fsync = SyncedBytes / Syncs).
type Stats struct {
	Appends         int64
	GroupCommits    int64
	WrittenBytes    int64
	Syncs           int64
	SyncedBytes     int64
	SegmentRolls    int64
	DeletedSegments int64
	DeletedBytes    int64
	TornTailBytes   int64
	// UnsyncedBytes is what a power loss would cost right now.
	UnsyncedBytes int64
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Appends:         l.stats.appends.Load(),
		GroupCommits:    l.stats.groups.Load(),
		WrittenBytes:    l.stats.writtenBytes.Load(),
		Syncs:           l.stats.syncs.Load(),
		SyncedBytes:     l.stats.syncedBytes.Load(),
		SegmentRolls:    l.stats.rolls.Load(),
		DeletedSegments: l.stats.deletedSegs.Load(),
		DeletedBytes:    l.stats.deletedBytes.Load(),
		TornTailBytes:   l.stats.tornTailBytes.Load(),
		UnsyncedBytes:   l.stats.unsynced.Load(),
	}
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// SyncPolicy is the log's current fsync policy.
func (l *Log) SyncPolicy() SyncPolicy {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.opts.Sync
}

// OpenedClean reports whether the previous process closed the log cleanly
// (Close completed and wrote the clean-shutdown marker). Replication uses it
// for the unclean-restart rule: after an unclean stop with a sync policy
// other than always, the page cache may have been lost.
func (l *Log) OpenedClean() bool { return l.openedClean }

// LogStartOffset is the first offset still in the log.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStartOffset
}

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEndOffset
}

// DurableEndOffset is the end of the prefix of the log known to be on disk.
func (l *Log) DurableEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.durableEndOffset
}

// Offsets returns start, end and durable end in one consistent read.
func (l *Log) Offsets() (logStart, logEnd, durableEnd int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStartOffset, l.logEndOffset, l.durableEndOffset
}

// Changed returns a channel closed at the next change of the log's offsets,
// so long-poll fetches and replication wait without polling.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Err returns the poison error, if the log is poisoned.
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.poison
}

// SizeBytes is the total size of the log's segments.
func (l *Log) SizeBytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// SegmentCount is the number of segments, the active one included.
func (l *Log) SegmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// notifyLocked wakes everyone waiting on Changed. Caller holds mu.
func (l *Log) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// active returns the active segment. Caller holds mu or is the writer.
func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// checkUsable returns the error every call gets once the log is closed or
// poisoned. Caller holds mu.
func (l *Log) checkUsableLocked() error {
	if l.poison != nil {
		return l.poison
	}
	if l.closed {
		return ErrClosed
	}
	return nil
}

// setPoison records the first fatal I/O error.
func (l *Log) setPoison(cause error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.poison == nil {
		l.poison = &poisonError{cause: cause}
		l.logger.Error("log poisoned", "dir", l.dir, "err", cause)
		l.notifyLocked()
	}
	return l.poison
}

// OffsetBytesBeforeEnd returns the base offset of the oldest segment that
// lies within the last n bytes of the log (whole segments: a cheap bound
// for callers that rescan recent batches, such as producer state).
func (l *Log) OffsetBytesBeforeEnd(n int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := len(l.segments) - 1
	for total := l.segments[i].size; i > 0 && total+l.segments[i-1].size <= n; i-- {
		total += l.segments[i-1].size
	}
	return max(l.segments[i].base, l.logStartOffset)
}
