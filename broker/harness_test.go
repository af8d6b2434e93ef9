package broker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
)

var testLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testConfig is a broker on free loopback ports with a fast embedded etcd.
func testConfig(t testing.TB) Config {
	return Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true, SessionTTL: 2 * time.Second,
		ShutdownTimeout: 5 * time.Second, Logger: testLogger,
	}
}

func startTestBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	return b
}

func dialBroker(t testing.TB, b *Broker) brokerpb.SluiceClient {
	t.Helper()
	cc, err := grpc.NewClient(b.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return brokerpb.NewSluiceClient(cc)
}

// waitController polls until the broker is the controller (single-node
// brokers elect themselves at once, but asynchronously).
func waitController(t testing.TB, b *Broker) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for b.controller() == nil {
		if time.Now().After(deadline) {
			t.Fatal("broker never became controller")
		}
		select {
		case <-b.coord.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func createTopic(t testing.TB, c brokerpb.SluiceClient, name string, partitions int32, cfgs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: name, Partitions: partitions, Configs: cfgs}); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func batchOf(values ...string) []byte {
	b := record.NewBuilder(record.DefaultBuilderOptions())
	for i, v := range values {
		b.Append(time.Now().UnixMilli()+int64(i), nil, []byte(v), nil)
	}
	return b.Build()
}

// protoCode extracts the protocol code and gRPC code from a status error.
func protoCode(err error) (brokerpb.ErrorCode, codes.Code, map[string]string) {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return brokerpb.ErrorCode_NONE, codes.OK, nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return brokerpb.ErrorCode(brokerpb.ErrorCode_value[info.Reason]), st.Code(), info.Metadata
		}
	}
	return brokerpb.ErrorCode_UNKNOWN, st.Code(), nil
}

func expectCode(t testing.TB, err error, want brokerpb.ErrorCode, wantGRPC codes.Code) map[string]string {
	t.Helper()
	got, g, meta := protoCode(err)
	if got != want || g != wantGRPC {
		t.Fatalf("error %v: got %v/%v, want %v/%v", err, got, g, want, wantGRPC)
	}
	return meta
}
