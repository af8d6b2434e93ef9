package group

import (
	"cmp"
	"slices"
)

// Assignor names a server-side assignment strategy. Each is a pure,
// deterministic function of its inputs (Assign).
type Assignor string

const (
	// Sticky (the default) keeps every partition with its current owner
	// where it can and balances the members to within one partition: the
	// idea of Kafka's StickyAssignor and KIP-848's "uniform" assignor. When
	// subscriptions differ, balance is kept between members that could
	// trade (no partition can move to a member that owns two or more fewer
	// and subscribes to its topic).
	Sticky Assignor = "sticky"
	// Range gives each member a contiguous range of each topic it
	// subscribes to, members in id order, the first ones one partition more
	// when the count does not divide. Balanced per topic, not overall (the
	// first members collect the extras of every topic), as in Kafka.
	Range Assignor = "range"
	// RoundRobin deals all partitions, sorted by topic and number, over the
	// members in id order, skipping members not subscribed to the topic.
	RoundRobin Assignor = "roundrobin"
)

// DefaultAssignor is used when no member names one.
const DefaultAssignor = Sticky

// ParseAssignor returns the assignor of that name; "" is not a name.
func ParseAssignor(name string) (Assignor, bool) {
	switch a := Assignor(name); a {
	case Sticky, Range, RoundRobin:
		return a, true
	}
	return "", false
}

// MemberSubscription is one member as an assignor sees it.
type MemberSubscription struct {
	ID     MemberID
	Topics []string
}

// Assign computes a target assignment. partitions maps each existing topic
// to its partition count (topics missing or with a count <= 0 are ignored);
// current is the previous target (Sticky keeps it where it can; the others
// ignore it). The result has an entry for every member, each list sorted;
// a member gets only partitions of topics it subscribes to, and each
// partition of a subscribed topic goes to exactly one member. Members
// beyond the number of partitions get nothing. Members should have unique
// ids; a duplicate is ignored.
func (a Assignor) Assign(members []MemberSubscription, partitions map[string]int32, current map[MemberID][]TopicPartition) map[MemberID][]TopicPartition {
	in := newAssignInput(members, partitions)
	switch a {
	case Range:
		return in.assignRange()
	case RoundRobin:
		return in.assignRoundRobin()
	default:
		return in.assignSticky(current)
	}
}

// assignInput is the members and partitions an assignment is over,
// normalised: members sorted by id, subscriptions restricted to existing
// topics.
type assignInput struct {
	members  []MemberID                    // sorted, unique
	subs     map[MemberID]map[string]bool  // existing subscribed topics
	counts   map[string]int32              // existing topics anyone subscribes to
	eligible map[string][]MemberID         // topic -> subscribers, sorted
	result   map[MemberID][]TopicPartition // being built
	all      []TopicPartition              // every partition to assign, sorted
}

func newAssignInput(members []MemberSubscription, partitions map[string]int32) *assignInput {
	in := &assignInput{
		subs:     make(map[MemberID]map[string]bool, len(members)),
		counts:   make(map[string]int32),
		eligible: make(map[string][]MemberID),
		result:   make(map[MemberID][]TopicPartition, len(members)),
	}
	for _, m := range members {
		if _, dup := in.subs[m.ID]; dup {
			continue
		}
		set := make(map[string]bool, len(m.Topics))
		for _, t := range m.Topics {
			if n := partitions[t]; n > 0 {
				set[t] = true
				in.counts[t] = n
			}
		}
		in.subs[m.ID] = set
		in.members = append(in.members, m.ID)
		in.result[m.ID] = nil
	}
	slices.Sort(in.members)
	for _, id := range in.members {
		for t := range in.subs[id] {
			in.eligible[t] = append(in.eligible[t], id) // members are visited in order: sorted
		}
	}
	topics := make([]string, 0, len(in.counts))
	for t := range in.counts {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		for p := range in.counts[t] {
			in.all = append(in.all, TopicPartition{t, p})
		}
	}
	return in
}

func (in *assignInput) valid(id MemberID, tp TopicPartition) bool {
	return in.subs[id][tp.Topic] && tp.Partition >= 0 && tp.Partition < in.counts[tp.Topic]
}

func (in *assignInput) finish() map[MemberID][]TopicPartition {
	for _, tps := range in.result {
		sortTPs(tps)
	}
	return in.result
}

func (in *assignInput) assignRange() map[MemberID][]TopicPartition {
	topics := make([]string, 0, len(in.eligible))
	for t := range in.eligible {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		subs := in.eligible[t]
		n, k := int(in.counts[t]), len(subs)
		base, extra := n/k, n%k
		start := 0
		for i, id := range subs {
			size := base
			if i < extra {
				size++
			}
			for p := start; p < start+size; p++ {
				in.result[id] = append(in.result[id], TopicPartition{t, int32(p)})
			}
			start += size
		}
	}
	return in.finish()
}

