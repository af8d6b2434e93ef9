package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeBroker is an in-process single broker (id 1) with an in-memory log per
// partition, serving the gRPC API and the fetch data plane, with hooks to
// inject errors and bad responses.
type fakeBroker struct {
	brokerpb.UnimplementedSluiceServer

	addr, dataAddr string
	srv            *grpc.Server
	dataLis        net.Listener

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append
	topics  map[string]*fakeTopic
	nextID  int
	// nextProducerID is the last producer id handed out.
	nextProducerID int64
	// produces records every Produce request received (batch copied).
	produces []*brokerpb.ProduceRequest
	// produceErrs are returned, in order, by the next Produce calls before
	// anything is appended; afterAppend marks the ones to return after
	// appending (an indefinite outcome that did happen).
	produceErrs []injected
	metadataN   int
	grpcFetches int
	dataFetches int
	dataConns   []net.Conn
	// dataHook, if set, may answer a data-plane request itself (returning
	// true), e.g. with a corrupt or oversized response.
	dataHook func(req brokerpb.DataFetchRequest, conn net.Conn) bool
	// corruptFetch flips a byte of the records of every fetch answer.
	corruptFetch bool
}

type injected struct {
	err         error
	afterAppend bool
}

type fakeTopic struct {
	name    string
	id      string
	configs map[string]string
	parts   []*fakePartition
}

type fakePartition struct {
	batches  [][]byte // with base offsets assigned
	logStart int64
	hw       int64
}

// fakeConfigDefaults are the configs the fake accepts, with defaults.
var fakeConfigDefaults = map[string]string{
	"retention.ms":        "1209600000",
	"retention.bytes":     "-1",
	"segment.bytes":       "1073741824",
	"min.insync.replicas": "1",
	"max.message.bytes":   "1048576",
}

type fakeOptions struct {
	refuseDataPlane bool // advertise a data address nobody listens on
}

func newFakeBroker(t testing.TB, opts ...func(*fakeOptions)) *fakeBroker {
	t.Helper()
	var o fakeOptions
	for _, fn := range opts {
		fn(&o)
	}
	f := &fakeBroker{changed: make(chan struct{}), topics: make(map[string]*fakeTopic)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.dataLis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.dataAddr = f.dataLis.Addr().String()
	if o.refuseDataPlane {
		// Close it: connections to the advertised address are refused.
		f.dataLis.Close()
	} else {
		go f.serveData()
	}
	f.srv = grpc.NewServer()
	brokerpb.RegisterSluiceServer(f.srv, f)
	go f.srv.Serve(lis)
	t.Cleanup(f.close)
	return f
}

func refuseDataPlane(o *fakeOptions) { o.refuseDataPlane = true }

func (f *fakeBroker) close() {
	f.srv.Stop()
	f.dataLis.Close()
	f.mu.Lock()
	for _, c := range f.dataConns {
		c.Close()
	}
	f.mu.Unlock()
}

// sluiceStatus builds a broker error the way the broker encodes them.
func sluiceStatus(c codes.Code, code brokerpb.ErrorCode, msg string, md map[string]string) error {
	st := status.New(c, msg)
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: code.String(), Domain: "sluice", Metadata: md})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// fakeErr is an error of the fake's core, rendered per transport.
type fakeErr struct {
	code     brokerpb.ErrorCode
	msg      string
	logStart int64
	hw       int64
}

func (e *fakeErr) Error() string { return e.code.String() + ": " + e.msg }

func (e *fakeErr) status() error {
	c := codes.FailedPrecondition
	md := map[string]string{"indefinite": "false"}
	switch e.code {
	case brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION:
		c = codes.NotFound
	case brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE:
		c = codes.OutOfRange
		md["log_start_offset"] = strconv.FormatInt(e.logStart, 10)
		md["high_watermark"] = strconv.FormatInt(e.hw, 10)
	case brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS:
		c = codes.AlreadyExists
	case brokerpb.ErrorCode_INVALID_CONFIG, brokerpb.ErrorCode_INVALID_PARTITIONS, brokerpb.ErrorCode_INVALID_TOPIC,
		brokerpb.ErrorCode_INVALID_RECORD, brokerpb.ErrorCode_CORRUPT_MESSAGE, brokerpb.ErrorCode_INVALID_REQUEST:
		c = codes.InvalidArgument
	}
	return sluiceStatus(c, e.code, e.msg, md)
}

func (f *fakeBroker) partitionLocked(topic string, p int32) (*fakePartition, error) {
	t, ok := f.topics[topic]
	if !ok || p < 0 || int(p) >= len(t.parts) {
		return nil, &fakeErr{code: brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, msg: fmt.Sprintf("%s/%d", topic, p)}
	}
	return t.parts[p], nil
}

