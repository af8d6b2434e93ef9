package broker

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
)

// TestBadInputChangesNothing sends every kind of bad request and checks the
// precise error and that the partition's high watermark and log end did not
// move.
func TestBadInputChangesNothing(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "bad", 1, map[string]string{CfgMaxMessageBytes: "4096"})
	ctx := context.Background()
	ok, err := c.Produce(ctx, &brokerpb.ProduceRequest{Topic: "bad", Batch: batchOf("a", "b"), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1})
	if err != nil || ok.BaseOffset != 0 || ok.LastOffset != 1 {
		t.Fatalf("good produce: %v %v", ok, err)
	}
	p, _ := b.partitionFor("bad", 0)
	before := func() (int64, int64) { return p.snapshot().highWatermark, p.log.LogEndOffset() }
	hw0, end0 := before()

	corruptCRC := batchOf("x")
	corruptCRC[len(corruptCRC)-1] ^= 1
	wrongMagic := batchOf("x")
	wrongMagic[16] = 1
	nonZeroBase := batchOf("x")
	record.SetBaseOffset(nonZeroBase, 42)
	control := func() []byte {
		bb := record.NewBuilder(record.BuilderOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, PartitionLeaderEpoch: -1, Attributes: record.AttrControl})
		bb.Append(0, nil, []byte("x"), nil)
		return bb.Build()
	}()
	badProducer := func() []byte {
		bb := record.NewBuilder(record.BuilderOptions{ProducerID: 7, ProducerEpoch: -1, BaseSequence: 0, PartitionLeaderEpoch: -1})
		bb.Append(0, nil, []byte("x"), nil)
		return bb.Build()
	}()
	cases := []struct {
		name     string
		req      *brokerpb.ProduceRequest
		code     brokerpb.ErrorCode
		grpcCode codes.Code
	}{
		{"oversized batch", &brokerpb.ProduceRequest{Topic: "bad", Batch: batchOf(strings.Repeat("v", 5000))}, brokerpb.ErrorCode_MESSAGE_TOO_LARGE, codes.InvalidArgument},
		{"bad CRC", &brokerpb.ProduceRequest{Topic: "bad", Batch: corruptCRC}, brokerpb.ErrorCode_CORRUPT_MESSAGE, codes.InvalidArgument},
		{"truncated batch", &brokerpb.ProduceRequest{Topic: "bad", Batch: batchOf("abc", "def")[:70]}, brokerpb.ErrorCode_CORRUPT_MESSAGE, codes.InvalidArgument},
		{"empty batch bytes", &brokerpb.ProduceRequest{Topic: "bad"}, brokerpb.ErrorCode_CORRUPT_MESSAGE, codes.InvalidArgument},
		{"wrong magic", &brokerpb.ProduceRequest{Topic: "bad", Batch: wrongMagic}, brokerpb.ErrorCode_INVALID_RECORD, codes.InvalidArgument},
		{"two batches", &brokerpb.ProduceRequest{Topic: "bad", Batch: append(batchOf("a"), batchOf("b")...)}, brokerpb.ErrorCode_INVALID_RECORD, codes.InvalidArgument},
		{"non-zero base offset", &brokerpb.ProduceRequest{Topic: "bad", Batch: nonZeroBase}, brokerpb.ErrorCode_INVALID_RECORD, codes.InvalidArgument},
		{"control flag", &brokerpb.ProduceRequest{Topic: "bad", Batch: control}, brokerpb.ErrorCode_INVALID_RECORD, codes.InvalidArgument},
		{"producer id without an epoch", &brokerpb.ProduceRequest{Topic: "bad", Batch: badProducer}, brokerpb.ErrorCode_INVALID_RECORD, codes.InvalidArgument},
		{"unknown topic", &brokerpb.ProduceRequest{Topic: "nope", Batch: batchOf("x")}, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, codes.NotFound},
		{"unknown partition", &brokerpb.ProduceRequest{Topic: "bad", Partition: 3, Batch: batchOf("x")}, brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, codes.NotFound},
		{"invalid topic name", &brokerpb.ProduceRequest{Topic: "a/b", Batch: batchOf("x")}, brokerpb.ErrorCode_INVALID_TOPIC, codes.InvalidArgument},
		{"stale leader epoch", &brokerpb.ProduceRequest{Topic: "bad", Batch: batchOf("x"), LeaderEpoch: 5}, brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH, codes.Unavailable},
		{"bad acks", &brokerpb.ProduceRequest{Topic: "bad", Batch: batchOf("x"), Acks: 9}, brokerpb.ErrorCode_INVALID_REQUEST, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.LeaderEpoch == 0 {
				tc.req.LeaderEpoch = -1
			}
			_, err := c.Produce(ctx, tc.req)
			expectCode(t, err, tc.code, tc.grpcCode)
			if hw, end := before(); hw != hw0 || end != end0 {
				t.Fatalf("high watermark %d->%d, log end %d->%d", hw0, hw, end0, end)
			}
		})
	}
	// Larger than the broker's request limit: refused by gRPC itself.
	_, err = c.Produce(ctx, &brokerpb.ProduceRequest{Topic: "bad", Batch: make([]byte, DefaultMaxRequest+1)})
	if _, g, _ := protoCode(err); g != codes.ResourceExhausted {
		t.Fatalf("request over the size limit: %v", err)
	}

	// Topic admin errors.
	_, err = c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "bad..name?", Partitions: 1})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_TOPIC, codes.InvalidArgument)
	_, err = c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "ok", Partitions: 1, Configs: map[string]string{CfgRetentionMs: "soon"}})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_CONFIG, codes.InvalidArgument)
	_, err = c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "ok", Partitions: 1, Configs: map[string]string{"retention.msx": "1"}})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_CONFIG, codes.InvalidArgument)
	_, err = c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "ok", Partitions: 0})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_PARTITIONS, codes.InvalidArgument)
	_, err = c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "bad", Partitions: 1})
	expectCode(t, err, brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS, codes.AlreadyExists)
	_, err = c.AlterConfig(ctx, &brokerpb.AlterConfigRequest{Topic: "bad", Set: map[string]string{CfgSyncPolicy: "sometimes"}})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_CONFIG, codes.InvalidArgument)
	_, err = c.AlterConfig(ctx, &brokerpb.AlterConfigRequest{Topic: "bad", Set: map[string]string{CfgMinInsyncReplicas: "2"}})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_CONFIG, codes.InvalidArgument)
	_, err = c.AlterConfig(ctx, &brokerpb.AlterConfigRequest{Topic: "bad", Set: map[string]string{CfgReplicationMode: "quorum"}})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_CONFIG, codes.InvalidArgument)
	if _, err := c.AlterConfig(ctx, &brokerpb.AlterConfigRequest{Topic: "bad", Set: map[string]string{CfgReplicationMode: "isr"}}); err != nil {
		t.Fatalf("setting the mode a topic already has: %v", err)
	}
	if lt, _ := c.ListTopics(ctx, &brokerpb.ListTopicsRequest{}); len(lt.Topics) != 1 {
		t.Fatalf("rejected creates left topics behind: %v", lt.Topics)
	}

	// Fetch out of range, below the log start and above the high watermark.
	_, err = c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "bad", Offset: -1, LeaderEpoch: -1})
	expectCode(t, err, brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE, codes.OutOfRange)
	meta := func() map[string]string {
		_, err := c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "bad", Offset: 99, LeaderEpoch: -1})
		return expectCode(t, err, brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE, codes.OutOfRange)
	}()
	if meta["log_start_offset"] != "0" || meta["high_watermark"] != "2" {
		t.Fatalf("out-of-range error does not carry the valid range: %v", meta)
	}
	res, err := c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "bad", Offset: 2, MaxWaitMs: 10, LeaderEpoch: -1})
	if err != nil || len(res.Records) != 0 || res.HighWatermark != 2 {
		t.Fatalf("fetch at the high watermark: %v %v", res, err)
	}
}

