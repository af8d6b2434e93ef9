package coord

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestEtcdCacheCompacted: a watch that resumes from a compacted revision
// fails with ErrCompacted (run then lists again), and the listing brings
// the cache to the current state.
func TestEtcdCacheCompacted(t *testing.T) {
	e, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir(), TickMs: 10, ElectionMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cli, err := Dial(e.Endpoints(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := NewEtcd(ctx, cli, DefaultPrefix("compact"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := c.Snapshot().Revision

	var rev int64
	for _, name := range []string{"a", "b", "c"} {
		if rev, err = c.CreateTopic(ctx, nil, TopicSpec{Name: name, Partitions: 1}, []PartitionState{{Leader: -1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteTopic(ctx, nil, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := c.watch(start); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	got, err := c.relist()
	if err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot()
	if snap.Revision != got || len(snap.Topics) != 2 || len(snap.Partitions["b"]) != 0 {
		t.Fatalf("after relisting at %d: revision %d, topics %v", got, snap.Revision, snap.Topics)
	}
}
