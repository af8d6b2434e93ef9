package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluice-mq/sluice/linearizability/history"
)

// staleFollowerReturns is the double-failure schedule: a follower is
// killed and waited out of the ISR while the others go on committing; then
// the leader dies (and, when the scenario allows unclean election, the
// rest of the ISR too) and the stale follower comes back first. A correct
// controller elects the surviving ISR member, or (unclean election off,
// none left) nobody; an unclean election elects the stale follower and
// loses what only the ISR had, which the checker must report.
func (n *nemesis) staleFollowerReturns(ctx context.Context, stop <-chan struct{}) error {
	parts, err := partitionMeta(ctx, n.cl)
	if err != nil || len(parts) == 0 {
		fmt.Fprintf(n.log, "nemesis: no metadata, skipping the double failure: %v\n", err)
		return nil
	}
	p := parts[n.rng.IntN(len(parts))]
	if p.Leader < 0 || len(p.Isr) < len(p.Replicas) {
		fmt.Fprintf(n.log, "nemesis: %s-%d is not healthy, skipping the double failure\n", topic, p.Partition)
		return nil
	}
	var followers []int32
	for _, id := range p.Replicas {
		if id != p.Leader {
			followers = append(followers, id)
		}
	}
	stale := followers[n.rng.IntN(len(followers))]
	detail := fmt.Sprintf("%s-%d leader %d epoch %d", topic, p.Partition, p.Leader, p.LeaderEpoch)
	n.faults++
	staleWin := n.rec.StartFault(history.F2KillFollower, fmt.Sprintf("broker %d", stale), "kill -9, kept down until out of the ISR; "+detail)
	fmt.Fprintf(n.log, "nemesis: double failure: kill -9 follower %d (%s)\n", stale, detail)
	if err := n.c.Kill(ctx, brokerIndex(stale)); err != nil {
		return err
	}
	// Out of the ISR (the lag bound is 2 s), then more committed without it.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ps, err := partitionMeta(ctx, n.cl)
		if err == nil {
			out := false
			for _, q := range ps {
				if q.Partition == p.Partition && !slices.Contains(q.Isr, stale) {
					out = true
				}
			}
			if out {
				break
			}
		}
		if !wait(ctx, nil, 100*time.Millisecond) {
			return nil
		}
	}
	wait(ctx, nil, jitter(n.rng, 500*time.Millisecond, time.Second))
	victims := []int32{p.Leader}
	if n.sc.Unclean {
		for _, f := range followers {
			if f != stale {
				victims = append(victims, f)
			}
		}
	}
	var wins []int
	for _, v := range victims {
		wins = append(wins, n.rec.StartFault(history.F1KillLeader, fmt.Sprintf("broker %d", v), "kill -9 of the ISR while follower "+fmt.Sprint(stale)+" is stale; "+detail))
		fmt.Fprintf(n.log, "nemesis: double failure: kill -9 %d\n", v)
		if err := n.c.Kill(ctx, brokerIndex(v)); err != nil {
			return err
		}
	}
	err = n.c.StartBroker(ctx, brokerIndex(stale))
	n.rec.EndFault(staleWin)
	fmt.Fprintf(n.log, "nemesis: double failure: stale follower %d restarted first\n", stale)
	if err != nil {
		return err
	}
	wait(ctx, nil, jitter(n.rng, 2*time.Second, 4*time.Second))
	for k, v := range victims {
		err = errors.Join(err, n.c.StartBroker(ctx, brokerIndex(v)))
		n.rec.EndFault(wins[k])
	}
	fmt.Fprintf(n.log, "nemesis: double failure: every broker back\n")
	return err
}
