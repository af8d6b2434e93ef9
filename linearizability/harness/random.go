package harness

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// randomPool is what a random strong scenario draws its faults from;
// disk and power faults (F6, F7, F8) need a faultfs build for F6 and F8.
var randomPool = []history.FaultKind{
	history.F1KillLeader, history.F2KillFollower, history.F3PauseLeader, history.F4IsolateLeader,
	history.F5aEtcdCutAll, history.F5bEtcdCutLeader, history.F6DiskFull, history.F7TornTail, history.F7bBitFlip,
	history.F8aPowerLossOne, history.F8bPowerLossAll, history.F9LastReplica, history.F11ConsumerFault,
}

// RandomStrong is a strong scenario (TESTING.md §5's promise, no anomaly
// allowed) in mode whose faults — two to four kinds — the seed chooses;
// with F11 it runs a consumer group of two.
// Without the fault file layer (withFaultFS false) F6 and F8 are left out.
func RandomStrong(mode expect.ReplicationMode, seed uint64, withFaultFS bool) Scenario {
	pool := slices.Clone(randomPool)
	if !withFaultFS {
		pool = slices.DeleteFunc(pool, func(k history.FaultKind) bool {
			return k == history.F6DiskFull || k == history.F8aPowerLossOne || k == history.F8bPowerLossAll
		})
	}
	rng := rand.New(rand.NewPCG(seed, 0xfa17))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	kinds := pool[:2+rng.IntN(3)]
	slices.SortFunc(kinds, func(a, b history.FaultKind) int {
		return slices.Index(history.FaultKinds, a) - slices.Index(history.FaultKinds, b)
	})
	s := strong(fmt.Sprintf("random-%s", mode), mode, kinds...)
	if slices.Contains(kinds, history.F11ConsumerFault) {
		s.Consumers = 2 // an at-least-once group for the consumer faults
	}
	s.Description = fmt.Sprintf("random strong scenario (seed %d): %s", seed, s.Description)
	return s
}
