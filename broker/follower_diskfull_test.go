package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// fullDisk fails writes to segment files with ENOSPC while on, counting
// the attempts.
type fullDisk struct {
	on       atomic.Bool
	attempts atomic.Int64
	space    *vfs.SpaceInjector
}

func (d *fullDisk) Inject(op vfs.Op) error {
	if op.Kind != vfs.OpWrite || !d.on.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	d.attempts.Add(1)
	return d.space.Inject(op)
}

// TestFollowerDiskFullBacksOff: a follower whose disk is full keeps
// failing to append what it fetched; it must wait between attempts (it
// used to refetch and fail thousands of times a second, a log line each),
// and once space is back it catches up and rejoins the ISR by itself.
func TestFollowerDiskFullBacksOff(t *testing.T) {
	disks := []*fullDisk{{space: vfs.ENOSPCAfter(0)}, {space: vfs.ENOSPCAfter(0)}, {space: vfs.ENOSPCAfter(0)}}
	c := brokertest.Start(t, brokertest.Options{Logger: testLog(), Configure: func(cfg *broker.Config) {
		cfg.FS = vfs.WithErrors(vfs.Default, disks[cfg.ID-1])
	}})
	cl := dial(t, c.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cl.CreateTopic(ctx, "df", 1, 3, map[string]string{broker.CfgMinInsyncReplicas: "1"}); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitISR(t, ctx, cl, "df", 0, 3)
	leader := brokertest.Leader(t, ctx, cl, "df", 0)
	follower := leader%3 + 1
	disk := disks[follower-1]
	disk.on.Store(true)
	p, err := cl.NewProducer(client.ProducerOptions{Acks: client.AcksLeader})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	for i := range 50 {
		if _, err := p.Send(ctx, client.Message{Topic: "df", Partition: 0, Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Measure over at least a second of failing appends.
	for disk.attempts.Load() == 0 || time.Since(start) < time.Second {
		if ctx.Err() != nil {
			t.Fatal("the follower never tried to append")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	n, elapsed := disk.attempts.Load(), time.Since(start)
	// 200 ms between attempts: about 5 a second; allow for slack.
	if perSec := float64(n) / elapsed.Seconds(); perSec > 25 {
		t.Fatalf("the follower tried %d appends in %v (%.0f/s) on a full disk: no backoff", n, elapsed.Round(time.Millisecond), perSec)
	}
	disk.on.Store(false)
	waitReplicasEqual(t, ctx, c, "df", 0, 1, 2, 3)
	brokertest.WaitISR(t, ctx, cl, "df", 0, 3)
}
