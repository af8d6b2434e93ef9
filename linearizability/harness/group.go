package harness

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// group is the consumer group of every scenario with consumers.
const group = "chk-group"

// groupSession is the members' session timeout: short, so a killed
// member's partitions move within the run.
const groupSession = 3 * time.Second

// member is one at-least-once group consumer: poll, then commit the
// positions after the records it got (TESTING.md §2's Poll and Commit),
// now and then read the committed offsets back (FetchCommitted). Its
// assignment changes arrive on the heartbeat goroutine and are recorded as
// Assign/Revoke events before its next operation: a client is sequential.
type member struct {
	cl  *client.Client
	rec *history.Recorder
	co  *client.Consumer
	c   *history.Client

	mu       sync.Mutex
	events   []history.Op // assignment changes not yet recorded
	assigned []client.TopicPartition

	// readBack: read the committed offsets after the next commit, the
	// first since the assignment changed (what a rebalance commits is
	// where the next owner starts).
	readBack bool
}

func newMember(cl *client.Client, rec *history.Recorder, worker int) (*member, error) {
	m := &member{cl: cl, rec: rec, c: rec.NewClient(worker)}
	co, err := cl.NewConsumer(client.ConsumerOptions{
		Group: group, Topics: []string{topic}, Delivery: client.AtLeastOnce, AutoOffsetReset: client.Earliest,
		SessionTimeout: groupSession, RebalanceTimeout: 2 * groupSession, MaxWait: 200 * time.Millisecond,
		OnAssigned: func(tps []client.TopicPartition) { m.changed(history.Assign, tps) },
		OnRevoked:  func(tps []client.TopicPartition, _ bool) { m.changed(history.Revoke, tps) },
	})
	if err != nil {
		return nil, err
	}
	m.co = co
	return m, nil
}

// changed queues an assignment change (heartbeat goroutine).
func (m *member) changed(kind history.Kind, tps []client.TopicPartition) {
	_, epoch := m.co.MemberID()
	op := history.Op{Kind: kind, Group: group, MemberEpoch: epoch}
	for _, tp := range tps {
		op.TPs = append(op.TPs, history.TP{Topic: tp.Topic, Partition: tp.Partition})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, op)
	if kind == history.Assign {
		m.assigned = append(m.assigned, tps...)
	} else {
		m.assigned = slices.DeleteFunc(m.assigned, func(tp client.TopicPartition) bool { return slices.Contains(tps, tp) })
	}
}

// flushEvents records the queued assignment changes; it reports whether
// there were any.
func (m *member) flushEvents() bool {
	m.mu.Lock()
	evs := m.events
	m.events = nil
	m.mu.Unlock()
	for _, e := range evs {
		m.c.Event(e)
	}
	return len(evs) > 0
}

// step is one poll and the commit after it; it returns the poll's records.
func (m *member) step(ctx context.Context) []history.Record {
	if m.flushEvents() {
		m.fetchCommitted(ctx)
		m.readBack = true
	}
	_, epoch := m.co.MemberID()
	op := m.c.Invoke(history.Op{Kind: history.Poll, Group: group, MemberEpoch: epoch})
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	rs, err := m.co.Poll(octx)
	cancel()
	next := map[history.TP]int64{}
	for _, r := range rs {
		hr := history.RecordOf(r)
		hr.Topic, hr.Partition = r.Topic, r.Partition
		op.Records = append(op.Records, hr)
		next[hr.TP()] = r.Offset + 1
	}
	if m.c.Complete(op, err) != history.OK || len(next) == 0 {
		return op.Records
	}
	m.flushEvents()
	_, epoch = m.co.MemberID()
	commit := m.c.Invoke(history.Op{Kind: history.Commit, Group: group, MemberEpoch: epoch})
	offs := map[client.TopicPartition]int64{}
	for _, tp := range slices.SortedFunc(maps.Keys(next), history.CompareTP) {
		commit.Offsets = append(commit.Offsets, history.TPOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: next[tp]})
		offs[client.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = next[tp]
	}
	octx, cancel = context.WithTimeout(ctx, opTimeout)
	err = m.co.CommitOffsets(octx, offs)
	cancel()
	if m.c.Complete(commit, err) == history.OK && m.readBack {
		m.readBack = false
		m.fetchCommitted(ctx)
	}
	return op.Records
}

// fetchCommitted reads the group's committed offsets of every partition.
func (m *member) fetchCommitted(ctx context.Context, parts ...int32) {
	var tps []client.TopicPartition
	op := history.Op{Kind: history.FetchCommitted, Group: group}
	for _, p := range parts {
		tps = append(tps, client.TopicPartition{Topic: topic, Partition: p})
	}
	if len(tps) == 0 {
		m.mu.Lock()
		tps = slices.Clone(m.assigned)
		m.mu.Unlock()
	}
	if len(tps) == 0 {
		return
	}
	o := m.c.Invoke(op)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	got, err := m.cl.CommittedOffsets(octx, group, tps...)
	cancel()
	if err == nil {
		for _, tp := range tps {
			off, ok := got[tp]
			if !ok {
				off = -1
			}
			o.Offsets = append(o.Offsets, history.TPOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: off})
		}
	}
	m.c.Complete(o, err)
}

// consumer runs group members one after another until stop closes: each
// polls and commits until the nemesis kills it (Abandon: no commit, no
// leave; its partitions move when its session lapses) or, now and then, it
// leaves and a new member joins (a rebalance storm, F11). The nemesis may
// also pause it past its session through its gate (F11's zombie).
func consumer(ctx context.Context, cl *client.Client, rec *history.Recorder, worker int, rng *rand.Rand, kills <-chan struct{}, g *gate, stop <-chan struct{}) error {
	for {
		m, err := newMember(cl, rec, worker)
		if err != nil {
			return err
		}
		polls := 0
		leaveAfter := 50 + rng.IntN(200)
	run:
		for {
			g.pass() // paused (F11): no operation until the nemesis resumes it
			select {
			case <-stop:
				m.flushEvents()
				return m.co.Close()
			case <-ctx.Done():
				m.co.Abandon()
				return nil
			case <-kills:
				m.flushEvents()
				m.co.Abandon()
				break run
			default:
			}
			if len(m.step(ctx)) == 0 {
				pause(stop, 20*time.Millisecond) // nothing assigned yet, or nothing new
			}
			polls++
			if polls%20 == 0 {
				m.fetchCommitted(ctx)
			}
			if polls == leaveAfter {
				m.flushEvents()
				if err := m.co.Close(); err != nil {
					return fmt.Errorf("harness: leaving the group: %w", err)
				}
				break run
			}
		}
	}
}

// drainGroup joins the group once everything is healed and polls until
// the group has consumed every partition up to its high watermark, so the
// at-least-once check can hold the group to the whole final log.
func drainGroup(ctx context.Context, cl *client.Client, rec *history.Recorder, worker int, hwm map[int32]int64) error {
	m, err := newMember(cl, rec, worker)
	if err != nil {
		return err
	}
	defer m.co.Close()
	dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	pos := map[int32]int64{}
	for dctx.Err() == nil {
		m.step(dctx)
		m.flushEvents()
		m.mu.Lock()
		all := len(m.assigned) == len(hwm)
		m.mu.Unlock()
		if !all {
			continue // the rebalance that gives this member everything is under way
		}
		done := true
		for p, h := range hwm {
			pos[p] = m.co.Position(client.TopicPartition{Topic: topic, Partition: p})
			done = done && pos[p] >= h
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("harness: the group did not consume the whole log within 90 s (positions %v, high watermarks %v)", pos, hwm)
}
