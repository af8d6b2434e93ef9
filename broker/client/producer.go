package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
)

// Acks is how much durability a produce waits for. The values match
// brokerpb.Acks; the zero value means AcksAll.
type Acks int

const (
	// AcksNone does not wait for the broker's reply: Send returns with
	// Offset -1 once the request is handed to the network. Failures are
	// not reported (at-most-once).
	AcksNone Acks = 1
	// AcksLeader waits until the leader has appended the batch (and synced
	// it, per its policy).
	AcksLeader Acks = 2
	// AcksAll waits until the batch is committed under the topic's
	// replication mode. The default.
	AcksAll Acks = 3
)

func (a Acks) String() string {
	switch a {
	case AcksNone:
		return "none"
	case AcksLeader:
		return "leader"
	case AcksAll, 0:
		return "all"
	}
	return fmt.Sprintf("Acks(%d)", int(a))
}

func (a Acks) proto() brokerpb.Acks {
	switch a {
	case AcksNone:
		return brokerpb.Acks_ACKS_NONE
	case AcksLeader:
		return brokerpb.Acks_ACKS_LEADER
	}
	return brokerpb.Acks_ACKS_ALL
}

// Profile picks defaults for the batching knobs with one setting.
type Profile int

const (
	// ProfileThroughput batches: MaxBatchBytes 1 MiB, MaxInFlight 5, no
	// linger. The default. A partition sends one request at a time, so a
	// batch grows for as long as the previous request is in flight (the
	// Nagle idea): under load batches fill by themselves, and a linger would
	// only hold a batch back while nothing is in flight. Measured with
	// `sluice bench broker`: a 5 ms linger cut acks=1 throughput at a
	// 500-message window from 2.3x NATS JetStream to 0.9x. Set Linger to
	// collect sparse messages into fewer requests.
	ProfileThroughput Profile = iota
	// ProfileLatency sends at once: Linger 0, MaxBatchBytes 64 KiB,
	// MaxInFlight 1.
	ProfileLatency
)

// Defaults that do not depend on the profile.
const (
	defaultRetries        = 10
	defaultRetryBackoff   = 100 * time.Millisecond
	defaultRequestTimeout = 30 * time.Second
)

// Header is a record header (Kafka's headers; Sluice's tags).
type Header struct {
	Key   string
	Value []byte
}

// Message is what a producer sends.
type Message struct {
	Topic string
	// Partition is the target partition, or -1 to let the producer's
	// Partitioner choose. Note that 0 is partition 0, not "unset".
	Partition int32
	Key       []byte // nil: no key
	Value     []byte
	Headers   []Header
	Timestamp time.Time // zero: now
}

// Receipt is the broker's account of where an acknowledged batch is.
type Receipt struct {
	LeaderEpoch    int32
	Replicas       []int32 // brokers whose log holds the batch
	SyncedReplicas []int32 // brokers that fsynced it
}

// Result is the outcome of one acknowledged message.
type Result struct {
	Topic     string
	Partition int32
	Offset    int64 // -1 with AcksNone, or when the message failed
	Receipt   Receipt
	// Duplicate reports that the broker recognised the batch as a retry of
	// one already written and returned the original offsets.
	Duplicate bool
}

// ProducerOptions configure a Producer. Zero fields take the Profile's value
// or the documented default; explicit non-zero fields override the profile.
type ProducerOptions struct {
	Acks    Acks
	Profile Profile
	// Linger is how long a partition's batch waits for more messages
	// before it is sent. Negative means 0 (use it to turn lingering off
	// under ProfileThroughput).
	Linger time.Duration
	// MaxBatchBytes closes a batch when it reaches this size. A single
	// message larger than it is sent in a batch of its own.
	MaxBatchBytes int
	// MaxInFlight bounds the produce requests in flight across all
	// partitions of this producer. Per partition there is at most one (see
	// the Producer's ordering note).
	MaxInFlight int
	// Retries is how often a request that failed with a retryable error
	// is tried again (default 10); negative means never.
	Retries int
	// RetryBackoff is the first wait before a retry (default 100ms),
	// doubled per attempt up to 2s, with jitter.
	RetryBackoff time.Duration
	// RequestTimeout bounds each attempt (default 30s); it is also the
	// time the broker may wait for AcksAll.
	RequestTimeout time.Duration
	// Partitioner chooses partitions for messages with Partition -1.
	// Default: NewDefaultPartitioner().
	Partitioner Partitioner
	// DisableIdempotence turns off the idempotent producer, which is on by
	// default with AcksAll (as in Kafka): the producer gets an id from the
	// cluster and numbers its batches per partition, so a retry after a
	// lost response is recognised by the broker and never written twice.
	// It has no effect with AcksNone or AcksLeader.
	DisableIdempotence bool
}

