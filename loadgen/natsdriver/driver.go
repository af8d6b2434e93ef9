package natsdriver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/loadgen"
)

// Options configure the driver: either URL (an external server) or Dir (an
// embedded one, started at the first CreateTopics).
type Options struct {
	// URL of an external nats-server with JetStream.
	URL string
	// ExternalSync is the external server's sync setting as configured
	// there (always, interval=<d>, never for the default 2 min). The
	// driver cannot change it, so it accepts only workloads with this
	// policy; empty refuses every workload rather than mislabel one.
	ExternalSync loadgen.SyncPolicy
	// Dir holds the embedded server's stores (one subdirectory per
	// server start). Used when URL is empty; empty means a new temporary
	// directory, removed by Close.
	Dir string
}

// Driver implements loadgen.Driver and loadgen.TopicDeleter.
type Driver struct {
	opts Options

	tempDir string // Dir when the driver made it (removed by Close)

	mu       sync.Mutex
	embedded *Embedded // nil with an external server
	starts   int
	nc       *nats.Conn
	js       jetstream.JetStream
	streams  map[string]int // topic → partitions
}

// New returns a driver. With an external URL it connects at once.
func New(opts Options) (*Driver, error) {
	d := &Driver{opts: opts, streams: map[string]int{}}
	if opts.URL == "" && opts.Dir == "" {
		dir, err := os.MkdirTemp("", "loadgen-nats-")
		if err != nil {
			return nil, fmt.Errorf("natsdriver: %w", err)
		}
		d.opts.Dir, d.tempDir = dir, dir
	}
	if opts.URL != "" {
		if err := d.connect(opts.URL); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Name implements loadgen.Driver.
func (d *Driver) Name() string { return "nats" }

// Embedded returns the running embedded server, or nil.
func (d *Driver) Embedded() *Embedded {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.embedded
}

func (d *Driver) connect(url string) error {
	nc, err := nats.Connect(url, nats.MaxReconnects(0), nats.Name("sluice-loadgen"))
	if err != nil {
		return fmt.Errorf("natsdriver: connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("natsdriver: %w", err)
	}
	d.nc, d.js = nc, js
	return nil
}

// Close implements loadgen.Driver: it disconnects, stops the embedded
// server and removes the temporary directory it made.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	if d.tempDir != "" {
		return os.RemoveAll(d.tempDir)
	}
	return nil
}

func (d *Driver) stopLocked() {
	if d.nc != nil {
		d.nc.Close()
		d.nc, d.js = nil, nil
	}
	if d.embedded != nil {
		d.embedded.Shutdown()
		d.embedded = nil
	}
}

// Describe implements loadgen.Driver.
func (d *Driver) Describe(w loadgen.Workload) (loadgen.Mapping, error) {
	var m loadgen.Mapping
	rf := w.ReplicationFactor
	if d.opts.URL == "" && rf > 1 {
		return m, fmt.Errorf("%w: replication factor %d: the embedded nats-server is a single server (use an external JetStream cluster)", loadgen.ErrUnsupported, rf)
	}
	switch {
	case w.Acks == loadgen.Acks0:
		m.Acks = "core NATS publish, no reply: done when buffered by nats.go (the stream stores it)"
	case w.Acks == loadgen.Acks1 && rf > 1:
		return m, fmt.Errorf("%w: acks=1 with %d replicas: JetStream acknowledges only after a Raft majority", loadgen.ErrUnsupported, rf)
	case rf == 1:
		m.Acks = "JetStream publish, PubAck after the single replica stored it (acks 1 and all are the same with R=1)"
	default:
		m.Acks = fmt.Sprintf("JetStream publish, PubAck after a Raft majority (%d of %d replicas) stored it", rf/2+1, rf)
	}
	switch {
	case rf == 1:
		m.Replication = "stream Replicas=1: no replication (isr and quorum are the same)"
	case w.ReplicationMode == loadgen.ModeISR:
		return m, fmt.Errorf("%w: replication mode isr: JetStream replicates with Raft (a majority), it has no ISR", loadgen.ErrUnsupported)
	default:
		m.Replication = fmt.Sprintf("stream Replicas=%d, Raft majority", rf)
	}
	sync, err := SyncMapping(w.SyncPolicy)
	if err != nil {
		return m, err
	}
	if d.opts.URL != "" {
		if d.opts.ExternalSync == "" || d.opts.ExternalSync != w.SyncPolicy {
			return m, fmt.Errorf("%w: sync policy %s on an external nats-server: its sync setting is the server's (declared: %q)", loadgen.ErrUnsupported, w.SyncPolicy, d.opts.ExternalSync)
		}
		sync = "external server, declared " + sync
	}
	m.Sync = sync
	if w.MessageSize.MaxSize() > EmbeddedMaxPayload {
		return m, fmt.Errorf("%w: messages of %d bytes exceed max_payload", loadgen.ErrUnsupported, w.MessageSize.MaxSize())
	}
	m.Fetch = "ordered consumer per stream (push-style Consume)"
	if w.Consumers.Group != "" {
		m.Fetch = "durable pull consumer " + w.Consumers.Group + " per stream shared by all members, each message acked"
	}
	m.Notes = append(m.Notes, fmt.Sprintf("partitions: %d streams per topic, one subject each", w.Partitions))
	if w.BatchBytes != 0 || w.Linger != 0 {
		m.Notes = append(m.Notes, "batchBytes and linger ignored: nats.go does not batch publishes")
	}
	return m, nil
}

// streamName names partition p of a topic ('.' is not allowed in stream
// names and separates subject tokens).
func streamName(topic string, p int) string {
	return strings.ReplaceAll(topic, ".", "_") + fmt.Sprintf("_p%d", p)
}

// CreateTopics implements loadgen.Driver. For the embedded server it
// (re)starts the server first when the sync policy differs from the
// running one.
func (d *Driver) CreateTopics(ctx context.Context, spec loadgen.TopicSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.URL == "" && (d.embedded == nil || d.embedded.sync != spec.Sync) {
		d.stopLocked()
		d.starts++
		e, err := StartEmbedded(filepath.Join(d.opts.Dir, fmt.Sprintf("server-%d", d.starts)), spec.Sync)
		if err != nil {
			return err
		}
		d.embedded = e
		if err := d.connect(e.URL()); err != nil {
			return err
		}
	}
	for _, t := range spec.Names {
		for p := 0; p < spec.Partitions; p++ {
			name := streamName(t, p)
			cfg := jetstream.StreamConfig{
				Name: name, Subjects: []string{name}, Storage: jetstream.FileStorage, Replicas: spec.ReplicationFactor,
			}
			_, err := d.js.CreateStream(ctx, cfg)
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jsStreamStoreFailed {
				// Seen once in CI with every test package running at once:
				// the store could not be created (the server's log line
				// says why). It exists nowhere yet, so one more try is
				// safe; a second failure is reported with that reason.
				time.Sleep(200 * time.Millisecond)
				_, err = d.js.CreateStream(ctx, cfg)
			}
			if err != nil {
				if d.embedded != nil {
					if lines := d.embedded.LastErrors(); len(lines) > 0 {
						return fmt.Errorf("natsdriver: create stream %s: %w (the server logged: %s)", name, err, strings.Join(lines, "; "))
					}
				}
				return fmt.Errorf("natsdriver: create stream %s: %w", name, err)
			}
		}
		d.streams[t] = spec.Partitions
	}
	return nil
}

// jsStreamStoreFailed is JetStream's "error creating store for stream".
const jsStreamStoreFailed = 10049

// DeleteTopics implements loadgen.TopicDeleter.
func (d *Driver) DeleteTopics(ctx context.Context, names []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, t := range names {
		for p := 0; p < d.streams[t]; p++ {
			if err := d.js.DeleteStream(ctx, streamName(t, p)); err != nil {
				errs = append(errs, fmt.Errorf("natsdriver: delete stream %s: %w", streamName(t, p), err))
			}
		}
		delete(d.streams, t)
	}
	return errors.Join(errs...)
}

func (d *Driver) partitions(topic string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams[topic]
}

// NewProducer implements loadgen.Driver. Each producer has its own
// JetStream context, so its acknowledgements arrive on its own reply
// subscription; they are matched to their sends by the message.
func (d *Driver) NewProducer(_ context.Context, spec loadgen.ProducerSpec) (loadgen.Producer, error) {
	p := &producer{d: d, acks: spec.Acks, pending: map[*nats.Msg]func(error){}}
	d.mu.Lock()
	nc := d.nc
	d.mu.Unlock()
	if nc == nil {
		return nil, errors.New("natsdriver: not connected (no topics created)")
	}
	p.nc = nc
	if spec.Acks != loadgen.Acks0 {
		js, err := jetstream.New(nc,
			// Above the load generator's own window, so nats.go never
			// blocks a send: the window is what bounds in-flight
			// messages, and its wait is measured.
			jetstream.WithPublishAsyncMaxPending(spec.InFlight+1),
			jetstream.WithPublishAsyncTimeout(30*time.Second),
			jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { p.complete(m, nil) }),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { p.complete(m, err) }),
		)
		if err != nil {
			return nil, fmt.Errorf("natsdriver: %w", err)
		}
		p.js = js
	}
	return p, nil
}

