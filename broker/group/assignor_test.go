package group

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func subsOf(n int, topics ...string) []MemberSubscription {
	var ms []MemberSubscription
	for i := range n {
		ms = append(ms, MemberSubscription{ID: MemberID(fmt.Sprintf("m%02d", i)), Topics: topics})
	}
	return ms
}

// checkAssignment: every partition of a subscribed existing topic goes to
// exactly one member, which subscribes to it; every member has an entry.
func checkAssignment(t *testing.T, members []MemberSubscription, counts map[string]int32, got map[MemberID][]TopicPartition) {
	t.Helper()
	owner := map[TopicPartition]MemberID{}
	subscribed := map[string]bool{}
	for _, m := range members {
		tps, ok := got[m.ID]
		if !ok {
			t.Fatalf("no entry for %s", m.ID)
		}
		if !slices.IsSortedFunc(tps, compareTP) {
			t.Fatalf("%s: not sorted: %v", m.ID, tps)
		}
		for _, tp := range tps {
			if !slices.Contains(m.Topics, tp.Topic) {
				t.Fatalf("%s got %s outside its subscription %v", m.ID, tp, m.Topics)
			}
			if prev, dup := owner[tp]; dup {
				t.Fatalf("%s given to %s and %s", tp, prev, m.ID)
			}
			owner[tp] = m.ID
		}
		for _, topic := range m.Topics {
			subscribed[topic] = true
		}
	}
	want := 0
	for topic := range subscribed {
		want += int(max(0, counts[topic]))
	}
	if len(owner) != want || len(got) != len(members) {
		t.Fatalf("%d partitions assigned to %d entries, want %d to %d: %v", len(owner), len(got), want, len(members), got)
	}
}

func spread(got map[MemberID][]TopicPartition) int {
	lo, hi := 1<<30, 0
	for _, tps := range got {
		lo, hi = min(lo, len(tps)), max(hi, len(tps))
	}
	return hi - lo
}

func TestAssignorsHomogeneous(t *testing.T) {
	for _, a := range []Assignor{Sticky, Range, RoundRobin} {
		for _, tc := range []struct {
			members int
			counts  map[string]int32
		}{
			{1, map[string]int32{"t": 6}},
			{3, map[string]int32{"t": 6}},
			{4, map[string]int32{"t": 6}},
			{5, map[string]int32{"t": 3}}, // more members than partitions
			{3, map[string]int32{"a": 4, "b": 5, "c": 1}},
			{7, map[string]int32{"a": 50, "b": 13}},
			{2, map[string]int32{}}, // no topic exists
		} {
			topics := []string{"t", "a", "b", "c"}
			name := fmt.Sprintf("%s/%d members/%v", a, tc.members, tc.counts)
			t.Run(name, func(t *testing.T) {
				ms := subsOf(tc.members, topics...)
				got := a.Assign(ms, tc.counts, nil)
				checkAssignment(t, ms, tc.counts, got)
				if a != Range && spread(got) > 1 {
					t.Fatalf("spread %d > 1: %v", spread(got), got)
				}
				if a == Range { // balanced per topic
					for topic := range tc.counts {
						per := map[MemberID][]TopicPartition{}
						for id, tps := range got {
							per[id] = nil
							for _, tp := range tps {
								if tp.Topic == topic {
									per[id] = append(per[id], tp)
								}
							}
						}
						if spread(per) > 1 {
							t.Fatalf("topic %s spread %d: %v", topic, spread(per), per)
						}
					}
				}
				// Deterministic whatever the input order.
				shuffled := slices.Clone(ms)
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := a.Assign(shuffled, tc.counts, nil); fmt.Sprint(again) != fmt.Sprint(got) {
					t.Fatalf("not deterministic:\n%v\n%v", got, again)
				}
			})
		}
	}
}

func TestAssignorsKnownLayouts(t *testing.T) {
	ms := subsOf(2, "a", "b")
	counts := map[string]int32{"a": 3, "b": 3}
	for _, tc := range []struct {
		a    Assignor
		want string
	}{
		{Range, "map[m00:[a/0 a/1 b/0 b/1] m01:[a/2 b/2]]"},
		{RoundRobin, "map[m00:[a/0 a/2 b/1] m01:[a/1 b/0 b/2]]"},
		{Sticky, "map[m00:[a/0 a/1 a/2] m01:[b/0 b/1 b/2]]"},
	} {
		if got := fmt.Sprint(tc.a.Assign(ms, counts, nil)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.a, got, tc.want)
		}
	}
}

// minMoves is the fewest partitions that must change owner to go from cur
// to a balanced assignment of n partitions over the members (homogeneous
// subscriptions): the extras go to the members that own most.
func minMoves(members []MemberSubscription, cur map[MemberID][]TopicPartition, n int) int {
	var owned []int
	for _, m := range members {
		owned = append(owned, len(cur[m.ID]))
	}
	slices.Sort(owned)
	slices.Reverse(owned)
	base, extra, moves := n/len(members), n%len(members), 0
	for i, o := range owned {
		q := base
		if i < extra {
			q++
		}
		moves += max(0, o-q)
	}
	return moves
}