// resolve fills in defaults.
func (o ProducerOptions) resolve() ProducerOptions {
	if o.Acks == 0 {
		o.Acks = AcksAll
	}
	linger, maxBatch, inFlight := time.Duration(0), 1<<20, 5
	if o.Profile == ProfileLatency {
		linger, maxBatch, inFlight = 0, 64<<10, 1
	}
	switch {
	case o.Linger == 0:
		o.Linger = linger
	case o.Linger < 0:
		o.Linger = 0
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = maxBatch
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = inFlight
	}
	switch {
	case o.Retries == 0:
		o.Retries = defaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = defaultRetryBackoff
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = defaultRequestTimeout
	}
	if o.Partitioner == nil {
		o.Partitioner = NewDefaultPartitioner()
	}
	return o
}

// Producer batches messages per partition and sends them to the
// partitions' leaders. It is safe for concurrent use.
//
// Ordering: one producer's messages to one partition are written in the
// order they were sent, also across retries, because each partition has at
// most one request in flight: a batch is sent only after the previous one to
// the same partition has been acknowledged or has failed for good. Different
// partitions proceed in parallel, up to MaxInFlight requests. (With
// idempotence several batches per partition could be pipelined, the
// broker's sequence check keeping their order, if the broker held
// out-of-order sequences back instead of refusing them; run is the one place
// to change.)
type Producer struct {
	c           *Client
	opts        ProducerOptions
	observer    BatchObserver // opts.Partitioner's capability, or nil
	inFlight    chan struct{} // one token per request in flight
	produceWait time.Duration // the broker's acks=all wait, under RequestTimeout

	// Idempotence: the producer id and epoch, fetched on first use and
	// replaced after a failure that leaves a partition's sequence unknown.
	idempotent bool
	idMu       sync.Mutex
	producerID int64
	epoch      int16
	idGen      int // bumped whenever the id changes; queues restart at 0

	mu      sync.Mutex
	queues  map[TopicPartition]*partitionQueue
	changed chan struct{} // closed and replaced whenever messages complete
	closed  bool
	wg      sync.WaitGroup // partition goroutines and AcksNone requests
}

// partitionQueue is the producer's state for one partition. Fields are
// guarded by Producer.mu, except where noted.
type partitionQueue struct {
	tp      TopicPartition
	builder *record.Builder       // the open batch
	pending []func(Result, error) // one callback per record in builder
	// lingerUntil is when the open batch must be sent at the latest.
	lingerUntil time.Time
	sealed      []*producerBatch // closed batches, oldest first
	// appended and completed count messages; Flush waits for completed to
	// reach the appended it saw. flushUpTo forces messages appended before
	// it out without lingering.
	appended, completed, flushUpTo uint64
	running                        bool          // a run goroutine owns the queue
	wake                           chan struct{} // capacity 1
	// prevNoAck is closed when the previous AcksNone request of this
	// partition returned. Used only by the run goroutine.
	prevNoAck chan struct{}
	// nextSeq is the idempotent sequence of the next batch, for producer
	// id generation seqGen. Used only by the run goroutine.
	nextSeq int32
	seqGen  int
}

// producerBatch is one sealed batch and the callbacks of its messages.
type producerBatch struct {
	data  []byte
	dones []func(Result, error)
}

