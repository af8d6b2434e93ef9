package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/replication"
)

// replicaFetchMaxBytes bounds one follower fetch (Kafka's
// replica.fetch.max.bytes); at least one whole batch comes regardless.
const replicaFetchMaxBytes = 1 << 20

// fetcher is a follower replica's connection to its leader's data plane:
// it sends the node's FetchRequests one at a time and hands each reply,
// records included, back to the partition driver. A request that comes
// while one is in flight waits; a newer one replaces it (the node numbers
// them, and a reply to a superseded one is stale anyway).
type fetcher struct {
	p    *partition
	reqs chan replication.FetchRequest
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	conn net.Conn
	to   int32
	addr string
}

// fetchResult is one answered (or failed) FetchRequest.
type fetchResult struct {
	req     replication.FetchRequest
	resp    brokerpb.ReplicaFetchResponse
	records []byte
	err     error
}

func (p *partition) startFetcher() *fetcher {
	if p.fetcher == nil {
		f := &fetcher{p: p, reqs: make(chan replication.FetchRequest, 1), stop: make(chan struct{}), done: make(chan struct{})}
		p.fetcher = f
		go f.run()
	}
	return p.fetcher
}

func (p *partition) stopFetcher() {
	f := p.fetcher
	if f == nil {
		return
	}
	p.fetcher = nil
	close(f.stop)
	f.mu.Lock()
	if f.conn != nil {
		_ = f.conn.Close()
	}
	f.mu.Unlock()
	<-f.done
}

// request queues m, replacing a queued request that was not sent yet.
func (f *fetcher) request(m replication.FetchRequest) {
	for {
		select {
		case f.reqs <- m:
			return
		default:
		}
		select {
		case <-f.reqs:
		default:
		}
	}
}

func (f *fetcher) run() {
	defer close(f.done)
	defer f.closeConn()
	for {
		var req replication.FetchRequest
		select {
		case req = <-f.reqs:
		case <-f.stop:
			return
		}
		if d := time.Until(time.Unix(0, f.p.appendRetryAt.Load())); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-f.stop:
				t.Stop()
				return
			}
		}
		res := f.fetch(req)
		if res.err != nil {
			f.closeConn()
			select {
			case <-f.stop:
				return
			default:
			}
			f.p.logger.Debug("replica fetch failed", "leader", req.To, "err", res.err)
		}
		select {
		case f.p.replies <- res:
		case <-f.stop:
			return
		}
	}
}

func (f *fetcher) closeConn() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
}

// connect returns a connection to the data plane of broker id.
func (f *fetcher) connect(id int32) (net.Conn, error) {
	info, ok := f.p.b.coord.Snapshot().Brokers[id]
	if !ok {
		return nil, fmt.Errorf("leader %d is not registered", id)
	}
	f.mu.Lock()
	if f.conn != nil && f.to == id && f.addr == info.DataAddr {
		c := f.conn
		f.mu.Unlock()
		return c, nil
	}
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	c, err := f.p.b.cfg.dialContext(ctx, info.DataAddr)
	cancel()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stop:
		_ = c.Close()
		return nil, errors.New("fetcher stopped")
	default:
	}
	f.conn, f.to, f.addr = c, id, info.DataAddr
	return c, nil
}

func (f *fetcher) fetch(req replication.FetchRequest) fetchResult {
	res := fetchResult{req: req}
	c, err := f.connect(int32(req.To))
	if err != nil {
		res.err = err
		return res
	}
	p := f.p
	wait := p.cfg.fetchWait
	frame := brokerpb.AppendReplicaFetchRequestFrame(nil, &brokerpb.ReplicaFetchRequest{
		CorrelationID: uint32(req.Seq), Topic: p.topic, TopicID: p.topicID, Partition: p.id,
		ReplicaID: p.self, Seq: req.Seq, Epoch: int32(req.Epoch), FetchOffset: req.FetchOffset,
		DurableEnd: min(req.DurableEnd, req.FetchOffset), LastFetchedEpoch: int32(req.LastFetchedEpoch),
		MaxBytes: replicaFetchMaxBytes, MaxWaitMs: int32(wait / time.Millisecond),
	})
	_ = c.SetDeadline(time.Now().Add(wait + 10*time.Second))
	if _, err := c.Write(frame); err != nil {
		res.err = err
		return res
	}
	typ, body, err := brokerpb.ReadFrame(c, brokerpb.MaxReplicaFetchResponseFrameBytes, nil)
	if err != nil {
		res.err = err
		return res
	}
	if typ != brokerpb.FrameReplicaFetchResponse {
		res.err = fmt.Errorf("%w: frame type %d in answer to a replica fetch", brokerpb.ErrFrameMalformed, typ)
		return res
	}
	if res.resp, err = brokerpb.DecodeReplicaFetchResponse(body); err != nil {
		res.err = err
		return res
	}
	if res.resp.CorrelationID != uint32(req.Seq) {
		res.err = fmt.Errorf("%w: correlation id %d, want %d", brokerpb.ErrFrameMalformed, res.resp.CorrelationID, uint32(req.Seq))
		return res
	}
	// One batch may exceed the fetch size (max.message.bytes), never the
	// largest batch a topic may hold plus the fetch size.
	if limit := uint32(replicaFetchMaxBytes + MaxMaxMessageBytes); res.resp.RecordsLength > limit {
		res.err = fmt.Errorf("%w: %d record bytes", brokerpb.ErrFrameTooLarge, res.resp.RecordsLength)
		return res
	}
	if res.resp.RecordsLength > 0 {
		res.records = make([]byte, res.resp.RecordsLength)
		if _, err := io.ReadFull(c, res.records); err != nil {
			res.err = err
			return res
		}
	}
	return res
}

