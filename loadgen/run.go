package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/internal/benchutil"
)

// Options tune a run; the zero value takes the defaults noted.
type Options struct {
	// Progress, if set, is called once per interval from the run's ticker
	// goroutine; it must return quickly.
	Progress func(Progress)
	// Interval is the length of the per-interval series and histograms
	// (default 1s).
	Interval time.Duration
	// Drain is how long, after the last scheduled send, the run waits for
	// outstanding sends, acknowledgements and deliveries (default 10s).
	// What is still outstanding then is counted (Unsent, Unacked,
	// Missing), never dropped silently.
	Drain time.Duration
	// CloseTimeout bounds closing producers and consumers (default 10s).
	CloseTimeout time.Duration
	// TopicPrefix starts every topic name (default "loadgen").
	TopicPrefix string
	// KeepTopics leaves the topics in place after the run.
	KeepTopics bool
	// Seed seeds sizes, keys and payloads (0: random; the one used is in
	// the Result).
	Seed uint64
	// WaitQuiet waits (bounded) for other processes to quieten before the
	// run, as benchutil.WaitQuiet does (TESTING.md §8). The load during
	// the run is recorded either way.
	WaitQuiet bool
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 10 * time.Second
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "loadgen"
	}
	return o
}

// Progress is what Options.Progress receives once per interval.
type Progress struct {
	Phase     string
	Elapsed   time.Duration // since the first send was due
	Remaining time.Duration // until the last send is due (the drain may follow)
	// Rate is the acknowledgements per second and P99 the publish p99 of
	// the interval that just ended; Target is the open-loop rate (0:
	// closed loop).
	Rate     float64
	Target   float64
	P99      time.Duration
	Backlog  int64
	InFlight int64
	Errors   int64
}

// startLead is how far in the future the first send is scheduled, so every
// producer goroutine is running when it falls due.
const startLead = 20 * time.Millisecond

// Run runs workload w against d: it creates fresh topics, starts the
// consumers and producers, sends for the warm-up and the measured duration
// (open loop at w.Rate, or closed loop when it is 0), drains, closes
// everything, deletes the topics and returns the measurements. It is
// bounded in time by WarmUp + Duration + Drain + the close timeouts; when
// ctx ends first it stops early and returns ctx's error.
func Run(ctx context.Context, w Workload, d Driver, opts Options) (_ *Result, err error) {
	w = w.WithDefaults()
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("loadgen: workload %s: %w", w.Name, err)
	}
	opts = opts.withDefaults()
	mapping, err := d.Describe(w)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s driver: %w", d.Name(), err)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	runID := rand.Uint32()
	topics := make([]string, w.Topics)
	for i := range topics {
		topics[i] = fmt.Sprintf("%s-%s-%08x-%d", opts.TopicPrefix, w.Name, runID, i)
	}
	if err := d.CreateTopics(ctx, TopicSpec{
		Names: topics, Partitions: w.Partitions, ReplicationFactor: w.ReplicationFactor,
		Mode: w.ReplicationMode, Sync: w.SyncPolicy,
	}); err != nil {
		return nil, fmt.Errorf("loadgen: create topics: %w", err)
	}
	if del, ok := d.(TopicDeleter); ok && !opts.KeepTopics {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.CloseTimeout)
			defer cancel()
			if derr := del.DeleteTopics(dctx, topics); derr != nil && err == nil {
				err = fmt.Errorf("loadgen: delete topics: %w", derr)
			}
		}()
	}

	r := &run{w: w, opts: opts, d: d, topics: topics, seed: seed}
	r.rec = newRecorder(w.Producers, w.Consumers.Count > 0)
	r.rec.runID = runID
	r.rec.measureFrom = w.WarmUpDuration()
	r.rec.measureTo = r.rec.measureFrom + time.Duration(w.Duration)
	r.sendEnd = r.rec.measureTo
	r.res = &Result{
		Driver: d.Name(), Workload: w, Mapping: mapping, Loop: LoopOpen, TargetRate: w.Rate,
		RunID: runID, Seed: seed, Topics: topics,
		WarmUp: r.rec.measureFrom, Duration: time.Duration(w.Duration),
	}
	if w.Rate == 0 {
		r.res.Loop = LoopClosed
		r.res.Notes = append(r.res.Notes, fmt.Sprintf(
			"closed loop (rate 0 = max): each producer keeps %d messages in flight; latency is the service time under that window, not open-loop latency", w.InFlight))
	}
	defer r.closeAll(ctx)
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	quiet := true
	if opts.WaitQuiet {
		quiet = benchutil.WaitQuiet(benchutil.DefaultQuiet)
	}
	r.res.Load, _ = benchutil.MeasureLoad(benchutil.DefaultQuiet, !quiet, func() error {
		r.execute(ctx)
		return nil
	})
	r.closeAll(ctx)
	r.finish()
	if err := ctx.Err(); err != nil {
		return r.res, fmt.Errorf("loadgen: run %s stopped early: %w", w.Name, err)
	}
	return r.res, nil
}