// stamp gives an idempotent batch its producer id, epoch and sequence,
// once: retries resend the same bytes. It returns the producer-id
// generation the stamp belongs to.
func (p *Producer) stamp(q *partitionQueue, b *producerBatch) (int, error) {
	pid, epoch, gen, err := p.producerIdentity()
	if err != nil {
		return 0, err
	}
	if q.seqGen != gen {
		q.seqGen, q.nextSeq = gen, 0
	}
	if err := record.SetProducer(b.data, pid, epoch, q.nextSeq); err != nil {
		return 0, err
	}
	return gen, nil
}

// producerIdentity returns the producer id, fetching one when needed.
func (p *Producer) producerIdentity() (int64, int16, int, error) {
	p.idMu.Lock()
	defer p.idMu.Unlock()
	if p.producerID == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
		defer cancel()
		var resp *brokerpb.InitProducerIdResponse
		err := p.c.callAny(ctx, func(sc brokerpb.SluiceClient) error {
			var err error
			resp, err = sc.InitProducerId(ctx, &brokerpb.InitProducerIdRequest{})
			return err
		})
		if err != nil {
			return 0, 0, 0, err
		}
		p.producerID, p.epoch = resp.ProducerId, int16(resp.ProducerEpoch)
		p.idGen++
	}
	return p.producerID, p.epoch, p.idGen, nil
}

// resetIdentity drops the producer id after a failure that leaves the
// broker's view of a sequence unknown (an indefinite failure) or refused
// (a sequence the broker does not expect): the next batch starts a new
// producer at sequence 0, as Kafka's producer bumps its epoch.
func (p *Producer) resetIdentity(gen int) {
	p.idMu.Lock()
	defer p.idMu.Unlock()
	if p.idGen == gen {
		p.producerID = 0
	}
}

// NewProducer returns a producer that sends through c.
func (c *Client) NewProducer(opts ProducerOptions) (*Producer, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	opts = opts.resolve()
	p := &Producer{
		c:        c,
		opts:     opts,
		inFlight: make(chan struct{}, opts.MaxInFlight),
		queues:   make(map[TopicPartition]*partitionQueue),
		changed:  make(chan struct{}),
	}
	p.observer, _ = opts.Partitioner.(BatchObserver)
	p.idempotent = opts.Acks == AcksAll && !opts.DisableIdempotence
	// Leave the broker a tenth of the timeout (at most 1s) to answer
	// REQUEST_TIMED_OUT before the client gives up on the attempt.
	p.produceWait = opts.RequestTimeout - min(opts.RequestTimeout/10, time.Second)
	return p, nil
}

// Send sends m and waits for its acknowledgement (with AcksNone, until it is
// handed to the network). If ctx ends first, Send returns an indefinite
// error: the message is still on its way and may be written.
func (p *Producer) Send(ctx context.Context, m Message) (Result, error) {
	type outcome struct {
		r   Result
		err error
	}
	ch := make(chan outcome, 1)
	p.enqueue(ctx, m, func(r Result, err error) { ch <- outcome{r, err} })
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		e := fromStatus(ctx.Err(), true)
		return Result{Topic: m.Topic, Partition: m.Partition, Offset: -1}, e
	}
}

