package engine

import (
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
)

// Group commit.
//
// Every mutation is a request in one queue. The goroutine whose request
// finds no writer at work becomes the writer ("leader"): it takes every
// request queued so far (up to MaxGroupBytes), writes all their batches with
// one pwritev, syncs once if the policy says so, publishes the new offsets,
// and completes the group. If more requests arrived meanwhile it hands the
// leadership to the first of them and returns. So a lone appender never pays
// a goroutine switch, and N concurrent appenders share one write and one
// fdatasync: the more callers wait, the larger and cheaper each group.
//
// The leader is the only goroutine that touches writer-only state, so the
// write path needs no lock but the brief Log.mu section that publishes.

type opKind int

const (
	opAppend         opKind = iota // assign offsets (leader append)
	opAppendReplica                // keep offsets, must continue the log
	opAppendReplicas               // several opAppendReplica from one caller
	opSync
	opTruncate
	opTruncateFully
	opRetention
	opReconfigure
	opAdvanceStart
	opClose
	opAbandon
)

type request struct {
	kind   opKind
	batch  []byte
	header record.Header
	offset int64     // truncate target, new start offset
	now    time.Time // retention clock

	reconfig Options // opReconfigure
	// children are the batches of an opAppendReplicas, each an
	// opAppendReplica processed in order within one group; bytes is their
	// total size.
	children []*request
	bytes    int

	result  AppendResult
	deleted int
	err     error
	done    bool
	wake    chan struct{} // buffered(1): completion or leadership hand-off
}

// AppendResult describes an appended batch.
type AppendResult struct {
	BaseOffset int64
	LastOffset int64
	// Durable reports that the batch was fdatasynced before Append returned.
	Durable bool
	// LogAppendTime is the writer's clock when the batch was written (ms).
	LogAppendTime int64
}

// Append writes one record batch and assigns its offsets: the batch's base
// offset field is patched in place (the caller must not reuse the slice
// until Append returns). The batch must be one whole, CRC-valid RecordBatch
// v2. With SyncAlways, Append returns after the batch is fdatasynced.
func (l *Log) Append(batch []byte) (AppendResult, error) {
	return l.append(opAppend, batch)
}

// AppendReplica writes a batch that already carries its offsets (a follower
// copying its leader). Its base offset must equal the log end offset.
func (l *Log) AppendReplica(batch []byte) (AppendResult, error) {
	return l.append(opAppendReplica, batch)
}

// AppendReplicas writes several batches that already carry their offsets,
// in order, as one group commit: one pwritev and, under SyncAlways, one
// fdatasync for all of them (a follower appending a fetch response must
// not pay an fsync per batch). The first batch's base offset must equal the
// log end offset and each next one must follow the previous. It returns
// the results of the batches written; on an error, the batches before the
// failing one may have been written (their results are returned).
func (l *Log) AppendReplicas(batches [][]byte) ([]AppendResult, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	parent := &request{kind: opAppendReplicas, children: make([]*request, len(batches))}
	for i, b := range batches {
		h, err := record.Verify(b)
		if err != nil {
			return nil, fmt.Errorf("%w: batch %d: %w", ErrInvalidBatch, i, err)
		}
		if h.Size() != len(b) {
			return nil, fmt.Errorf("%w: batch %d: %d trailing bytes", ErrInvalidBatch, i, len(b)-h.Size())
		}
		parent.children[i] = &request{kind: opAppendReplica, batch: b, header: h}
		parent.bytes += len(b)
	}
	l.submit(parent)
	results := make([]AppendResult, 0, len(batches))
	for _, c := range parent.children {
		if c.err != nil {
			return results, c.err
		}
		results = append(results, c.result)
	}
	return results, parent.err
}

// size is the bytes a request adds to a group.
func (r *request) size() int {
	if r.kind == opAppendReplicas {
		return r.bytes
	}
	return len(r.batch)
}