func (f *fakeBroker) topicInfoLocked(t *fakeTopic) *brokerpb.TopicInfo {
	info := &brokerpb.TopicInfo{Name: t.name, ReplicationFactor: 1, Configs: map[string]string{}, Id: t.id}
	for k, v := range t.configs {
		info.Configs[k] = v
	}
	for i := range t.parts {
		info.Partitions = append(info.Partitions, &brokerpb.PartitionInfo{
			Partition: int32(i), Leader: 1, LeaderEpoch: 0, Replicas: []int32{1}, Isr: []int32{1},
		})
	}
	return info
}

func validateConfigs(set map[string]string) error {
	for k, v := range set {
		if _, ok := fakeConfigDefaults[k]; !ok {
			return &fakeErr{code: brokerpb.ErrorCode_INVALID_CONFIG, msg: "unknown config " + k}
		}
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return &fakeErr{code: brokerpb.ErrorCode_INVALID_CONFIG, msg: fmt.Sprintf("%s=%q is not a number", k, v)}
		}
	}
	return nil
}

func grpcErr(err error) error {
	var fe *fakeErr
	if errors.As(err, &fe) {
		return fe.status()
	}
	return err
}

func (f *fakeBroker) Metadata(_ context.Context, req *brokerpb.MetadataRequest) (*brokerpb.MetadataResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metadataN++
	resp := &brokerpb.MetadataResponse{
		ClusterId:  "fake",
		Controller: 1,
		Brokers:    []*brokerpb.BrokerInfo{{Id: 1, Addr: f.addr, DataAddr: f.dataAddr}},
	}
	if len(req.GetTopics()) == 0 {
		for _, t := range f.topics {
			resp.Topics = append(resp.Topics, f.topicInfoLocked(t))
		}
	}
	for _, name := range req.GetTopics() {
		if t, ok := f.topics[name]; ok {
			resp.Topics = append(resp.Topics, f.topicInfoLocked(t))
		}
	}
	return resp, nil
}

func (f *fakeBroker) CreateTopic(_ context.Context, req *brokerpb.CreateTopicRequest) (*brokerpb.CreateTopicResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case req.GetName() == "" || len(req.GetName()) > brokerpb.MaxTopicNameBytes:
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_INVALID_TOPIC, msg: "bad name"})
	case req.GetPartitions() < 1:
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_INVALID_PARTITIONS, msg: "need at least one partition"})
	}
	if _, ok := f.topics[req.GetName()]; ok {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS, msg: req.GetName()})
	}
	if err := validateConfigs(req.GetConfigs()); err != nil {
		return nil, grpcErr(err)
	}
	f.nextID++
	t := &fakeTopic{name: req.GetName(), id: strconv.Itoa(f.nextID), configs: map[string]string{}}
	for k, v := range req.GetConfigs() {
		t.configs[k] = v
	}
	for range req.GetPartitions() {
		t.parts = append(t.parts, &fakePartition{})
	}
	f.topics[t.name] = t
	return &brokerpb.CreateTopicResponse{Topic: f.topicInfoLocked(t)}, nil
}

func (f *fakeBroker) DeleteTopic(_ context.Context, req *brokerpb.DeleteTopicRequest) (*brokerpb.DeleteTopicResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.topics[req.GetName()]; !ok {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, msg: req.GetName()})
	}
	delete(f.topics, req.GetName())
	return &brokerpb.DeleteTopicResponse{}, nil
}

func (f *fakeBroker) DescribeTopic(_ context.Context, req *brokerpb.DescribeTopicRequest) (*brokerpb.DescribeTopicResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.topics[req.GetName()]
	if !ok {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, msg: req.GetName()})
	}
	resp := &brokerpb.DescribeTopicResponse{Topic: f.topicInfoLocked(t), EffectiveConfigs: map[string]string{}}
	for k, v := range fakeConfigDefaults {
		resp.EffectiveConfigs[k] = v
	}
	for k, v := range t.configs {
		resp.EffectiveConfigs[k] = v
	}
	for i, p := range t.parts {
		var size int64
		for _, b := range p.batches {
			size += int64(len(b))
		}
		resp.Offsets = append(resp.Offsets, &brokerpb.PartitionOffsets{
			Partition: int32(i), LogStartOffset: p.logStart, HighWatermark: p.hw, LogEndOffset: p.hw, SizeBytes: size,
		})
	}
	return resp, nil
}

func (f *fakeBroker) ListTopics(context.Context, *brokerpb.ListTopicsRequest) (*brokerpb.ListTopicsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &brokerpb.ListTopicsResponse{}
	for _, t := range f.topics {
		resp.Topics = append(resp.Topics, f.topicInfoLocked(t))
	}
	return resp, nil
}