// SendAsync sends m and calls done with the outcome. Callbacks for one
// partition run in send order, on a goroutine of the producer, so they must
// be quick; a message rejected before it is queued (unknown topic, closed
// producer) gets its callback before SendAsync returns. done may be nil.
func (p *Producer) SendAsync(m Message, done func(Result, error)) {
	// A deadline only matters when the metadata has to be fetched; making
	// one per message cost about a sixth of a busy producer's CPU.
	if p.c.knowsTopic(m.Topic) {
		p.enqueue(context.Background(), m, done)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
	defer cancel()
	p.enqueue(ctx, m, done)
}

// recordOverheadBytes bounds the encoding overhead of one record beside its
// key, value and header bytes: length, attributes, timestamp and offset
// deltas, key and value lengths, header count, as varints.
const recordOverheadBytes = 5 + 1 + 10 + 5 + 5 + 5 + 5

// enqueue resolves m's partition (ctx bounds the metadata lookup) and
// appends it to the partition's open batch.
func (p *Producer) enqueue(ctx context.Context, m Message, done func(Result, error)) {
	if done == nil {
		done = func(Result, error) {}
	}
	fail := func(err error) { done(Result{Topic: m.Topic, Partition: m.Partition, Offset: -1}, err) }
	if m.Topic == "" || len(m.Topic) > brokerpb.MaxTopicNameBytes {
		fail(newError(brokerpb.ErrorCode_INVALID_TOPIC, "topic name of %d bytes", len(m.Topic)))
		return
	}
	n, err := p.c.partitionCount(ctx, m.Topic)
	if err == nil && m.Partition >= n {
		// The topic may have grown since the metadata was cached.
		ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
		defer cancel()
		if err = p.c.refreshMetadata(ctx); err == nil {
			n, err = p.c.partitionCount(ctx, m.Topic)
		}
		if err == nil && m.Partition >= n {
			e := newError(brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, "%s has %d partitions, not %d", m.Topic, n, m.Partition+1)
			e.cause = errNotInMetadata
			err = e
		}
	}
	if err == nil && m.Partition < -1 {
		err = newError(brokerpb.ErrorCode_INVALID_PARTITIONS, "partition %d", m.Partition)
	}
	if err == nil && n <= 0 {
		err = newError(brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, "%s has no partitions", m.Topic)
	}
	if err != nil {
		fail(err)
		return
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	size := recordOverheadBytes + len(m.Key) + len(m.Value)
	var headers []record.RecordHeader
	if len(m.Headers) > 0 {
		headers = make([]record.RecordHeader, len(m.Headers))
		for i, h := range m.Headers {
			headers[i] = record.RecordHeader{Key: h.Key, Value: h.Value}
			size += 10 + len(h.Key) + len(h.Value)
		}
	}

	if err := p.appendMessage(m, ts.UnixMilli(), headers, size, n, done); err != nil {
		fail(err) // outside p.mu: done may call the producer
	}
}

// appendMessage chooses the partition if m has none and appends the record
// to that partition's open batch.
func (p *Producer) appendMessage(m Message, tsMs int64, headers []record.RecordHeader, size int, n int32, done func(Result, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	partition := m.Partition
	if partition < 0 {
		partition = p.opts.Partitioner.Partition(m.Topic, m.Key, n)
		if p.observer != nil && m.Key == nil && partition >= 0 && partition < n {
			if q := p.queues[TopicPartition{m.Topic, partition}]; q == nil || p.startsNewBatchLocked(q, size) {
				p.observer.OnNewBatch(m.Topic, partition, n)
				partition = p.opts.Partitioner.Partition(m.Topic, m.Key, n)
			}
		}
		if partition < 0 || partition >= n {
			return newError(brokerpb.ErrorCode_INVALID_PARTITIONS, "partitioner chose %d of %d partitions", partition, n)
		}
	}
	q := p.queueLocked(TopicPartition{m.Topic, partition})
	if p.startsNewBatchLocked(q, size) && q.builder.Len() > 0 {
		p.sealLocked(q)
	}
	if q.builder.Len() == 0 {
		q.lingerUntil = time.Now().Add(p.opts.Linger)
	}
	q.builder.Append(tsMs, m.Key, m.Value, headers)
	q.pending = append(q.pending, done)
	q.appended++
	if q.builder.SizeBytes() >= p.opts.MaxBatchBytes {
		p.sealLocked(q)
	}
	p.startLocked(q)
	return nil
}

// startsNewBatchLocked reports whether a record of about size bytes would
// open a new batch in q: the open batch is empty or has no room.
func (p *Producer) startsNewBatchLocked(q *partitionQueue, size int) bool {
	return q.builder.Len() == 0 || q.builder.SizeBytes()+size > p.opts.MaxBatchBytes
}

func (p *Producer) queueLocked(tp TopicPartition) *partitionQueue {
	q, ok := p.queues[tp]
	if !ok {
		q = &partitionQueue{
			tp:      tp,
			builder: record.NewBuilder(record.DefaultBuilderOptions()),
			wake:    make(chan struct{}, 1),
		}
		p.queues[tp] = q
	}
	return q
}

// sealLocked closes q's open batch and queues it for sending.
func (p *Producer) sealLocked(q *partitionQueue) {
	if q.builder.Len() == 0 {
		return
	}
	// Take hands the builder's buffer over instead of copying the batch.
	q.sealed = append(q.sealed, &producerBatch{data: q.builder.Take(), dones: q.pending})
	q.pending = nil
}

// startLocked makes sure a run goroutine serves q, and wakes it.
func (p *Producer) startLocked(q *partitionQueue) {
	if !q.running {
		q.running = true
		p.wg.Add(1)
		go p.run(q)
		return
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// nextLocked returns q's next batch to send, or how long to wait for the
// open batch to linger, or (nil, 0) when q is idle.
func (p *Producer) nextLocked(q *partitionQueue, now time.Time) (*producerBatch, time.Duration) {
	if len(q.sealed) == 0 && q.builder.Len() > 0 {
		flushing := q.flushUpTo > q.appended-uint64(q.builder.Len())
		if wait := q.lingerUntil.Sub(now); wait > 0 && !flushing && !p.closed {
			return nil, wait
		}
		p.sealLocked(q)
	}
	if len(q.sealed) == 0 {
		return nil, 0
	}
	b := q.sealed[0]
	q.sealed[0] = nil
	q.sealed = q.sealed[1:]
	return b, 0
}

// run sends q's batches one at a time, in order, and exits when q is idle.
// The one-request-per-partition rule lives here: the next batch is taken
// only after send returned.
func (p *Producer) run(q *partitionQueue) {
	defer p.wg.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		b, wait := p.nextLocked(q, time.Now())
		if b == nil && wait == 0 {
			q.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if b == nil {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-q.wake:
				timer.Stop()
			}
			continue
		}
		if p.opts.Acks == AcksNone {
			p.sendNoAck(q, b)
		} else {
			p.send(q, b)
		}
	}
}

// send produces b with retries and completes its callbacks.
func (p *Producer) send(q *partitionQueue, b *producerBatch) {
	var resp *brokerpb.ProduceResponse
	var err error
	if p.idempotent {
		var gen int
		if gen, err = p.stamp(q, b); err == nil {
			resp, err = p.produce(q.tp, b.data, p.opts.Retries)
			switch c := Code(err); {
			case err == nil, c == brokerpb.ErrorCode_DUPLICATE_SEQUENCE:
				// Written (now or by an attempt whose reply was lost).
				q.nextSeq += int32(len(b.dones))
				if err != nil {
					resp, err = &brokerpb.ProduceResponse{BaseOffset: -1, Duplicate: true}, nil
				}
			case IsIndefinite(err), c == brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE,
				c == brokerpb.ErrorCode_UNKNOWN_PRODUCER_ID, c == brokerpb.ErrorCode_INVALID_PRODUCER_EPOCH:
				p.resetIdentity(gen)
			}
			// A definite failure leaves the sequence unused: the next batch
			// takes it.
		}
	} else {
		resp, err = p.produce(q.tp, b.data, p.opts.Retries)
	}
	p.complete(q, b, func(i int) (Result, error) {
		r := Result{Topic: q.tp.Topic, Partition: q.tp.Partition, Offset: -1}
		if err != nil {
			return r, err
		}
		if resp.GetBaseOffset() >= 0 {
			r.Offset = resp.GetBaseOffset() + int64(i)
		}
		r.Duplicate = resp.GetDuplicate()
		if rc := resp.GetReceipt(); rc != nil {
			r.Receipt = Receipt{LeaderEpoch: rc.GetLeaderEpoch(), Replicas: rc.GetReplicas(), SyncedReplicas: rc.GetSyncedReplicas()}
		}
		return r, nil
	})
}

// sendNoAck fires b's request without waiting for the reply and completes
// its callbacks at once. The request still waits for the previous AcksNone
// request of the partition to return, because gRPC serves concurrent calls
// concurrently and the broker could otherwise append them out of order.
func (p *Producer) sendNoAck(q *partitionQueue, b *producerBatch) {
	if q.prevNoAck != nil {
		<-q.prevNoAck
	}
	prev := make(chan struct{})
	q.prevNoAck = prev
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(prev)
		if _, err := p.produce(q.tp, b.data, 0); err != nil {
			p.c.opts.logger.Debug("sluice: acks=none produce failed", "topic", q.tp.Topic, "partition", q.tp.Partition, "err", err)
		}
	}()
	p.complete(q, b, func(int) (Result, error) {
		return Result{Topic: q.tp.Topic, Partition: q.tp.Partition, Offset: -1}, nil
	})
}

// complete calls b's callbacks in order and counts them completed.
func (p *Producer) complete(q *partitionQueue, b *producerBatch, outcome func(i int) (Result, error)) {
	for i, done := range b.dones {
		done(outcome(i))
	}
	p.mu.Lock()
	q.completed += uint64(len(b.dones))
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// produce sends one batch to tp's leader, retrying retryable errors up to
// retries times. If an earlier attempt failed indefinitely, a final
// definite error is reported as indefinite: that attempt may have been
// written.
func (p *Producer) produce(tp TopicPartition, batch []byte, retries int) (*brokerpb.ProduceResponse, error) {
	indefinite := false
	for attempt := 0; ; attempt++ {
		resp, err := p.attempt(tp, batch)
		if err == nil {
			return resp, nil
		}
		indefinite = indefinite || IsIndefinite(err)
		if !IsRetryable(err) || attempt >= retries {
			if indefinite {
				err = withIndefinite(err)
			}
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
		p.c.handleError(ctx, tp, err)
		cancel()
		time.Sleep(backoff(p.opts.RetryBackoff, attempt))
	}
}

// attempt sends one Produce RPC, holding an in-flight token during it.
func (p *Producer) attempt(tp TopicPartition, batch []byte) (*brokerpb.ProduceResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
	defer cancel()
	pm, err := p.c.leaderOf(ctx, tp)
	if err != nil {
		return nil, err
	}
	sc, err := p.c.brokerClient(pm.leader)
	if err != nil {
		return nil, err
	}
	p.inFlight <- struct{}{}
	defer func() { <-p.inFlight }()
	resp, err := sc.Produce(ctx, &brokerpb.ProduceRequest{
		Topic:       tp.Topic,
		Partition:   tp.Partition,
		Acks:        p.opts.Acks.proto(),
		TimeoutMs:   int32(p.produceWait.Milliseconds()),
		Batch:       batch,
		LeaderEpoch: pm.leaderEpoch,
	})
	if err != nil {
		return nil, fromStatus(err, true)
	}
	return resp, nil
}

// Flush sends every message queued before the call without lingering and
// waits until all of them are acknowledged or failed, or ctx ends. With
// AcksNone a message counts as done once its request is started; Close
// waits for the requests themselves.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	targets := make(map[*partitionQueue]uint64, len(p.queues))
	for _, q := range p.queues {
		if q.completed < q.appended {
			targets[q] = q.appended
			q.flushUpTo = q.appended
			p.startLocked(q)
		}
	}
	p.mu.Unlock()
	for {
		p.mu.Lock()
		done := true
		for q, target := range targets {
			if q.completed < target {
				done = false
				break
			}
		}
		changed := p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close flushes the producer, waits for its requests (each bounded by
// RequestTimeout and its retries) and stops it. Sends after Close fail with
// ErrClosed.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	// Flush cannot fail without a deadline; every request ends by itself.
	_ = p.Flush(context.Background())
	p.wg.Wait()
	return nil
}
