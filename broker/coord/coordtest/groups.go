package coordtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
)

// testGroups: claiming a group, CAS on its meta, offset commits fenced by
// the claim and the meta revision, takeover after the coordinator's session
// ends, listing and deleting.
func testGroups(t *testing.T, newCoords NewCoords) {
	cs := newCoords(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s1, err := cs[0].Register(ctx, coord.BrokerInfo{ID: 1, Addr: "a1"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := cs[1].Register(ctx, coord.BrokerInfo{ID: 2, Addr: "a2"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	g1, g2 := cs[0].Groups(), cs[1].Groups()
	c1, err := g1.Claim(ctx, s1, "orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g2.Claim(ctx, s2, "orders", 2); !errors.Is(err, coord.ErrConflict) {
		t.Fatalf("second claim of a held group: %v", err)
	}
	if again, err := g1.Claim(ctx, s1, "orders", 1); err != nil || again.Revision != c1.Revision {
		t.Fatalf("re-claim by the holder: %+v %v (first %+v)", again, err, c1)
	}
	rev, err := g1.SaveMeta(ctx, c1, []byte("v1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g1.SaveMeta(ctx, c1, []byte("v2"), 0); !errors.Is(err, coord.ErrConflict) {
		t.Fatalf("save with a stale meta revision: %v", err)
	}
	offsets := []coord.CommittedOffset{{Topic: "t", Partition: 0, Offset: 10, Metadata: "m", MemberEpoch: 3}, {Topic: "t", Partition: 1, Offset: 20, MemberEpoch: 3}}
	if _, err := g1.Commit(ctx, c1, rev, offsets); err != nil {
		t.Fatal(err)
	}
	if _, err := g1.Commit(ctx, c1, rev-1, offsets[:1]); !errors.Is(err, coord.ErrConflict) {
		t.Fatalf("commit against a stale meta revision: %v", err)
	}
	rec, err := g2.Load(ctx, "orders")
	if err != nil || rec.Coordinator != 1 || string(rec.Meta) != "v1" || rec.MetaRevision != rev || len(rec.Offsets) != 2 || rec.Offsets[1].Offset != 20 || rec.Offsets[0].Metadata != "m" {
		t.Fatalf("load: %+v %v", rec, err)
	}
	if names, err := g2.List(ctx); err != nil || len(names) != 1 || names[0] != "orders" {
		t.Fatalf("list: %v %v", names, err)
	}
	// The coordinator's session ends: another broker takes the group, and
	// the old claim's writes are refused.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	var c2 coord.GroupClaim
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c2, err = g2.Claim(ctx, s2, "orders", 2); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no takeover after the coordinator's session closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if _, err := g1.Commit(ctx, c1, rev, offsets); !errors.Is(err, coord.ErrNotCoordinator) {
		t.Fatalf("commit under a lost claim: %v", err)
	}
	if _, err := g2.Commit(ctx, c2, rev, offsets[:1]); err != nil {
		t.Fatalf("commit by the new coordinator: %v", err)
	}
	if err := g2.Release(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if rec, err := g2.Load(ctx, "orders"); err != nil || rec.Coordinator != -1 {
		t.Fatalf("after release: coordinator %d, %v", rec.Coordinator, err)
	}
	if c2, err = g2.Claim(ctx, s2, "orders", 2); err != nil {
		t.Fatal(err)
	}
	if err := g2.Delete(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if rec, err := g2.Load(ctx, "orders"); err != nil || len(rec.Offsets) != 0 || rec.MetaRevision != 0 {
		t.Fatalf("after delete: %+v %v", rec, err)
	}
	if _, err := g2.Claim(ctx, s2, "a/b", 2); !errors.Is(err, coord.ErrInvalid) {
		t.Fatalf("bad group name: %v", err)
	}
}
