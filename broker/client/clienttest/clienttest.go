// Package clienttest is a conformance suite for a Sluice broker, run
// through the public client: the same tests against the in-process broker,
// a real cluster, or the client package's fake broker.
package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

// Option configures Run.
type Option func(*config)

type config struct {
	trim func(t *testing.T, topic string, partition int32, before int64)
}

// WithTrimLog gives the suite a way to delete a partition's records below
// an offset (as retention would), so it can test reading below the log
// start. Without it that test is skipped.
func WithTrimLog(trim func(t *testing.T, topic string, partition int32, before int64)) Option {
	return func(c *config) { c.trim = trim }
}

// opTimeout bounds each step against the broker.
const opTimeout = 20 * time.Second

var topicSeq atomic.Int64

// topicName returns a topic name unique to the test and the process, legal
// under Kafka's rules, so runs can share a broker.
func topicName(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 150 {
		name = name[len(name)-150:]
	}
	return fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano()%1e9, topicSeq.Add(1))
}

// Run runs the suite against the broker (or cluster) whose gRPC addresses
// bootstrap returns; it is called once per Run.
func Run(t *testing.T, bootstrap func(t *testing.T) []string, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	addrs := bootstrap(t)
	dial := func(t *testing.T) *client.Client {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		c, err := client.Dial(ctx, addrs)
		if err != nil {
			t.Fatalf("Dial %v: %v", addrs, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("ProduceConsume", func(t *testing.T) {
		for _, acks := range []client.Acks{client.AcksNone, client.AcksLeader, client.AcksAll} {
			t.Run("acks="+acks.String(), func(t *testing.T) { testProduceConsume(t, dial(t), acks) })
		}
	})
	t.Run("ListOffsets", func(t *testing.T) { testListOffsets(t, dial(t)) })
	t.Run("Admin", func(t *testing.T) { testAdmin(t, dial(t)) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, dial(t)) })
	t.Run("FetchAtAndBeyondHighWatermark", func(t *testing.T) { testBeyondHighWatermark(t, dial(t)) })
	t.Run("BelowLogStart", func(t *testing.T) {
		if cfg.trim == nil {
			t.Skip("no WithTrimLog option")
		}
		testBelowLogStart(t, dial(t), cfg.trim)
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, c *client.Client, partitions int32, configs map[string]string) string {
	t.Helper()
	name := topicName(t)
	info, err := c.CreateTopic(ctxT(t), name, partitions, 0, configs)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
	if got := len(info.GetPartitions()); got != int(partitions) {
		t.Fatalf("CreateTopic %s: %d partitions, want %d", name, got, partitions)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_ = c.DeleteTopic(ctx, name)
	})
	return name
}

// consume reads tp from offset from until it has n records or the deadline
// passes.
func consume(t *testing.T, c *client.Client, transport client.Transport, tp client.TopicPartition, from int64, n int) []client.Record {
	t.Helper()
	co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, MaxWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	co.Assign(tp)
	co.Seek(tp, from)
	ctx := ctxT(t)
	var out []client.Record
	for len(out) < n {
		recs, err := co.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll %v via %v after %d of %d records: %v", tp, transport, len(out), n, err)
		}
		out = append(out, recs...)
	}
	if len(out) > n {
		t.Fatalf("%v via %v: %d records, want %d", tp, transport, len(out), n)
	}
	if got := co.Position(tp); got != out[len(out)-1].Offset+1 {
		t.Fatalf("%v: position %d after offset %d", tp, got, out[len(out)-1].Offset)
	}
	return out
}

type sent struct {
	key, value []byte
	header     client.Header
}

func testProduceConsume(t *testing.T, c *client.Client, acks client.Acks) {
	const partitions, n = 3, 60
	topic := createTopic(t, c, partitions, nil)
	p, err := c.NewProducer(client.ProducerOptions{Acks: acks, Linger: time.Millisecond, MaxBatchBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	byPartition := make(map[int32][]sent)
	results := make(chan error, n)
	for i := range n {
		key := fmt.Appendf(nil, "key-%d", i%7)
		value := fmt.Appendf(nil, "value-%d-%s", i, bytes.Repeat([]byte{'x'}, i))
		h := client.Header{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}
		part := client.KafkaPartition(key, partitions)
		byPartition[part] = append(byPartition[part], sent{key, value, h})
		p.SendAsync(client.Message{Topic: topic, Partition: -1, Key: key, Value: value, Headers: []client.Header{h}},
			func(r client.Result, err error) {
				switch {
				case err != nil:
				case r.Partition != part:
					err = fmt.Errorf("key %s went to partition %d, want %d", key, r.Partition, part)
				case acks == client.AcksNone && r.Offset != -1:
					err = fmt.Errorf("acks=none result with offset %d", r.Offset)
				case acks != client.AcksNone && r.Offset < 0:
					err = fmt.Errorf("acknowledged result with offset %d", r.Offset)
				}
				results <- err
			})
	}
	if err := p.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		for part := int32(0); part < partitions; part++ {
			want := byPartition[part]
			tp := client.TopicPartition{Topic: topic, Partition: part}
			got := consume(t, c, transport, tp, 0, len(want))
			for i, r := range got {
				w := want[i]
				if r.Offset != int64(i) || !bytes.Equal(r.Key, w.key) || !bytes.Equal(r.Value, w.value) ||
					len(r.Headers) != 1 || r.Headers[0].Key != w.header.Key || !bytes.Equal(r.Headers[0].Value, w.header.Value) {
					t.Fatalf("%v via %v record %d: offset %d key %q value %q headers %v; want key %q value %q header %v",
						tp, transport, i, r.Offset, r.Key, r.Value, r.Headers, w.key, w.value, w.header)
				}
				if r.Topic != topic || r.Partition != part {
					t.Fatalf("record labelled %s/%d", r.Topic, r.Partition)
				}
			}
		}
	}
}

func testListOffsets(t *testing.T, c *client.Client) {
	topic := createTopic(t, c, 1, nil)
	tp := client.TopicPartition{Topic: topic, Partition: 0}
	ctx := ctxT(t)
	if off, err := c.ListOffsets(ctx, topic, 0, client.Latest, time.Time{}); err != nil || off != 0 {
		t.Fatalf("Latest of an empty partition: %d, %v; want 0", off, err)
	}
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	const n = 10
	for i := range n {
		ts := base.Add(time.Duration(i) * time.Second)
		r, err := p.Send(ctx, client.Message{Topic: topic, Partition: 0, Value: []byte{byte(i)}, Timestamp: ts})
		if err != nil || r.Offset != int64(i) {
			t.Fatalf("Send %d: offset %d, %v", i, r.Offset, err)
		}
	}
	cases := []struct {
		name string
		spec client.OffsetSpec
		ts   time.Time
		want int64
	}{
		{"earliest", client.Earliest, time.Time{}, 0},
		{"latest", client.Latest, time.Time{}, n},
		{"before all", client.AtTime, base.Add(-time.Minute), 0},
		{"exact", client.AtTime, base.Add(4 * time.Second), 4},
		{"between", client.AtTime, base.Add(4500 * time.Millisecond), 5},
		{"after all", client.AtTime, base.Add(time.Hour), -1},
	}
	for _, tc := range cases {
		if got, err := c.ListOffsets(ctx, topic, 0, tc.spec, tc.ts); err != nil || got != tc.want {
			t.Errorf("ListOffsets %s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	// The consumer's seeks resolve the same way, and timestamps survive.
	co, err := c.NewConsumer(client.ConsumerOptions{MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	co.Assign(tp)
	if err := co.SeekToTime(ctx, base.Add(7*time.Second), tp); err != nil {
		t.Fatal(err)
	}
	if got := co.Position(tp); got != 7 {
		t.Fatalf("SeekToTime: position %d, want 7", got)
	}
	recs, err := co.Poll(ctx)
	if err != nil || len(recs) == 0 || recs[0].Offset != 7 || !recs[0].Timestamp.Equal(base.Add(7*time.Second)) {
		t.Fatalf("Poll after SeekToTime: %v, %v", recs, err)
	}
	co.SeekToBeginning(tp)
	if recs, err := co.Poll(ctx); err != nil || len(recs) == 0 || recs[0].Offset != 0 {
		t.Fatalf("Poll after SeekToBeginning: %v, %v", recs, err)
	}
	co.SeekToEnd(tp)
	if recs, err := co.Poll(ctx); err != nil || len(recs) != 0 || co.Position(tp) != n {
		t.Fatalf("Poll after SeekToEnd: %v, %v, position %d", recs, err, co.Position(tp))
	}
	if err := co.SeekToTime(ctx, base.Add(time.Hour), tp); err != nil {
		t.Fatal(err)
	}
	if recs, err := co.Poll(ctx); err != nil || len(recs) != 0 || co.Position(tp) != n {
		t.Fatalf("Poll after SeekToTime past the end: %v, %v, position %d", recs, err, co.Position(tp))
	}
}

func testAdmin(t *testing.T, c *client.Client) {
	ctx := ctxT(t)
	topic := createTopic(t, c, 2, map[string]string{"retention.ms": "3600000"})
	d, err := c.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if d.GetTopic().GetName() != topic || len(d.GetTopic().GetPartitions()) != 2 {
		t.Fatalf("DescribeTopic: %v", d.GetTopic())
	}
	if v := d.GetEffectiveConfigs()["retention.ms"]; v != "3600000" {
		t.Fatalf("effective retention.ms %q", v)
	}
	if len(d.GetOffsets()) != 2 {
		t.Fatalf("DescribeTopic offsets of %d partitions, want 2", len(d.GetOffsets()))
	}
	info, err := c.AlterConfig(ctx, topic, map[string]string{"retention.ms": "7200000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := info.GetConfigs()["retention.ms"]; v != "7200000" {
		t.Fatalf("after AlterConfig set: retention.ms %q", v)
	}
	if _, err := c.AlterConfig(ctx, topic, nil, []string{"retention.ms"}); err != nil {
		t.Fatal(err)
	}
	d, err = c.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.GetTopic().GetConfigs()["retention.ms"]; ok {
		t.Fatalf("retention.ms still explicit after delete: %v", d.GetTopic().GetConfigs())
	}
	if d.GetEffectiveConfigs()["retention.ms"] == "" {
		t.Fatal("no effective retention.ms after delete")
	}
	topics, err := c.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !containsTopic(topics, topic) {
		t.Fatalf("ListTopics lacks %s", topic)
	}
	md, err := c.Metadata(ctx, topic)
	if err != nil || len(md.GetTopics()) != 1 || len(md.GetBrokers()) == 0 {
		t.Fatalf("Metadata(%s): %v, %v", topic, md, err)
	}
	if err := c.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeTopic(ctx, topic); client.Code(err) != brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION {
		t.Fatalf("DescribeTopic after delete: %v", err)
	}
	topics, err = c.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if containsTopic(topics, topic) {
		t.Fatalf("ListTopics still has %s after delete", topic)
	}
}

func containsTopic(topics []*brokerpb.TopicInfo, name string) bool {
	for _, t := range topics {
		if t.GetName() == name {
			return true
		}
	}
	return false
}

func wantCode(t *testing.T, what string, err error, code brokerpb.ErrorCode) {
	t.Helper()
	if client.Code(err) != code {
		t.Errorf("%s: %v, want %v", what, err, code)
		return
	}
	if client.IsIndefinite(err) {
		t.Errorf("%s: %v is indefinite", what, err)
	}
}

func testErrors(t *testing.T, c *client.Client) {
	ctx := ctxT(t)
	missing := topicName(t)
	p, err := c.NewProducer(client.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Send(ctx, client.Message{Topic: missing, Partition: -1, Value: []byte("v")})
	wantCode(t, "Send to an unknown topic", err, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION)
	_, err = c.ListOffsets(ctx, missing, 0, client.Latest, time.Time{})
	wantCode(t, "ListOffsets of an unknown topic", err, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION)
	_, err = c.DescribeTopic(ctx, missing)
	wantCode(t, "DescribeTopic of an unknown topic", err, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION)
	err = c.DeleteTopic(ctx, missing)
	wantCode(t, "DeleteTopic of an unknown topic", err, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION)

	_, err = c.CreateTopic(ctx, topicName(t), 1, 0, map[string]string{"retention.ms": "not-a-number"})
	wantCode(t, "CreateTopic with a bad config value", err, brokerpb.ErrorCode_INVALID_CONFIG)
	_, err = c.CreateTopic(ctx, topicName(t), 1, 0, map[string]string{"no.such.config": "1"})
	wantCode(t, "CreateTopic with an unknown config", err, brokerpb.ErrorCode_INVALID_CONFIG)
	_, err = c.CreateTopic(ctx, topicName(t), 0, 0, nil)
	wantCode(t, "CreateTopic with 0 partitions", err, brokerpb.ErrorCode_INVALID_PARTITIONS)

	topic := createTopic(t, c, 1, nil)
	_, err = c.CreateTopic(ctx, topic, 1, 0, nil)
	wantCode(t, "CreateTopic of an existing name", err, brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS)
	_, err = c.AlterConfig(ctx, topic, map[string]string{"retention.ms": "soon"}, nil)
	wantCode(t, "AlterConfig with a bad value", err, brokerpb.ErrorCode_INVALID_CONFIG)
	_, err = p.Send(ctx, client.Message{Topic: topic, Partition: 5, Value: []byte("v")})
	wantCode(t, "Send to a partition that does not exist", err, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION)
	if client.IsRetryable(err) {
		t.Errorf("missing partition is retryable: %v", err)
	}
}

func produceN(t *testing.T, c *client.Client, topic string, n int) {
	t.Helper()
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		if _, err := p.Send(ctxT(t), client.Message{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func testBeyondHighWatermark(t *testing.T, c *client.Client) {
	const n = 5
	topic := createTopic(t, c, 1, nil)
	produceN(t, c, topic, n)
	tp := client.TopicPartition{Topic: topic, Partition: 0}
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, MaxWait: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		co.Assign(tp)
		co.Seek(tp, n)
		if recs, err := co.Poll(ctxT(t)); err != nil || len(recs) != 0 || co.Position(tp) != n {
			t.Fatalf("%v: Poll at the high watermark: %v, %v, position %d", transport, recs, err, co.Position(tp))
		}
		co.Seek(tp, n+10)
		_, err = co.Poll(ctxT(t))
		var oor *client.OffsetOutOfRangeError
		if !errors.As(err, &oor) {
			t.Fatalf("%v: Poll beyond the high watermark: %v, want *OffsetOutOfRangeError", transport, err)
		}
		if oor.HighWatermark != n || oor.LogStartOffset != 0 || oor.Offset != n+10 || oor.Topic != topic {
			t.Fatalf("%v: range error %+v", transport, oor)
		}
		if client.Code(err) != brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE || co.Position(tp) != n+10 {
			t.Fatalf("%v: code %v, position %d", transport, client.Code(err), co.Position(tp))
		}
		co.Close()
	}
}

func testBelowLogStart(t *testing.T, c *client.Client, trim func(t *testing.T, topic string, partition int32, before int64)) {
	const n = 20
	topic := createTopic(t, c, 1, nil)
	produceN(t, c, topic, n)
	trim(t, topic, 0, 10)
	ctx := ctxT(t)
	logStart, err := c.ListOffsets(ctx, topic, 0, client.Earliest, time.Time{})
	if err != nil || logStart <= 0 || logStart > 10 {
		t.Fatalf("Earliest after trim: %d, %v", logStart, err)
	}
	tp := client.TopicPartition{Topic: topic, Partition: 0}
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, MaxWait: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		co.Assign(tp)
		co.Seek(tp, 0)
		_, err = co.Poll(ctx)
		var oor *client.OffsetOutOfRangeError
		if !errors.As(err, &oor) || oor.LogStartOffset != logStart || oor.HighWatermark != n || oor.Offset != 0 {
			t.Fatalf("%v: Poll below the log start: %v (%+v), want range [%d, %d]", transport, err, oor, logStart, n)
		}
		co.Seek(tp, oor.LogStartOffset)
		recs, err := co.Poll(ctx)
		if err != nil || len(recs) == 0 || recs[0].Offset != logStart {
			t.Fatalf("%v: Poll at the log start: %v, %v", transport, recs, err)
		}
		co.Close()
	}
}
