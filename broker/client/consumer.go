package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
	"google.golang.org/grpc"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Record is a consumed message.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the producer's time, or the broker's append time if the topic says so
	Key       []byte    // nil: no key
	Value     []byte
	Headers   []Header
	// LeaderEpoch is the epoch of the leader that appended the record.
	LeaderEpoch int32
}

// Transport is how a consumer fetches records.
type Transport int

const (
	// TransportDataPlane fetches over the brokers' framed TCP data plane
	// (zero-copy on the broker), falling back to gRPC for a broker whose
	// data plane cannot be reached or does not speak the protocol.
	TransportDataPlane Transport = iota
	// TransportGRPC fetches with the gRPC Fetch call.
	TransportGRPC
)

func (t Transport) String() string {
	if t == TransportGRPC {
		return "grpc"
	}
	return "dataplane"
}

// ConsumerOptions configure a Consumer. Zero fields take the defaults.
type ConsumerOptions struct {
	// FetchMaxBytes is the soft limit of record bytes per partition fetch
	// (default 1 MiB): a broker returns at least one whole batch even if
	// it is larger.
	FetchMaxBytes int32
	// MaxWait is how long Poll waits for records (default 500ms).
	MaxWait time.Duration
	// MinBytes is how many record bytes a fetch waits for (default 1).
	MinBytes  int32
	Transport Transport
	// TagFilter fetches only the records whose headers match this tag
	// expression (broker/tagfilter.go: "region=eu && priority=high ||
	// audit"), filtered on the broker. Filtered fetches use gRPC (the data
	// plane sends stored batches as they are) and continue from the
	// broker's next offset, so the offsets Poll returns may be sparse. A
	// group member also reports it to the coordinator (DescribeGroup).
	TagFilter string

	// Group makes the consumer a member of this consumer group (DESIGN.md
	// §6): the group's coordinator assigns it a share of the partitions of
	// its subscription, and moves partitions between members one at a time
	// (a partition is revoked from its old owner, which commits, before
	// the new owner gets it). A background goroutine heartbeats; Poll
	// returns records only of the partitions the member owns. Without a
	// Group, Assign chooses the partitions and nothing is committed.
	Group string
	// Topics is the subscription: the member joins at NewConsumer. Leave
	// it empty to join later with Subscribe.
	Topics []string
	// Assignor is the member's preferred assignor: sticky (the default),
	// range or roundrobin. The group uses the most common preference.
	Assignor string
	// SessionTimeout: a member that does not heartbeat for this long is
	// removed and its partitions reassigned (0: the coordinator's default,
	// 45s). The heartbeat interval is the coordinator's choice (a fifteenth
	// of it).
	SessionTimeout time.Duration
	// RebalanceTimeout: how long the member may take to give up partitions
	// before the coordinator fences it (0: the coordinator's default, 5m).
	// A revocation waits at most half of it for the application to finish
	// the records it holds (30s when unset).
	RebalanceTimeout time.Duration
	// AutoCommit commits the processed positions (see AtLeastOnce) every
	// AutoCommitInterval (default 5s) in the background. Not used with
	// AtMostOnce, which commits in Poll.
	AutoCommit         bool
	AutoCommitInterval time.Duration
	// AutoOffsetReset is where a newly assigned partition without a
	// committed offset starts: Latest (the default, like Kafka) or
	// Earliest.
	AutoOffsetReset OffsetSpec
	// Delivery picks the delivery promise (AtLeastOnce by default).
	Delivery Delivery
	// PositionStore is required with ExactlyOnce, and only used then.
	PositionStore PositionStore
	// OnAssigned is called with the partitions the member takes on, after
	// their start positions are known and before any of their records is
	// fetched. OnRevoked is called with the partitions it gives up: with
	// lost=false after it stopped fetching them and committed (per
	// Delivery), before the coordinator hears of it (so a new owner has
	// not started); with lost=true after the member was fenced or expired,
	// when another member may own them already and nothing was committed.
	// Both run on the heartbeat goroutine (or in Close); they must not
	// call Close.
	OnAssigned func(assigned []TopicPartition)
	OnRevoked  func(revoked []TopicPartition, lost bool)
}

