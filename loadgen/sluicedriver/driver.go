package sluicedriver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/loadgen"
)

// Options configure the driver.
type Options struct {
	// Bootstrap are brokers' gRPC addresses.
	Bootstrap []string
	// Fetch is the consumers' transport (default: the data plane).
	Fetch client.Transport
	// MaxWait is the consumers' long-poll wait (default 50ms, not the
	// client's 500ms). A consumer with several partitions on one broker
	// shares the long poll between them in turn, so a record that arrives
	// on one while the poll waits on another waits up to MaxWait: with
	// the client's default that alone would put hundreds of milliseconds
	// into end-to-end latencies at low rates, a setting rather than the
	// system. The mapping states the value used.
	MaxWait time.Duration
	// RequestTimeout bounds each produce attempt (default 10s, shorter
	// than the client's 30s so a run's close timeout is not outlived).
	RequestTimeout time.Duration
	// ReadyTimeout bounds the wait for new topics' leaders and full ISRs
	// (default 30s).
	ReadyTimeout time.Duration
	// ClientOptions are passed to client.Dial.
	ClientOptions []client.Option
}

// DefaultMaxWait is the consumers' long-poll wait unless Options say
// otherwise.
const DefaultMaxWait = 50 * time.Millisecond

// Driver implements loadgen.Driver and loadgen.TopicDeleter.
type Driver struct {
	opts Options
	c    *client.Client
}

// New dials the cluster.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if len(opts.Bootstrap) == 0 {
		return nil, errors.New("sluicedriver: no bootstrap brokers")
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	c, err := client.Dial(ctx, opts.Bootstrap, opts.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	return &Driver{opts: opts, c: c}, nil
}

// Name implements loadgen.Driver.
func (d *Driver) Name() string { return "sluice" }

// Close implements loadgen.Driver.
func (d *Driver) Close() error { return d.c.Close() }

var acksMapping = map[loadgen.Acks]struct {
	acks client.Acks
	doc  string
}{
	loadgen.Acks0:   {client.AcksNone, "AcksNone: done when the request is handed to the network; no retries, failures not reported"},
	loadgen.Acks1:   {client.AcksLeader, "AcksLeader: the leader appended the batch (synced per sync.policy)"},
	loadgen.AcksAll: {client.AcksAll, "AcksAll: committed under replication.mode; idempotent producer"},
}

// Describe implements loadgen.Driver. Every setting has an exact
// counterpart, so nothing is unsupported.
func (d *Driver) Describe(w loadgen.Workload) (loadgen.Mapping, error) {
	m := loadgen.Mapping{
		Acks:        acksMapping[w.Acks].doc,
		Sync:        "topic sync.policy=" + string(w.SyncPolicy),
		Replication: fmt.Sprintf("replication factor %d, topic replication.mode=%s", w.ReplicationFactor, w.ReplicationMode),
		Fetch:       "data plane (sendfile; gRPC fallback per broker)",
	}
	if d.opts.Fetch == client.TransportGRPC {
		m.Fetch = "gRPC Fetch"
	}
	m.Fetch += fmt.Sprintf(", long poll MaxWait %v", d.opts.MaxWait)
	if w.ReplicationMode == loadgen.ModeQuorum {
		m.Replication += " (acks=all waits for a majority of the replicas)"
	} else {
		m.Replication += " (acks=all waits for every in-sync replica)"
	}
	if w.Consumers.Count > 0 {
		if w.Consumers.Group != "" {
			m.Notes = append(m.Notes, "consumers: client consumer group "+w.Consumers.Group+" (coordinator assigns partitions, auto-commit)")
		} else {
			m.Notes = append(m.Notes, "consumers: the load generator's static split (Assign from offset 0), no commits")
		}
	}
	if w.BatchBytes == 0 && w.Linger == 0 {
		m.Notes = append(m.Notes, "batching: client ProfileThroughput defaults (1 MiB batches, no linger, 5 requests in flight)")
	}
	return m, nil
}

