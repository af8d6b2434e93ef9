package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/broker/client/clienttest"
	"github.com/sluice-mq/sluice/engine/record"
	"google.golang.org/grpc/codes"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialFake(t *testing.T, f *fakeBroker, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(testCtx(t), []string{f.addr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustCreate(t *testing.T, c *client.Client, name string, partitions int32) {
	t.Helper()
	if _, err := c.CreateTopic(testCtx(t), name, partitions, 1, nil); err != nil {
		t.Fatal(err)
	}
}

func newProducer(t *testing.T, c *client.Client, opts client.ProducerOptions) *client.Producer {
	t.Helper()
	p, err := c.NewProducer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestConformanceFake runs the broker conformance suite against the fake,
// which proves the suite runnable and the client conformant to it.
func TestConformanceFake(t *testing.T) {
	var f *fakeBroker
	clienttest.Run(t, func(t *testing.T) []string {
		f = newFakeBroker(t)
		return []string{f.addr}
	}, clienttest.WithTrimLog(func(t *testing.T, topic string, partition int32, before int64) {
		f.trim(topic, partition, before)
	}))
}

// TestMurmur2Kafka checks Murmur2 against the vectors of Kafka's
// UtilsTest.testMurmur2 (apache/kafka,
// clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
func TestMurmur2Kafka(t *testing.T) {
	cases := []struct {
		key  []byte
		want int32
	}{
		{[]byte("21"), -973932308},
		{[]byte("foobar"), -790332482},
		{[]byte("a-little-bit-long-string"), -985981536},
		{[]byte("a-little-bit-longer-string"), -1486304829},
		{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971},
		{[]byte{'a', 'b', 'c'}, 479470107},
	}
	for _, c := range cases {
		if got := client.Murmur2(c.key); got != c.want {
			t.Errorf("Murmur2(%q) = %d, want %d", c.key, got, c.want)
		}
		// Kafka's default partitioner: toPositive(murmur2(key)) % n, where
		// toPositive is & 0x7fffffff.
		for _, n := range []int32{1, 3, 12, 100} {
			want := (c.want & 0x7fffffff) % n
			if got := client.KafkaPartition(c.key, n); got != want {
				t.Errorf("KafkaPartition(%q, %d) = %d, want %d", c.key, n, got, want)
			}
		}
	}
	if got := client.KafkaPartition([]byte("x"), 0); got != 0 {
		t.Errorf("KafkaPartition with 0 partitions = %d", got)
	}
}

func TestDefaultPartitionerSticky(t *testing.T) {
	d := client.NewDefaultPartitioner()
	p := d.Partition("t", nil, 8)
	for range 10 {
		if got := d.Partition("t", nil, 8); got != p {
			t.Fatalf("keyless partition moved without a new batch: %d then %d", p, got)
		}
	}
	d.OnNewBatch("t", p, 8)
	if q := d.Partition("t", nil, 8); q == p || q < 0 || q >= 8 {
		t.Fatalf("after OnNewBatch: %d (was %d)", q, p)
	}
	if got := d.Partition("t", []byte("foobar"), 8); got != client.KafkaPartition([]byte("foobar"), 8) {
		t.Fatalf("keyed message went to %d", got)
	}
}

// TestProduceLingerAndFlush: with a long linger nothing is sent until
// Flush, which sends one batch of everything.
func TestProduceLingerAndFlush(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	p := newProducer(t, c, client.ProducerOptions{Linger: time.Hour})
	var mu sync.Mutex
	var offsets []int64
	for i := range 10 {
		p.SendAsync(client.Message{Topic: "t", Partition: 0, Value: fmt.Appendf(nil, "%d", i)}, func(r client.Result, err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			offsets = append(offsets, r.Offset)
			mu.Unlock()
		})
	}
	if produces, _, _, _ := f.stats(); len(produces) != 0 {
		t.Fatalf("%d produce requests before the linger or a flush", len(produces))
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	produces, _, _, _ := f.stats()
	if len(produces) != 1 {
		t.Fatalf("%d produce requests, want 1 batch", len(produces))
	}
	if produces[0].GetAcks() != brokerpb.Acks_ACKS_ALL {
		t.Fatalf("acks %v, want ACKS_ALL by default", produces[0].GetAcks())
	}
	b, err := record.Decode(produces[0].GetBatch())
	if err != nil || len(b.Records) != 10 {
		t.Fatalf("batch: %v records, %v", len(b.Records), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, off := range offsets {
		if off != int64(i) {
			t.Fatalf("callback %d got offset %d: %v", i, off, offsets)
		}
	}
}

// TestProduceLingerExpires: without Flush, the linger sends the batch.
func TestProduceLingerExpires(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	p := newProducer(t, c, client.ProducerOptions{Linger: 300 * time.Millisecond})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 5 {
		wg.Add(1)
		p.SendAsync(client.Message{Topic: "t", Partition: 0, Value: []byte{byte(i)}}, func(r client.Result, err error) {
			defer wg.Done()
			if err != nil || r.Offset != int64(i) {
				t.Errorf("message %d: offset %d, %v", i, r.Offset, err)
			}
		})
	}
	wg.Wait()
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Fatalf("acknowledged after %v, before the linger", elapsed)
	}
	if produces, _, _, _ := f.stats(); len(produces) != 1 {
		t.Fatalf("%d produce requests, want 1", len(produces))
	}
}

// TestProduceMaxBatchBytes: batches close at MaxBatchBytes and keep order.
func TestProduceMaxBatchBytes(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	const maxBatch = 1000
	p := newProducer(t, c, client.ProducerOptions{Linger: time.Hour, MaxBatchBytes: maxBatch})
	for i := range 20 {
		p.SendAsync(client.Message{Topic: "t", Partition: 0, Value: bytes.Repeat([]byte{byte(i)}, 200)}, nil)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	produces, _, _, _ := f.stats()
	if len(produces) < 4 {
		t.Fatalf("%d produce requests for 4000 bytes in %d-byte batches", len(produces), maxBatch)
	}
	for i, pr := range produces {
		if len(pr.GetBatch()) > maxBatch {
			t.Fatalf("batch %d is %d bytes > %d", i, len(pr.GetBatch()), maxBatch)
		}
	}
	for i, r := range f.logOf(t, "t", 0) {
		if r.Value[0] != byte(i) {
			t.Fatalf("record %d holds message %d", i, r.Value[0])
		}
	}
}

// TestProduceKeyPartitioning: keyed messages land on KafkaPartition(key).
func TestProduceKeyPartitioning(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 4)
	p := newProducer(t, c, client.ProducerOptions{Profile: client.ProfileLatency})
	for i := range 40 {
		key := fmt.Appendf(nil, "k%d", i)
		r, err := p.Send(testCtx(t), client.Message{Topic: "t", Partition: -1, Key: key, Value: key})
		if err != nil {
			t.Fatal(err)
		}
		if want := client.KafkaPartition(key, 4); r.Partition != want {
			t.Fatalf("key %s: partition %d, want %d", key, r.Partition, want)
		}
	}
	total := 0
	for part := int32(0); part < 4; part++ {
		for _, r := range f.logOf(t, "t", part) {
			total++
			if client.KafkaPartition(r.Key, 4) != part {
				t.Fatalf("key %s stored in partition %d", r.Key, part)
			}
		}
	}
	if total != 40 {
		t.Fatalf("%d records stored", total)
	}
}

// TestProduceKeylessSticky: keyless messages fill a batch on one partition,
// then move on.
func TestProduceKeylessSticky(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 4)
	p := newProducer(t, c, client.ProducerOptions{Linger: time.Hour, MaxBatchBytes: 1000})
	for range 40 {
		p.SendAsync(client.Message{Topic: "t", Partition: -1, Value: bytes.Repeat([]byte{'v'}, 90)}, nil)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	produces, _, _, _ := f.stats()
	used := make(map[int32]bool)
	small := 0
	for _, pr := range produces {
		b, err := record.Decode(pr.GetBatch())
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Records) < 5 {
			small++ // only the last, partly filled batch may be small
		}
		used[pr.GetPartition()] = true
	}
	if small > 1 {
		t.Fatalf("%d batches of fewer than 5 records: keyless messages did not stick", small)
	}
	if len(used) < 2 {
		t.Fatalf("keyless messages used partitions %v only", used)
	}
}

func notLeader() injected {
	return injected{err: sluiceStatus(codes.FailedPrecondition, brokerpb.ErrorCode_NOT_LEADER, "not the leader", map[string]string{"indefinite": "false"})}
}

// TestProduceOrderAcrossRetries: NOT_LEADER twice, then success; the log and
// the callbacks keep send order, and the metadata was refreshed.
func TestProduceOrderAcrossRetries(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	f.injectProduce(notLeader(), notLeader())
	_, metadataBefore, _, _ := f.stats()
	p := newProducer(t, c, client.ProducerOptions{Linger: -1, MaxBatchBytes: 300, RetryBackoff: time.Millisecond})
	const n = 100
	var mu sync.Mutex
	var order []int
	for i := range n {
		p.SendAsync(client.Message{Topic: "t", Partition: 0, Value: fmt.Appendf(nil, "%03d", i)}, func(r client.Result, err error) {
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for i, got := range order {
		if got != i {
			t.Fatalf("callback %d was for message %d", i, got)
		}
	}
	mu.Unlock()
	log := f.logOf(t, "t", 0)
	if len(log) != n {
		t.Fatalf("%d records in the log, want %d", len(log), n)
	}
	for i, r := range log {
		if want := fmt.Sprintf("%03d", i); string(r.Value) != want {
			t.Fatalf("log offset %d holds %s, want %s", i, r.Value, want)
		}
	}
	produces, metadataAfter, _, _ := f.stats()
	if len(produces) < 3 {
		t.Fatalf("%d produce requests; the two failures were not retried", len(produces))
	}
	if metadataAfter <= metadataBefore {
		t.Fatal("NOT_LEADER did not refresh the metadata")
	}
}

// TestProduceErrorsClassified: injected broker errors reach Send with their
// code and their retryable/indefinite classification.
func TestProduceErrorsClassified(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	msg := client.Message{Topic: "t", Partition: 0, Value: []byte("v")}

	t.Run("indefinite timeout, no retries", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{Retries: -1})
		f.injectProduce(injected{err: sluiceStatus(codes.DeadlineExceeded, brokerpb.ErrorCode_REQUEST_TIMED_OUT, "replicas slow", map[string]string{"indefinite": "true"}), afterAppend: true})
		_, err := p.Send(testCtx(t), msg)
		if client.Code(err) != brokerpb.ErrorCode_REQUEST_TIMED_OUT || !client.IsRetryable(err) || !client.IsIndefinite(err) {
			t.Fatalf("%v: code %v retryable %v indefinite %v", err, client.Code(err), client.IsRetryable(err), client.IsIndefinite(err))
		}
	})
	t.Run("definite validation error", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{})
		f.injectProduce(injected{err: sluiceStatus(codes.InvalidArgument, brokerpb.ErrorCode_INVALID_RECORD, "bad batch", nil)})
		_, err := p.Send(testCtx(t), msg)
		var e *client.Error
		if !errors.As(err, &e) || e.Code != brokerpb.ErrorCode_INVALID_RECORD || client.IsRetryable(err) || client.IsIndefinite(err) {
			t.Fatalf("%v: want a definite, non-retryable INVALID_RECORD", err)
		}
		if produces, _, _, _ := f.stats(); produces[len(produces)-1].GetBatch() == nil {
			t.Fatal("no batch sent")
		}
	})
	t.Run("indefinite then definite stays indefinite", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{Retries: 1, RetryBackoff: time.Millisecond})
		f.injectProduce(
			injected{err: sluiceStatus(codes.Unavailable, brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND, "isr shrank", map[string]string{"indefinite": "true"}), afterAppend: true},
			injected{err: sluiceStatus(codes.Unavailable, brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS, "isr shrank", map[string]string{"indefinite": "false"})},
		)
		_, err := p.Send(testCtx(t), msg)
		if client.Code(err) != brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS || !client.IsIndefinite(err) {
			t.Fatalf("%v: want NOT_ENOUGH_REPLICAS marked indefinite", err)
		}
	})
	t.Run("retryable then success", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{RetryBackoff: time.Millisecond})
		f.injectProduce(injected{err: sluiceStatus(codes.Unavailable, brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS, "wait", nil)})
		r, err := p.Send(testCtx(t), msg)
		if err != nil || r.Offset < 0 || len(r.Receipt.Replicas) != 1 {
			t.Fatalf("%+v, %v", r, err)
		}
	})
	t.Run("unknown topic fails fast", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{})
		start := time.Now()
		_, err := p.Send(testCtx(t), client.Message{Topic: "missing", Partition: -1})
		if client.Code(err) != brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION || client.IsRetryable(err) || time.Since(start) > 5*time.Second {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
	})
	t.Run("send after close", func(t *testing.T) {
		p := newProducer(t, c, client.ProducerOptions{})
		p.Close()
		if _, err := p.Send(testCtx(t), msg); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("%v, want ErrClosed", err)
		}
	})
}