// recordsSlackBytes is how far a response may exceed FetchMaxBytes, since
// one whole batch is returned regardless of the limit. More than this is an
// error, detected before the bytes are allocated.
const recordsSlackBytes = 16 << 20

// fetchTimeoutSlack is added to MaxWait to bound one fetch request.
const fetchTimeoutSlack = 30 * time.Second

func (o ConsumerOptions) resolve() ConsumerOptions {
	if o.FetchMaxBytes <= 0 {
		o.FetchMaxBytes = 1 << 20
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 500 * time.Millisecond
	}
	if o.MinBytes <= 0 {
		o.MinBytes = 1
	}
	return o
}

// Consumer reads partitions from their leaders: the partitions given to
// Assign or, with ConsumerOptions.Group, those the group's coordinator
// assigns it. Poll must not be called from several goroutines at once; the
// other methods may be called concurrently with it.
type Consumer struct {
	c    *Client
	opts ConsumerOptions
	g    *groupMember // nil without a Group

	pollMu sync.Mutex // one Poll at a time; guards data
	// data holds one idle data-plane connection per broker address. A
	// Poll takes a broker's connection out for its fetch goroutine and
	// puts it back when the goroutine is done.
	data map[string]*dataConn

	mu sync.Mutex
	// noData remembers the data-plane addresses that failed to connect or
	// did not speak the protocol, for the consumer's lifetime.
	noData   map[string]bool
	assigned []TopicPartition
	// positions holds the next offset to fetch per partition; resets the
	// partitions whose position must first be looked up. A partition is
	// in at most one of them.
	positions map[TopicPartition]int64
	resets    map[TopicPartition]OffsetSpec
	paused    map[TopicPartition]bool
	closed    bool
}

// NewConsumer returns a consumer that reads through c. With opts.Group and
// opts.Topics it joins the group at once (its heartbeat goroutine starts);
// with a Group and no Topics, at Subscribe. Close a group consumer to leave
// the group.
func (c *Client) NewConsumer(opts ConsumerOptions) (*Consumer, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if err := validateGroupOptions(opts); err != nil {
		return nil, err
	}
	co := &Consumer{
		c:         c,
		opts:      opts.resolve(),
		data:      make(map[string]*dataConn),
		noData:    make(map[string]bool),
		positions: make(map[TopicPartition]int64),
		resets:    make(map[TopicPartition]OffsetSpec),
		paused:    make(map[TopicPartition]bool),
	}
	if opts.Group != "" {
		co.g = newGroupMember(co)
		co.mu.Lock()
		co.g.startLocked()
		co.mu.Unlock()
	}
	return co, nil
}

// Assign replaces the set of partitions the consumer reads. A partition
// keeps its position if it stays assigned or was Seek'd before; a new one
// starts at Latest (only records produced from now on) until Seek'd. A
// group consumer's partitions are the coordinator's choice: Assign is
// ignored (and logged) there.
func (co *Consumer) Assign(tps ...TopicPartition) {
	if co.g != nil {
		co.c.opts.logger.Warn("sluice: Assign ignored on a group consumer", "group", co.opts.Group)
		return
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	keep := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		keep[tp] = true
	}
	for _, tp := range co.assigned {
		if !keep[tp] {
			delete(co.positions, tp)
			delete(co.resets, tp)
		}
	}
	co.assigned = co.assigned[:0]
	for tp := range keep {
		co.assigned = append(co.assigned, tp)
		if _, ok := co.positions[tp]; !ok {
			if _, ok := co.resets[tp]; !ok {
				co.resets[tp] = Latest
			}
		}
	}
}