func (f *fakeBroker) AlterConfig(_ context.Context, req *brokerpb.AlterConfigRequest) (*brokerpb.AlterConfigResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.topics[req.GetTopic()]
	if !ok {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, msg: req.GetTopic()})
	}
	if err := validateConfigs(req.GetSet()); err != nil {
		return nil, grpcErr(err)
	}
	for _, k := range req.GetDelete() {
		if _, ok := fakeConfigDefaults[k]; !ok {
			return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_INVALID_CONFIG, msg: "unknown config " + k})
		}
	}
	for k, v := range req.GetSet() {
		t.configs[k] = v
	}
	for _, k := range req.GetDelete() {
		delete(t.configs, k)
	}
	return &brokerpb.AlterConfigResponse{Topic: f.topicInfoLocked(t)}, nil
}

func (f *fakeBroker) Produce(_ context.Context, req *brokerpb.ProduceRequest) (*brokerpb.ProduceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.produces = append(f.produces, &brokerpb.ProduceRequest{
		Topic: req.GetTopic(), Partition: req.GetPartition(), Acks: req.GetAcks(), TimeoutMs: req.GetTimeoutMs(),
		Batch: append([]byte(nil), req.GetBatch()...), LeaderEpoch: req.GetLeaderEpoch(),
	})
	var inj injected
	if len(f.produceErrs) > 0 {
		inj = f.produceErrs[0]
		f.produceErrs = f.produceErrs[1:]
	}
	if inj.err != nil && !inj.afterAppend {
		return nil, inj.err
	}
	p, err := f.partitionLocked(req.GetTopic(), req.GetPartition())
	if err != nil {
		return nil, grpcErr(err)
	}
	b, err := record.Decode(req.GetBatch())
	if err != nil {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_CORRUPT_MESSAGE, msg: err.Error()})
	}
	if b.BaseOffset != 0 || len(req.GetBatch()) != b.Size() {
		return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_INVALID_RECORD, msg: "not one batch with base offset 0"})
	}
	batch := append([]byte(nil), req.GetBatch()...)
	base := p.hw
	record.SetBaseOffset(batch, base)
	p.batches = append(p.batches, batch)
	p.hw += int64(b.LastOffsetDelta) + 1
	close(f.changed)
	f.changed = make(chan struct{})
	if inj.err != nil {
		return nil, inj.err
	}
	return &brokerpb.ProduceResponse{
		BaseOffset:     base,
		LastOffset:     p.hw - 1,
		LogStartOffset: p.logStart,
		Receipt:        &brokerpb.DurabilityReceipt{LeaderEpoch: 0, Replicas: []int32{1}, SyncedReplicas: []int32{1}},
	}, nil
}

// read returns whole batches from offset, long-polling like a broker.
func (f *fakeBroker) read(ctx context.Context, topic string, part int32, offset int64, maxBytes, maxWaitMs, minBytes int32) ([]byte, *fakePartition, error) {
	timer := time.NewTimer(time.Duration(maxWaitMs) * time.Millisecond)
	defer timer.Stop()
	for {
		f.mu.Lock()
		p, err := f.partitionLocked(topic, part)
		if err != nil {
			f.mu.Unlock()
			return nil, nil, err
		}
		if offset < p.logStart || offset > p.hw {
			f.mu.Unlock()
			return nil, nil, &fakeErr{code: brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE, msg: fmt.Sprintf("offset %d", offset), logStart: p.logStart, hw: p.hw}
		}
		var out []byte
		for _, b := range p.batches {
			h, _ := record.ParseHeader(b)
			if h.NextOffset() <= offset {
				continue
			}
			if len(out) > 0 && len(out)+len(b) > int(maxBytes) {
				break
			}
			out = append(out, b...)
		}
		snapshot := *p
		changed := f.changed
		corrupt := f.corruptFetch
		f.mu.Unlock()
		if len(out) >= int(max(minBytes, 1)) {
			if corrupt {
				out[len(out)-1] ^= 0xff
			}
			return out, &snapshot, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, &snapshot, nil
		case <-ctx.Done():
			return nil, &snapshot, nil
		}
	}
}

func (f *fakeBroker) Fetch(ctx context.Context, req *brokerpb.FetchRequest) (*brokerpb.FetchResponse, error) {
	f.mu.Lock()
	f.grpcFetches++
	f.mu.Unlock()
	out, p, err := f.read(ctx, req.GetTopic(), req.GetPartition(), req.GetOffset(), req.GetMaxBytes(), req.GetMaxWaitMs(), req.GetMinBytes())
	if err != nil {
		return nil, grpcErr(err)
	}
	return &brokerpb.FetchResponse{Records: out, HighWatermark: p.hw, LogStartOffset: p.logStart, NextOffset: req.GetOffset()}, nil
}

