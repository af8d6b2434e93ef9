package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/brokertest"
	"github.com/sluice-mq/sluice/broker/client"
)

func topicOn(rf int32, replicas ...[]int32) *brokerpb.TopicInfo {
	t := &brokerpb.TopicInfo{Name: "t", ReplicationFactor: rf}
	for i, r := range replicas {
		t.Partitions = append(t.Partitions, &brokerpb.PartitionInfo{Partition: int32(i), Leader: r[0], Replicas: r, Isr: r})
	}
	return t
}

// TestSpreadPlanOntoNewBroker: six partitions on brokers 1-3 spread over
// 1-4 with as few moves as balance needs (18 replicas: 6,6,6,0 -> 5,5,4,4
// takes four), followers before leaders, no broker twice in a partition.
func TestSpreadPlanOntoNewBroker(t *testing.T) {
	topic := topicOn(3, []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}, []int32{1, 3, 2}, []int32{2, 1, 3}, []int32{3, 2, 1})
	plan, err := spreadPlan(topic, []int32{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	moves, load := 0, map[int32]int{}
	for _, p := range topic.Partitions {
		after := p.Replicas
		if target, ok := plan[p.Partition]; ok {
			after = target
		}
		for i, id := range after {
			load[id]++
			if slices.Contains(after[:i], id) {
				t.Fatalf("partition %d: %v names %d twice", p.Partition, after, id)
			}
			if id != p.Replicas[i] {
				moves++
				if i == 0 {
					t.Errorf("partition %d: the preferred leader moved (%v -> %v) although followers could", p.Partition, p.Replicas, after)
				}
			}
		}
	}
	if moves != 4 {
		t.Errorf("%d replicas moved, want 4: %v", moves, plan)
	}
	for id := int32(1); id <= 4; id++ {
		if load[id] < 4 || load[id] > 5 {
			t.Errorf("broker %d holds %d replicas, want 4 or 5: %v", id, load[id], load)
		}
	}
}

func TestSpreadPlanEvacuate(t *testing.T) {
	topic := topicOn(2, []int32{4, 1}, []int32{2, 4}, []int32{3, 2}, []int32{1, 3})
	plan, err := spreadPlan(topic, []int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 {
		t.Fatalf("plan %v: want exactly the two partitions on broker 4 moved", plan)
	}
	for p, r := range plan {
		if slices.Contains(r, 4) || len(r) != 2 {
			t.Errorf("partition %d -> %v", p, r)
		}
	}
	if _, err := spreadPlan(topic, []int32{1}); err == nil {
		t.Error("RF 2 on one broker: no error")
	}
}

func TestReadPlanRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown field": `{"partitions":[{"partition":0,"replicas":[1],"x":1}]}`,
		"duplicate":     `{"partitions":[{"partition":0,"replicas":[1]},{"partition":0,"replicas":[2]}]}`,
		"empty":         `{"partitions":[]}`,
		"not json":      `partitions: 0`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readPlan(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTopicReassignCommand drives the command against an in-process
// cluster: evacuate broker 4 (--to-brokers, --wait), then spread back onto
// it through a plan file written by --dry-run --json.
func TestTopicReassignCommand(t *testing.T) {
	c := brokertest.Start(t, brokertest.Options{Brokers: 4})
	addrs := strings.Join(c.Addrs(), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateTopic(ctx, "rt", 4, 2, nil); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if code := runTopic(append([]string{"reassign", "rt", "--brokers", addrs}, args...), &out, &errb); code != exitOK {
			t.Fatalf("topic reassign %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	out := run("--to-brokers", "1,2,3", "--wait", "--wait-timeout", "50s")
	if !strings.Contains(out, "reassignment of rt done") {
		t.Fatalf("--wait did not report completion:\n%s", out)
	}
	info, err := describeTopicInfo(ctx, cl, "rt")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Partitions {
		if slices.Contains(p.Replicas, 4) || len(p.Replicas) != 2 || len(p.TargetReplicas) != 0 || !slices.Contains(p.Replicas, p.Leader) {
			t.Fatalf("after evacuating broker 4: %+v", p)
		}
	}
	if out := run("--status"); !strings.Contains(out, "no reassignment of rt in progress") {
		t.Errorf("--status: %s", out)
	}

	planJSON := run("--to-brokers", "1,2,3,4", "--dry-run", "--json")
	var plan reassignPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		t.Fatalf("--dry-run --json printed %q: %v", planJSON, err)
	}
	if len(plan.Partitions) == 0 {
		t.Fatalf("no moves planned onto the empty broker 4: %s", planJSON)
	}
	if again, _ := describeTopicInfo(ctx, cl, "rt"); !slices.EqualFunc(again.Partitions, info.Partitions, func(a, b *brokerpb.PartitionInfo) bool {
		return slices.Equal(a.Replicas, b.Replicas)
	}) {
		t.Fatal("--dry-run changed the topic")
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, []byte(planJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	run("--plan", path, "--wait", "--wait-timeout", "50s")
	info, err = describeTopicInfo(ctx, cl, "rt")
	if err != nil {
		t.Fatal(err)
	}
	onFour := 0
	for _, p := range info.Partitions {
		if slices.Contains(p.Replicas, 4) {
			onFour++
		}
	}
	if onFour != 2 {
		t.Errorf("broker 4 holds %d of the 8 replicas after spreading, want 2: %v", onFour, info.Partitions)
	}
}