// Assignment returns the assigned partitions; for a group consumer, the
// partitions it owns (including those whose start position is still being
// looked up), sorted.
func (co *Consumer) Assignment() []TopicPartition {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.g != nil {
		return sortedTPs(co.g.owned)
	}
	return append([]TopicPartition(nil), co.assigned...)
}

// Seek sets the next offset Poll fetches for tp. In a group, only for an
// owned partition, and the offset counts as processed (it is what the next
// commit stores).
func (co *Consumer) Seek(tp TopicPartition, offset int64) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if g := co.g; g != nil {
		if !g.owned[tp] || g.uninit[tp] {
			return
		}
		g.processed[tp] = offset
	}
	co.positions[tp] = offset
	delete(co.resets, tp)
}

// SeekToBeginning moves the partitions to their log start offset, looked up
// at the next Poll.
func (co *Consumer) SeekToBeginning(tps ...TopicPartition) { co.seekTo(Earliest, tps) }

// SeekToEnd moves the partitions to their high watermark, looked up at the
// next Poll.
func (co *Consumer) SeekToEnd(tps ...TopicPartition) { co.seekTo(Latest, tps) }

func (co *Consumer) seekTo(spec OffsetSpec, tps []TopicPartition) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for _, tp := range tps {
		if co.g != nil && (!co.g.owned[tp] || co.g.uninit[tp]) {
			continue
		}
		delete(co.positions, tp)
		co.resets[tp] = spec
	}
}

// SeekToTime moves each partition to its first record with a timestamp at
// or after t, or to its end if there is none.
func (co *Consumer) SeekToTime(ctx context.Context, t time.Time, tps ...TopicPartition) error {
	var errs []error
	for _, tp := range tps {
		off, err := co.c.ListOffsets(ctx, tp.Topic, tp.Partition, AtTime, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: %w", tp, err))
			continue
		}
		if off < 0 {
			co.seekTo(Latest, []TopicPartition{tp})
		} else {
			co.Seek(tp, off)
		}
	}
	return errors.Join(errs...)
}

// Position returns the next offset Poll fetches for tp, or -1 if it is not
// known yet (a SeekToBeginning, SeekToEnd or new assignment is resolved at
// the next Poll).
func (co *Consumer) Position(tp TopicPartition) int64 {
	co.mu.Lock()
	defer co.mu.Unlock()
	if off, ok := co.positions[tp]; ok {
		return off
	}
	return -1
}

// Close closes the consumer's data-plane connections. A group consumer
// first stops heartbeating, commits what was processed (AtLeastOnce, or
// ExactlyOnce with AutoCommit), calls OnRevoked for what it owned and
// leaves the group, so its partitions move to other members at once.
// Closing twice is a no-op.
func (co *Consumer) Close() error { return co.close(true) }

// Abandon stops the consumer the way a crashed process stops: no commit,
// no leave; its group session simply lapses and its partitions move once
// the coordinator's session timeout passes. It is for fault injection
// (the checkers' consumer kill) and tests of failover; applications call
// Close.
func (co *Consumer) Abandon() { _ = co.close(false) }

func (co *Consumer) close(leave bool) error {
	co.mu.Lock()
	was := co.closed
	co.closed = true
	co.mu.Unlock()
	if was {
		return nil
	}
	var err error
	if co.g != nil {
		err = co.g.close(leave)
	}
	co.pollMu.Lock()
	defer co.pollMu.Unlock()
	for addr, d := range co.data {
		d.close()
		delete(co.data, addr)
	}
	return err
}

// fetchResult is one partition's outcome within a Poll.
type fetchResult struct {
	tp      TopicPartition
	from    int64 // the position fetched from
	records []Record
	next    int64
	err     error
}