func (f *fakeBroker) ListOffsets(_ context.Context, req *brokerpb.ListOffsetsRequest) (*brokerpb.ListOffsetsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.partitionLocked(req.GetTopic(), req.GetPartition())
	if err != nil {
		return nil, grpcErr(err)
	}
	switch req.GetSpec() {
	case brokerpb.OffsetSpec_EARLIEST:
		return &brokerpb.ListOffsetsResponse{Offset: p.logStart}, nil
	case brokerpb.OffsetSpec_LATEST:
		return &brokerpb.ListOffsetsResponse{Offset: p.hw}, nil
	case brokerpb.OffsetSpec_TIMESTAMP:
		for _, raw := range p.batches {
			b, err := record.Decode(raw)
			if err != nil {
				return nil, err
			}
			for _, r := range b.Records {
				if off := b.BaseOffset + int64(r.OffsetDelta); off >= p.logStart && b.BaseTimestamp+r.TimestampDelta >= req.GetTimestampMs() {
					return &brokerpb.ListOffsetsResponse{Offset: off}, nil
				}
			}
		}
		return &brokerpb.ListOffsetsResponse{Offset: -1}, nil
	}
	return nil, grpcErr(&fakeErr{code: brokerpb.ErrorCode_INVALID_REQUEST, msg: "spec"})
}

// serveData accepts data-plane connections.
func (f *fakeBroker) serveData() {
	for {
		conn, err := f.dataLis.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.dataConns = append(f.dataConns, conn)
		f.mu.Unlock()
		go f.serveDataConn(conn)
	}
}

func (f *fakeBroker) serveDataConn(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 0, 512)
	var out []byte
	for {
		typ, body, err := brokerpb.ReadFrame(conn, brokerpb.MaxRequestFrameBytes, buf)
		if err != nil || typ != brokerpb.FrameFetchRequest {
			return
		}
		req, err := brokerpb.DecodeFetchRequest(body)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.dataFetches++
		hook := f.dataHook
		f.mu.Unlock()
		if hook != nil && hook(req, conn) {
			continue
		}
		resp := brokerpb.DataFetchResponse{CorrelationID: req.CorrelationID, NextOffset: req.Offset}
		records, p, err := f.read(context.Background(), req.Topic, req.Partition, req.Offset, req.MaxBytes, req.MaxWaitMs, req.MinBytes)
		var fe *fakeErr
		if errors.As(err, &fe) {
			resp.Error, resp.ErrorMessage = fe.code, fe.msg
			resp.LogStartOffset, resp.HighWatermark = fe.logStart, fe.hw
		} else if p != nil {
			resp.HighWatermark, resp.LogStartOffset, resp.LogEndOffset = p.hw, p.logStart, p.hw
			resp.RecordsLength = uint32(len(records))
		}
		out = brokerpb.AppendFetchResponseFrame(out[:0], &resp)
		out = append(out, records...)
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// trim deletes whole batches below before, advancing the log start offset
// as retention would.
func (f *fakeBroker) trim(topic string, part int32, before int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.partitionLocked(topic, part)
	if err != nil {
		panic(err)
	}
	for len(p.batches) > 0 {
		h, _ := record.ParseHeader(p.batches[0])
		if h.NextOffset() > before {
			break
		}
		p.batches = p.batches[1:]
		p.logStart = h.NextOffset()
	}
}

// injectProduce queues errors for the next Produce calls.
func (f *fakeBroker) injectProduce(errs ...injected) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.produceErrs = append(f.produceErrs, errs...)
}

// stats returns counters under the lock.
func (f *fakeBroker) stats() (produces []*brokerpb.ProduceRequest, metadata, grpcFetches, dataFetches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*brokerpb.ProduceRequest(nil), f.produces...), f.metadataN, f.grpcFetches, f.dataFetches
}

// logOf returns the decoded records of a partition, in offset order.
func (f *fakeBroker) logOf(t testing.TB, topic string, part int32) []record.Record {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.partitionLocked(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	for _, raw := range p.batches {
		b, err := record.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Records...)
	}
	return out
}

// InitProducerId hands out increasing producer ids, like the broker does
// through etcd. The fake does not dedupe: the real broker's idempotence is
// tested in package broker and by the conformance suite.
func (f *fakeBroker) InitProducerId(context.Context, *brokerpb.InitProducerIdRequest) (*brokerpb.InitProducerIdResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextProducerID++
	return &brokerpb.InitProducerIdResponse{ProducerId: f.nextProducerID}, nil
}
