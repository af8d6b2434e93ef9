package broker

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
)

// idemBatch builds a batch of an idempotent producer.
func idemBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	b := record.NewBuilder(record.BuilderOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, PartitionLeaderEpoch: -1})
	for _, v := range values {
		b.Append(time.Now().UnixMilli(), nil, []byte(v), nil)
	}
	return b.Build()
}

func produceBatch(t *testing.T, c brokerpb.SluiceClient, topic string, batch []byte) (*brokerpb.ProduceResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Produce(ctx, &brokerpb.ProduceRequest{Topic: topic, Batch: append([]byte(nil), batch...), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1})
}

func TestIdempotentProducer(t *testing.T) {
	cfg := testConfig(t)
	b := startTestBroker(t, cfg)
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "idem", 1, nil)
	ids, err := c.InitProducerId(context.Background(), &brokerpb.InitProducerIdRequest{})
	if err != nil || ids.ProducerId < 1 {
		t.Fatalf("InitProducerId: %v %v", ids, err)
	}
	pid := ids.ProducerId
	if next, err := c.InitProducerId(context.Background(), &brokerpb.InitProducerIdRequest{}); err != nil || next.ProducerId <= pid {
		t.Fatalf("second producer id %v not above %d: %v", next, pid, err)
	}
	first := idemBatch(pid, 0, 0, "a", "b")
	r1, err := produceBatch(t, c, "idem", first)
	if err != nil || r1.BaseOffset != 0 || r1.Duplicate {
		t.Fatalf("first batch: %v %v", r1, err)
	}
	second := idemBatch(pid, 0, 2, "c")
	if r, err := produceBatch(t, c, "idem", second); err != nil || r.BaseOffset != 2 {
		t.Fatalf("second batch: %v %v", r, err)
	}
	// A retry of either batch (a lost response) gets the original offsets.
	for _, tc := range []struct {
		batch []byte
		base  int64
	}{{first, 0}, {second, 2}} {
		r, err := produceBatch(t, c, "idem", tc.batch)
		if err != nil || !r.Duplicate || r.BaseOffset != tc.base {
			t.Fatalf("retry: %v %v, want duplicate at %d", r, err, tc.base)
		}
	}
	p, _ := b.partitionFor("idem", 0)
	if end := p.log.LogEndOffset(); end != 3 {
		t.Fatalf("retries were written again: log end %d", end)
	}
	// A gap is refused, definitely; nothing is written.
	_, err = produceBatch(t, c, "idem", idemBatch(pid, 0, 7, "gap"))
	expectCode(t, err, brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE, codes.FailedPrecondition)
	// A newer epoch fences the older one.
	if _, err := produceBatch(t, c, "idem", idemBatch(pid, 1, 0, "new epoch")); err != nil {
		t.Fatal(err)
	}
	_, err = produceBatch(t, c, "idem", idemBatch(pid, 0, 3, "zombie"))
	expectCode(t, err, brokerpb.ErrorCode_INVALID_PRODUCER_EPOCH, codes.FailedPrecondition)
	_, err = produceBatch(t, c, "idem", idemBatch(pid+100, 0, 5, "unknown"))
	expectCode(t, err, brokerpb.ErrorCode_UNKNOWN_PRODUCER_ID, codes.FailedPrecondition)
	if end := p.log.LogEndOffset(); end != 4 {
		t.Fatalf("refused batches changed the log: end %d", end)
	}
	last := idemBatch(pid, 1, 1, "x", "y")
	if r, err := produceBatch(t, c, "idem", last); err != nil || r.BaseOffset != 4 {
		t.Fatalf("last batch: %v %v", r, err)
	}

	// Dedupe state survives a clean restart (snapshot) ...
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	b = startTestBroker(t, cfg)
	waitController(t, b)
	c = dialBroker(t, b)
	r, err := produceBatch(t, c, "idem", last)
	if err != nil || !r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("retry after a clean restart: %v %v", r, err)
	}
	// ... and a restart without the snapshot (rebuilt from the log).
	dir := b.partitionDir(topicPartition{"idem", 0})
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.withDefaults().FS.Remove(filepath.Join(dir, producerStateMeta)); err != nil {
		t.Fatal(err)
	}
	b = startTestBroker(t, cfg)
	waitController(t, b)
	c = dialBroker(t, b)
	r, err = produceBatch(t, c, "idem", last)
	if err != nil || !r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("retry after a restart that rebuilt producer state from the log: %v %v", r, err)
	}
	if r, err := produceBatch(t, c, "idem", idemBatch(pid, 1, 3, "z")); err != nil || r.BaseOffset != 6 {
		t.Fatalf("next batch after the rebuild: %v %v", r, err)
	}
}

// TestProducerSnapshotDuringAppends saves the producer table while
// idempotent appends run: every snapshot must be consistent with its end
// offset (a batch below it is in the table), which -race also checks.
func TestProducerSnapshotDuringAppends(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "snap", 1, nil)
	p, _ := b.partitionFor("snap", 0)
	const producers, batches = 4, 40
	done := make(chan struct{})
	for pid := int64(1); pid <= producers; pid++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for seq := int32(0); seq < batches; seq++ {
				batch := idemBatch(pid, 0, seq, "v")
				h, e := validateClientBatch(batch)
				if e != nil {
					t.Error(e)
					return
				}
				if _, _, e := p.appendIdempotent(batch, h); e != nil {
					t.Error(e)
					return
				}
			}
		}()
	}
	finished := 0
	for finished < producers {
		select {
		case <-done:
			finished++
		default:
		}
		if err := p.saveProducers(); err != nil {
			t.Fatal(err)
		}
		// Whatever the log held before the rebuild must be in the rebuilt
		// table: the retry of each producer's last batch is recognised.
		end := p.log.LogEndOffset()
		loaded, err := loadProducers(p.log)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.log.ReadUpTo(0, 1<<20, end)
		if err != nil {
			t.Fatal(err)
		}
		last := map[int64]record.Header{}
		for pos := 0; pos < len(res.Data); {
			h, err := record.ParseHeader(res.Data[pos:])
			if err != nil {
				t.Fatal(err)
			}
			last[h.ProducerID] = h
			pos += h.Size()
		}
		for pid, h := range last {
			if d, _ := loaded.entry(pid).check(h); d == nil || d.BaseOffset != h.BaseOffset {
				t.Fatalf("producer %d: its batch at %d is in the log but not in the rebuilt table", pid, h.BaseOffset)
			}
		}
	}
}