func (in *assignInput) assignRoundRobin() map[MemberID][]TopicPartition {
	next := 0
	for _, tp := range in.all {
		for !in.subs[in.members[next%len(in.members)]][tp.Topic] {
			next++ // terminates: tp's topic has a subscriber, or it would not be in all
		}
		id := in.members[next%len(in.members)]
		in.result[id] = append(in.result[id], tp)
		next++
	}
	return in.finish()
}

// homogeneous reports whether every member subscribes to the same existing
// topics.
func (in *assignInput) homogeneous() bool {
	for _, id := range in.members {
		if len(in.subs[id]) != len(in.counts) {
			return false
		}
	}
	return true
}

func (in *assignInput) assignSticky(current map[MemberID][]TopicPartition) map[MemberID][]TopicPartition {
	if len(in.all) == 0 {
		return in.finish()
	}
	// What each member may keep: its current partitions that still exist and
	// that it still subscribes to, each partition kept by one member only.
	taken := make(map[TopicPartition]bool, len(in.all))
	kept := make(map[MemberID][]TopicPartition, len(in.members))
	for _, id := range in.members {
		cur := slices.Clone(current[id])
		sortTPs(cur)
		for _, tp := range cur {
			if in.valid(id, tp) && !taken[tp] {
				taken[tp] = true
				kept[id] = append(kept[id], tp)
			}
		}
	}
	if in.homogeneous() {
		return in.stickyHomogeneous(kept)
	}
	return in.stickyGeneral(kept, taken)
}

// stickyHomogeneous: every member can take every partition, so the quotas
// are fixed (n/k, and n%k members one more); the extras go to the members
// that keep the most, which moves the fewest partitions.
func (in *assignInput) stickyHomogeneous(kept map[MemberID][]TopicPartition) map[MemberID][]TopicPartition {
	n, k := len(in.all), len(in.members)
	base, extra := n/k, n%k
	order := slices.Clone(in.members)
	slices.SortStableFunc(order, func(a, b MemberID) int { return cmp.Compare(len(kept[b]), len(kept[a])) })
	quota := make(map[MemberID]int, k)
	owned := make(map[TopicPartition]bool, n)
	for i, id := range order {
		quota[id] = base
		if i < extra {
			quota[id]++
		}
		keep := kept[id][:min(len(kept[id]), quota[id])]
		in.result[id] = slices.Clone(keep)
		for _, tp := range keep {
			owned[tp] = true
		}
	}
	next := 0
	for _, id := range in.members {
		for len(in.result[id]) < quota[id] {
			for owned[in.all[next]] {
				next++
			}
			in.result[id] = append(in.result[id], in.all[next])
			next++
		}
	}
	return in.finish()
}

// stickyGeneral handles differing subscriptions: keep what can be kept,
// give each free partition (most constrained topics first) to the least
// loaded member that subscribes to it, then move partitions from loaded
// members to eligible members owning two or more fewer until none can
// move. Each move lowers the sum of squared loads, so the loop ends.
func (in *assignInput) stickyGeneral(kept map[MemberID][]TopicPartition, taken map[TopicPartition]bool) map[MemberID][]TopicPartition {
	load := func(id MemberID) int { return len(in.result[id]) }
	for id, tps := range kept {
		in.result[id] = slices.Clone(tps)
	}
	var free []TopicPartition
	for _, tp := range in.all {
		if !taken[tp] {
			free = append(free, tp)
		}
	}
	slices.SortStableFunc(free, func(a, b TopicPartition) int {
		return cmp.Compare(len(in.eligible[a.Topic]), len(in.eligible[b.Topic]))
	})
	for _, tp := range free {
		var best MemberID
		for _, id := range in.eligible[tp.Topic] {
			if best == "" || load(id) < load(best) {
				best = id
			}
		}
		in.result[best] = append(in.result[best], tp)
	}
	for in.moveOne(load) {
	}
	return in.finish()
}

// moveOne moves one partition from the most loaded member that has one to
// give to the least loaded eligible member with at least two fewer, and
// reports whether it did.
func (in *assignInput) moveOne(load func(MemberID) int) bool {
	order := slices.Clone(in.members)
	slices.SortStableFunc(order, func(a, b MemberID) int { return cmp.Compare(load(b), load(a)) })
	for _, from := range order {
		tps := in.result[from]
		sortTPs(tps)
		var to MemberID
		at := -1
		for i := len(tps) - 1; i >= 0; i-- {
			for _, id := range in.eligible[tps[i].Topic] {
				if load(id) < load(from)-1 && (to == "" || load(id) < load(to)) {
					to, at = id, i
				}
			}
		}
		if at >= 0 {
			in.result[to] = append(in.result[to], tps[at])
			in.result[from] = slices.Delete(tps, at, at+1)
			return true
		}
	}
	return false
}
