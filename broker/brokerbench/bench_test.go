package brokerbench

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
)

// The benchmarks share one Env (a broker and the nats-servers), started on
// first use and closed by TestMain. Each produce benchmark sends b.N 1 KiB
// messages; each fetch benchmark reads a 64 MiB preloaded partition b.N
// times. The same shapes as `sluice bench broker`, without interleaving or
// the quiet gate: compare the Sluice and NATS lines of one invocation.

var (
	benchEnvOnce sync.Once
	benchEnv     *Env
	benchEnvErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchEnv != nil {
		if err := benchEnv.Close(); err != nil && code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func env(b *testing.B) *Env {
	benchEnvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		benchEnv, benchEnvErr = StartEnv(ctx, "")
	})
	if benchEnvErr != nil {
		b.Fatal(benchEnvErr)
	}
	return benchEnv
}

func benchProduce(b *testing.B, fn func(context.Context, *Env, ProduceParams) (Measurement, error), p ProduceParams) {
	e := env(b)
	p.MsgSize, p.Messages = 1024, int64(b.N)
	b.SetBytes(int64(p.MsgSize))
	b.ResetTimer()
	m, err := fn(context.Background(), e, p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(m.MsgsPerSec(), "msgs/s")
	b.ReportMetric(m.CPUPerGB(), "CPU-s/GB")
	if m.Fsyncs > 0 {
		b.ReportMetric(m.BytesPerFsync(), "B/fsync")
	}
}

func BenchmarkProduce(b *testing.B) {
	w4096 := ProduceParams{Window: 4096, Producers: 1}
	w500 := ProduceParams{Window: 500, Producers: 1, Linger: -1}
	durable := ProduceParams{Window: 500, Producers: 4, Linger: -1, Durable: true}
	b.Run("acks=1/window=4096/sluice", func(b *testing.B) { benchProduce(b, SluiceProduce, w4096) })
	b.Run("acks=1/window=4096/nats", func(b *testing.B) { benchProduce(b, NATSProduce, w4096) })
	b.Run("acks=1/window=500/sluice", func(b *testing.B) { benchProduce(b, SluiceProduce, w500) })
	b.Run("acks=1/window=500/nats", func(b *testing.B) { benchProduce(b, NATSProduce, w500) })
	b.Run("durable/producers=4/window=500/sluice", func(b *testing.B) { benchProduce(b, SluiceProduce, durable) })
	b.Run("durable/producers=4/window=500/nats", func(b *testing.B) { benchProduce(b, NATSProduce, durable) })
}

func BenchmarkFetch(b *testing.B) {
	e := env(b)
	ctx := context.Background()
	f, err := NewFetchFixture(ctx, e, 64<<20, 1024, false)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	run := func(b *testing.B, fn func() (Measurement, error)) {
		b.SetBytes(f.Msgs() * 1024)
		var cpu, elapsed time.Duration
		for b.Loop() {
			m, err := fn()
			if err != nil {
				b.Fatal(err)
			}
			cpu, elapsed = cpu+m.CPU, elapsed+m.Elapsed
		}
		b.ReportMetric(float64(f.Msgs()*int64(b.N))/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(cpu.Seconds()/(float64(f.Msgs()*1024*int64(b.N))/1e9), "CPU-s/GB")
	}
	b.Run("dataplane", func(b *testing.B) {
		run(b, func() (Measurement, error) { return f.Sluice(ctx, client.TransportDataPlane, 1<<20) })
	})
	b.Run("grpc", func(b *testing.B) {
		run(b, func() (Measurement, error) { return f.Sluice(ctx, client.TransportGRPC, 1<<20) })
	})
	b.Run("nats-ordered", func(b *testing.B) { run(b, func() (Measurement, error) { return f.NATS(ctx) }) })
}
