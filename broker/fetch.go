package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

const defaultFetchMaxBytes = 1 << 20

// fetchParams are a fetch request's bounds after clamping to the broker's
// limits.
type fetchParams struct {
	offset   int64
	maxBytes int
	minBytes int
	deadline time.Time
	epoch    int32
}

func (b *Broker) fetchParams(offset int64, maxBytes, minBytes, maxWaitMs, epoch int32) (fetchParams, *Error) {
	if offset < 0 {
		return fetchParams{}, errf(codeOutOfRange, "negative fetch offset %d", offset)
	}
	if maxBytes < 0 || minBytes < 0 || maxWaitMs < 0 {
		return fetchParams{}, errf(codeInvalidRequest, "negative fetch bound (max_bytes %d, min_bytes %d, max_wait_ms %d)", maxBytes, minBytes, maxWaitMs)
	}
	fp := fetchParams{offset: offset, maxBytes: int(maxBytes), minBytes: int(minBytes), epoch: epoch}
	if fp.maxBytes == 0 {
		fp.maxBytes = defaultFetchMaxBytes
	}
	fp.maxBytes = min(fp.maxBytes, int(b.cfg.MaxFetchBytes))
	fp.minBytes = min(max(fp.minBytes, 1), fp.maxBytes)
	wait := min(time.Duration(maxWaitMs)*time.Millisecond, b.cfg.MaxFetchWait)
	fp.deadline = time.Now().Add(wait)
	return fp, nil
}

// longPoll calls read at the current high watermark until it returns at
// least minBytes or the deadline passes. read returns how many bytes it
// found (and keeps them); an error ends the poll.
func (b *Broker) longPoll(ctx context.Context, p *partition, fp fetchParams, read func(st *replicaState) (int64, *Error)) (*replicaState, *Error) {
	for {
		if e := b.checkServing(); e != nil {
			return nil, e
		}
		st, e := p.leaderFor(fp.epoch)
		if e != nil {
			return nil, e
		}
		start, end, _ := p.log.Offsets()
		switch {
		case fp.offset < start || fp.offset > end:
			e := errf(codeOutOfRange, "offset %d is outside %s-%d [%d, %d]", fp.offset, p.topic, p.id, start, st.highWatermark)
			e.Meta = map[string]string{"log_start_offset": strconv.FormatInt(start, 10), "high_watermark": strconv.FormatInt(st.highWatermark, 10)}
			return nil, e
		case fp.offset > st.highWatermark:
			return nil, errf(codeOffsetNotAvailable, "offset %d of %s-%d is above the high watermark %d", fp.offset, p.topic, p.id, st.highWatermark)
		}
		n := int64(0)
		if fp.offset < st.highWatermark {
			var e *Error
			if n, e = read(st); e != nil {
				return nil, e
			}
		}
		remaining := time.Until(fp.deadline)
		if n >= int64(fp.minBytes) || remaining <= 0 {
			return st, nil
		}
		timer := time.NewTimer(remaining)
		select {
		case <-st.changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, asError(ctx.Err())
		case <-b.ctx.Done():
			timer.Stop()
			return nil, errf(codeBrokerNotAvailable, "broker %d is shutting down", b.cfg.ID)
		}
		timer.Stop()
	}
}

// Fetch is the copy-path fetch over gRPC (for clients that cannot use the
// data plane, and for TLS later).
func (b *Broker) Fetch(ctx context.Context, req *brokerpb.FetchRequest) (*brokerpb.FetchResponse, error) {
	start := time.Now()
	resp, e := b.fetch(ctx, req)
	err := errOrNil(e)
	b.metrics.observe("fetch", start, err)
	if err != nil {
		return nil, toStatus(err)
	}
	b.metrics.bytesOut.WithLabelValues("grpc").Add(float64(len(resp.Records)))
	return resp, nil
}

func (b *Broker) fetch(ctx context.Context, req *brokerpb.FetchRequest) (*brokerpb.FetchResponse, *Error) {
	fp, e := b.fetchParams(req.Offset, req.MaxBytes, req.MinBytes, req.MaxWaitMs, req.LeaderEpoch)
	if e != nil {
		return nil, e
	}
	filter, err := parseTagFilter(req.TagFilter)
	if err != nil {
		return nil, errf(codeInvalidRequest, "tag filter %q: %v", req.TagFilter, err)
	}
	p, e := b.partitionFor(req.Topic, req.Partition)
	if e != nil {
		return nil, e
	}
	resp := &brokerpb.FetchResponse{NextOffset: req.Offset}
	st, e := b.longPoll(ctx, p, fp, func(st *replicaState) (int64, *Error) {
		res, err := p.log.ReadUpTo(fp.offset, fp.maxBytes, st.highWatermark)
		if err != nil {
			return 0, storageError(err)
		}
		data, err := filterBatches(res.Data, filter)
		if err != nil {
			return 0, storageError(err)
		}
		resp.Records, resp.NextOffset = data, res.NextOffset
		// Bytes read, not bytes kept, end the long poll: a filter that
		// matches nothing still moves the consumer forward.
		return int64(len(res.Data)), nil
	})
	if e != nil {
		return nil, e
	}
	resp.HighWatermark = st.highWatermark
	resp.LogStartOffset = p.log.LogStartOffset()
	resp.LeaderEpoch = st.leaderEpoch
	return resp, nil
}
