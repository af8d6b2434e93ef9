package loadgen

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// recorder collects one run's measurements. Every time is an offset from
// the run's base instant on the monotonic clock (time.Since(base)), so a
// wall-clock step during a run cannot bend a latency.
//
// Acks arrive on driver goroutines, receipts on consumer goroutines, so
// everything is under mu; the ticker goroutine swaps the interval state
// out once per interval and does the percentile work outside the lock.
type recorder struct {
	// measureFrom and measureTo bound the intended send times of the
	// measured messages: the cumulative histograms and totals take only
	// those (warm-up excluded). Fixed before the run starts.
	measureFrom, measureTo time.Duration
	runID                  uint32
	trackDelivery          bool // consumers exist: keep per-message bitsets

	mu sync.Mutex
	// base is the run's base instant and baseUnix the same in Unix ns (the
	// payload's time unit). Set by start under mu: consumers are running
	// before it is known.
	base     time.Time
	baseUnix int64
	cur      intervalState // Invariant: only the ticker replaces it.
	// Cumulative (measured messages only).
	cumPublish, cumE2E, cumLag *hdr.Histogram
	clamped                    Clamped
	tot                        totals
	// acked and received are per producer bitsets over sequence numbers,
	// so duplicates and messages acknowledged but never received can be
	// counted whatever the partition order. ackedAndReceived counts the
	// sequences in both.
	acked, received  []bitset
	ackedAndReceived int64
	errSamples       []string
	// closed is set once the result is taken: a callback that comes later
	// (from a producer abandoned by the close timeout) changes nothing.
	closed bool
}

// intervalState is what one interval accumulates.
type intervalState struct {
	publish, e2e *hdr.Histogram
	lagMax       time.Duration
	acked        int64
	errors       int64
	received     int64
	duplicates   int64
	foreign      int64
}

// totals are whole-run counters.
type totals struct {
	acked, errors, received, duplicates, foreign int64
	// measuredAcked, measuredSent and measuredReceived count events whose
	// own time (not the intended time) falls in the measured window: the
	// system's throughput over that window.
	measuredAcked, measuredSent, measuredReceived int64
}

const maxErrorSamples = 10

func newRecorder(producers int, trackDelivery bool) *recorder {
	r := &recorder{
		trackDelivery: trackDelivery,
		cumPublish:    NewHistogram(),
		cumE2E:        NewHistogram(),
		cumLag:        NewHistogram(),
	}
	r.cur = intervalState{publish: NewHistogram(), e2e: NewHistogram()}
	if trackDelivery {
		r.acked = make([]bitset, producers)
		r.received = make([]bitset, producers)
	}
	return r
}

func (r *recorder) measured(intended time.Duration) bool {
	return intended >= r.measureFrom && intended < r.measureTo
}

func (r *recorder) inWindow(at time.Duration) bool {
	return at >= r.measureFrom && at < r.measureTo
}

// sent records a message handed to the driver at now, intended at
// intended: the lag is the generator's own lateness (a full in-flight
// window or a slow sender).
func (r *recorder) sent(intended, now time.Duration) {
	lag := now - intended
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.cur.lagMax = max(r.cur.lagMax, lag)
	if r.measured(intended) {
		// Lags under 1µs (every closed-loop send) are normal, not
		// clamped latencies: they are not counted in Clamped.
		var ignore Clamped
		record(r.cumLag, lag, &ignore)
	}
	if r.inWindow(now) {
		r.tot.measuredSent++
	}
	r.mu.Unlock()
}

// done records the outcome of one send.
func (r *recorder) done(producer int, seq uint64, intended, now time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if err != nil {
		r.cur.errors++
		r.tot.errors++
		if len(r.errSamples) < maxErrorSamples {
			r.errSamples = append(r.errSamples, err.Error())
		}
		return
	}
	r.cur.acked++
	r.tot.acked++
	if r.inWindow(now) {
		r.tot.measuredAcked++
	}
	latency := now - intended
	record(r.cur.publish, latency, &r.clamped)
	if r.measured(intended) {
		record(r.cumPublish, latency, &r.clamped)
	}
	if r.trackDelivery {
		r.acked[producer].set(seq)
		if r.received[producer].has(seq) {
			r.ackedAndReceived++
		}
	}
}

// start sets the base instant.
func (r *recorder) start(base time.Time) {
	r.mu.Lock()
	r.base, r.baseUnix = base, base.UnixNano()
	r.mu.Unlock()
}

// receive records values read by a consumer at the instant at.
func (r *recorder) receive(values [][]byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.base.IsZero() {
		return // before the run started nothing of it can arrive
	}
	now := at.Sub(r.base)
	for _, v := range values {
		h, err := DecodeHeader(v)
		if err != nil || h.RunID != r.runID || int(h.Producer) >= len(r.received) {
			r.cur.foreign++
			r.tot.foreign++
			continue
		}
		rs := &r.received[h.Producer]
		if rs.has(h.Seq) {
			r.cur.duplicates++
			r.tot.duplicates++
			continue
		}
		rs.set(h.Seq)
		if r.acked[h.Producer].has(h.Seq) {
			r.ackedAndReceived++
		}
		r.cur.received++
		r.tot.received++
		if r.inWindow(now) {
			r.tot.measuredReceived++
		}
		intended := time.Duration(h.Intended - r.baseUnix)
		latency := now - intended
		record(r.cur.e2e, latency, &r.clamped)
		if r.measured(intended) {
			record(r.cumE2E, latency, &r.clamped)
		}
	}
}

// undelivered is the number of acknowledged messages no consumer has
// received yet.
func (r *recorder) undelivered() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tot.acked - r.ackedAndReceived
}

// swap replaces the interval state with next (empty) and returns the old
// one.
func (r *recorder) swap(next intervalState) intervalState {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur
	r.cur = next
	return old
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i uint64) {
	w := i / 64
	for uint64(len(*b)) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) has(i uint64) bool {
	w := i / 64
	return w < uint64(len(b)) && b[w]&(1<<(i%64)) != 0
}
