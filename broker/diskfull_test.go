package broker

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// TestDiskFullIsResourceExhausted: when the disk fills, produce fails with
// DISK_FULL / ResourceExhausted, nothing acknowledged is lost, and produce
// works again once space returns.
func TestDiskFullIsResourceExhausted(t *testing.T) {
	space := vfs.ENOSPCAfter(1 << 40)
	cfg := testConfig(t)
	cfg.FS = vfs.WithErrors(vfs.Default, space)
	b := startTestBroker(t, cfg)
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "full", 1, nil)
	ctx := context.Background()
	var acked []string
	produce := func(v string) error {
		_, err := c.Produce(ctx, &brokerpb.ProduceRequest{Topic: "full", Batch: batchOf(v), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1})
		if err == nil {
			acked = append(acked, v)
		}
		return err
	}
	for i := range 5 {
		if err := produce(string(rune('a' + i))); err != nil {
			t.Fatal(err)
		}
	}
	space.SetBudget(30) // less than one batch
	err := produce("lost")
	expectCode(t, err, brokerpb.ErrorCode_DISK_FULL, codes.ResourceExhausted)
	space.SetBudget(1 << 40)
	if err := produce("after"); err != nil {
		t.Fatalf("produce after space returned: %v", err)
	}
	res, err := c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "full", Offset: 0, MaxBytes: 1 << 20, LeaderEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for pos := 0; pos < len(res.Records); {
		bt, err := record.Decode(res.Records[pos:])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range bt.Records {
			got = append(got, string(r.Value))
		}
		pos += bt.Size()
	}
	if len(got) != len(acked) {
		t.Fatalf("read %v, acknowledged %v", got, acked)
	}
	for i := range got {
		if got[i] != acked[i] {
			t.Fatalf("read %v, acknowledged %v", got, acked)
		}
	}
}

// FuzzValidateClientBatch: arbitrary produce payloads never panic, and any
// payload accepted decodes as exactly one batch with base offset 0.
func FuzzValidateClientBatch(f *testing.F) {
	f.Add(batchOf("a", "bb", "ccc"))
	f.Add(batchOf("x")[:40])
	f.Add([]byte{})
	bad := batchOf("y")
	bad[20] ^= 0x80
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, e := validateClientBatch(data); e != nil {
			if e.Code != codeInvalidRecord && e.Code != codeCorrupt {
				t.Fatalf("unexpected code %v", e.Code)
			}
			return
		}
		bt, err := record.Decode(data)
		if err != nil || bt.Size() != len(data) || bt.BaseOffset != 0 || len(bt.Records) == 0 {
			t.Fatalf("accepted a payload that is not one client batch: %v", err)
		}
	})
}
