package brokerbench

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-mq/sluice/broker/client"
)

// Measurement is the outcome of one run.
type Measurement struct {
	// Msgs and Bytes (message values) acknowledged or consumed in Elapsed.
	Msgs    int64         `json:"msgs"`
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// CPU is this process's user+system time during the run: the servers
	// and the clients together.
	CPU time.Duration `json:"cpu_ns"`
	// Fsyncs and SyncedBytes of the broker's partition (durable Sluice runs
	// and the raw baseline); GroupCommits and Appends of the broker's
	// partition.
	Fsyncs       int64 `json:"fsyncs,omitempty"`
	SyncedBytes  int64 `json:"synced_bytes,omitempty"`
	GroupCommits int64 `json:"group_commits,omitempty"`
	Appends      int64 `json:"appends,omitempty"`
	// Load is how busy the rest of the machine was (filled by Run).
	Load benchutil.Load `json:"load"`
}

// MsgsPerSec is messages per second.
func (m Measurement) MsgsPerSec() float64 { return perSecond(float64(m.Msgs), m.Elapsed) }

// MBps is value bytes per second in MB/s (10^6).
func (m Measurement) MBps() float64 { return perSecond(float64(m.Bytes)/1e6, m.Elapsed) }

// FsyncsPerSec is fdatasyncs per second.
func (m Measurement) FsyncsPerSec() float64 { return perSecond(float64(m.Fsyncs), m.Elapsed) }

// BytesPerFsync is the mean bytes each fdatasync made durable.
func (m Measurement) BytesPerFsync() float64 {
	if m.Fsyncs == 0 {
		return 0
	}
	return float64(m.SyncedBytes) / float64(m.Fsyncs)
}

// CPUPerGB is CPU seconds per GB (10^9 value bytes).
func (m Measurement) CPUPerGB() float64 {
	if m.Bytes == 0 {
		return 0
	}
	return m.CPU.Seconds() / (float64(m.Bytes) / 1e9)
}

func perSecond(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

// ProduceParams shape one produce run.
type ProduceParams struct {
	// MsgSize is the value size (1 KiB in the benchmarks).
	MsgSize int
	// Window is the total number of unacknowledged messages, shared evenly
	// by the Producers (each gets Window/Producers, at least 1).
	Window    int
	Producers int
	// Duration is how long messages are sent; the run then waits for every
	// acknowledgement, which is counted in Elapsed.
	Duration time.Duration
	// Messages, when positive, replaces Duration: the producers send this
	// many messages in all (go test -bench's b.N).
	Messages int64
	// Durable: Sluice sync.policy=always with AcksAll, NATS sync_interval:
	// always. Otherwise sync.policy=never with AcksLeader and NATS's default
	// sync_interval.
	Durable bool
	// Linger and MaxBatchBytes of the Sluice producers (zero: the
	// ProfileThroughput defaults: no linger and 1 MiB; negative Linger: none).
	Linger        time.Duration
	MaxBatchBytes int
}

func (p ProduceParams) perProducer() (producers, window int) {
	producers = max(p.Producers, 1)
	return producers, max(p.Window/producers, 1)
}

// value returns a random payload of n bytes (incompressible; the same for
// both systems).
func value(n int) []byte {
	v := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// window is a counting semaphore of unacknowledged messages.
type window chan struct{}

func (w window) acquire() { w <- struct{}{} }
func (w window) release() { <-w }

// quota is producer i's share of p.Messages, or -1 for a timed run.
func (p ProduceParams) quota(i int) int64 {
	if p.Messages <= 0 {
		return -1
	}
	n, _ := p.perProducer()
	q := p.Messages / int64(n)
	if int64(i) < p.Messages%int64(n) {
		q++
	}
	return q
}

// sendLoop runs the send loop of one producer: acquire a window slot, send;
// stop after d, or after quota messages when quota >= 0. It returns how many
// messages it sent.
func sendLoop(start time.Time, d time.Duration, quota int64, w window, send func() error) (int64, error) {
	var n int64
	for {
		if quota >= 0 {
			if n >= quota {
				return n, nil
			}
		} else if n%32 == 0 && time.Since(start) >= d {
			return n, nil
		}
		w.acquire()
		if err := send(); err != nil {
			w.release()
			return n, err
		}
		n++
	}
}

// firstErr keeps the first error reported from callbacks.
type firstErr struct {
	once sync.Once
	err  error
}

func (f *firstErr) set(err error) { f.once.Do(func() { f.err = err }) }

// SluiceProduce produces to a new one-partition topic (deleted afterwards)
// from p.Producers client.Producers (ProfileThroughput, each on its own
// connection), each with at most its share of p.Window messages
// unacknowledged.
func SluiceProduce(ctx context.Context, e *Env, p ProduceParams) (m Measurement, err error) {
	policy, acks := "never", client.AcksLeader
	if p.Durable {
		policy, acks = "always", client.AcksAll
	}
	topic, err := e.CreateTopic(ctx, 1, policy)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, e.DeleteTopic(context.WithoutCancel(ctx), topic)) }()
	n, perWindow := p.perProducer()
	val := value(p.MsgSize)
	clients := make([]*client.Client, n)
	producers := make([]*client.Producer, n)
	defer func() {
		for i := range n {
			if producers[i] != nil {
				err = errors.Join(err, producers[i].Close())
			}
			if clients[i] != nil {
				err = errors.Join(err, clients[i].Close())
			}
		}
	}()
	msg := client.Message{Topic: topic, Partition: 0, Value: val}
	for i := range n {
		if clients[i], err = client.Dial(ctx, []string{e.broker.Addr()}); err != nil {
			return m, err
		}
		if producers[i], err = clients[i].NewProducer(client.ProducerOptions{Acks: acks, Profile: client.ProfileThroughput, Linger: p.Linger, MaxBatchBytes: p.MaxBatchBytes}); err != nil {
			return m, err
		}
		// Warm up: metadata, connection, the partition's first segment.
		if _, err := producers[i].Send(ctx, msg); err != nil {
			return m, fmt.Errorf("warm-up send: %w", err)
		}
	}
	before, err := e.counters(ctx, topic)
	if err != nil {
		return m, err
	}
	var acked atomic.Int64
	var cbErr firstErr
	runtime.GC()
	cpu0, start := benchutil.SelfCPU(), time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			w := make(window, perWindow)
			done := func(_ client.Result, err error) {
				if err != nil {
					cbErr.set(err)
				} else {
					acked.Add(1)
				}
				w.release()
			}
			_, errs[i] = sendLoop(start, p.Duration, p.quota(i), w, func() error {
				producers[i].SendAsync(msg, done)
				return nil
			})
			errs[i] = errors.Join(errs[i], producers[i].Flush(ctx))
		})
	}
	wg.Wait()
	m.Elapsed, m.CPU = time.Since(start), benchutil.SelfCPU()-cpu0
	if err := errors.Join(append(errs, cbErr.err)...); err != nil {
		return m, err
	}
	m.Msgs = acked.Load()
	m.Bytes = m.Msgs * int64(p.MsgSize)
	after, err := e.counters(ctx, topic)
	if err != nil {
		return m, err
	}
	m.Fsyncs, m.SyncedBytes = after.Fsyncs-before.Fsyncs, after.SyncedBytes-before.SyncedBytes
	m.GroupCommits, m.Appends = after.GroupCommits-before.GroupCommits, after.Appends-before.Appends
	return m, nil
}