// run is the state of one Run.
type run struct {
	w       Workload
	opts    Options
	d       Driver
	topics  []string
	seed    uint64
	rec     *recorder
	res     *Result
	sendEnd time.Duration // no send is due at or after it

	producers []*producerState
	consumers []Consumer
	stopRecv  context.CancelFunc
	recvDone  sync.WaitGroup
	recvMu    sync.Mutex
	recvErrs  []string
	closeOnce sync.Once

	base     time.Time // Result.Start; offsets are time.Since(base)
	baseUnix int64     // base in Unix ns, the payload header's unit
	changed  chan struct{}
	ivEnds   time.Duration // end of the last closed interval
	lastSent int64         // totals at the end of the last closed interval
	lastDue  int64
	// pendingMax is the largest pending count sampled in the current
	// interval.
	pendingMax int64
	spare      intervalState
}

// producerState is one producer and its schedule.
type producerState struct {
	id     int
	p      Producer
	gen    *generator
	sent   atomic.Int64
	done   atomic.Int64 // acked + failed
	phase  time.Duration
	period float64 // ns between intended sends (open loop)
	total  int64   // sends the schedule calls for (open loop)
}

func (r *run) now() time.Duration { return time.Since(r.base) }

// open creates the consumers and producers.
func (r *run) open(ctx context.Context) error {
	w := r.w
	recvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stopRecv = stop
	r.changed = make(chan struct{}, 1)
	for i := 0; i < w.Consumers.Count; i++ {
		c, err := r.d.NewConsumer(ctx, ConsumerSpec{
			ID: i, Count: w.Consumers.Count, Topics: r.topics, Partitions: w.Partitions, Group: w.Consumers.Group,
		})
		if err != nil {
			return fmt.Errorf("loadgen: consumer %d: %w", i, err)
		}
		r.consumers = append(r.consumers, c)
		r.recvDone.Add(1)
		go func() {
			defer r.recvDone.Done()
			err := c.Receive(recvCtx, func(values [][]byte) {
				r.rec.receive(values, time.Now())
				r.notify()
			})
			if err != nil && recvCtx.Err() == nil {
				r.recvMu.Lock()
				r.recvErrs = append(r.recvErrs, fmt.Sprintf("consumer %d: %v", i, err))
				r.recvMu.Unlock()
			}
		}()
	}
	for i := 0; i < w.Producers; i++ {
		p, err := r.d.NewProducer(ctx, ProducerSpec{
			ID: i, Acks: w.Acks, BatchBytes: w.BatchBytes, Linger: time.Duration(w.Linger), InFlight: w.InFlight,
		})
		if err != nil {
			return fmt.Errorf("loadgen: producer %d: %w", i, err)
		}
		ps := &producerState{id: i, p: p, gen: newGenerator(w, r.seed+uint64(i)*0x100000001b3, r.topics)}
		if w.Rate > 0 {
			// Producers share the rate equally and are staggered by a
			// fraction of their period, so their sends interleave instead
			// of arriving in bursts of Producers.
			ps.period = float64(time.Second) * float64(w.Producers) / w.Rate
			ps.phase = time.Duration(ps.period * float64(i) / float64(w.Producers))
			ps.total = ps.dueBefore(r.sendEnd)
		}
		r.producers = append(r.producers, ps)
	}
	return nil
}