// AppendVerified is Append for a batch whose CRC the caller has already
// checked: h must be what record.Verify returned for batch. The broker's
// produce validation checks every batch once; checking it again here would
// add a second pass over every byte on the append path.
func (l *Log) AppendVerified(batch []byte, h record.Header) (AppendResult, error) {
	return l.appendHeader(opAppend, batch, h)
}

func (l *Log) append(kind opKind, batch []byte) (AppendResult, error) {
	h, err := record.Verify(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	return l.appendHeader(kind, batch, h)
}

func (l *Log) appendHeader(kind opKind, batch []byte, h record.Header) (AppendResult, error) {
	if h.Size() != len(batch) {
		return AppendResult{}, fmt.Errorf("%w: %d trailing bytes after the batch", ErrInvalidBatch, len(batch)-h.Size())
	}
	r := &request{kind: kind, batch: batch, header: h}
	l.submit(r)
	return r.result, r.err
}

// Sync makes everything appended so far durable, whatever the policy.
func (l *Log) Sync() error {
	r := &request{kind: opSync}
	l.submit(r)
	return r.err
}

// submit queues r and returns when it is complete, leading a group commit
// when no one else is.
func (l *Log) submit(r *request) {
	r.wake = make(chan struct{}, 1)
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	l.qmu.Lock()
	l.queue = append(l.queue, r)
	if l.waitingForGroup {
		l.waitingForGroup = false
		select {
		case l.arrived <- struct{}{}:
		default:
		}
	}
	if l.leading {
		l.qmu.Unlock()
		<-r.wake
		if r.done {
			return
		}
		// Handed the leadership: r is now at the head of the queue.
	} else {
		l.leading = true
		l.qmu.Unlock()
	}
	l.lead(r)
}

// lead runs one group commit containing self, then passes the leadership on.
func (l *Log) lead(self *request) {
	l.awaitGroup()
	l.qmu.Lock()
	n, bytes := 0, 0
	for n < len(l.queue) {
		bytes += l.queue[n].size()
		if n > 0 && bytes > l.opts.MaxGroupBytes {
			break
		}
		n++
	}
	group := make([]*request, n)
	copy(group, l.queue)
	l.queue = append(l.queue[:0], l.queue[n:]...)
	l.qmu.Unlock()

	l.process(expand(group))
	l.stats.unsynced.Store(l.unsyncedBytes)

	// Wake the finished group before passing the leadership on, so that
	// with a GroupCommitDelay its appenders can queue again while the next
	// leader waits for them.
	for _, r := range group {
		r.done = true
		if r != self {
			r.wake <- struct{}{}
		}
	}
	l.qmu.Lock()
	var next *request
	if len(l.queue) > 0 {
		next = l.queue[0]
	} else {
		l.leading = false
	}
	l.qmu.Unlock()
	if next != nil {
		next.wake <- struct{}{}
	}
}

// expand replaces each opAppendReplicas by its children, in place. The
// children have no submitter of their own: only the group's requests are
// woken, and AppendReplicas reads the children's results.
func expand(group []*request) []*request {
	n, parents := 0, false
	for _, r := range group {
		if r.kind == opAppendReplicas {
			n, parents = n+len(r.children), true
		} else {
			n++
		}
	}
	if !parents {
		return group
	}
	out := make([]*request, 0, n)
	for _, r := range group {
		if r.kind == opAppendReplicas {
			out = append(out, r.children...)
			continue
		}
		out = append(out, r)
	}
	return out
}

// awaitGroup implements GroupCommitDelay. An appender cannot append again
// until its previous append is durable, so while one group syncs only the
// appenders outside it can queue: without a delay, groups are at most half
// the appenders. The leader may instead wait, bounded by the delay, until
// every goroutine inside Append has queued. Off by default: it trades up to
// the delay of latency for larger groups (MySQL's
// binlog_group_commit_sync_delay is the same knob).
func (l *Log) awaitGroup() {
	d := l.opts.GroupCommitDelay
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.qmu.Lock()
		if int64(len(l.queue)) >= l.inflight.Load() {
			l.qmu.Unlock()
			return
		}
		l.waitingForGroup = true
		l.qmu.Unlock()
		select {
		case <-l.arrived:
		case <-timer.C:
			l.qmu.Lock()
			l.waitingForGroup = false
			l.qmu.Unlock()
			return
		}
	}
}