// NATSProduce publishes to a new file-stored R1 JetStream stream (deleted
// afterwards) from p.Producers publishers, each on its own connection, with
// jetstream.PublishAsync and at most its share of p.Window publishes
// unacknowledged (the client's own limit, WithPublishAsyncMaxPending, is
// set to the same value and never stalls).
func NATSProduce(ctx context.Context, e *Env, p ProduceParams) (m Measurement, err error) {
	srv, err := e.natsFor(p.Durable)
	if err != nil {
		return m, err
	}
	n, perWindow := p.perProducer()
	stream := e.name("BENCH")
	conns := make([]*nats.Conn, n)
	defer func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	for i := range n {
		if conns[i], err = srv.connect(); err != nil {
			return m, err
		}
	}
	if err := srv.createStream(ctx, conns[0], stream); err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, srv.deleteStream(context.WithoutCancel(ctx), conns[0], stream)) }()
	val := value(p.MsgSize)
	windows := make([]window, n)
	jss := make([]jetstream.JetStream, n)
	var acked atomic.Int64
	var cbErr firstErr
	for i := range n {
		w := make(window, perWindow)
		windows[i] = w
		jss[i], err = jetstream.New(conns[i],
			jetstream.WithPublishAsyncMaxPending(perWindow),
			jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
				acked.Add(1)
				w.release()
			}),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
				cbErr.set(err)
				w.release()
			}))
		if err != nil {
			return m, err
		}
		if _, err := jss[i].Publish(ctx, stream, val); err != nil {
			return m, fmt.Errorf("warm-up publish: %w", err)
		}
	}
	runtime.GC()
	cpu0, start := benchutil.SelfCPU(), time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = sendLoop(start, p.Duration, p.quota(i), windows[i], func() error {
				_, err := jss[i].PublishAsync(stream, val)
				return err
			})
			select {
			case <-jss[i].PublishAsyncComplete():
			case <-ctx.Done():
				errs[i] = errors.Join(errs[i], ctx.Err())
			}
		})
	}
	wg.Wait()
	m.Elapsed, m.CPU = time.Since(start), benchutil.SelfCPU()-cpu0
	if err := errors.Join(append(errs, cbErr.err)...); err != nil {
		return m, err
	}
	m.Msgs = acked.Load()
	m.Bytes = m.Msgs * int64(p.MsgSize)
	return m, nil
}