// TestDataPlaneRejectsHugeFrame: a frame declaring a huge body gets an
// error frame and the connection closes; the broker keeps serving.
func TestDataPlaneRejectsHugeFrame(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "dp", 1, nil)
	conn, err := net.Dial("tcp", b.DataAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hdr [brokerpb.FrameHeaderSize]byte
	binary.BigEndian.PutUint16(hdr[0:2], brokerpb.FrameMagic)
	hdr[2] = brokerpb.FrameVersion
	hdr[3] = brokerpb.FrameFetchRequest
	binary.BigEndian.PutUint32(hdr[4:8], 1<<31)
	if _, err := conn.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, body, err := brokerpb.ReadFrame(conn, 4096, nil)
	if err != nil || typ != brokerpb.FrameFetchResponse {
		t.Fatalf("no error frame: %v", err)
	}
	resp, err := brokerpb.DecodeFetchResponse(body)
	if err != nil || resp.Error != brokerpb.ErrorCode_INVALID_REQUEST {
		t.Fatalf("error frame %+v, %v", resp, err)
	}
	if _, _, err := brokerpb.ReadFrame(conn, 4096, nil); err == nil {
		t.Fatal("connection stayed open after a bad frame")
	}
	// A good request on a new connection still works.
	conn2, err := net.Dial("tcp", b.DataAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	req := brokerpb.DataFetchRequest{CorrelationID: 7, Topic: "dp", Offset: 0, MaxBytes: 1 << 20, LeaderEpoch: -1, ReplicaID: -1, ReplicaLogEnd: -1, ReplicaDurableEnd: -1}
	if _, err := conn2.Write(brokerpb.AppendFetchRequestFrame(nil, &req)); err != nil {
		t.Fatal(err)
	}
	_ = conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, body, err = brokerpb.ReadFrame(conn2, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := brokerpb.DecodeFetchResponse(body); err != nil || resp.Error != brokerpb.ErrorCode_NONE || resp.CorrelationID != 7 {
		t.Fatalf("good request after a bad connection: %+v %v", resp, err)
	}
}
