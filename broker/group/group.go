package group

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// member is one member of a group.
type member struct {
	id MemberID
	// Invariant: epoch <= group.assignmentEpoch; epoch > 0 once joined.
	epoch         int32
	previousEpoch int32
	state         MemberState
	topics        []string // sorted, unique
	tagFilter     string
	assignor      Assignor // preference, "" = none
	sessionTimeout,
	rebalanceTimeout time.Duration
	// assigned is what the member owns and may fetch; revoking what it owns
	// but must give up. Invariant: both sorted, disjoint, every partition in
	// them has owner[p] == id; revoking is non-empty iff state is
	// MemberUnrevoked; once epoch == assignmentEpoch, assigned ⊆ target.
	assigned []TopicPartition
	revoking []TopicPartition

	// Not persisted: Restore starts them again from its now.
	sessionDeadline    time.Time
	revocationDeadline time.Time // when state is MemberUnrevoked
}

// group is one consumer group.
type group struct {
	id string
	// Invariant: assignmentEpoch <= groupEpoch; they differ only inside a
	// call (or after Restore of a snapshot taken mid-change).
	groupEpoch      int32
	assignmentEpoch int32
	assignor        Assignor
	counts          map[string]int32 // subscribed existing topics -> partitions, as the target saw them
	members         map[MemberID]*member
	// target is the target assignment computed at assignmentEpoch; it may
	// still name members removed since (Sticky uses it as "current").
	target map[MemberID][]TopicPartition
	// owner maps every owned partition to its one owner. Invariant:
	// owner[p] == m.id iff p is in m.assigned or m.revoking.
	owner map[TopicPartition]MemberID
	// subscribed counts the members subscribed to each topic, so that a
	// heartbeat looks up each topic once, not once per member. Invariant:
	// subscribed[t] == |{m : t in m.topics}|, no zero entries.
	subscribed map[string]int
}

func newGroup(id string) *group {
	return &group{
		id:         id,
		assignor:   DefaultAssignor,
		counts:     map[string]int32{},
		members:    map[MemberID]*member{},
		target:     map[MemberID][]TopicPartition{},
		owner:      map[TopicPartition]MemberID{},
		subscribed: map[string]int{},
	}
}

func (g *group) sortedMembers() []*member {
	ms := slices.Collect(maps.Values(g.members))
	slices.SortFunc(ms, func(a, b *member) int { return cmp.Compare(a.id, b.id) })
	return ms
}

// recorder collects the Changes of one call.
type recorder struct {
	events []Event
	dirty  map[*group]bool
}

func (r *recorder) touch(g *group) {
	if r.dirty == nil {
		r.dirty = map[*group]bool{}
	}
	r.dirty[g] = true
}

func (r *recorder) emit(g *group, kind EventKind, m *member, tp TopicPartition) {
	r.touch(g)
	r.events = append(r.events, Event{Group: g.id, Kind: kind, Member: m.id, MemberEpoch: m.epoch, GroupEpoch: g.groupEpoch, Partition: tp})
}

// changes snapshots the dirty groups. A group deleted in the same call is
// not reported (only Delete deletes, and it records nothing).
func (r *recorder) changes() Changes {
	ch := Changes{Events: r.events}
	for g := range r.dirty {
		ch.Groups = append(ch.Groups, g.snapshot())
	}
	slices.SortFunc(ch.Groups, func(a, b GroupState) int { return cmp.Compare(a.Group, b.Group) })
	return ch
}

// setTopics replaces m's subscription (nil for a member leaving).
func (g *group) setTopics(m *member, topics []string) {
	for _, t := range m.topics {
		if g.subscribed[t]--; g.subscribed[t] == 0 {
			delete(g.subscribed, t)
		}
	}
	m.topics = topics
	for _, t := range m.topics {
		g.subscribed[t]++
	}
}

// bump moves the group epoch on after a change that needs a new target
// assignment. Changes within one call (a join that also brings a new
// topic, a Tick that expires several members) share one bump: the epoch
// moves only when the target is at the current one.
func (g *group) bump() {
	if g.groupEpoch == g.assignmentEpoch {
		g.groupEpoch++
	}
}

// remove takes m out of the group at once, freeing its partitions.
func (g *group) remove(m *member, why EventKind, rec *recorder) {
	for _, tp := range concatTPs(m.assigned, m.revoking) {
		delete(g.owner, tp)
		rec.emit(g, EventRevoked, m, tp)
	}
	g.setTopics(m, nil)
	delete(g.members, m.id)
	g.bump()
	rec.emit(g, why, m, TopicPartition{})
}