// pendingWrite accumulates the batches of one pwritev into the active
// segment.
type pendingWrite struct {
	seg   *segment
	bufs  [][]byte
	reqs  []*request
	bytes int64
	next  int64 // log end offset once written
}

// reset empties w after a flush. next goes back to the segment's published
// end: after a failed write the batches it counted were never written, and
// a later request of the same group must not get offsets past them.
func (w *pendingWrite) reset() {
	w.bufs, w.reqs, w.bytes = w.bufs[:0], w.reqs[:0], 0
	w.next = w.seg.next
}

// usable returns the error every request gets once the log is closed or
// poisoned.
func (l *Log) usable() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkUsableLocked()
}

// process executes one group in queue order.
func (l *Log) process(group []*request) {
	if err := l.usable(); err != nil {
		for _, r := range group {
			r.err = err
		}
		return
	}
	l.stats.groups.Add(1)
	act := l.active()
	w := &pendingWrite{seg: act, next: act.next}
	var written []*request // appends whose bytes reached the file
	forceSync := false
	for _, r := range group {
		// A request earlier in this group may have closed or poisoned the
		// log: nothing after it may be written or acknowledged.
		if err := l.usable(); err != nil {
			r.err = err
			continue
		}
		switch r.kind {
		case opAppend, opAppendReplica:
			if int64(len(r.batch)) > l.opts.SegmentBytes {
				r.err = fmt.Errorf("%w: %d > %d", ErrBatchTooLarge, len(r.batch), l.opts.SegmentBytes)
				continue
			}
			if r.kind == opAppendReplica && r.header.BaseOffset != w.next {
				r.err = fmt.Errorf("%w: batch base offset %d, log end offset %d", ErrOffsetMismatch, r.header.BaseOffset, w.next)
				continue
			}
			if l.needsRoll(w, int64(len(r.batch))) {
				written = append(written, l.flush(w)...)
				if err := l.usable(); err != nil {
					r.err = err
					continue
				}
				if err := l.roll(); err != nil {
					r.err = err
					continue
				}
				*w = pendingWrite{seg: l.active(), next: l.active().next, bufs: w.bufs[:0], reqs: w.reqs[:0]}
			}
			if r.kind == opAppend {
				record.SetBaseOffset(r.batch, w.next)
				r.header.BaseOffset = w.next
			}
			w.bufs = append(w.bufs, r.batch)
			w.reqs = append(w.reqs, r)
			w.bytes += int64(len(r.batch))
			w.next = r.header.NextOffset()
		case opSync:
			forceSync = true
		default:
			written = append(written, l.flush(w)...)
			l.syncAfterWrites(written, forceSync)
			written, forceSync = written[:0], false
			l.runMaintenance(r)
			act = l.active()
			*w = pendingWrite{seg: act, next: act.next}
		}
	}
	written = append(written, l.flush(w)...)
	l.syncAfterWrites(written, forceSync)
	for _, r := range group {
		if r.kind == opSync && r.err == nil {
			l.mu.RLock()
			r.err = l.poison
			l.mu.RUnlock()
		}
	}
}

func (l *Log) runMaintenance(r *request) {
	switch r.kind {
	case opTruncate:
		r.err = l.truncateTo(r.offset)
	case opTruncateFully:
		r.err = l.truncateFully(r.offset)
	case opRetention:
		r.deleted, r.err = l.enforceRetention(r.now)
	case opReconfigure:
		l.applyReconfig(r.reconfig)
	case opAdvanceStart:
		r.err = l.advanceLogStart(r.offset)
	case opClose:
		r.err = l.closeWriter()
	case opAbandon:
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	}
}