// applyFetchResult (driver) appends what a fetch reply carried and steps
// the reply: batches only when the reply is of the node's current epoch,
// only those continuing the log, in order.
func (p *partition) applyFetchResult(r fetchResult) {
	resp := replication.FetchResponse{
		From: r.req.To, Seq: r.req.Seq, Epoch: r.req.Epoch,
		DivergingEpoch: replication.NoEpoch, DivergingEndOffset: -1,
	}
	if r.err != nil || r.resp.Error != brokerpb.ErrorCode_NONE {
		// The leader is unreachable or does not know the partition (yet):
		// back off and fetch again.
		if r.err == nil {
			p.logger.Debug("replica fetch refused", "leader", r.req.To, "code", r.resp.Error, "msg", r.resp.ErrorMessage)
		}
		resp.Error = replication.ErrorNotLeader
		resp.AppendedThrough = p.log.LogEndOffset()
		p.step(resp)
		return
	}
	m := r.resp
	resp.Epoch = replication.Epoch(m.Epoch)
	resp.Error = replication.ErrorKind(m.ReplicaError)
	resp.DivergingEpoch, resp.DivergingEndOffset = replication.Epoch(m.DivergingEpoch), m.DivergingEndOffset
	resp.HighWatermark, resp.LogStartOffset = m.HighWatermark, m.LogStartOffset
	if len(r.records) > 0 && m.ReplicaError == 0 && m.DivergingEndOffset < 0 && m.Epoch == p.snapshot().leaderEpoch {
		resp.Appended = p.appendReplicated(r.records)
	}
	resp.AppendedThrough = p.log.LogEndOffset()
	p.step(resp)
}

// replicaAppendBackoff is how long a follower waits to fetch again after
// its own append failed; storageWarnEvery spaces the warnings about it.
const (
	replicaAppendBackoff = 200 * time.Millisecond
	storageWarnEvery     = 5 * time.Second
)

// appendReplicated appends the whole batches of data that continue the log
// and returns their (epoch, base offset); it stops at the first batch that
// does not fit (a gap, a torn tail, a storage error).
func (p *partition) appendReplicated(data []byte) []replication.EpochEntry {
	end := p.log.LogEndOffset()
	var batches [][]byte
	var headers []record.Header
	for pos := 0; pos < len(data); {
		h, err := record.ParseHeader(data[pos:])
		if err != nil || h.Size() > len(data)-pos {
			p.logger.Warn("replica fetch holds a bad batch", "pos", pos, "err", err)
			break
		}
		b := data[pos : pos+h.Size()]
		pos += h.Size()
		if h.LastOffset() < end {
			continue // already held
		}
		if h.BaseOffset != end {
			p.logger.Warn("replica fetch does not continue the log", "base", h.BaseOffset, "logEnd", end)
			break
		}
		batches, headers = append(batches, b), append(headers, h)
		end = h.NextOffset()
	}
	results, err := p.log.AppendReplicas(batches)
	if err != nil {
		p.appendRetryAt.Store(time.Now().Add(replicaAppendBackoff).UnixNano())
		if time.Since(p.appendWarned) >= storageWarnEvery {
			p.appendWarned = time.Now()
			p.logger.Warn("cannot append replicated batches; fetching again shortly", "err", err, "retry_in", replicaAppendBackoff)
		}
	}
	table := p.producerTable()
	entries := make([]replication.EpochEntry, 0, len(results))
	for i, res := range results {
		h := headers[i]
		entries = append(entries, replication.EpochEntry{Epoch: replication.Epoch(h.PartitionLeaderEpoch), StartOffset: res.BaseOffset})
		if h.ProducerID >= 0 {
			// A follower keeps the producer table too, so an idempotent
			// producer's retry after failover is still recognised.
			e := table.entry(h.ProducerID)
			e.mu.Lock()
			e.record(h, res.BaseOffset, res.LastOffset)
			e.mu.Unlock()
		}
	}
	return entries
}