// CreateTopics implements loadgen.Driver: it creates the topics (retrying
// while the cluster elects a controller) and waits until every partition
// has a leader and a full ISR, so the run does not measure replicas
// catching up with an empty log.
func (d *Driver) CreateTopics(ctx context.Context, spec loadgen.TopicSpec) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ReadyTimeout)
	defer cancel()
	cfg := map[string]string{"sync.policy": string(spec.Sync), "replication.mode": string(spec.Mode)}
	for _, name := range spec.Names {
		for {
			_, err := d.c.CreateTopic(ctx, name, int32(spec.Partitions), int32(spec.ReplicationFactor), cfg)
			if err == nil {
				break
			}
			if !client.IsRetryable(err) {
				return fmt.Errorf("sluicedriver: create topic %s: %w", name, err)
			}
			if err := pause(ctx); err != nil {
				return fmt.Errorf("sluicedriver: create topic %s: %w", name, err)
			}
		}
	}
	for {
		md, err := d.c.Metadata(ctx, spec.Names...)
		if err == nil && ready(md.GetTopics(), spec) {
			return nil
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("sluicedriver: topics %v not ready (leader and %d in-sync replicas per partition): %w", spec.Names, spec.ReplicationFactor, err)
		}
	}
}

func ready(topics []*brokerpb.TopicInfo, spec loadgen.TopicSpec) bool {
	if len(topics) != len(spec.Names) {
		return false
	}
	for _, t := range topics {
		if len(t.GetPartitions()) != spec.Partitions {
			return false
		}
		for _, p := range t.GetPartitions() {
			if p.GetLeader() < 0 || len(p.GetIsr()) < spec.ReplicationFactor {
				return false
			}
		}
	}
	return true
}

// pause waits a polling interval for metadata to change (there is no
// watch on it in the client).
func pause(ctx context.Context) error {
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeleteTopics implements loadgen.TopicDeleter.
func (d *Driver) DeleteTopics(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		if err := d.c.DeleteTopic(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("sluicedriver: delete topic %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// NewProducer implements loadgen.Driver.
func (d *Driver) NewProducer(_ context.Context, spec loadgen.ProducerSpec) (loadgen.Producer, error) {
	p, err := d.c.NewProducer(client.ProducerOptions{
		Acks: acksMapping[spec.Acks].acks, MaxBatchBytes: spec.BatchBytes, Linger: spec.Linger,
		RequestTimeout: d.opts.RequestTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	return producer{p}, nil
}

type producer struct{ p *client.Producer }

func (p producer) Send(m loadgen.Message, done func(error)) {
	p.p.SendAsync(client.Message{Topic: m.Topic, Partition: -1, Key: m.Key, Value: m.Value}, func(_ client.Result, err error) { done(err) })
}

func (p producer) Close() error { return p.p.Close() }

// NewConsumer implements loadgen.Driver.
func (d *Driver) NewConsumer(_ context.Context, spec loadgen.ConsumerSpec) (loadgen.Consumer, error) {
	opts := client.ConsumerOptions{Transport: d.opts.Fetch, MaxWait: d.opts.MaxWait}
	if spec.Group != "" {
		opts.Group, opts.Topics, opts.AutoOffsetReset, opts.AutoCommit = spec.Group, spec.Topics, client.Earliest, true
	}
	co, err := d.c.NewConsumer(opts)
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	if spec.Group == "" {
		var tps []client.TopicPartition
		for _, t := range spec.Topics {
			for p := 0; p < spec.Partitions; p++ {
				if spec.Owns(p) {
					tps = append(tps, client.TopicPartition{Topic: t, Partition: int32(p)})
				}
			}
		}
		co.Assign(tps...)
		for _, tp := range tps {
			co.Seek(tp, 0) // fresh topics: read everything
		}
	}
	return consumer{co}, nil
}

type consumer struct{ co *client.Consumer }

func (c consumer) Receive(ctx context.Context, handle func([][]byte)) error {
	var values [][]byte
	for {
		recs, err := c.co.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if len(recs) > 0 {
			values = values[:0]
			for _, r := range recs {
				values = append(values, r.Value)
			}
			handle(values)
		}
		if err != nil {
			return fmt.Errorf("sluicedriver: poll: %w", err)
		}
	}
}

func (c consumer) Close() error { return c.co.Close() }