// Poll fetches records from the assigned partitions' leaders, waiting up to
// MaxWait for some to arrive, and advances the positions past them. Records
// are in offset order per partition; records below the position inside the
// first batch are skipped. Every batch's CRC is verified: a corrupt batch is
// an error (CORRUPT_MESSAGE), never returned.
//
// Poll returns nil records and a nil error when nothing arrived in time.
// Transient errors (leadership moves, unreachable brokers) are handled
// inside: the metadata is refreshed and the partition is fetched again at the
// next Poll. Other errors are returned, possibly together with records of
// other partitions (process those, then handle the error): a position
// outside the stored range yields an *OffsetOutOfRangeError carrying the
// valid range, and the partition's position stays put until Seek'd.
//
// With several partitions on one broker, the long poll is shared between
// them in turn (fetch requests name one partition), so a record arriving on
// one of them may wait up to MaxWait divided by their number.
func (co *Consumer) Poll(ctx context.Context) ([]Record, error) {
	co.pollMu.Lock()
	defer co.pollMu.Unlock()
	co.mu.Lock()
	closed := co.closed
	var fatal error
	if co.g != nil {
		fatal = co.g.fatal
		co.g.markPolledLocked()
	}
	assigned := make([]TopicPartition, 0, len(co.assigned))
	for _, tp := range co.assigned {
		if !co.paused[tp] {
			assigned = append(assigned, tp)
		}
	}
	resets := make(map[TopicPartition]OffsetSpec, len(co.resets))
	for tp, spec := range co.resets {
		resets[tp] = spec
	}
	co.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if fatal != nil {
		return nil, fatal
	}
	if len(assigned) == 0 {
		if co.g != nil {
			// Wake up as soon as partitions are assigned.
			t := time.NewTimer(co.opts.MaxWait)
			defer t.Stop()
			select {
			case <-co.g.assigned:
				return nil, nil
			case <-t.C:
				return nil, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, sleep(ctx, co.opts.MaxWait)
	}

	var errs []error
	for tp, spec := range resets {
		off, err := co.c.ListOffsets(ctx, tp.Topic, tp.Partition, spec, time.Time{})
		if err != nil {
			errs = append(errs, fmt.Errorf("%v: look up %v offset: %w", tp, spec, err))
			continue
		}
		co.mu.Lock()
		if co.resets[tp] == spec {
			co.positions[tp] = off
			delete(co.resets, tp)
			if co.g != nil {
				co.g.processed[tp] = off
			}
		}
		co.mu.Unlock()
	}

	// Group the partitions with a known position by leader.
	co.mu.Lock()
	positions := make(map[TopicPartition]int64, len(assigned))
	for _, tp := range assigned {
		if off, ok := co.positions[tp]; ok {
			positions[tp] = off
		}
	}
	co.mu.Unlock()
	byLeader := make(map[int32][]TopicPartition)
	for _, tp := range assigned {
		if _, ok := positions[tp]; !ok {
			continue
		}
		pm, err := co.c.leaderOf(ctx, tp)
		if err != nil {
			if !IsRetryable(err) {
				errs = append(errs, fmt.Errorf("%v: %w", tp, err))
			}
			co.c.handleError(ctx, tp, err)
			continue
		}
		byLeader[pm.leader] = append(byLeader[pm.leader], tp)
	}
	if len(byLeader) == 0 {
		if len(errs) == 0 {
			// Nothing fetchable (no leaders): wait like an empty poll
			// rather than spin.
			return nil, sleep(ctx, min(co.opts.MaxWait, defaultRetryBackoff))
		}
		return nil, errors.Join(errs...)
	}

	var (
		wg      sync.WaitGroup
		resMu   sync.Mutex
		results []fetchResult
		gotData atomic.Bool
	)
	deadline := time.Now().Add(co.opts.MaxWait)
	// Take every leader's connection before any fetch starts: the fetches
	// put theirs back into co.data as they finish, which must not overlap
	// a take (a data race, "concurrent map writes" without -race).
	conns := make(map[int32]*dataConn, len(byLeader))
	for leader := range byLeader {
		conns[leader] = co.takeDataConn(leader)
	}
	for leader, tps := range byLeader {
		conn := conns[leader]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, conn := co.pollBroker(ctx, leader, conn, tps, positions, deadline, &gotData)
			resMu.Lock()
			results = append(results, rs...)
			if conn != nil {
				co.data[conn.addr] = conn // Poll's goroutine waits in wg.Wait meanwhile
			}
			resMu.Unlock()
		}()
	}
	wg.Wait()

	var out []Record
	from := make(map[TopicPartition]int64, len(results))
	co.mu.Lock()
	var fetchable map[TopicPartition]bool
	if co.g != nil {
		fetchable = make(map[TopicPartition]bool, len(co.assigned))
		for _, tp := range co.assigned {
			fetchable[tp] = true
		}
	}
	for _, r := range results {
		if cur, ok := co.positions[r.tp]; !ok || cur != r.from {
			continue // Seek'd or unassigned meanwhile: drop what was fetched
		}
		if fetchable != nil && !fetchable[r.tp] {
			continue // being revoked: its records are no longer ours to return
		}
		out = append(out, r.records...)
		from[r.tp] = r.from
		co.positions[r.tp] = r.next
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	co.mu.Unlock()
	if co.g != nil && co.opts.Delivery == AtMostOnce {
		var err error
		if out, err = co.g.commitBeforeReturn(ctx, out, from); err != nil {
			errs = append(errs, err)
		}
	}
	if len(out) == 0 && len(errs) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, errors.Join(errs...)
}

// takeDataConn removes and returns the cached data-plane connection to
// leader, if any; pollBroker hands it back.
func (co *Consumer) takeDataConn(leader int32) *dataConn {
	b, ok := co.c.brokerInfo(leader)
	if !ok {
		return nil
	}
	d := co.data[b.GetDataAddr()]
	delete(co.data, b.GetDataAddr())
	return d
}

// pollBroker fetches tps, all led by leader, in turns: first without
// waiting, then sharing the long poll, until some partition in the whole
// Poll returned records or an error, or the deadline passed. It returns the
// data-plane connection to keep, if any.
func (co *Consumer) pollBroker(ctx context.Context, leader int32, conn *dataConn, tps []TopicPartition, positions map[TopicPartition]int64, deadline time.Time, gotData *atomic.Bool) ([]fetchResult, *dataConn) {
	var results []fetchResult
	skip := make(map[TopicPartition]bool)
	for pass := 0; ; pass++ {
		active := 0
		for _, tp := range tps {
			if skip[tp] {
				continue
			}
			active++
			var wait time.Duration
			if pass > 0 {
				if gotData.Load() {
					return results, conn
				}
				wait = max(time.Until(deadline)/time.Duration(len(tps)), time.Millisecond)
			}
			var r fetchResult
			r, conn = co.fetch(ctx, leader, conn, tp, positions[tp], wait)
			switch {
			case r.err != nil && IsRetryable(r.err):
				co.c.handleError(ctx, tp, r.err)
				skip[tp] = true
			case r.err != nil || len(r.records) > 0 || r.next != r.from:
				results = append(results, r)
				skip[tp] = true
				if r.err != nil || len(r.records) > 0 {
					gotData.Store(true)
				}
			}
		}
		if active == 0 || gotData.Load() || !time.Now().Before(deadline) || ctx.Err() != nil {
			return results, conn
		}
	}
}

// fetch fetches tp from offset over the data plane or gRPC.
func (co *Consumer) fetch(ctx context.Context, leader int32, conn *dataConn, tp TopicPartition, offset int64, wait time.Duration) (fetchResult, *dataConn) {
	r := fetchResult{tp: tp, from: offset, next: offset}
	b, ok := co.c.brokerInfo(leader)
	if !ok {
		r.err = newError(brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, "broker %d is not in the metadata", leader)
		return r, conn
	}
	pm, _ := co.c.leaderOf(ctx, tp)
	limit := int64(co.opts.FetchMaxBytes) + recordsSlackBytes
	var (
		raw []byte
		err error
	)
	addr := b.GetDataAddr()
	if co.opts.TagFilter == "" && co.opts.Transport == TransportDataPlane && addr != "" && !co.dataPlaneBroken(addr) && len(tp.Topic) <= brokerpb.MaxTopicNameBytes {
		if conn == nil || conn.addr != addr {
			if conn != nil {
				conn.close()
			}
			conn, err = dialData(ctx, co.c.opts.dataDialer, addr)
			if err != nil {
				co.fallBack(leader, addr, err)
			}
		}
		if conn != nil {
			raw, err = co.fetchData(ctx, conn, tp, offset, wait, pm.leaderEpoch, limit)
			if err != nil {
				conn.close()
				conn = nil
				if errors.Is(err, errDataPlaneUnsupported) {
					co.fallBack(leader, addr, err)
					raw, _, err = co.fetchGRPC(ctx, leader, tp, offset, wait, pm.leaderEpoch, limit)
				}
			}
			return co.finish(r, raw, err), conn
		}
	}
	raw, next, err := co.fetchGRPC(ctx, leader, tp, offset, wait, pm.leaderEpoch, limit)
	r = co.finish(r, raw, err)
	if co.opts.TagFilter != "" && r.err == nil && next > r.next {
		// Filtered: the records that did not match are skipped over.
		r.next = next
	}
	return r, conn
}

// dataPlaneBroken reports whether addr's data plane is known not to work.
func (co *Consumer) dataPlaneBroken(addr string) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.noData[addr]
}

// fallBack remembers that addr's data plane does not work and logs it once.
func (co *Consumer) fallBack(leader int32, addr string, err error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.noData[addr] {
		return
	}
	co.noData[addr] = true
	co.c.opts.logger.Warn("sluice: fetch data plane unavailable, using gRPC for this broker", "broker", leader, "data_addr", addr, "err", err)
}

func (co *Consumer) finish(r fetchResult, raw []byte, err error) fetchResult {
	if err != nil {
		var oor *OffsetOutOfRangeError
		if errors.As(err, &oor) {
			oor.Topic, oor.Partition, oor.Offset = r.tp.Topic, r.tp.Partition, r.from
		}
		r.err = err
		return r
	}
	r.records, r.next, r.err = decodeRecords(r.tp, raw, r.from)
	return r
}

// fetchData fetches over the data plane; errors are classified.
func (co *Consumer) fetchData(ctx context.Context, conn *dataConn, tp TopicPartition, offset int64, wait time.Duration, epoch int32, limit int64) ([]byte, error) {
	req := brokerpb.DataFetchRequest{
		Topic:             tp.Topic,
		Partition:         tp.Partition,
		Offset:            offset,
		MaxBytes:          co.opts.FetchMaxBytes,
		MaxWaitMs:         int32(wait.Milliseconds()),
		MinBytes:          co.opts.MinBytes,
		LeaderEpoch:       epoch,
		ReplicaID:         -1,
		ReplicaLogEnd:     -1,
		ReplicaDurableEnd: -1,
	}
	resp, raw, err := conn.fetch(ctx, &req, limit, time.Now().Add(wait+fetchTimeoutSlack))
	switch {
	case errors.Is(err, errDataPlaneUnsupported):
		return nil, err
	case errors.Is(err, brokerpb.ErrFrameTooLarge) || errors.Is(err, brokerpb.ErrFrameMalformed):
		// The broker broke the protocol: not transient, surface it.
		return nil, &Error{Code: brokerpb.ErrorCode_UNKNOWN, Message: "data plane " + conn.addr + ": " + err.Error(), Leader: -1, LeaderEpoch: -1, cause: err}
	case err != nil:
		return nil, fromDataPlane(conn.addr, err)
	}
	switch resp.Error {
	case brokerpb.ErrorCode_NONE:
		return raw, nil
	case brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE:
		return nil, &OffsetOutOfRangeError{LogStartOffset: resp.LogStartOffset, HighWatermark: resp.HighWatermark, Message: resp.ErrorMessage}
	}
	return nil, &Error{Code: resp.Error, Message: resp.ErrorMessage, Leader: -1, LeaderEpoch: -1}
}

// fetchGRPC fetches with the gRPC Fetch call, applying the tag filter. It
// returns the records and the broker's next offset.
func (co *Consumer) fetchGRPC(ctx context.Context, leader int32, tp TopicPartition, offset int64, wait time.Duration, epoch int32, limit int64) ([]byte, int64, error) {
	sc, err := co.c.brokerClient(leader)
	if err != nil {
		return nil, -1, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait+fetchTimeoutSlack)
	defer cancel()
	resp, err := sc.Fetch(ctx, &brokerpb.FetchRequest{
		Topic:       tp.Topic,
		Partition:   tp.Partition,
		Offset:      offset,
		MaxBytes:    co.opts.FetchMaxBytes,
		MaxWaitMs:   int32(wait.Milliseconds()),
		MinBytes:    co.opts.MinBytes,
		LeaderEpoch: epoch,
		TagFilter:   co.opts.TagFilter,
	}, grpc.MaxCallRecvMsgSize(int(limit)+64<<10))
	if err != nil {
		return nil, -1, fromStatus(err, false)
	}
	return resp.GetRecords(), resp.GetNextOffset(), nil
}

// decodeRecords verifies and decodes the whole batches in raw and returns
// the records at or after from, and the position after the last batch. A
// batch that fails verification ends decoding with a CORRUPT_MESSAGE error;
// the records of the batches before it are returned and the position stops
// at it. A truncated batch after at least one whole batch is ignored, as
// Kafka clients do with a partial batch at the end of a response.
func decodeRecords(tp TopicPartition, raw []byte, from int64) ([]Record, int64, error) {
	var out []Record
	next := from
	for first := true; len(raw) > 0; first = false {
		b, err := record.Decode(raw)
		if err != nil {
			if errors.Is(err, record.ErrTruncated) && !first {
				break
			}
			code := brokerpb.ErrorCode_CORRUPT_MESSAGE
			if errors.Is(err, record.ErrUnsupportedCompression) {
				code = brokerpb.ErrorCode_INVALID_RECORD
			}
			return out, next, &Error{Code: code, Message: fmt.Sprintf("%v: batch after offset %d: %v", tp, next, err), Leader: -1, LeaderEpoch: -1, cause: err}
		}
		raw = raw[b.Size():]
		if b.NextOffset() <= next {
			continue // wholly below the position
		}
		if !b.Attributes.IsControl() {
			logAppend := b.Attributes.TimestampType() == record.TimestampLogAppendTime
			for _, r := range b.Records {
				off := b.BaseOffset + int64(r.OffsetDelta)
				if off < from {
					continue
				}
				ts := b.BaseTimestamp + r.TimestampDelta
				if logAppend {
					ts = b.MaxTimestamp
				}
				rec := Record{
					Topic:       tp.Topic,
					Partition:   tp.Partition,
					Offset:      off,
					Timestamp:   time.UnixMilli(ts),
					Key:         r.Key,
					Value:       r.Value,
					LeaderEpoch: b.PartitionLeaderEpoch,
				}
				if len(r.Headers) > 0 {
					rec.Headers = make([]Header, len(r.Headers))
					for i, h := range r.Headers {
						rec.Headers[i] = Header{Key: h.Key, Value: h.Value}
					}
				}
				out = append(out, rec)
			}
		}
		next = b.NextOffset()
	}
	return out, next, nil
}