// needsRoll decides whether a batch of n bytes must go to a new segment.
func (l *Log) needsRoll(w *pendingWrite, n int64) bool {
	s := w.seg
	used := s.size + w.bytes
	if used == 0 {
		return false
	}
	if used+n > l.opts.SegmentBytes {
		return true
	}
	return !s.created.IsZero() && l.opts.Now().Sub(s.created) >= l.opts.SegmentMaxAge
}

// flush writes the pending batches with one pwritev and publishes them. It
// returns the requests whose bytes reached the file; the others carry their
// error.
func (l *Log) flush(w *pendingWrite) []*request {
	if len(w.reqs) == 0 {
		return nil
	}
	s := w.seg
	pos := s.size
	reqs := append([]*request(nil), w.reqs...)
	defer w.reset()
	fail := func(err error) []*request {
		for _, r := range reqs {
			r.err = err
		}
		return nil
	}
	if err := l.ensureFilled(s, pos+w.bytes); err != nil {
		return fail(l.writeError(s, pos, err))
	}
	if _, err := s.file.WritevAt(w.bufs, pos); err != nil {
		return fail(l.writeError(s, pos, err))
	}
	now := l.opts.Now()
	if s.created.IsZero() {
		s.created = now
	}
	appendTime := now.UnixMilli()
	l.mu.Lock()
	p := pos
	for _, r := range reqs {
		s.indexBatch(r.header, p, l.opts.IndexIntervalBytes)
		p += int64(len(r.batch))
		r.result = AppendResult{BaseOffset: r.header.BaseOffset, LastOffset: r.header.LastOffset(), LogAppendTime: appendTime}
	}
	s.size = p
	s.next = w.next
	if s.physicalSize < p {
		s.physicalSize = p
	}
	l.logEndOffset = w.next
	l.notifyLocked()
	l.mu.Unlock()
	l.unsyncedBytes += w.bytes
	l.stats.appends.Add(int64(len(reqs)))
	l.stats.writtenBytes.Add(w.bytes)
	// Index writes are not durability points; a failure here only leaves
	// the on-disk index shorter, and it is rebuilt on recovery.
	_ = s.offsetIndex.maybeFlush()
	_ = s.timeIndex.maybeFlush()
	return reqs
}

// writeError classifies a failed write at pos: disk full undoes the partial
// write and leaves the log usable; anything else poisons it.
func (l *Log) writeError(s *segment, pos int64, err error) error {
	if isDiskFull(err) {
		if s.physicalSize > pos {
			// The bytes after pos may be a mix of data and zeros: restore zeros.
			if zerr := writeZeros(s, pos, min(s.physicalSize, pos+int64(l.opts.MaxGroupBytes))); zerr != nil {
				if terr := s.file.Truncate(pos); terr != nil {
					return l.setPoison(terr)
				}
				s.physicalSize = pos
			}
			return diskFull(err)
		}
		if terr := s.file.Truncate(pos); terr != nil {
			return l.setPoison(terr)
		}
		s.physicalSize = pos
		return diskFull(err)
	}
	return l.setPoison(err)
}

// syncAfterWrites applies the sync policy after a group's writes and sets
// each written append's Durable flag.
func (l *Log) syncAfterWrites(written []*request, force bool) {
	need := force
	switch l.opts.Sync.Mode {
	case SyncAlways:
		need = need || len(written) > 0
	case SyncBytes:
		need = need || l.unsyncedBytes >= l.opts.Sync.Bytes
	}
	if need {
		if err := l.syncActive(); err != nil {
			for _, r := range written {
				r.err = err
			}
			return
		}
	}
	l.mu.RLock()
	durable := l.durableEndOffset
	l.mu.RUnlock()
	for _, r := range written {
		r.result.Durable = r.result.LastOffset < durable
	}
}

