package harness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/localcluster"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// nemesis throws the scenario's faults at the cluster, one at a time, until
// stop closes; every fault is healed before the next and before it
// returns. Times: a quiet spell of 1–3 s, the fault, 2–4 s (kills) or
// session TTL + 1–2 s (pauses), heal.
type nemesis struct {
	c      *localcluster.Cluster
	cl     *client.Client
	rec    *history.Recorder
	sc     Scenario
	rng    *rand.Rand
	log    io.Writer
	faults int
	// kills takes one consumer down (F11), when the scenario has any.
	kills chan<- struct{}
	// gates pause one consumer each (F11).
	gates []*gate
}

// sessionTTL is the brokers' --session-ttl (serveArgs).
const sessionTTL = 2 * time.Second

func (n *nemesis) run(ctx context.Context, stop <-chan struct{}) error {
	if len(n.sc.Faults) == 0 {
		return nil
	}
	for {
		if !wait(ctx, stop, jitter(n.rng, time.Second, 3*time.Second)) {
			return nil
		}
		var err error
		if n.sc.DoubleFailure {
			err = n.staleFollowerReturns(ctx, stop)
		} else {
			err = n.inject(ctx, stop, n.sc.Faults[n.rng.IntN(len(n.sc.Faults))])
		}
		if err != nil {
			return err
		}
	}
}

func (n *nemesis) inject(ctx context.Context, stop <-chan struct{}, kind history.FaultKind) error {
	if kind == history.F11ConsumerFault {
		if len(n.gates) > 0 && n.rng.IntN(2) == 0 {
			return n.pauseConsumer(ctx, stop)
		}
		return n.killConsumer(ctx, stop)
	}
	parts, err := partitionMeta(ctx, n.cl)
	if err != nil {
		fmt.Fprintf(n.log, "nemesis: no metadata, skipping %s: %v\n", kind, err)
		return nil
	}
	p := parts[n.rng.IntN(len(parts))]
	target := p.Leader
	if kind == history.F2KillFollower || (kind == history.F6DiskFull || kind == history.F7TornTail || kind == history.F7bBitFlip) && n.rng.IntN(2) == 0 {
		var followers []int32
		for _, id := range p.Replicas {
			if id != p.Leader {
				followers = append(followers, id)
			}
		}
		if len(followers) > 0 {
			target = followers[n.rng.IntN(len(followers))]
		}
	}
	if target < 0 {
		fmt.Fprintf(n.log, "nemesis: %s-%d has no leader, skipping %s\n", topic, p.Partition, kind)
		return nil
	}
	i := brokerIndex(target)
	what := fmt.Sprintf("broker %d", target)
	detail := fmt.Sprintf("%s-%d leader %d epoch %d", topic, p.Partition, p.Leader, p.LeaderEpoch)
	n.faults++
	switch kind {
	case history.F8bPowerLossAll:
		return n.powerLossAll(ctx, stop, detail)
	case history.F6DiskFull:
		return n.diskFull(ctx, stop, i, what, detail)
	case history.F7TornTail, history.F7bBitFlip:
		return n.tornTail(ctx, stop, kind, i, p.Partition, what, detail)
	case history.F1KillLeader, history.F2KillFollower, history.F8aPowerLossOne:
		how := "kill -9; "
		if n.sc.FaultFS() != "" && strings.Contains(n.sc.FaultFS(), "volatile") {
			how = "kill -9, unsynced writes lost (power loss); "
		}
		id := n.rec.StartFault(kind, what, how+detail)
		fmt.Fprintf(n.log, "nemesis: %s kill -9 %s (%s)\n", kind, what, detail)
		if err := n.c.Kill(ctx, i); err != nil {
			return err
		}
		wait(ctx, stop, jitter(n.rng, 2*time.Second, 4*time.Second))
		err := n.c.StartBroker(ctx, i)
		n.rec.EndFault(id)
		fmt.Fprintf(n.log, "nemesis: %s restarted %s\n", kind, what)
		return err
	case history.F9LastReplica:
		// The leader's followers fall behind (SIGSTOP, shorter than the
		// lag bound and the session, so they stay in the ISR and keep
		// their registrations), the leader takes writes alone and dies;
		// the followers come back and one of them leads. What the
		// leader alone had was acknowledged only under acks=1.
		var followers []int
		for _, id := range p.Replicas {
			if id != p.Leader {
				followers = append(followers, brokerIndex(id))
			}
		}
		id := n.rec.StartFault(kind, what, "followers paused, leader kill -9, followers resumed; "+detail)
		fmt.Fprintf(n.log, "nemesis: %s pause the followers of %s, then kill -9 it (%s)\n", kind, what, detail)
		for _, f := range followers {
			if err := n.c.Pause(f); err != nil {
				return err
			}
		}
		wait(ctx, nil, jitter(n.rng, 400*time.Millisecond, 800*time.Millisecond))
		killErr := n.c.Kill(ctx, i)
		for _, f := range followers {
			if err := n.c.Resume(f); err != nil {
				return err
			}
		}
		if killErr != nil {
			return killErr
		}
		wait(ctx, stop, jitter(n.rng, 2*time.Second, 4*time.Second))
		err := n.c.StartBroker(ctx, i)
		n.rec.EndFault(id)
		fmt.Fprintf(n.log, "nemesis: %s restarted %s\n", kind, what)
		return err
	case history.F4IsolateLeader, history.F5bEtcdCutLeader, history.F5aEtcdCutAll:
		var cut func() error
		var how string
		switch kind {
		case history.F4IsolateLeader:
			cut, how = func() error { return n.c.Isolate(i) }, "cut from the other brokers and etcd, clients still reach it"
		case history.F5bEtcdCutLeader:
			cut, how = func() error { return n.c.CutFromEtcd(i) }, "cut from etcd"
		default:
			what = "every broker"
			cut, how = func() error { return n.c.CutFromEtcd() }, "every broker cut from etcd"
		}
		id := n.rec.StartFault(kind, what, how+"; "+detail)
		fmt.Fprintf(n.log, "nemesis: %s %s: %s (%s)\n", kind, what, how, detail)
		if err := cut(); err != nil {
			return err
		}
		// Past the session TTL: the leader's lease expires and it must
		// stop acknowledging (self-fencing) while the others elect.
		wait(ctx, nil, sessionTTL+jitter(n.rng, time.Second, 2*time.Second))
		err := n.c.HealNetwork()
		n.rec.EndFault(id)
		fmt.Fprintf(n.log, "nemesis: %s healed\n", kind)
		return err
	case history.F3PauseLeader:
		id := n.rec.StartFault(kind, what, "SIGSTOP past the session TTL; "+detail)
		fmt.Fprintf(n.log, "nemesis: %s pause %s (%s)\n", kind, what, detail)
		if err := n.c.Pause(i); err != nil {
			return err
		}
		wait(ctx, nil, sessionTTL+jitter(n.rng, time.Second, 2*time.Second))
		err := n.c.Resume(i)
		n.rec.EndFault(id)
		fmt.Fprintf(n.log, "nemesis: %s resumed %s\n", kind, what)
		return err
	}
	return fmt.Errorf("harness: fault %s is not implemented", kind)
}

