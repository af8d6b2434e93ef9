package broker

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/replication"
)

// replicaFetch answers a follower's fetch on the data plane: the leader's
// node checks the epoch and the follower's divergence and records its
// progress, possibly holding the fetch until there is something new; the
// reply's range [ReadFrom, ReadTo) goes out with sendfile. It returns an
// error only when the connection is unusable.
func (d *dataPlane) replicaFetch(c net.Conn, req *brokerpb.ReplicaFetchRequest, out []byte) ([]byte, error) {
	b := d.b
	resp := brokerpb.ReplicaFetchResponse{
		CorrelationID: req.CorrelationID, Seq: req.Seq, Epoch: -1, DivergingEpoch: -1, DivergingEndOffset: -1,
	}
	var region engine.Region
	defer func() { region.Release() }()
	e := func() *Error {
		if e := b.checkServing(); e != nil {
			return e
		}
		p, e := b.partitionFor(req.Topic, req.Partition)
		if e != nil {
			return e
		}
		if p.topicID != req.TopicID {
			return errf(codeUnknownTopic, "%s-%d here is incarnation %s, not %s", req.Topic, req.Partition, p.topicID, req.TopicID)
		}
		reply, e := p.serveReplicaFetch(b.ctx, req)
		if e != nil {
			return e
		}
		resp.Epoch, resp.ReplicaError = int32(reply.Epoch), int32(reply.Error)
		resp.DivergingEpoch, resp.DivergingEndOffset = int32(reply.DivergingEpoch), reply.DivergingEndOffset
		resp.HighWatermark, resp.LogStartOffset = reply.HighWatermark, reply.LogStartOffset
		resp.LogEndOffset = p.log.LogEndOffset()
		resp.ReadFrom = reply.ReadFrom
		if reply.Error == replication.ErrorNone && reply.DivergingEndOffset < 0 && reply.ReadTo > reply.ReadFrom {
			maxBytes := int(min(req.MaxBytes, b.cfg.MaxFetchBytes))
			if maxBytes <= 0 {
				maxBytes = replicaFetchMaxBytes
			}
			r, err := p.log.ReadRegion(reply.ReadFrom, maxBytes, reply.ReadTo)
			if err != nil {
				// Retention or a truncation moved the log since the
				// node answered: send nothing; the follower fetches again.
				if !errors.Is(err, engine.ErrOffsetOutOfRange) {
					p.logger.Debug("replica fetch read", "from", reply.ReadFrom, "err", err)
				}
				return nil
			}
			region = r
			resp.RecordsLength = uint32(r.Length)
		}
		return nil
	}()
	if e != nil {
		region.Release()
		region = engine.Region{}
		resp.Error, resp.ErrorMessage = e.Code, truncateMsg(e.Error())
		resp.RecordsLength = 0
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	out = brokerpb.AppendReplicaFetchResponseFrame(out, &resp)
	if _, err := c.Write(out); err != nil {
		return out, err
	}
	if resp.RecordsLength > 0 {
		n, err := region.SendTo(c)
		b.metrics.bytesOut.WithLabelValues("replication").Add(float64(n))
		if err != nil {
			return out, err
		}
	}
	_ = c.SetWriteDeadline(time.Time{})
	return out, nil
}

// serveReplicaFetch steps a follower's fetch into the node and waits for
// the node's reply (the node may park it for up to its fetch wait).
func (p *partition) serveReplicaFetch(ctx context.Context, req *brokerpb.ReplicaFetchRequest) (replication.FetchReply, *Error) {
	wait := time.Duration(req.MaxWaitMs)*time.Millisecond + 5*time.Second
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	from := req.ReplicaID
	ch := make(chan replication.FetchReply, 1)
	var stepErr error
	err := p.do(ctx, func() {
		p.waiters[from] = replicaWaiter{seq: req.Seq, ch: ch}
		p.view.refresh()
		stepErr = p.node.Step(replication.FollowerFetch{
			From: replication.BrokerID(from), Seq: req.Seq, Epoch: replication.Epoch(req.Epoch),
			FetchOffset: req.FetchOffset, DurableEnd: req.DurableEnd, LastFetchedEpoch: replication.Epoch(req.LastFetchedEpoch),
		})
		if stepErr != nil {
			delete(p.waiters, from)
		}
	})
	if err != nil {
		return replication.FetchReply{}, asError(err)
	}
	switch {
	case errors.Is(stepErr, replication.ErrUnknownReplica):
		return replication.FetchReply{}, errf(codeNotLeader, "broker %d is not a replica of %s-%d", from, p.topic, p.id)
	case stepErr != nil:
		return replication.FetchReply{}, errf(codeInvalidRequest, "replica fetch: %v", stepErr)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		_ = p.do(context.Background(), func() {
			if w, ok := p.waiters[from]; ok && w.seq == req.Seq {
				delete(p.waiters, from)
			}
		})
		return replication.FetchReply{}, errf(codeTimedOut, "replica fetch of %s-%d not answered in time", p.topic, p.id)
	}
}