type producer struct {
	d    *Driver
	acks loadgen.Acks
	nc   *nats.Conn
	js   jetstream.JetStream
	next int

	mu      sync.Mutex
	pending map[*nats.Msg]func(error)
}

func (p *producer) Send(m loadgen.Message, done func(error)) {
	n := p.d.partitions(m.Topic)
	if n == 0 {
		done(fmt.Errorf("natsdriver: unknown topic %s", m.Topic))
		return
	}
	part := p.next % n
	p.next++
	if m.Key != nil {
		part = int(client.KafkaPartition(m.Key, int32(n)))
	}
	subject := streamName(m.Topic, part)
	if p.acks == loadgen.Acks0 {
		done(p.nc.Publish(subject, m.Value))
		return
	}
	msg := &nats.Msg{Subject: subject, Data: m.Value}
	// Registered before publishing: the ack may arrive before
	// PublishMsgAsync returns.
	p.mu.Lock()
	p.pending[msg] = done
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.complete(msg, err)
	}
}

// complete calls the done function of m once.
func (p *producer) complete(m *nats.Msg, err error) {
	p.mu.Lock()
	done, ok := p.pending[m]
	delete(p.pending, m)
	p.mu.Unlock()
	if ok {
		done(err)
	}
}

// Close waits (bounded) for outstanding acknowledgements.
func (p *producer) Close() error {
	if p.js == nil {
		return p.nc.Flush()
	}
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return errors.New("natsdriver: acknowledgements still outstanding after 30s")
	}
	return nil
}