// intended is the intended send time of the producer's k-th message.
func (ps *producerState) intended(k int64) time.Duration {
	return ps.phase + time.Duration(float64(k)*ps.period)
}

// dueBefore is how many of the producer's sends are due before t (open
// loop), not capped by total.
func (ps *producerState) dueBefore(t time.Duration) int64 {
	t-- // intended < t  ⇔  intended <= t-1ns
	if t < ps.phase {
		return 0
	}
	n := int64(float64(t-ps.phase)/ps.period) + 1
	// Float rounding can put the boundary one off; settle it with the
	// same formula the scheduler uses.
	for n > 0 && ps.intended(n-1) > t {
		n--
	}
	for ps.intended(n) <= t {
		n++
	}
	return n
}

func (r *run) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// execute sends, ticks and drains; it returns when the run is over.
func (r *run) execute(ctx context.Context) {
	hardEnd := r.sendEnd + r.opts.Drain
	r.base = time.Now().Add(startLead)
	r.baseUnix = r.base.UnixNano()
	r.rec.start(r.base)
	r.res.Start = r.base
	r.spare = intervalState{publish: NewHistogram(), e2e: NewHistogram()}
	runCtx, cancel := context.WithDeadline(ctx, r.base.Add(hardEnd))
	defer cancel()

	var senders sync.WaitGroup
	for _, ps := range r.producers {
		senders.Add(1)
		go func() {
			defer senders.Done()
			if r.w.Rate > 0 {
				r.openLoop(runCtx, ps)
			} else {
				r.closedLoop(runCtx, ps)
			}
		}()
	}
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()

	// Interval boundaries are aligned to the end of the warm-up, so the
	// measured window is made of whole intervals (the first warm-up
	// interval may be shorter).
	next := r.rec.measureFrom % r.opts.Interval
	if next == 0 {
		next = r.opts.Interval
	}
	ticker := time.NewTimer(time.Until(r.base.Add(next)))
	defer ticker.Stop()
	// The pending count (due but not yet acknowledged) is sampled often,
	// so a stall shorter than an interval still shows in PendingMax.
	sampler := time.NewTicker(max(r.opts.Interval/pendingSamples, time.Millisecond))
	defer sampler.Stop()
	drained := false
	for !drained {
		select {
		case <-ticker.C:
			r.closeInterval(next)
			next += r.opts.Interval
			ticker.Reset(time.Until(r.base.Add(next)))
		case <-sampler.C:
			r.pendingMax = max(r.pendingMax, r.pending(r.now()))
		case <-r.changed:
		case <-sendersDone:
			sendersDone = nil
		case <-runCtx.Done():
			drained = true
		}
		if sendersDone == nil && r.settled() {
			drained = true
		}
	}
	r.closeInterval(r.now())
	r.res.Elapsed = r.now()
}

// pendingSamples is how often per interval the pending count is sampled.
const pendingSamples = 50

// pending is the number of sends due at t that have no outcome yet: the
// backlog plus the in-flight messages.
func (r *run) pending(t time.Duration) int64 {
	var n int64
	for _, ps := range r.producers {
		due := ps.sent.Load()
		if r.w.Rate > 0 {
			due = max(min(ps.dueBefore(t+1), ps.total), due)
		}
		n += due - ps.done.Load()
	}
	return n
}

// settled reports whether every send has an outcome and every
// acknowledged message was received (when there are consumers).
func (r *run) settled() bool {
	for _, ps := range r.producers {
		if ps.done.Load() != ps.sent.Load() {
			return false
		}
	}
	return len(r.consumers) == 0 || r.rec.undelivered() == 0
}