// preferredAssignor is the most common preference among the members (ties
// to the smaller name), or DefaultAssignor when nobody has one.
func (g *group) preferredAssignor() Assignor {
	votes := map[Assignor]int{}
	for _, m := range g.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best, n := DefaultAssignor, 0
	for a, v := range votes {
		if v > n || (v == n && a < best) {
			best, n = a, v
		}
	}
	return best
}

// update brings the target assignment up to date: it picks the assignor,
// refreshes the partition counts of the subscribed topics (lookup may be
// nil: no topic exists), bumps the group epoch on a change, and recomputes
// the target when the group epoch moved past it.
func (g *group) update(lookup func(string) (int32, bool), rec *recorder) {
	if a := g.preferredAssignor(); a != g.assignor {
		g.assignor = a
		g.bump()
	}
	counts := map[string]int32{}
	if lookup != nil {
		for t := range g.subscribed {
			if n, ok := lookup(t); ok && n > 0 {
				counts[t] = n
			}
		}
	}
	if !maps.Equal(counts, g.counts) {
		g.counts = counts
		g.bump()
	}
	if g.groupEpoch == g.assignmentEpoch {
		return
	}
	subs := make([]MemberSubscription, 0, len(g.members))
	for _, m := range g.sortedMembers() {
		subs = append(subs, MemberSubscription{ID: m.id, Topics: m.topics})
	}
	g.target = g.assignor.Assign(subs, g.counts, g.target)
	g.assignmentEpoch = g.groupEpoch
	rec.touch(g)
}

// reconcile moves m one step towards its target, as KIP-848's member
// reconciliation does. owned is the Owned list of m's heartbeat (nil = not
// sent). Three rules keep a partition from ever having two owners and keep
// the partitions a member keeps flowing:
//
//  1. Revoke first. While m owns partitions outside its target, it is
//     asked to revoke them (MemberUnrevoked), keeps its epoch, and gets
//     nothing new; the partitions it keeps stay in its assignment.
//  2. The revocation ends only when a heartbeat's Owned lists none of
//     them; then they are free.
//  3. Then m moves to the assignment epoch and gets each partition of its
//     target that nobody owns; the rest follow on later heartbeats, once
//     their owners release them (MemberUnreleased).
func (g *group) reconcile(m *member, owned []TopicPartition, now time.Time, rec *recorder) {
	if m.state == MemberUnrevoked {
		if owned == nil || intersects(owned, m.revoking) {
			return
		}
		for _, tp := range m.revoking {
			delete(g.owner, tp)
			rec.emit(g, EventRevoked, m, tp)
		}
		m.revoking = nil
		m.state = MemberStable // recomputed below
	}
	if m.epoch == g.assignmentEpoch && m.state == MemberStable {
		return
	}
	target := toSet(g.target[m.id])
	var keep, revoke []TopicPartition
	for _, tp := range m.assigned {
		if target[tp] {
			keep = append(keep, tp)
		} else {
			revoke = append(revoke, tp)
		}
	}
	if len(revoke) > 0 {
		m.assigned, m.revoking = keep, revoke
		m.state = MemberUnrevoked
		m.revocationDeadline = now.Add(m.rebalanceTimeout)
		for _, tp := range revoke {
			rec.emit(g, EventRevoking, m, tp)
		}
		return
	}
	if m.epoch != g.assignmentEpoch {
		joining := m.epoch == JoinEpoch
		m.previousEpoch, m.epoch = m.epoch, g.assignmentEpoch
		if joining {
			rec.touch(g)
		} else {
			rec.emit(g, EventEpoch, m, TopicPartition{})
		}
	}
	state := MemberStable
	for _, tp := range g.target[m.id] {
		switch g.owner[tp] {
		case m.id:
		case "":
			g.owner[tp] = m.id
			m.assigned = append(m.assigned, tp)
			rec.emit(g, EventAssigned, m, tp)
		default:
			state = MemberUnreleased
		}
	}
	sortTPs(m.assigned)
	if state != m.state {
		m.state = state
		rec.touch(g)
	}
}

// status is the group's phase for List.
func (g *group) status() Status {
	switch {
	case len(g.members) == 0:
		return StatusEmpty
	case g.groupEpoch != g.assignmentEpoch:
		return StatusAssigning
	}
	for _, m := range g.members {
		if m.epoch != g.assignmentEpoch || m.state != MemberStable {
			return StatusReconciling
		}
	}
	return StatusStable
}

