package coord_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/broker/coord/coordtest"
)

func TestMemoryConformance(t *testing.T) {
	coordtest.Run(t, func(t *testing.T, n int) []coord.Coordinator {
		m := coord.NewMemory()
		cs := make([]coord.Coordinator, n)
		for i := range cs {
			cs[i] = m.Coordinator()
			t.Cleanup(func() { cs[i].Close() })
		}
		return cs
	})
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestMemoryFakeClock: with a fake clock, a halted broker's session turns
// invalid at TTL - margin and its lease expires only when the test says.
func TestMemoryFakeClock(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m := coord.NewMemory(coord.WithNow(clock.Now))
	a, b := m.Coordinator(), m.Coordinator()
	ctx := context.Background()
	s, err := a.Register(ctx, coord.BrokerInfo{ID: 1}, 9*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	margin := coord.SafetyMargin(9 * time.Second) // 3 s
	if got, want := s.Deadline(), clock.Now().Add(9*time.Second-margin); !got.Equal(want) {
		t.Fatalf("deadline %v, want now + TTL - margin = %v", got, want)
	}
	a.(coord.Halter).Halt()
	clock.Advance(9*time.Second - margin - time.Nanosecond)
	if !s.Valid() {
		t.Fatal("invalid before TTL - margin")
	}
	clock.Advance(time.Nanosecond)
	if s.Valid() {
		t.Fatal("valid at TTL - margin")
	}
	m.ExpireDue()
	if _, ok := b.Snapshot().Brokers[1]; !ok {
		t.Fatal("lease expired before its TTL")
	}
	clock.Advance(margin)
	m.ExpireDue()
	if _, ok := b.Snapshot().Brokers[1]; ok {
		t.Fatal("lease not expired at its TTL")
	}
	select {
	case <-s.Lost():
	default:
		t.Fatal("expired session not Lost")
	}
}

func TestMemoryExpireBroker(t *testing.T) {
	m := coord.NewMemory()
	a, b := m.Coordinator(), m.Coordinator()
	ctx := context.Background()
	s, err := a.Register(ctx, coord.BrokerInfo{ID: 4}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Campaign(ctx, s, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ExpireBroker(4) {
		t.Fatal("ExpireBroker of a registered broker reported nothing to expire")
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("leadership survived its lease")
	}
	if snap := b.Snapshot(); snap.Controller != -1 || len(snap.Brokers) != 0 {
		t.Fatalf("after expiry: controller %d, brokers %v", snap.Controller, snap.Brokers)
	}
	_, err = a.CreateTopic(ctx, l, coord.TopicSpec{Name: "t", Partitions: 1}, []coord.PartitionState{{Partition: 0}})
	if !errors.Is(err, coord.ErrNotController) {
		t.Fatalf("write by an expired controller: %v", err)
	}
	if m.Expire(s.LeaseID()) || m.ExpireBroker(4) {
		t.Fatal("expired twice")
	}
}
