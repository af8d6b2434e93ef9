package group

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run the randomized tests with this one seed (0: the default seeds)")
	stepsFlag = flag.Int("steps", 250, "TestRandomized: steps of random operations per seed")
)

// TestRandomized runs random joins, leaves, crashes, pauses (zombies),
// subscription changes, partition-count changes and slow revocations over
// two groups, checking after every call that no partition has two owners
// (harness) and that live clients fetch only their own partitions; then a
// quiet period after which every group must be stable with each subscribed
// partition owned once.
func TestRandomized(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("seed %d; replay: go test ./broker/group/ -run 'TestRandomized' -seed=%d -steps=%d -v", seed, seed, *stepsFlag)
				}
			})
			runRandomized(t, seed, *stepsFlag)
		})
	}
}

// simClient is a client plus what the random test does to it.
type simClient struct {
	*client
	pausedFor int  // heartbeats it skips (a GC pause, a network blip)
	crashed   bool // never heartbeats again
}

func runRandomized(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	h := newHarness(t, Config{MaxGroupSize: 6})
	topics := []string{"t0", "t1", "t2", "t3"}
	h.counts["t0"], h.counts["t1"] = 6, 3 // t2 and t3 appear later
	groups := []string{"g1", "g2"}
	var sims []*simClient
	pick := func(ok func(*simClient) bool) *simClient {
		var c []*simClient
		for _, s := range sims {
			if !s.crashed && ok(s) {
				c = append(c, s)
			}
		}
		if len(c) == 0 {
			return nil
		}
		return c[rng.IntN(len(c))]
	}
	anyJoined := func(s *simClient) bool { return s.joined }
	randomTopics := func() []string {
		var ts []string
		for _, topic := range topics {
			if rng.IntN(2) == 0 {
				ts = append(ts, topic)
			}
		}
		if len(ts) == 0 {
			ts = topics[:1]
		}
		return ts
	}
	var op string
	for step := 0; step < steps; step++ {
		switch r := rng.IntN(20); {
		case r < 3 && running(sims) < 10:
			op = "join"
			s := &simClient{client: newClient(groups[rng.IntN(len(groups))], randomTopics()...)}
			sims = append(sims, s)
		case r < 4:
			op = "leave"
			if s := pick(anyJoined); s != nil && s.pausedFor == 0 {
				resp := h.heartbeat(HeartbeatRequest{Group: s.group, MemberID: s.id, MemberEpoch: LeaveEpoch})
				if resp.Error != ErrNone && resp.Error != ErrUnknownMember {
					t.Fatalf("step %d: leave: %v", step, resp.Error)
				}
				s.crashed = true // gone for good; a client leaves only when it stops
			}
		case r < 5:
			op = "crash"
			if s := pick(anyJoined); s != nil {
				s.crashed = true
			}
		case r < 7:
			op = "pause"
			if s := pick(anyJoined); s != nil {
				s.pausedFor = 1 + rng.IntN(14) // the session timeout is 10 heartbeats
			}
		case r < 9:
			op = "resubscribe"
			if s := pick(anyJoined); s != nil {
				s.topics, s.changed = randomTopics(), true
			}
		case r < 10:
			op = "partitions"
			topic := topics[rng.IntN(len(topics))]
			if rng.IntN(4) == 0 {
				delete(h.counts, topic) // deleted (and maybe recreated smaller later)
			} else {
				h.counts[topic] = int32(1 + rng.IntN(8))
			}
		case r < 13:
			op = "slow revoke"
			if s := pick(anyJoined); s != nil {
				s.delayRevoke = 1 + rng.IntN(8) // the rebalance timeout is 5 heartbeats
			}
		case r < 14:
			op = "failover"
			h.failover()
		default:
			op = "nothing"
		}
		h.where = fmt.Sprintf("step %d after %q", step, op)
		heartbeatAll(h, sims, rng)
	}
	// Quiet period: pauses end, revocations are prompt, nobody crashes.
	for _, s := range sims {
		s.pausedFor, s.delayRevoke = 0, 0
	}
	// Long enough for a member that crashed just before to expire (10s)
	// and for the rest to converge.
	h.where = "quiet period"
	for range 20 {
		heartbeatAll(h, sims, rng)
	}
	var live []*client
	for _, s := range sims {
		if !s.crashed {
			live = append(live, s.client)
		}
	}
	for _, s := range sims {
		if !s.crashed {
			s.beat(h) // hear the final assignment
		}
	}
	checkStable(h, live)
	t.Logf("seed %d: %d steps, %d clients (%d live), %d events, groups %v", seed, steps, len(sims), len(live), len(h.events), h.c.List())
}

func running(sims []*simClient) int {
	n := 0
	for _, s := range sims {
		if !s.crashed {
			n++
		}
	}
	return n
}

// heartbeatAll is one second: every running client heartbeats once (in a
// random order), paused ones count down, and the coordinator ticks.
func heartbeatAll(h *harness, sims []*simClient, rng *rand.Rand) {
	h.t.Helper()
	order := slices.Clone(sims)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var clients []*client
	for _, s := range order {
		if !s.crashed {
			clients = append(clients, s.client)
		}
	}
	for _, s := range order {
		switch {
		case s.crashed:
		case s.pausedFor > 0:
			s.pausedFor--
			if s.joined && !s.live(h) && s.epoch > 0 {
				// A zombie: its commits must be refused.
				if e := h.c.ValidateCommit(s.group, s.id, s.epoch); e == ErrNone {
					h.fatalf("zombie %s@%d may commit", s.id, s.epoch)
				}
			}
		default:
			resp := s.beat(h)
			if resp.Error == ErrGroupMaxSize {
				s.crashed = true // gives up
			}
			checkClient(h, s.client)
		}
	}
	checkClients(h, clients)
	h.advance(time.Second)
	h.tick()
	checkClients(h, clients)
}
