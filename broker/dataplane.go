package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine"
)

// dataPlane serves fetches over the framed TCP protocol of brokerpb
// (frame.go): a request frame in, a response header frame out, then the
// batches straight from the segment file with sendfile(2). One request at a
// time per connection; a malformed frame closes the connection, because
// the stream cannot be resynchronised.
type dataPlane struct {
	b       *Broker
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func newDataPlane(b *Broker) *dataPlane {
	return &dataPlane{b: b, conns: map[net.Conn]struct{}{}}
}

func (d *dataPlane) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.closing {
			d.mu.Unlock()
			_ = c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.handle(c)
	}
}

// close stops reading new requests (idle connections are woken by a read
// deadline) and waits for fetches in flight, bounded by ctx.
func (d *dataPlane) close(ctx context.Context) {
	d.mu.Lock()
	d.closing = true
	for c := range d.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.mu.Lock()
		for c := range d.conns {
			_ = c.Close()
		}
		d.mu.Unlock()
		<-done
	}
}

func (d *dataPlane) handle(c net.Conn) {
	defer func() {
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		_ = c.Close()
		d.wg.Done()
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	var buf, out []byte
	for {
		typ, body, err := brokerpb.ReadFrame(c, brokerpb.MaxRequestFrameBytes, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				d.writeError(c, 0, errf(codeInvalidRequest, "bad frame: %v", err))
			}
			return
		}
		buf = body[:0]
		if typ == brokerpb.FrameReplicaFetchRequest {
			req, err := brokerpb.DecodeReplicaFetchRequest(body)
			if err != nil {
				d.writeError(c, 0, errf(codeInvalidRequest, "bad replica fetch request: %v", err))
				return
			}
			start := time.Now()
			var sendErr error
			out, sendErr = d.replicaFetch(c, &req, out[:0])
			d.b.metrics.observe("dataplane_replica_fetch", start, nil)
			if sendErr != nil {
				return
			}
			continue
		}
		if typ != brokerpb.FrameFetchRequest {
			d.writeError(c, 0, errf(codeInvalidRequest, "unexpected frame type %d", typ))
			return
		}
		req, err := brokerpb.DecodeFetchRequest(body)
		if err != nil {
			d.writeError(c, 0, errf(codeInvalidRequest, "bad fetch request: %v", err))
			return
		}
		start := time.Now()
		var sendErr error
		out, sendErr = d.fetch(c, &req, out[:0])
		d.b.metrics.observe("dataplane_fetch", start, nil)
		if sendErr != nil {
			return
		}
	}
}

// fetch answers one request. It returns an error only when the connection
// is unusable.
func (d *dataPlane) fetch(c net.Conn, req *brokerpb.DataFetchRequest, out []byte) ([]byte, error) {
	b := d.b
	resp := brokerpb.DataFetchResponse{CorrelationID: req.CorrelationID, NextOffset: req.Offset}
	var region engine.Region
	var part *partition
	e := func() *Error {
		if req.ReplicaID >= 0 {
			return errf(codeInvalidRequest, "replica fetches use frame type %d", brokerpb.FrameReplicaFetchRequest)
		}
		if len(req.Topic) > MaxTopicNameLen {
			return errf(codeInvalidTopic, "topic name of %d bytes", len(req.Topic))
		}
		fp, e := b.fetchParams(req.Offset, req.MaxBytes, req.MinBytes, req.MaxWaitMs, req.LeaderEpoch)
		if e != nil {
			return e
		}
		p, e := b.partitionFor(req.Topic, req.Partition)
		if e != nil {
			return e
		}
		part = p
		st, e := b.longPoll(b.ctx, p, fp, func(st *replicaState) (int64, *Error) {
			region.Release()
			r, err := p.log.ReadRegion(fp.offset, fp.maxBytes, st.highWatermark)
			if err != nil {
				return 0, storageError(err)
			}
			if plantedSpan("fetch-skip", r.NextOffset-fp.offset, 700) && r.NextOffset > fp.offset+1 {
				// Serves from one offset late: the record at fp.offset is
				// skipped (batches of one record).
				r.Release()
				if r, err = p.log.ReadRegion(fp.offset+1, fp.maxBytes, st.highWatermark); err != nil {
					return 0, storageError(err)
				}
			}
			region = r
			return r.Length, nil
		})
		if e != nil {
			return e
		}
		start, end, _ := p.log.Offsets()
		resp.HighWatermark, resp.LogStartOffset, resp.LogEndOffset = st.highWatermark, start, end
		resp.LeaderEpoch = st.leaderEpoch
		resp.NextOffset = max(region.NextOffset, req.Offset)
		resp.RecordsLength = uint32(region.Length)
		return nil
	}()
	defer region.Release()
	if e != nil {
		region.Release()
		resp.Error, resp.ErrorMessage = e.Code, truncateMsg(e.Error())
		resp.RecordsLength = 0
		resp.LeaderEpoch = e.LeaderEpoch
		if part != nil {
			// The offsets tell a consumer where it may resume, as the
			// gRPC error's metadata does.
			st := part.snapshot()
			resp.LogStartOffset, resp.LogEndOffset = part.log.LogStartOffset(), part.log.LogEndOffset()
			resp.HighWatermark = st.highWatermark
		}
	}
	out = brokerpb.AppendFetchResponseFrame(out, &resp)
	if _, err := c.Write(out); err != nil {
		return out, err
	}
	if resp.RecordsLength > 0 {
		n, err := region.SendTo(c)
		b.metrics.bytesOut.WithLabelValues("dataplane").Add(float64(n))
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *dataPlane) writeError(c net.Conn, corr uint32, e *Error) {
	resp := brokerpb.DataFetchResponse{CorrelationID: corr, Error: e.Code, ErrorMessage: truncateMsg(e.Error()), LeaderEpoch: -1}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(brokerpb.AppendFetchResponseFrame(nil, &resp))
}

func truncateMsg(s string) string {
	if len(s) > 1024 {
		return s[:1024]
	}
	return s
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