// openLoop sends ps's messages at their intended times. It never skips
// one: when the in-flight window is full it waits, and the wait becomes
// part of the late messages' latency because every latency is measured
// from the intended time.
func (r *run) openLoop(ctx context.Context, ps *producerState) {
	window := make(chan struct{}, r.w.InFlight)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := int64(0); k < ps.total; k++ {
		intended := ps.intended(k)
		// Build before waiting: it depends only on the intended time.
		m := ps.gen.message(Header{RunID: r.rec.runID, Intended: r.baseUnix + int64(intended), Producer: uint32(ps.id), Seq: uint64(k)})
		if wait := intended - r.now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r.send(ps, m, uint64(k), intended, window)
	}
}

// closedLoop sends as fast as the in-flight window allows until the last
// send time.
func (r *run) closedLoop(ctx context.Context, ps *producerState) {
	window := make(chan struct{}, r.w.InFlight)
	for seq := uint64(0); ; seq++ {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		intended := r.now()
		if intended >= r.sendEnd {
			return
		}
		m := ps.gen.message(Header{RunID: r.rec.runID, Intended: r.baseUnix + int64(intended), Producer: uint32(ps.id), Seq: seq})
		r.send(ps, m, seq, intended, window)
	}
}

func (r *run) send(ps *producerState, m Message, seq uint64, intended time.Duration, window chan struct{}) {
	r.rec.sent(intended, r.now())
	ps.sent.Add(1)
	ps.p.Send(m, func(err error) {
		r.rec.done(ps.id, seq, intended, r.now(), err)
		ps.done.Add(1)
		<-window
		r.notify()
	})
}

// closeInterval ends the interval that ends at end, appending it to the
// series and its histograms to the log, and reports progress.
func (r *run) closeInterval(end time.Duration) {
	start := r.ivEnds
	if end <= start {
		return
	}
	r.ivEnds = end
	old := r.rec.swap(r.spare)
	var sent, due, done int64
	for _, ps := range r.producers {
		s := ps.sent.Load()
		sent += s
		done += ps.done.Load()
		if r.w.Rate > 0 {
			due += min(ps.dueBefore(end), ps.total)
		} else {
			due += s
		}
	}
	iv := Interval{
		Start: start, End: end, Phase: r.phaseAt(start),
		Sent: sent - r.lastSent, Acked: old.acked, Errors: old.errors,
		Received: old.received, Duplicates: old.duplicates,
		Backlog: max(due-sent, 0), InFlight: sent - done,
		PendingMax: max(r.pendingMax, r.pending(end)),
		Publish:    Summarize(old.publish), EndToEnd: Summarize(old.e2e), SendLagMax: old.lagMax,
	}
	iv.Scheduled = due - r.lastDue
	r.lastSent, r.lastDue = sent, due
	r.pendingMax = 0
	r.res.Intervals = append(r.res.Intervals, iv)
	if th, err := encodeTagged(TagPublish, old.publish, r.base.Add(start), r.base.Add(end)); err == nil {
		r.res.Histograms = append(r.res.Histograms, th)
	}
	if len(r.consumers) > 0 {
		if th, err := encodeTagged(TagE2E, old.e2e, r.base.Add(start), r.base.Add(end)); err == nil {
			r.res.Histograms = append(r.res.Histograms, th)
		}
	}
	old.publish.Reset()
	old.e2e.Reset()
	r.spare = intervalState{publish: old.publish, e2e: old.e2e}
	if r.opts.Progress != nil {
		var errs int64
		for _, x := range r.res.Intervals {
			errs += x.Errors
		}
		r.opts.Progress(Progress{
			Phase: iv.Phase, Elapsed: end, Remaining: max(r.sendEnd-end, 0),
			Rate: float64(iv.Acked) / iv.Seconds(), Target: r.w.Rate, P99: iv.Publish.P99,
			Backlog: iv.Backlog, InFlight: iv.InFlight, Errors: errs,
		})
	}
}

