package broker

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/coord"
)

var placementSeed = flag.Uint64("placement.seed", 0, "replay TestPlacementProperties with this seed only")

// racked returns brokers 0..len(racks)-1, broker i on racks[i].
func racked(racks ...string) []coord.BrokerInfo {
	out := make([]coord.BrokerInfo, len(racks))
	for i, r := range racks {
		out[i] = coord.BrokerInfo{ID: int32(i), Rack: r}
	}
	return out
}

func fixed(i int) func(int) int { return func(int) int { return i } }

// TestPlacementMatchesKafka checks the placement against the expectations
// in Kafka's own tests of AdminUtils.assignReplicasToBrokers (AdminTest,
// AdminRackAwareTest) with fixedStartIndex 0.
func TestPlacementMatchesKafka(t *testing.T) {
	rackMap := racked("rack1", "rack3", "rack3", "rack2", "rack2", "rack1")
	if order, _ := rackAlternated(rackMap); !slices.Equal(order, []int32{0, 3, 1, 5, 4, 2}) {
		t.Errorf("rack-alternated order %v, want [0 3 1 5 4 2]", order)
	}
	if order, _ := rackAlternated(rackMap[:5]); !slices.Equal(order, []int32{0, 3, 1, 4, 2}) {
		t.Errorf("rack-alternated order without broker 5 %v, want [0 3 1 4 2]", order)
	}
	tests := []struct {
		name    string
		brokers []coord.BrokerInfo
		rf      int32
		want    [][]int32
	}{
		{"rack-aware", rackMap, 3, [][]int32{{0, 3, 1}, {3, 1, 5}, {1, 5, 4}, {5, 4, 2}, {4, 2, 0}, {2, 0, 3}, {0, 4, 2}}},
		{"no racks", racked("", "", "", "", ""), 3, [][]int32{
			{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
			{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
		}},
	}
	for _, tt := range tests {
		got := placeReplicas(tt.brokers, int32(len(tt.want)), tt.rf, fixed(0))
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// checkPlacement checks what every placement promises: rf distinct
// replicas, leaders balanced to within one, and each partition on as many
// racks as it can be.
func checkPlacement(brokers []coord.BrokerInfo, partitions, rf int32, got [][]int32) error {
	rackOf := map[int32]string{}
	leaders := map[int32]int{}
	for _, b := range brokers {
		rackOf[b.ID] = b.Rack
		leaders[b.ID] = 0
	}
	racks := len(slices.Compact(slices.Sorted(maps.Values(rackOf))))
	if len(got) != int(partitions) {
		return fmt.Errorf("%d partitions placed, want %d", len(got), partitions)
	}
	for p, replicas := range got {
		if len(replicas) != int(rf) {
			return fmt.Errorf("partition %d: replicas %v, want %d", p, replicas, rf)
		}
		spanned := map[string]bool{}
		for i, id := range replicas {
			if _, ok := rackOf[id]; !ok {
				return fmt.Errorf("partition %d: replicas %v: %d is not a broker", p, replicas, id)
			}
			if slices.Contains(replicas[:i], id) {
				return fmt.Errorf("partition %d: replicas %v: %d twice", p, replicas, id)
			}
			spanned[rackOf[id]] = true
		}
		if want := min(int(rf), racks); len(spanned) != want {
			return fmt.Errorf("partition %d: replicas %v span %d racks, want %d", p, replicas, len(spanned), want)
		}
		leaders[replicas[0]]++
	}
	counts := slices.Collect(maps.Values(leaders))
	if slices.Max(counts)-slices.Min(counts) > 1 {
		return fmt.Errorf("leaders per broker %v: unbalanced", leaders)
	}
	return nil
}

// TestPlacementProperties places random topics on random clusters (no
// racks, all racked, some racked) and checks checkPlacement.
func TestPlacementProperties(t *testing.T) {
	seeds := make([]uint64, 500)
	for i := range seeds {
		seeds[i] = uint64(time.Now().UnixNano()) + uint64(i)
	}
	if *placementSeed != 0 {
		seeds = []uint64{*placementSeed}
	}
	for _, seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0))
		n := 1 + r.IntN(10)
		racks := make([]string, n)
		mode := r.IntN(3) // 0: no racks, 1: all racked, 2: some racked
		for i := range racks {
			if mode == 1 || (mode == 2 && r.IntN(2) == 0) {
				racks[i] = fmt.Sprintf("rack%d", r.IntN(4))
			}
		}
		partitions, rf := int32(1+r.IntN(60)), int32(1+r.IntN(n))
		draws := []int{r.IntN(n), r.IntN(n)}
		intN := func() func(int) int {
			i := 0
			return func(int) int { i++; return draws[i-1] }
		}
		brokers := racked(racks...)
		got := placeReplicas(brokers, partitions, rf, intN())
		err := checkPlacement(brokers, partitions, rf, got)
		if err == nil {
			// The snapshot's brokers come from a map: the order given must
			// not matter.
			r.Shuffle(len(brokers), func(i, j int) { brokers[i], brokers[j] = brokers[j], brokers[i] })
			if again := placeReplicas(brokers, partitions, rf, intN()); !slices.EqualFunc(again, got, slices.Equal) {
				err = fmt.Errorf("brokers in another order: %v, then %v", got, again)
			}
		}
		if err != nil {
			t.Fatalf("racks %q, %d partitions, rf %d, draws %v: %v\nreplay: go test ./broker/ -run TestPlacementProperties -placement.seed %d",
				racks, partitions, rf, draws, err, seed)
		}
	}
}

func TestPlacementRacks(t *testing.T) {
	tests := []struct {
		name       string
		racks      []string
		wantRacks  int // racks every partition spans
		rf         int32
		partitions int32
	}{
		{"3 racks x 2 brokers", []string{"a", "a", "b", "b", "c", "c"}, 3, 3, 60},
		{"2 racks x 3 brokers", []string{"a", "b", "a", "b", "a", "b"}, 2, 3, 60},
		{"2 racks, uneven", []string{"a", "a", "a", "a", "b"}, 2, 3, 60},
		{"one broker without a rack", []string{"a", "b", ""}, 3, 3, 30},
	}
	for _, tt := range tests {
		brokers := racked(tt.racks...)
		for start := range len(brokers) {
			got := placeReplicas(brokers, tt.partitions, tt.rf, fixed(start))
			if err := checkPlacement(brokers, tt.partitions, tt.rf, got); err != nil {
				t.Fatalf("%s, start %d: %v", tt.name, start, err)
			}
			for p, replicas := range got {
				spanned := map[string]bool{}
				for _, id := range replicas {
					spanned[tt.racks[id]] = true
				}
				if len(spanned) != tt.wantRacks {
					t.Fatalf("%s, start %d: partition %d on %v spans %d racks, want %d", tt.name, start, p, replicas, len(spanned), tt.wantRacks)
				}
			}
		}
	}
}

// TestPlacementSpreadsFollowers checks the two sources of variety: the
// start picks the first leader, and a broker's partitions do not always
// have the same followers, so replica counts stay even.
func TestPlacementSpreadsFollowers(t *testing.T) {
	brokers := racked("", "", "", "", "")
	const partitions, rf = 20, 3
	for start := range len(brokers) {
		got := placeReplicas(brokers, partitions, rf, fixed(start))
		if got[0][0] != int32(start) {
			t.Errorf("start %d: partition 0 led by %d", start, got[0][0])
		}
		for p := range partitions - len(brokers) {
			next := got[p+len(brokers)]
			if next[0] != got[p][0] || slices.Equal(next[1:], got[p][1:]) {
				t.Errorf("start %d: partitions %d %v and %d %v: same leader, want different followers", start, p, got[p], p+len(brokers), next)
			}
		}
		replicas := map[int32]int{}
		for _, rs := range got {
			for _, id := range rs {
				replicas[id]++
			}
		}
		for id, c := range replicas {
			if c != partitions*rf/len(brokers) {
				t.Errorf("start %d: broker %d holds %d replicas, want %d: %v", start, id, c, partitions*rf/len(brokers), replicas)
			}
		}
	}
}

func TestAssignReplicasLeaderAndISR(t *testing.T) {
	snap := &coord.Snapshot{Brokers: map[int32]coord.BrokerInfo{}}
	for _, b := range racked("a", "b", "c", "a") {
		snap.Brokers[b.ID+10] = coord.BrokerInfo{ID: b.ID + 10, Rack: b.Rack}
	}
	parts := assignReplicas(snap, 12, 3)
	placed := make([][]int32, len(parts))
	for p, ps := range parts {
		if ps.Partition != int32(p) || ps.Leader != ps.Replicas[0] || ps.LeaderEpoch != 0 || !slices.Equal(ps.ISR, ps.Replicas) {
			t.Fatalf("partition %d: %+v: want leader = first replica, epoch 0, ISR = replicas", p, ps)
		}
		if &ps.ISR[0] == &ps.Replicas[0] {
			t.Fatalf("partition %d: ISR shares the replicas' array", p)
		}
		placed[p] = ps.Replicas
	}
	if err := checkPlacement(slices.Collect(maps.Values(snap.Brokers)), 12, 3, placed); err != nil {
		t.Fatal(err)
	}
}

// TestCreateTopicRefusesReplicationFactorAboveBrokers keeps the check that
// placeReplicas relies on.
func TestCreateTopicRefusesReplicationFactorAboveBrokers(t *testing.T) {
	cfg := testConfig(t)
	cfg.Rack = "r1"
	b := startTestBroker(t, cfg)
	waitController(t, b)
	c := dialBroker(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "two", Partitions: 3, ReplicationFactor: 2})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_REQUEST, codes.InvalidArgument)
	resp, err := c.CreateTopic(ctx, &brokerpb.CreateTopicRequest{Name: "one", Partitions: 3, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topic.Partitions {
		if p.Leader != b.ID() || !slices.Equal(p.Replicas, []int32{b.ID()}) || !slices.Equal(p.Isr, p.Replicas) {
			t.Fatalf("partition %+v: want led and replicated by broker %d alone", p, b.ID())
		}
	}
}
