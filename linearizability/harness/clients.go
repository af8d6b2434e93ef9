package harness

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// valueSize is the body size of every produced value.
const valueSize = 64

// opTimeout bounds one client operation; past it the outcome is unknown.
const opTimeout = 8 * time.Second

// producer sends values one at a time until stop closes.
func producer(ctx context.Context, cl *client.Client, rec *history.Recorder, sc Scenario, worker int, rng *rand.Rand, stop <-chan struct{}) error {
	p, err := cl.NewProducer(client.ProducerOptions{
		Acks: sc.clientAcks(), DisableIdempotence: !sc.Idempotence,
		Retries: 50, RetryBackoff: 50 * time.Millisecond, RequestTimeout: 3 * time.Second,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	c := rec.NewClient(worker)
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		part := int32(rng.IntN(sc.Partitions))
		v := c.NextValue()
		op := c.Invoke(history.Op{Kind: history.Produce, Topic: topic, Partition: part, Acks: sc.Acks, Value: v, Offset: -1})
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		res, err := p.Send(octx, client.Message{Topic: topic, Partition: part, Value: history.EncodeValue(v, valueSize)})
		cancel()
		if err == nil {
			op.Offset, op.Duplicate = res.Offset, res.Duplicate
			if res.Receipt.LeaderEpoch >= 0 {
				op.LeaderEpoch = res.Receipt.LeaderEpoch
			}
		}
		if c.Complete(op, err) != history.OK && ctx.Err() == nil {
			pause(stop, 20*time.Millisecond) // do not spin on a partition without a leader
		}
	}
}

// reader alternates high-watermark queries and reads below the last
// high watermark seen, on random partitions.
func reader(ctx context.Context, cl *client.Client, rec *history.Recorder, sc Scenario, worker int, rng *rand.Rand, stop <-chan struct{}) error {
	c := rec.NewClient(worker)
	hwm := make([]int64, sc.Partitions)
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		part := int32(rng.IntN(sc.Partitions))
		if rng.IntN(2) == 0 || hwm[part] == 0 {
			op := c.Invoke(history.Op{Kind: history.HWM, Topic: topic, Partition: part, Offset: -1})
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			h, err := cl.ListOffsets(octx, topic, part, client.Latest, time.Time{})
			cancel()
			if err == nil {
				op.HWM = h
				hwm[part] = max(hwm[part], h)
			}
			c.Complete(op, err)
		} else {
			from := rng.Int64N(hwm[part])
			op := c.Invoke(history.Op{Kind: history.Read, Topic: topic, Partition: part, Offset: from})
			recs, err := readFrom(ctx, cl, part, from)
			op.Records = recs
			if err == nil && len(recs) == 0 {
				// The offset is below a high watermark seen before, so
				// records are there: an empty poll means the fetch found
				// no leader in time, not an empty log. It proves nothing.
				c.CompleteAs(op, history.Fail, "the poll returned nothing (no leader reachable in time)")
			} else {
				c.Complete(op, err)
			}
		}
		pause(stop, 5*time.Millisecond)
	}
}

// readFrom fetches once from offset on partition part: the records at
// offsets >= from that one poll returns.
func readFrom(ctx context.Context, cl *client.Client, part int32, from int64) ([]history.Record, error) {
	co, err := cl.NewConsumer(client.ConsumerOptions{MaxWait: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: topic, Partition: part}
	co.Assign(tp)
	co.Seek(tp, from)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rs, err := co.Poll(octx)
	if err != nil {
		return nil, err
	}
	var out []history.Record
	for _, r := range rs {
		if r.Partition == part && r.Offset >= from {
			out = append(out, history.RecordOf(r))
		}
	}
	return out, nil
}

// pause waits d or until stop closes.
func pause(stop <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
	case <-t.C:
	}
}