// NewConsumer implements loadgen.Driver.
func (d *Driver) NewConsumer(ctx context.Context, spec loadgen.ConsumerSpec) (loadgen.Consumer, error) {
	d.mu.Lock()
	js := d.js
	d.mu.Unlock()
	if js == nil {
		return nil, errors.New("natsdriver: not connected (no topics created)")
	}
	c := &consumer{}
	for _, t := range spec.Topics {
		for p := 0; p < spec.Partitions; p++ {
			stream := streamName(t, p)
			var (
				cons jetstream.Consumer
				err  error
			)
			switch {
			case spec.Group != "":
				cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
					Durable: spec.Group, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
				})
				c.ack = true
			case spec.Owns(p):
				cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
			default:
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("natsdriver: consumer on %s: %w", stream, err)
			}
			c.cons = append(c.cons, cons)
		}
	}
	return c, nil
}

type consumer struct {
	cons []jetstream.Consumer
	ack  bool
}

func (c *consumer) Receive(ctx context.Context, handle func([][]byte)) error {
	var ccs []jetstream.ConsumeContext
	defer func() {
		for _, cc := range ccs {
			cc.Stop()
		}
	}()
	for _, cons := range c.cons {
		cc, err := cons.Consume(func(m jetstream.Msg) {
			handle([][]byte{m.Data()})
			if c.ack {
				_ = m.Ack()
			}
		})
		if err != nil {
			return fmt.Errorf("natsdriver: consume: %w", err)
		}
		ccs = append(ccs, cc)
	}
	<-ctx.Done()
	return nil
}

func (c *consumer) Close() error { return nil }