// syncActive fdatasyncs the active segment and advances the durable end. A
// failure poisons the log: the kernel may have dropped the dirty pages, so
// the fsync must never be retried.
func (l *Log) syncActive() error {
	if l.unsyncedBytes == 0 {
		return nil
	}
	if err := l.active().file.Sync(); err != nil {
		return l.setPoison(err)
	}
	l.stats.syncs.Add(1)
	l.stats.syncedBytes.Add(l.unsyncedBytes)
	l.unsyncedBytes = 0
	l.mu.Lock()
	l.durableEndOffset = l.logEndOffset
	l.notifyLocked()
	l.mu.Unlock()
	return nil
}

// roll seals the active segment and starts a new one at the log end. The
// old segment is made durable (zero tail trimmed, fdatasync) before the next
// segment's files exist: recovery trusts the tail of every segment that is
// not the last one.
func (l *Log) roll() error {
	old := l.active()
	if old.physicalSize > old.size {
		if err := old.file.Truncate(old.size); err != nil {
			return l.setPoison(err)
		}
		old.physicalSize = old.size
	}
	if err := old.file.Sync(); err != nil {
		return l.setPoison(err)
	}
	l.stats.syncs.Add(1)
	l.stats.syncedBytes.Add(l.unsyncedBytes)
	l.unsyncedBytes = 0
	l.mu.Lock()
	l.durableEndOffset = l.logEndOffset
	old.finalTimeEntry()
	l.mu.Unlock()
	for _, ix := range []*index{&old.offsetIndex.index, &old.timeIndex.index} {
		if err := persistIndex(ix); err != nil {
			return l.setPoison(err)
		}
	}
	// If creating the new files fails (disk full), the old segment is
	// durable and stays active.
	s, _, err := openSegmentFiles(l.fs, l.dir, old.next)
	if err != nil {
		if isDiskFull(err) {
			return diskFull(err)
		}
		return l.setPoison(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.release()
		return l.setPoison(err)
	}
	if l.opts.prealloc() == PreallocFallocate {
		if err := s.file.Preallocate(0, l.opts.SegmentBytes); err != nil && !isDiskFull(err) {
			s.release()
			return l.setPoison(err)
		}
	}
	l.mu.Lock()
	old.sealed = true
	// A failed mapping only keeps the index on the heap.
	for _, ix := range []*index{&old.offsetIndex.index, &old.timeIndex.index} {
		if err := ix.mapFile(int64(len(ix.data))); err != nil {
			l.logger.Warn("index stays on the heap: mmap failed", "file", ix.file.Name(), "err", err)
		}
	}
	l.segments = append(l.segments, s)
	l.notifyLocked()
	l.mu.Unlock()
	l.stats.rolls.Add(1)
	return nil
}

// persistIndex writes the whole index and syncs it, without mapping (the
// caller maps under Log.mu).
func persistIndex(ix *index) error {
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ix.file.Truncate(int64(len(ix.data))); err != nil {
		return err
	}
	return ix.file.Sync()
}

var zeroBlock = make([]byte, 1<<20)

// ensureFilled keeps zeros written ahead of the write position when the
// zero-fill policy is on, so appends overwrite allocated, written blocks.
func (l *Log) ensureFilled(s *segment, need int64) error {
	if l.opts.prealloc() != PreallocZeroFill || need <= s.physicalSize {
		return nil
	}
	target := min(max(need, s.physicalSize+l.opts.ZeroFillChunkBytes), l.opts.SegmentBytes)
	target = max(target, need)
	if err := writeZeros(s, s.physicalSize, target); err != nil {
		return err
	}
	s.physicalSize = target
	return nil
}

func writeZeros(s *segment, from, to int64) error {
	for pos := from; pos < to; {
		n := min(int64(len(zeroBlock)), to-pos)
		if _, err := s.file.WriteAt(zeroBlock[:n], pos); err != nil {
			return err
		}
		pos += n
	}
	return nil
}
