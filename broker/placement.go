package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/sluice-mq/sluice/broker/coord"
)

// Replica placement for new topics: Kafka's rack-aware assignment
// (AdminUtils.assignReplicasToBrokers), so that an operator who knows Kafka
// can predict where replicas land.
//
//  1. Order the brokers by alternating racks: racks sorted by name, brokers
//     sorted by id within a rack, then the first broker of every rack, the
//     second of every rack, and so on. With racks a={1,4} b={2} c={3,5} the
//     order is 1 2 3 4 5.
//  2. Partition p is led by order[(p+start) % n], so leaders are spread
//     evenly (counts differ by at most one) and, with a random start, topics
//     created one after another do not all lead on the same broker.
//  3. Followers are taken walking the order from the leader with a shift
//     that grows by one every n partitions (also random at the start), so
//     the partitions one broker leads do not always have the same followers:
//     when a broker fails its load is spread over several others.
//  4. A follower is skipped while it sits on a rack that already holds a
//     replica of the partition and some rack holds none, so a partition spans
//     min(rf, racks) racks.
//
// Unlike Kafka, which refuses to place when only some brokers declare a rack,
// a broker without one is treated as being on the rack named "": one broker
// started without --rack must not stop topic creation. When no broker has a
// rack, all share "" and step 4 never skips: this is exactly Kafka's
// rack-unaware assignment.

// assignReplicas places the partitions of a new topic on the brokers in
// snap (placeReplicas) with a random start. The first replica leads at epoch
// 0 and every replica starts in the ISR.
//
// The caller checks 1 <= rf <= len(snap.Brokers).
func assignReplicas(snap *coord.Snapshot, partitions, rf int32) []coord.PartitionState {
	placed := placeReplicas(slices.Collect(maps.Values(snap.Brokers)), partitions, rf, rand.IntN)
	parts := make([]coord.PartitionState, partitions)
	for p, replicas := range placed {
		parts[p] = coord.PartitionState{
			Partition: int32(p), Leader: replicas[0], LeaderEpoch: 0,
			Replicas: replicas, ISR: slices.Clone(replicas),
		}
	}
	return parts
}

// placeReplicas returns the replicas of each of partitions partitions, the
// intended leader first. intN(n) returns a number in [0, n); it is drawn
// twice, for the start index and the initial follower shift (Kafka's
// fixedStartIndex is intN returning a constant). The result depends only on
// the brokers' ids and racks, not on their order in the slice.
//
// It panics unless 1 <= rf <= len(brokers): placing more replicas than
// there are brokers would never finish, and createTopic refuses that first.
func placeReplicas(brokers []coord.BrokerInfo, partitions, rf int32, intN func(n int) int) [][]int32 {
	n := len(brokers)
	if rf < 1 || int(rf) > n {
		panic(fmt.Sprintf("broker: placing replication factor %d on %d brokers", rf, n))
	}
	order, rackOf := rackAlternated(brokers)
	racks := len(slices.Compact(slices.Sorted(maps.Values(rackOf))))
	start, shift := intN(n), intN(n)
	out := make([][]int32, partitions)
	for p := range int(partitions) {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := make([]int32, 1, rf)
		replicas[0] = order[first]
		usedRacks := []string{rackOf[order[first]]}
		// Terminates: followerIndex visits every other broker within n-1
		// steps, and while replicas are missing some broker holds none,
		// on an unused rack if any rack is unused.
		for k := 0; len(replicas) < int(rf); k++ {
			id := order[followerIndex(first, shift*racks, k, n)]
			rack := rackOf[id]
			if slices.Contains(replicas, id) || (slices.Contains(usedRacks, rack) && len(usedRacks) < racks) {
				continue
			}
			replicas = append(replicas, id)
			if !slices.Contains(usedRacks, rack) {
				usedRacks = append(usedRacks, rack)
			}
		}
		out[p] = replicas
	}
	return out
}

// followerIndex is Kafka's replicaIndex: the k-th candidate after the
// leader at index first, never the leader itself. Needs n > 1.
func followerIndex(first, shift, k, n int) int {
	return (first + 1 + (shift+k)%(n-1)) % n
}

// rackAlternated returns the broker ids in rack-alternating order (step 1
// above) and each broker's rack.
func rackAlternated(brokers []coord.BrokerInfo) (order []int32, rackOf map[int32]string) {
	byRack := make(map[string][]int32)
	rackOf = make(map[int32]string, len(brokers))
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
		rackOf[b.ID] = b.Rack
	}
	names := slices.Sorted(maps.Keys(byRack))
	for _, ids := range byRack {
		slices.Sort(ids)
	}
	order = make([]int32, 0, len(brokers))
	for i := 0; len(order) < len(brokers); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				order = append(order, byRack[r][i])
			}
		}
	}
	return order, rackOf
}