// jitter is a duration in [lo, hi).
func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// wait waits d; false if stop closed or ctx ended first.
func wait(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// killConsumer is F11: one group member dies without committing or
// leaving (its partitions move when its session lapses); its worker starts
// a new member. The window covers the session timeout.
func (n *nemesis) killConsumer(ctx context.Context, stop <-chan struct{}) error {
	if n.sc.Consumers == 0 {
		return nil
	}
	n.faults++
	id := n.rec.StartFault(history.F11ConsumerFault, "a consumer", "group member killed (no commit, no leave), a new one joins")
	defer n.rec.EndFault(id)
	select {
	case n.kills <- struct{}{}:
	case <-stop:
		return nil
	case <-ctx.Done():
		return nil
	}
	fmt.Fprintf(n.log, "nemesis: F11 killed a group consumer\n")
	wait(ctx, stop, groupSession+jitter(n.rng, 500*time.Millisecond, 1500*time.Millisecond))
	return nil
}

// pauseConsumer is F11's other half: one group member stops, its
// connections with it, for longer than its session (the coordinator
// fences it and hands its partitions to the other member), then resumes
// as a zombie whose stalled heartbeat, poll and commit reach the brokers
// late. A broker that took the zombie's commit would move the group's
// offsets back (offset-regression).
func (n *nemesis) pauseConsumer(ctx context.Context, stop <-chan struct{}) error {
	w := n.rng.IntN(len(n.gates))
	g := n.gates[w]
	n.faults++
	id := n.rec.StartFault(history.F11ConsumerFault, fmt.Sprintf("consumer %d", w+1), "group member paused past its session, then resumed (a zombie)")
	defer n.rec.EndFault(id)
	g.hold()
	defer g.release()
	fmt.Fprintf(n.log, "nemesis: F11 paused group consumer %d\n", w+1)
	wait(ctx, stop, groupSession+jitter(n.rng, time.Second, 3*time.Second))
	g.release()
	fmt.Fprintf(n.log, "nemesis: F11 resumed group consumer %d\n", w+1)
	// The window covers the zombie's return and the rebalance after it.
	wait(ctx, stop, jitter(n.rng, 500*time.Millisecond, 1500*time.Millisecond))
	return nil
}