func (g *group) snapshot() GroupState {
	s := GroupState{
		Group:           g.id,
		GroupEpoch:      g.groupEpoch,
		AssignmentEpoch: g.assignmentEpoch,
		Assignor:        g.assignor,
		PartitionCounts: maps.Clone(g.counts),
	}
	for _, m := range g.sortedMembers() {
		s.Members = append(s.Members, MemberSnapshot{
			ID:               m.id,
			Epoch:            m.epoch,
			PreviousEpoch:    m.previousEpoch,
			State:            m.state,
			Topics:           slices.Clone(m.topics),
			TagFilter:        m.tagFilter,
			Assignor:         m.assignor,
			SessionTimeout:   m.sessionTimeout,
			RebalanceTimeout: m.rebalanceTimeout,
			Target:           slices.Clone(g.target[m.id]),
			Assigned:         slices.Clone(m.assigned),
			Revoking:         slices.Clone(m.revoking),
		})
	}
	return s
}

// checkInvariants returns the first broken invariant of g, or nil. Tests
// call it after every step; Restore calls it on what it loads.
func (g *group) checkInvariants() error {
	if g.assignmentEpoch > g.groupEpoch {
		return fmt.Errorf("group %s: assignment epoch %d > group epoch %d", g.id, g.assignmentEpoch, g.groupEpoch)
	}
	seen := map[TopicPartition]MemberID{}
	subscribed := map[string]int{}
	for id, m := range g.members {
		for _, t := range m.topics {
			subscribed[t]++
		}
		if id != m.id {
			return fmt.Errorf("group %s: member %s filed under %s", g.id, m.id, id)
		}
		if m.epoch > g.assignmentEpoch || m.epoch <= 0 {
			return fmt.Errorf("group %s: member %s epoch %d, assignment epoch %d", g.id, id, m.epoch, g.assignmentEpoch)
		}
		if (len(m.revoking) > 0) != (m.state == MemberUnrevoked) {
			return fmt.Errorf("group %s: member %s in state %s revoking %v", g.id, id, m.state, m.revoking)
		}
		if m.state != MemberStable && m.state != MemberUnrevoked && m.state != MemberUnreleased {
			return fmt.Errorf("group %s: member %s in unknown state %q", g.id, id, m.state)
		}
		if !slices.IsSortedFunc(m.assigned, compareTP) || !slices.IsSortedFunc(m.revoking, compareTP) {
			return fmt.Errorf("group %s: member %s partitions not sorted", g.id, id)
		}
		if m.epoch == g.assignmentEpoch && m.state != MemberUnrevoked {
			target := toSet(g.target[id])
			for _, tp := range m.assigned {
				if !target[tp] {
					return fmt.Errorf("group %s: member %s at epoch %d owns %s outside its target", g.id, id, m.epoch, tp)
				}
			}
		}
		for _, tp := range concatTPs(m.assigned, m.revoking) {
			if other, dup := seen[tp]; dup {
				return fmt.Errorf("group %s: %s owned by both %s and %s", g.id, tp, other, id)
			}
			seen[tp] = id
			if g.owner[tp] != id {
				return fmt.Errorf("group %s: %s owned by %s but the owner map says %q", g.id, tp, id, g.owner[tp])
			}
		}
	}
	if !maps.Equal(subscribed, g.subscribed) {
		return fmt.Errorf("group %s: subscription counts %v, members subscribe to %v", g.id, g.subscribed, subscribed)
	}
	if len(seen) != len(g.owner) {
		return fmt.Errorf("group %s: owner map has %d partitions, members own %d", g.id, len(g.owner), len(seen))
	}
	return nil
}

func toSet(tps []TopicPartition) map[TopicPartition]bool {
	s := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		s[tp] = true
	}
	return s
}

func intersects(a, b []TopicPartition) bool {
	s := toSet(b)
	for _, tp := range a {
		if s[tp] {
			return true
		}
	}
	return false
}

func subset(a, b []TopicPartition) bool {
	s := toSet(b)
	for _, tp := range a {
		if !s[tp] {
			return false
		}
	}
	return true
}

func concatTPs(a, b []TopicPartition) []TopicPartition {
	out := slices.Concat(a, b)
	sortTPs(out)
	return out
}
