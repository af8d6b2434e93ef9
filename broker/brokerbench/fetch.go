package brokerbench

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-mq/sluice/broker/client"
)

// FetchFixture is a preloaded Sluice partition (sync.policy=never) and a
// JetStream stream (default sync_interval) holding the same messages.
type FetchFixture struct {
	e       *Env
	topic   string
	stream  string
	nc      *nats.Conn
	msgs    int64
	msgSize int
}

// NewFetchFixture preloads about bytes of msgSize messages into a new
// one-partition topic and, unless noNATS, into a new JetStream stream. The
// data was just written, so reads come from the page cache.
func NewFetchFixture(ctx context.Context, e *Env, bytes int64, msgSize int, noNATS bool) (_ *FetchFixture, err error) {
	f := &FetchFixture{e: e, msgs: max(bytes/int64(msgSize), 1), msgSize: msgSize}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close())
		}
	}()
	if f.topic, err = e.CreateTopic(ctx, 1, "never"); err != nil {
		return f, err
	}
	if err := f.loadSluice(ctx); err != nil {
		return f, fmt.Errorf("preload sluice: %w", err)
	}
	if noNATS {
		return f, nil
	}
	srv, err := e.natsFor(false)
	if err != nil {
		return f, err
	}
	if f.nc, err = srv.connect(); err != nil {
		return f, err
	}
	stream := e.name("FETCH")
	if err := srv.createStream(ctx, f.nc, stream); err != nil {
		return f, err
	}
	f.stream = stream
	if err := f.loadNATS(ctx); err != nil {
		return f, fmt.Errorf("preload nats: %w", err)
	}
	return f, nil
}

// Msgs is the number of preloaded messages.
func (f *FetchFixture) Msgs() int64 { return f.msgs }

func (f *FetchFixture) loadSluice(ctx context.Context) error {
	p, err := f.e.client.NewProducer(client.ProducerOptions{Acks: client.AcksLeader, Profile: client.ProfileThroughput})
	if err != nil {
		return err
	}
	val := value(f.msgSize)
	w := make(window, 4096)
	var cbErr firstErr
	for range f.msgs {
		w.acquire()
		p.SendAsync(client.Message{Topic: f.topic, Partition: 0, Value: val}, func(_ client.Result, err error) {
			if err != nil {
				cbErr.set(err)
			}
			w.release()
		})
	}
	return errors.Join(p.Flush(ctx), cbErr.err, p.Close())
}

func (f *FetchFixture) loadNATS(ctx context.Context) error {
	val := value(f.msgSize)
	w := make(window, 4096)
	var cbErr firstErr
	js, err := jetstream.New(f.nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { w.release() }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			cbErr.set(err)
			w.release()
		}))
	if err != nil {
		return err
	}
	for range f.msgs {
		w.acquire()
		if _, err := js.PublishAsync(f.stream, val); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	return cbErr.err
}

// Close deletes the topic and the stream.
func (f *FetchFixture) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if f.topic != "" {
		errs = append(errs, f.e.DeleteTopic(ctx, f.topic))
	}
	if f.nc != nil {
		if f.stream != "" {
			errs = append(errs, f.e.nats.deleteStream(ctx, f.nc, f.stream))
		}
		f.nc.Close()
	}
	return errors.Join(errs...)
}

// Sluice reads the whole partition from the beginning with one consumer
// (its own client) over the given transport, fetchMaxBytes per fetch.
func (f *FetchFixture) Sluice(ctx context.Context, transport client.Transport, fetchMaxBytes int32) (m Measurement, err error) {
	c, err := client.Dial(ctx, []string{f.e.broker.Addr()})
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, FetchMaxBytes: fetchMaxBytes})
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, co.Close()) }()
	tp := client.TopicPartition{Topic: f.topic, Partition: 0}
	co.Assign(tp)
	co.SeekToBeginning(tp)
	before, err := f.e.counters(ctx, f.topic)
	if err != nil {
		return m, err
	}
	runtime.GC()
	cpu0, start := benchutil.SelfCPU(), time.Now()
	for m.Msgs < f.msgs {
		recs, err := co.Poll(ctx)
		if err != nil {
			return m, fmt.Errorf("poll after %d of %d messages: %w", m.Msgs, f.msgs, err)
		}
		for _, r := range recs {
			m.Bytes += int64(len(r.Value))
		}
		m.Msgs += int64(len(recs))
	}
	m.Elapsed, m.CPU = time.Since(start), benchutil.SelfCPU()-cpu0
	after, err := f.e.counters(ctx, f.topic)
	if err != nil {
		return m, err
	}
	// The transport really used: a data-plane consumer falls back to gRPC
	// when it cannot reach the data plane.
	data, grpc := after.FetchData-before.FetchData, after.FetchGRPC-before.FetchGRPC
	if transport == client.TransportDataPlane && grpc > data/100 {
		return m, fmt.Errorf("data-plane consumer fetched %d bytes over gRPC (%d over the data plane)", grpc, data)
	}
	if transport == client.TransportGRPC && data > 0 {
		return m, fmt.Errorf("gRPC consumer fetched %d bytes over the data plane", data)
	}
	return m, nil
}

// NATS reads the whole stream with an ordered consumer (ephemeral, deliver
// all, the client's defaults), like `nats bench js ordered`.
func (f *FetchFixture) NATS(ctx context.Context) (m Measurement, err error) {
	if f.nc == nil {
		return m, errors.New("fixture has no NATS stream")
	}
	// A fresh connection per run, like the Sluice consumer's client.
	nc, err := f.e.nats.connect()
	if err != nil {
		return m, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return m, err
	}
	cons, err := js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return m, err
	}
	var n, bytes atomic.Int64
	done := make(chan struct{})
	runtime.GC()
	cpu0, start := benchutil.SelfCPU(), time.Now()
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		bytes.Add(int64(len(msg.Data())))
		if n.Add(1) == f.msgs {
			close(done)
		}
	})
	if err != nil {
		return m, err
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		return m, fmt.Errorf("ordered consumer after %d of %d messages: %w", n.Load(), f.msgs, ctx.Err())
	}
	m.Elapsed, m.CPU = time.Since(start), benchutil.SelfCPU()-cpu0
	m.Msgs, m.Bytes = n.Load(), bytes.Load()
	return m, nil
}
