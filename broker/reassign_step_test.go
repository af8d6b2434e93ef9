package broker

import (
	"slices"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

// walkReassignment runs reassignStep to the end, standing in for the rest
// of the cluster between steps: whenever the controller waits, every
// replica catches up and joins the ISR; a fenced partition gets the first
// remaining replica as leader. It returns the steps taken and the states
// they wrote.
func walkReassignment(t *testing.T, quorum bool, ps coord.PartitionState) ([]string, []coord.PartitionState) {
	t.Helper()
	snap := &coord.Snapshot{Brokers: map[int32]coord.BrokerInfo{}}
	for id := range int32(8) {
		snap.Brokers[id] = coord.BrokerInfo{ID: id, Epoch: int64(100 + id)}
	}
	statuses := map[replicaKey]*brokerpb.ReplicaStatus{}
	for id := range int32(8) {
		statuses[replicaKey{id, ps.Topic, ps.Partition}] = &brokerpb.ReplicaStatus{Eligible: true}
	}
	var steps []string
	var states []coord.PartitionState
	for range 20 {
		if ps.TargetReplicas == nil {
			return steps, states
		}
		next, step := reassignStep(snap, electionJob{ps: ps, settings: topicSettings{quorum: quorum}}, statuses)
		if next == nil {
			if slices.Equal(ps.ISR, ps.Replicas) {
				t.Fatalf("stuck with every replica in sync: %+v", ps)
			}
			ps.ISR = slices.Clone(ps.Replicas) // the followers catch up
			steps = append(steps, "catch-up")
			continue
		}
		steps = append(steps, step)
		states = append(states, *next)
		ps = *next
		if ps.Leader < 0 { // the quorum election after a fence
			ps.Leader, ps.ISR = ps.Replicas[0], slices.Clone(ps.Replicas)
		}
	}
	t.Fatalf("no end after 20 steps: %v", steps)
	return nil, nil
}

func TestReassignStepISR(t *testing.T) {
	start := coord.PartitionState{Topic: "t", Leader: 1, LeaderEpoch: 5, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
		TargetReplicas: []int32{4, 2, 5}, ReassignFrom: []int32{1, 2, 3}}
	steps, states := walkReassignment(t, false, start)
	if want := []string{"add", "catch-up", "switch"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	if got := states[0].Replicas; !slices.Equal(got, []int32{1, 2, 3, 4, 5}) || states[0].Leader != 1 || states[0].LeaderEpoch != 6 {
		t.Errorf("add wrote %+v: want every new replica added at once under the same leader, epoch+1", states[0])
	}
	end := states[len(states)-1]
	if !slices.Equal(end.Replicas, []int32{4, 2, 5}) || end.TargetReplicas != nil || end.ReassignFrom != nil {
		t.Errorf("switch wrote %+v", end)
	}
	if end.Leader != 4 || end.LeaderBrokerEpoch != 104 || end.LeaderEpoch != 7 {
		t.Errorf("the leaving leader was not replaced by the first target: %+v", end)
	}
	if !slices.Equal(end.ISR, []int32{2, 4, 5}) {
		t.Errorf("ISR after the switch %v, want the old ISR without the leaving replicas", end.ISR)
	}
}

// TestReassignStepQuorum: one member at a time, so the majorities of any
// two consecutive replica sets overlap, and the leader leaves last, fenced.
func TestReassignStepQuorum(t *testing.T) {
	start := coord.PartitionState{Topic: "t", Leader: 1, LeaderEpoch: 5, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
		TargetReplicas: []int32{4, 5, 6}, ReassignFrom: []int32{1, 2, 3}}
	steps, states := walkReassignment(t, true, start)
	want := []string{"add", "catch-up", "add", "catch-up", "add", "catch-up", "remove", "remove", "remove-leader"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	prev := start
	for _, s := range states {
		if d := symmetricDiff(prev.Replicas, s.Replicas); d != 1 {
			t.Errorf("%v -> %v changes %d members at once", prev.Replicas, s.Replicas, d)
		}
		if s.LeaderEpoch != prev.LeaderEpoch+1 {
			t.Errorf("epoch %d -> %d: every membership change needs a new epoch", prev.LeaderEpoch, s.LeaderEpoch)
		}
		if !overlappingMajorities(prev.Replicas, s.Replicas) {
			t.Errorf("majorities of %v and %v need not overlap", prev.Replicas, s.Replicas)
		}
		prev = s
		if prev.Leader < 0 {
			prev.Leader = prev.Replicas[0]
		}
	}
	end := states[len(states)-1]
	if end.Leader != -1 || end.LeaderBrokerEpoch != 0 {
		t.Errorf("the leader left without a fence: %+v", end)
	}
	if !slices.Equal(end.Replicas, []int32{4, 5, 6}) || end.TargetReplicas != nil {
		t.Errorf("final state %+v", end)
	}
}

// TestReassignStepWaits: nothing is written while a new replica lags, or
// while no target replica is eligible to take over (ISR mode).
func TestReassignStepWaits(t *testing.T) {
	snap := &coord.Snapshot{Brokers: map[int32]coord.BrokerInfo{1: {}, 2: {}, 3: {}, 4: {}}}
	lagging := coord.PartitionState{Topic: "t", Leader: 1, Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2, 3},
		TargetReplicas: []int32{2, 3, 4}, ReassignFrom: []int32{1, 2, 3}}
	for _, quorum := range []bool{false, true} {
		if next, _ := reassignStep(snap, electionJob{ps: lagging, settings: topicSettings{quorum: quorum}}, nil); next != nil {
			t.Errorf("quorum=%v: wrote %+v while replica 4 is not in the ISR", quorum, next)
		}
	}
	caughtUp := lagging
	caughtUp.ISR = []int32{1, 2, 3, 4}
	notEligible := map[replicaKey]*brokerpb.ReplicaStatus{}
	for id := range int32(5) {
		notEligible[replicaKey{id, "t", 0}] = &brokerpb.ReplicaStatus{Eligible: false}
	}
	if next, _ := reassignStep(snap, electionJob{ps: caughtUp}, notEligible); next != nil {
		t.Errorf("moved leadership to an ineligible replica: %+v", next)
	}
	// A second add in quorum mode waits for the first newcomer.
	twoNew := coord.PartitionState{Topic: "t", Leader: 1, Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2, 3},
		TargetReplicas: []int32{1, 4, 5}, ReassignFrom: []int32{1, 2, 3}}
	if next, _ := reassignStep(snap, electionJob{ps: twoNew, settings: topicSettings{quorum: true}}, nil); next != nil {
		t.Errorf("quorum: added %v before 4 caught up", next.Replicas)
	}
}

func TestReassignStepReorderKeepsEpoch(t *testing.T) {
	ps := coord.PartitionState{Topic: "t", Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
		TargetReplicas: []int32{3, 1, 2}, ReassignFrom: []int32{1, 2, 3}}
	steps, states := walkReassignment(t, false, ps)
	if !slices.Equal(steps, []string{"reorder"}) || states[0].LeaderEpoch != 3 || !slices.Equal(states[0].Replicas, []int32{3, 1, 2}) {
		t.Fatalf("steps %v states %+v", steps, states)
	}
}

func symmetricDiff(a, b []int32) int {
	n := 0
	for _, x := range a {
		if !slices.Contains(b, x) {
			n++
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			n++
		}
	}
	return n
}

// overlappingMajorities checks every majority of a against every majority
// of b by brute force (small sets).
func overlappingMajorities(a, b []int32) bool {
	for _, ma := range majorities(a) {
		for _, mb := range majorities(b) {
			if !slices.ContainsFunc(ma, func(x int32) bool { return slices.Contains(mb, x) }) {
				return false
			}
		}
	}
	return true
}

func majorities(s []int32) [][]int32 {
	var out [][]int32
	for mask := range 1 << len(s) {
		var m []int32
		for i, x := range s {
			if mask&(1<<i) != 0 {
				m = append(m, x)
			}
		}
		if len(m) > len(s)/2 {
			out = append(out, m)
		}
	}
	return out
}