func moved(before, after map[MemberID][]TopicPartition) int {
	owner := map[TopicPartition]MemberID{}
	for id, tps := range before {
		for _, tp := range tps {
			owner[tp] = id
		}
	}
	n := 0
	for id, tps := range after {
		for _, tp := range tps {
			if prev, ok := owner[tp]; ok && prev != id {
				n++
			}
		}
	}
	return n
}

func TestStickyMovesOnlyWhatItMust(t *testing.T) {
	counts := map[string]int32{"t": 6}
	two := subsOf(2, "t")
	cur := Sticky.Assign(two, counts, nil)
	three := subsOf(3, "t")
	next := Sticky.Assign(three, counts, cur)
	if m := moved(cur, next); m != 2 {
		t.Fatalf("2 -> 3 members moved %d partitions, want 2: %v -> %v", m, cur, next)
	}
	// Removing m01 moves only m01's partitions.
	after := Sticky.Assign([]MemberSubscription{three[0], three[2]}, counts, next)
	for _, id := range []MemberID{"m00", "m02"} {
		for _, tp := range next[id] {
			if !slices.Contains(after[id], tp) {
				t.Fatalf("%s lost %s when m01 left: %v -> %v", id, tp, next, after)
			}
		}
	}
	// More members than partitions: the extras get nothing, owners keep theirs.
	many := subsOf(8, "t")
	big := Sticky.Assign(many, counts, next)
	for id, tps := range next {
		if !slices.Equal(big[id], tps) && len(tps) == 1 {
			t.Fatalf("%s lost %v when idle members joined", id, tps)
		}
	}
	checkAssignment(t, many, counts, big)
}

// TestStickyRandomized: from random previous assignments, Sticky stays
// balanced and moves exactly the minimum for homogeneous groups, and keeps
// the local balance rule for mixed subscriptions.
func TestStickyRandomized(t *testing.T) {
	seed := uint64(*seedFlag)
	if seed == 0 {
		seed = 42
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; replay: go test ./broker/group/ -run TestStickyRandomized -seed=%d", seed, seed)
		}
	})
	topics := []string{"a", "b", "c"}
	for iter := range 300 {
		counts := map[string]int32{}
		for _, topic := range topics {
			if rng.IntN(4) > 0 {
				counts[topic] = int32(rng.IntN(12))
			}
		}
		n := 1 + rng.IntN(9)
		var ms []MemberSubscription
		homogeneous := rng.IntN(2) == 0
		for i := range n {
			sub := topics
			if !homogeneous {
				sub = nil
				for _, topic := range topics {
					if rng.IntN(2) == 0 {
						sub = append(sub, topic)
					}
				}
			}
			ms = append(ms, MemberSubscription{ID: MemberID(fmt.Sprintf("m%02d", i+rng.IntN(3)*10)), Topics: sub})
		}
		ms = slices.CompactFunc(ms, func(a, b MemberSubscription) bool { return a.ID == b.ID })
		// A previous assignment of a different member set.
		prevMembers := slices.DeleteFunc(slices.Clone(ms), func(MemberSubscription) bool { return rng.IntN(3) == 0 })
		prevMembers = append(prevMembers, MemberSubscription{ID: "gone", Topics: topics})
		prev := Sticky.Assign(prevMembers, counts, nil)
		got := Sticky.Assign(ms, counts, prev)
		checkAssignment(t, ms, counts, got)
		if homogeneous {
			total := 0
			for _, c := range counts {
				total += int(c)
			}
			if spread(got) > 1 {
				t.Fatalf("iter %d: spread %d: %v", iter, spread(got), got)
			}
			live := map[MemberID][]TopicPartition{}
			for _, m := range ms {
				live[m.ID] = prev[m.ID]
			}
			if mv, want := moved(live, got), minMoves(ms, live, total); mv != want {
				t.Fatalf("iter %d: moved %d partitions, the minimum is %d:\n%v\n%v", iter, mv, want, prev, got)
			}
		}
		// Local balance: no partition could go to a subscriber owning two fewer.
		for from, tps := range got {
			for _, tp := range tps {
				for _, m := range ms {
					if slices.Contains(m.Topics, tp.Topic) && len(got[m.ID]) < len(tps)-1 {
						t.Fatalf("iter %d: %s could move from %s (%d) to %s (%d): %v", iter, tp, from, len(tps), m.ID, len(got[m.ID]), got)
					}
				}
			}
		}
	}
}

func TestParseAssignor(t *testing.T) {
	for _, name := range []string{"sticky", "range", "roundrobin"} {
		if a, ok := ParseAssignor(name); !ok || string(a) != name {
			t.Errorf("ParseAssignor(%q) = %q, %v", name, a, ok)
		}
	}
	for _, name := range []string{"", "uniform", "Sticky"} {
		if _, ok := ParseAssignor(name); ok {
			t.Errorf("ParseAssignor(%q) accepted", name)
		}
	}
}