// TestProduceAcksNone: Send returns at once with offset -1; Close waits for
// the requests, after which the broker has every record, in order.
func TestProduceAcksNone(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 2)
	p, err := c.NewProducer(client.ProducerOptions{Acks: client.AcksNone, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		r, err := p.Send(testCtx(t), client.Message{Topic: "t", Partition: int32(i % 2), Value: fmt.Appendf(nil, "%d", i)})
		if err != nil || r.Offset != -1 {
			t.Fatalf("Send %d: %+v, %v", i, r, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	produces, _, _, _ := f.stats()
	for _, pr := range produces {
		if pr.GetAcks() != brokerpb.Acks_ACKS_NONE {
			t.Fatalf("acks %v", pr.GetAcks())
		}
	}
	for part := int32(0); part < 2; part++ {
		log := f.logOf(t, "t", part)
		if len(log) != 25 {
			t.Fatalf("partition %d: %d records", part, len(log))
		}
		for i, r := range log {
			if want := fmt.Sprint(2*i + int(part)); string(r.Value) != want {
				t.Fatalf("partition %d offset %d holds %s, want %s", part, i, r.Value, want)
			}
		}
	}
}

// produceValues writes values to t/0 with acks=all.
func produceValues(t *testing.T, c *client.Client, topic string, n int, ts func(i int) time.Time) {
	t.Helper()
	p := newProducer(t, c, client.ProducerOptions{Linger: time.Hour, MaxBatchBytes: 200})
	for i := range n {
		m := client.Message{Topic: topic, Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if ts != nil {
			m.Timestamp = ts(i)
		}
		p.SendAsync(m, func(_ client.Result, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func pollN(t *testing.T, co *client.Consumer, n int) []client.Record {
	t.Helper()
	var out []client.Record
	ctx := testCtx(t)
	for len(out) < n {
		recs, err := co.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	return out
}

func checkSequence(t *testing.T, recs []client.Record, from int64) {
	t.Helper()
	for i, r := range recs {
		off := from + int64(i)
		if r.Offset != off || string(r.Value) != fmt.Sprintf("v%d", off) || string(r.Key) != fmt.Sprintf("k%d", off) {
			t.Fatalf("record %d: offset %d key %s value %s, want offset %d", i, r.Offset, r.Key, r.Value, off)
		}
	}
}

func TestConsumeTransports(t *testing.T) {
	for _, tc := range []struct {
		name              string
		transport         client.Transport
		refuse            bool
		wantGRPC, wantDat bool
	}{
		{"data plane", client.TransportDataPlane, false, false, true},
		{"grpc", client.TransportGRPC, false, true, false},
		{"fallback when the data plane refuses", client.TransportDataPlane, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*fakeOptions)
			if tc.refuse {
				opts = append(opts, refuseDataPlane)
			}
			f := newFakeBroker(t, opts...)
			c := dialFake(t, f)
			mustCreate(t, c, "t", 1)
			produceValues(t, c, "t", 30, nil)
			co, err := c.NewConsumer(client.ConsumerOptions{Transport: tc.transport, FetchMaxBytes: 300})
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			tp := client.TopicPartition{Topic: "t", Partition: 0}
			co.Assign(tp)
			co.Seek(tp, 7) // inside a batch: the records before it are skipped
			checkSequence(t, pollN(t, co, 23), 7)
			if co.Position(tp) != 30 {
				t.Fatalf("position %d", co.Position(tp))
			}
			_, _, grpcFetches, dataFetches := f.stats()
			if (grpcFetches > 0) != tc.wantGRPC || (dataFetches > 0) != tc.wantDat {
				t.Fatalf("grpc fetches %d, data fetches %d", grpcFetches, dataFetches)
			}
		})
	}
}

// TestConsumeLongPoll: a Poll waiting at the end returns a record produced
// while it waits.
func TestConsumeLongPoll(t *testing.T) {
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		t.Run(transport.String(), func(t *testing.T) {
			f := newFakeBroker(t)
			c := dialFake(t, f)
			mustCreate(t, c, "t", 1)
			co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, MaxWait: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			tp := client.TopicPartition{Topic: "t", Partition: 0}
			co.Assign(tp) // starts at Latest = 0
			done := make(chan []client.Record)
			go func() {
				recs, err := co.Poll(testCtx(t))
				if err != nil {
					t.Error(err)
				}
				done <- recs
			}()
			// Produce once the poll is waiting at the broker.
			for {
				_, _, g, d := f.stats()
				if g+d > 1 { // the immediate pass, then the long poll
					break
				}
				runtime.Gosched()
			}
			produceValues(t, c, "t", 1, nil)
			if recs := <-done; len(recs) != 1 || recs[0].Offset != 0 {
				t.Fatalf("%v", recs)
			}
		})
	}
}

func TestConsumeSeeks(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	base := time.UnixMilli(1_700_000_000_000)
	produceValues(t, c, "t", 10, func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) })
	co, err := c.NewConsumer(client.ConsumerOptions{MaxWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: "t", Partition: 0}
	ctx := testCtx(t)

	co.Assign(tp)
	if co.Position(tp) != -1 {
		t.Fatalf("position %d before the first poll", co.Position(tp))
	}
	if recs, err := co.Poll(ctx); err != nil || len(recs) != 0 || co.Position(tp) != 10 {
		t.Fatalf("new assignment starts at Latest: %v, %v, position %d", recs, err, co.Position(tp))
	}
	co.SeekToBeginning(tp)
	recs := pollN(t, co, 10)
	checkSequence(t, recs, 0)
	for i, r := range recs {
		if !r.Timestamp.Equal(base.Add(time.Duration(i) * time.Minute)) {
			t.Fatalf("record %d timestamp %v", i, r.Timestamp)
		}
	}
	if err := co.SeekToTime(ctx, base.Add(5*time.Minute+time.Second), tp); err != nil {
		t.Fatal(err)
	}
	checkSequence(t, pollN(t, co, 4), 6)
	co.SeekToEnd(tp)
	if recs, err := co.Poll(ctx); err != nil || len(recs) != 0 || co.Position(tp) != 10 {
		t.Fatalf("after SeekToEnd: %v, %v, position %d", recs, err, co.Position(tp))
	}
}

func TestConsumeOutOfRange(t *testing.T) {
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		t.Run(transport.String(), func(t *testing.T) {
			f := newFakeBroker(t)
			c := dialFake(t, f)
			mustCreate(t, c, "t", 1)
			produceValues(t, c, "t", 20, nil)
			f.trim("t", 0, 15)
			co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport, MaxWait: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			tp := client.TopicPartition{Topic: "t", Partition: 0}
			co.Assign(tp)
			co.Seek(tp, 2)
			recs, err := co.Poll(testCtx(t))
			var oor *client.OffsetOutOfRangeError
			if !errors.As(err, &oor) || len(recs) != 0 {
				t.Fatalf("%v, %v: want *OffsetOutOfRangeError", recs, err)
			}
			if oor.LogStartOffset <= 2 || oor.LogStartOffset > 15 || oor.HighWatermark != 20 || oor.Offset != 2 || oor.Topic != "t" {
				t.Fatalf("%+v", oor)
			}
			if client.Code(err) != brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE || co.Position(tp) != 2 {
				t.Fatalf("code %v position %d", client.Code(err), co.Position(tp))
			}
		})
	}
}

func TestConsumeCorruptBatchRejected(t *testing.T) {
	for _, transport := range []client.Transport{client.TransportDataPlane, client.TransportGRPC} {
		t.Run(transport.String(), func(t *testing.T) {
			f := newFakeBroker(t)
			c := dialFake(t, f)
			mustCreate(t, c, "t", 1)
			produceValues(t, c, "t", 5, nil)
			f.mu.Lock()
			f.corruptFetch = true
			f.mu.Unlock()
			co, err := c.NewConsumer(client.ConsumerOptions{Transport: transport})
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			tp := client.TopicPartition{Topic: "t", Partition: 0}
			co.Assign(tp)
			co.Seek(tp, 0)
			recs, err := co.Poll(testCtx(t))
			if client.Code(err) != brokerpb.ErrorCode_CORRUPT_MESSAGE || !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("%v: want CORRUPT_MESSAGE wrapping record.ErrCorrupt", err)
			}
			// The last batch is the corrupt one: records of the batches
			// before it may be returned, but none of it.
			for _, r := range recs {
				if r.Offset >= 4 {
					t.Fatalf("record %d of the corrupt batch returned", r.Offset)
				}
			}
			if pos := co.Position(tp); pos > 4 {
				t.Fatalf("position %d moved past the corrupt batch", pos)
			}
		})
	}
}

// TestConsumeOversizedResponseRejected: a response declaring 4 GiB of
// records fails at once, without allocating them.
func TestConsumeOversizedResponseRejected(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	mustCreate(t, c, "t", 1)
	f.mu.Lock()
	f.dataHook = func(req brokerpb.DataFetchRequest, conn net.Conn) bool {
		resp := brokerpb.DataFetchResponse{CorrelationID: req.CorrelationID, HighWatermark: 1, RecordsLength: 1<<32 - 1}
		conn.Write(brokerpb.AppendFetchResponseFrame(nil, &resp))
		return true // and never send the records
	}
	f.mu.Unlock()
	co, err := c.NewConsumer(client.ConsumerOptions{FetchMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: "t", Partition: 0}
	co.Assign(tp)
	co.Seek(tp, 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = co.Poll(testCtx(t))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, brokerpb.ErrFrameTooLarge) {
		t.Fatalf("%v: want ErrFrameTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Fatalf("allocated %d bytes for a rejected response", grew)
	}
}

func TestClientMetadataAndAdmin(t *testing.T) {
	f := newFakeBroker(t)
	c := dialFake(t, f)
	if _, err := client.Dial(testCtx(t), nil); err == nil {
		t.Fatal("Dial without bootstrap addresses succeeded")
	}
	// A dead bootstrap address first: Dial moves on to the next.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	c2, err := client.Dial(testCtx(t), []string{deadAddr, f.addr})
	if err != nil {
		t.Fatalf("Dial with one dead bootstrap address: %v", err)
	}
	c2.Close()
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.NewProducer(client.ProducerOptions{}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("NewProducer on a closed client: %v", err)
	}
	mustCreate(t, c, "a", 3)
	md, err := c.Metadata(testCtx(t))
	if err != nil || len(md.GetTopics()) != 1 || md.GetBrokers()[0].GetDataAddr() != f.dataAddr {
		t.Fatalf("%v, %v", md, err)
	}
	d, err := c.DescribeTopic(testCtx(t), "a")
	if err != nil || len(d.GetOffsets()) != 3 {
		t.Fatalf("%v, %v", d, err)
	}
}
