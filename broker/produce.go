package broker

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
)

// maxProduceTimeout caps a client's acks=all wait.
const maxProduceTimeout = 5 * time.Minute

// Produce implements the produce path of DESIGN.md §4: validate, append
// (group commit), wait for the ack level, answer with the offsets and a
// durability receipt.
func (b *Broker) Produce(ctx context.Context, req *brokerpb.ProduceRequest) (*brokerpb.ProduceResponse, error) {
	start := time.Now()
	resp, e := b.produce(ctx, req)
	err := errOrNil(e)
	b.metrics.observe("produce", start, err)
	if err != nil {
		return nil, toStatus(err)
	}
	b.metrics.bytesIn.Add(float64(len(req.Batch)))
	return resp, nil
}

func (b *Broker) produce(ctx context.Context, req *brokerpb.ProduceRequest) (*brokerpb.ProduceResponse, *Error) {
	if e := b.checkServing(); e != nil {
		return nil, e
	}
	if e := validateTopicName(req.Topic); e != nil {
		return nil, e
	}
	acks := req.Acks
	if acks == brokerpb.Acks_ACKS_UNSPECIFIED {
		acks = brokerpb.Acks_ACKS_ALL
	}
	if _, ok := brokerpb.Acks_name[int32(acks)]; !ok {
		return nil, errf(codeInvalidRequest, "unknown acks value %d", acks)
	}
	if req.TimeoutMs < 0 {
		return nil, errf(codeInvalidRequest, "negative timeout_ms %d", req.TimeoutMs)
	}
	p, e := b.partitionFor(req.Topic, req.Partition)
	if e != nil {
		return nil, e
	}
	st, e := p.leaderFor(req.LeaderEpoch)
	if e != nil {
		return nil, e
	}
	if len(req.Batch) > st.settings.maxMessageBytes {
		return nil, errf(codeTooLarge, "batch of %d bytes exceeds max.message.bytes %d of topic %q", len(req.Batch), st.settings.maxMessageBytes, req.Topic)
	}
	h, e := validateClientBatch(req.Batch)
	if e != nil {
		return nil, e
	}
	if acks == brokerpb.Acks_ACKS_ALL && !st.minISRSatisfied {
		if st.settings.quorum {
			return nil, errf(codeNotEnoughReplicas, "%s-%d: fewer than a majority of its %d replicas are caught up", req.Topic, req.Partition, len(st.replicas))
		}
		return nil, errf(codeNotEnoughReplicas, "%s-%d has %d in-sync replicas %v, min.insync.replicas is %d", req.Topic, req.Partition, len(st.isr), st.isr, st.settings.minISR)
	}
	// The batch records which leader epoch wrote it: replication truncates
	// divergent logs at epoch boundaries (KIP-101).
	record.SetPartitionLeaderEpoch(req.Batch, st.leaderEpoch)
	var res engine.AppendResult
	duplicate := false
	if planted("ack-without-append", 1000) {
		_, end, _ := p.log.Offsets()
		return &brokerpb.ProduceResponse{BaseOffset: end, LastOffset: end + int64(h.LastOffsetDelta), Receipt: p.receipt(st.leaderEpoch, engine.AppendResult{BaseOffset: end, LastOffset: end + int64(h.LastOffsetDelta)})}, nil
	}
	if h.ProducerID >= 0 {
		if res, duplicate, e = p.appendIdempotent(req.Batch, h); e != nil {
			return nil, e
		}
	} else {
		var err error
		if res, err = p.log.AppendVerified(req.Batch, h); err != nil {
			e := storageError(err)
			if errors.Is(err, engine.ErrPoisoned) {
				// The write may have reached the file before the fsync failed.
				e.Indefinite = true
			}
			return nil, e
		}
	}
	if !duplicate && planted("append-twice", 500) {
		_, _ = p.log.AppendVerified(req.Batch, h)
	}
	if acks == brokerpb.Acks_ACKS_ALL && !planted("acks-all-local", 1) {
		timeout := b.cfg.ProduceTimeout
		if req.TimeoutMs > 0 {
			timeout = min(time.Duration(req.TimeoutMs)*time.Millisecond, maxProduceTimeout)
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		e := p.waitCommitted(wctx, st.leaderEpoch, res.LastOffset)
		cancel()
		if e != nil {
			return nil, e
		}
	}
	return &brokerpb.ProduceResponse{
		Duplicate:       duplicate,
		BaseOffset:      res.BaseOffset,
		LastOffset:      res.LastOffset,
		LogAppendTimeMs: res.LogAppendTime,
		LogStartOffset:  p.log.LogStartOffset(),
		Receipt:         p.receipt(st.leaderEpoch, res),
	}, nil
}

// receipt names the replicas known to hold and to have synced the batch
// when the answer is sent: the leader from its own log, followers from
// their last fetch (a follower's fetch offset is everything it holds, its
// durable end what it synced).
func (p *partition) receipt(epoch int32, res engine.AppendResult) *brokerpb.DurabilityReceipt {
	r := &brokerpb.DurabilityReceipt{LeaderEpoch: epoch, Replicas: []int32{p.self}}
	if res.Durable || p.log.DurableEndOffset() > res.LastOffset {
		r.SyncedReplicas = []int32{p.self}
	}
	for _, f := range p.snapshot().followers {
		if f.logEnd > res.LastOffset {
			r.Replicas = append(r.Replicas, f.id)
		}
		if f.durableEnd > res.LastOffset {
			r.SyncedReplicas = append(r.SyncedReplicas, f.id)
		}
	}
	return r
}

// validateClientBatch checks that bytes from a client are one whole, valid
// record batch of the shape a producer may send: base offset 0 (the broker
// assigns offsets), no control or transactional flag, dense offset deltas,
// a CRC that matches. The CRC is computed once, in the same pass that
// decodes the records; the engine is then told the batch is verified.
func validateClientBatch(b []byte) (record.Header, *Error) {
	h, err := record.ParseHeader(b)
	if e := batchError(err); e != nil {
		return h, e
	}
	var e *Error
	switch {
	case h.Size() > len(b):
		e = errf(codeCorrupt, "truncated batch: declares %d bytes, request holds %d", h.Size(), len(b))
	case h.Size() != len(b):
		e = errf(codeInvalidRecord, "request holds %d bytes after the batch; send one batch per request", len(b)-h.Size())
	case h.BaseOffset != 0:
		e = errf(codeInvalidRecord, "client batch has base offset %d; it must be 0 (the broker assigns offsets)", h.BaseOffset)
	case h.Attributes.IsControl():
		e = errf(codeInvalidRecord, "client batch has the control flag set")
	case h.Attributes.IsTransactional():
		e = errf(codeInvalidRecord, "transactional batches are not supported")
	case h.Attributes.Compression() != record.None:
		e = errf(codeInvalidRecord, "compression %v is not supported yet; send uncompressed batches", h.Attributes.Compression())
	case h.RecordCount < 1:
		e = errf(codeInvalidRecord, "batch holds no records")
	case h.LastOffsetDelta != h.RecordCount-1:
		e = errf(codeInvalidRecord, "lastOffsetDelta %d does not match %d records", h.LastOffsetDelta, h.RecordCount)
	case h.ProducerID < -1:
		e = errf(codeInvalidRecord, "producer id %d", h.ProducerID)
	case h.ProducerID >= 0 && (h.ProducerEpoch < 0 || h.BaseSequence < 0):
		e = errf(codeInvalidRecord, "idempotent batch of producer %d has epoch %d and base sequence %d", h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	}
	if e != nil {
		return h, e
	}
	want := int32(0)
	err = record.ForEachRecord(b, func(r record.Record) error {
		if r.OffsetDelta != want {
			return errf(codeInvalidRecord, "record %d has offset delta %d", want, r.OffsetDelta)
		}
		want++
		return nil
	})
	var be *Error
	if errors.As(err, &be) {
		return h, be
	}
	return h, batchError(err)
}

// batchError maps a record package error to the protocol code.
func batchError(err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, record.ErrBadMagic):
		return errf(codeInvalidRecord, "%v (Sluice stores RecordBatch v2, magic 2)", err)
	case errors.Is(err, record.ErrTruncated):
		return errf(codeCorrupt, "truncated batch: %v", err)
	}
	return errf(codeCorrupt, "%v", err)
}
