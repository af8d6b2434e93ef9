package loadgen

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// FakeOptions configure the in-memory driver.
type FakeOptions struct {
	// ServiceTime is how long after Send each message is acknowledged and
	// becomes readable. Sends are served in parallel (a pure delay), in
	// send order.
	ServiceTime time.Duration
	// Stalls are windows, measured from the driver's first Send, during
	// which nothing completes: a message whose completion falls inside one
	// completes when it ends (a broker stuck on a slow fsync). Sends are
	// still accepted.
	Stalls []FakeStall
	// PerMessage is a serial cost: messages complete at least this far
	// apart, so the fake saturates at 1/PerMessage messages per second
	// (0: no limit).
	PerMessage time.Duration
	// FailEvery makes every FailEvery-th send fail (0: none fail).
	FailEvery int
}

// FakeStall is one stall window.
type FakeStall struct {
	After time.Duration
	For   time.Duration
}

// Fake is the in-memory Driver: a pure delay line with configurable stalls
// and failures, and per-partition logs the consumers read from the start.
// It is the twin the run and sweep tests use (STYLE.md habit 4).
type Fake struct {
	opts  FakeOptions
	queue chan fakeItem
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	first   time.Time // first Send
	topics  map[string][][][]byte
	sends   int
	changed chan struct{} // closed and replaced when a partition grows
}

type fakeItem struct {
	due       time.Time
	topic     string
	partition int
	value     []byte
	done      func(error) // nil when already called (acks 0)
}

// ErrFakeFailure is the error of the sends FakeOptions.FailEvery fails.
var ErrFakeFailure = errors.New("loadgen: fake driver: injected send failure")

// NewFake returns a running in-memory driver; Close stops it.
func NewFake(opts FakeOptions) *Fake {
	f := &Fake{
		opts: opts, queue: make(chan fakeItem, 1<<16), stop: make(chan struct{}), done: make(chan struct{}),
		topics: map[string][][][]byte{}, changed: make(chan struct{}),
	}
	go f.serve()
	return f
}

// Name implements Driver.
func (f *Fake) Name() string { return "fake" }

// Describe implements Driver.
func (f *Fake) Describe(w Workload) (Mapping, error) {
	return Mapping{
		Acks:        fmt.Sprintf("acks=%s simulated: completion after the service time (acks 0: at once)", w.Acks),
		Sync:        "ignored (in memory)",
		Replication: "ignored (in memory)",
	}, nil
}

// CreateTopics implements Driver.
func (f *Fake) CreateTopics(_ context.Context, spec TopicSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range spec.Names {
		if _, ok := f.topics[n]; ok {
			return fmt.Errorf("fake: topic %s exists", n)
		}
		f.topics[n] = make([][][]byte, spec.Partitions)
	}
	return nil
}

// DeleteTopics implements TopicDeleter.
func (f *Fake) DeleteTopics(_ context.Context, names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		delete(f.topics, n)
	}
	return nil
}

// Close implements Driver.
func (f *Fake) Close() error {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	return nil
}

// serve completes the queued sends in order, each at its due time pushed
// past any stall it falls into.
func (f *Fake) serve() {
	defer close(f.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last time.Time
	for {
		var it fakeItem
		select {
		case it = <-f.queue:
		case <-f.stop:
			return
		}
		at := f.completion(it.due)
		if f.opts.PerMessage > 0 {
			at = f.completion(maxTime(at, last.Add(f.opts.PerMessage)))
			last = at
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-f.stop:
				return
			}
		}
		f.mu.Lock()
		parts := f.topics[it.topic]
		if parts != nil {
			parts[it.partition] = append(parts[it.partition], it.value)
			close(f.changed)
			f.changed = make(chan struct{})
		}
		f.mu.Unlock()
		if it.done != nil {
			var err error
			if parts == nil {
				err = fmt.Errorf("fake: unknown topic %s", it.topic)
			}
			it.done(err)
		}
	}
}

// completion moves t to the end of the stall containing it, if any.
func (f *Fake) completion(t time.Time) time.Time {
	f.mu.Lock()
	first := f.first
	f.mu.Unlock()
	for _, s := range f.opts.Stalls {
		from := first.Add(s.After)
		if !t.Before(from) && t.Before(from.Add(s.For)) {
			return from.Add(s.For)
		}
	}
	return t
}

// NewProducer implements Driver.
func (f *Fake) NewProducer(_ context.Context, spec ProducerSpec) (Producer, error) {
	return &fakeProducer{f: f, acks: spec.Acks}, nil
}

type fakeProducer struct {
	f    *Fake
	acks Acks
	next int // keyless round robin
}

func (p *fakeProducer) Send(m Message, done func(error)) {
	f := p.f
	now := time.Now()
	f.mu.Lock()
	if f.first.IsZero() {
		f.first = now
	}
	f.sends++
	fail := f.opts.FailEvery > 0 && f.sends%f.opts.FailEvery == 0
	parts := len(f.topics[m.Topic])
	f.mu.Unlock()
	if fail {
		done(ErrFakeFailure)
		return
	}
	if parts == 0 {
		done(fmt.Errorf("fake: unknown topic %s", m.Topic))
		return
	}
	part := p.next % parts
	p.next++
	if m.Key != nil {
		h := fnv.New32a()
		h.Write(m.Key)
		part = int(h.Sum32() % uint32(parts))
	}
	it := fakeItem{due: now.Add(f.opts.ServiceTime), topic: m.Topic, partition: part, value: m.Value, done: done}
	if p.acks == Acks0 {
		it.done = nil
		done(nil)
	}
	select {
	case f.queue <- it:
	case <-f.stop:
		if it.done != nil {
			it.done(errors.New("fake: closed"))
		}
	}
}

func (p *fakeProducer) Close() error { return nil }

// NewConsumer implements Driver. Groups are not simulated: a group
// consumer gets the load generator's split too.
func (f *Fake) NewConsumer(_ context.Context, spec ConsumerSpec) (Consumer, error) {
	return &fakeConsumer{f: f, spec: spec}, nil
}

type fakeConsumer struct {
	f    *Fake
	spec ConsumerSpec
}

func (c *fakeConsumer) Receive(ctx context.Context, handle func([][]byte)) error {
	type pos struct {
		topic     string
		partition int
	}
	next := map[pos]int{}
	for {
		c.f.mu.Lock()
		changed := c.f.changed
		var batch [][]byte
		for _, t := range c.spec.Topics {
			parts := c.f.topics[t]
			for p := range parts {
				if !c.spec.Owns(p) {
					continue
				}
				k := pos{t, p}
				batch = append(batch, parts[p][next[k]:]...)
				next[k] = len(parts[p])
			}
		}
		c.f.mu.Unlock()
		if len(batch) > 0 {
			handle(batch)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func (c *fakeConsumer) Close() error { return nil }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
