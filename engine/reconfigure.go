package engine

import "time"

// Reconfig holds the settings that can change while a log is open (a topic's
// configuration altered at run time). Nil fields stay as they are.
type Reconfig struct {
	SegmentBytes     *int64
	SegmentMaxAge    *time.Duration
	Sync             *SyncPolicy
	RetentionTime    *time.Duration
	RetentionBytes   *int64
	GroupCommitDelay *time.Duration
}

// Reconfigure applies new settings. They take effect from the next group
// commit (a new segment size from the next roll); the background flusher and
// cleaner restart with the new intervals.
func (l *Log) Reconfigure(rc Reconfig) error {
	next := l.opts
	if rc.SegmentBytes != nil {
		next.SegmentBytes = *rc.SegmentBytes
	}
	if rc.SegmentMaxAge != nil {
		next.SegmentMaxAge = *rc.SegmentMaxAge
	}
	if rc.Sync != nil {
		next.Sync = *rc.Sync
	}
	if rc.RetentionTime != nil {
		next.RetentionTime = *rc.RetentionTime
	}
	if rc.RetentionBytes != nil {
		next.RetentionBytes = *rc.RetentionBytes
	}
	if rc.GroupCommitDelay != nil {
		next.GroupCommitDelay = *rc.GroupCommitDelay
	}
	if err := next.withDefaults().validate(); err != nil {
		return err
	}
	// The background goroutines submit requests: stop them outside the
	// writer, swap the settings inside it, start them again.
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.closing.Load() {
		return ErrClosed
	}
	close(l.stop)
	l.bg.Wait()
	r := &request{kind: opReconfigure, reconfig: next.withDefaults()}
	l.submit(r)
	l.stop = make(chan struct{})
	l.startBackground()
	return r.err
}

// applyReconfig runs inside the writer; mu guards the fields readers see.
func (l *Log) applyReconfig(o Options) {
	l.mu.Lock()
	l.opts.SegmentBytes = o.SegmentBytes
	l.opts.SegmentMaxAge = o.SegmentMaxAge
	l.opts.Sync = o.Sync
	l.opts.RetentionTime = o.RetentionTime
	l.opts.RetentionBytes = o.RetentionBytes
	l.opts.GroupCommitDelay = o.GroupCommitDelay
	l.mu.Unlock()
}