func (r *run) phaseAt(t time.Duration) string {
	switch {
	case t < r.rec.measureFrom:
		return PhaseWarmUp
	case t < r.sendEnd:
		return PhaseMeasure
	}
	return PhaseDrain
}

// closeAll stops the consumers and closes producers and consumers, each
// bounded by CloseTimeout. Safe to call twice.
func (r *run) closeAll(ctx context.Context) {
	r.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for i, ps := range r.producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.bounded(func() error { return ps.p.Close() }); err != nil {
					r.recvMu.Lock()
					r.res.Notes = append(r.res.Notes, fmt.Sprintf("producer %d close: %v", i, err))
					r.recvMu.Unlock()
				}
			}()
		}
		wg.Wait()
		if r.stopRecv != nil {
			r.stopRecv()
		}
		_ = r.bounded(func() error { r.recvDone.Wait(); return nil })
		for i, c := range r.consumers {
			if err := r.bounded(c.Close); err != nil {
				r.res.Notes = append(r.res.Notes, fmt.Sprintf("consumer %d close: %v", i, err))
			}
		}
	})
}

var errCloseTimeout = errors.New("did not finish within the close timeout (abandoned)")

// bounded runs fn, giving up on it after CloseTimeout (it keeps running
// in the background; the run's results do not wait for it).
func (r *run) bounded(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(r.opts.CloseTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errCloseTimeout
	}
}

// finish fills in the totals once nothing records any more.
func (r *run) finish() {
	rec := r.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := r.res
	var sent, scheduled int64
	for _, ps := range r.producers {
		s := ps.sent.Load()
		sent += s
		if r.w.Rate > 0 {
			scheduled += ps.total
		} else {
			scheduled += s
		}
	}
	c := &res.Counts
	c.Scheduled, c.Sent, c.Unsent = scheduled, sent, scheduled-sent
	c.Acked, c.Errors = rec.tot.acked, rec.tot.errors
	c.Unacked = sent - c.Acked - c.Errors
	c.Received, c.Duplicates, c.Foreign = rec.tot.received, rec.tot.duplicates, rec.tot.foreign
	if rec.trackDelivery {
		c.Missing = rec.tot.acked - rec.ackedAndReceived
	}
	secs := res.Duration.Seconds()
	res.AchievedRate = float64(rec.tot.measuredAcked) / secs
	res.SentRate = float64(rec.tot.measuredSent) / secs
	res.ReceiveRate = float64(rec.tot.measuredReceived) / secs
	res.Publish, res.EndToEnd, res.SendLag = Summarize(rec.cumPublish), Summarize(rec.cumE2E), Summarize(rec.cumLag)
	res.Clamped = rec.clamped
	res.ErrorSamples = rec.errSamples
	res.PublishHistogram, res.E2EHistogram = rec.cumPublish, rec.cumE2E
	from, to := r.base.Add(rec.measureFrom), r.base.Add(rec.measureTo)
	if th, err := encodeTagged(TagPublishCumulative, rec.cumPublish, from, to); err == nil {
		res.Histograms = append(res.Histograms, th)
	}
	if rec.trackDelivery {
		if th, err := encodeTagged(TagE2ECumulative, rec.cumE2E, from, to); err == nil {
			res.Histograms = append(res.Histograms, th)
		}
	}
	r.recvMu.Lock()
	res.ConsumerErrors = r.recvErrs
	r.recvMu.Unlock()
	rec.closed = true
	if c.Unsent > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d scheduled sends were never sent: the run reached its time bound first", c.Unsent))
	}
	if c.Unacked > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d sends had no outcome when the run ended", c.Unacked))
	}
	if c.Missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d acknowledged messages were not received by the end of the drain", c.Missing))
	}
	if res.Clamped.High > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d latencies above %v were recorded as %v", res.Clamped.High, LatencyMax, LatencyMax))
	}
}
