package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

const reassignDescription = `Moves a topic's partition replicas to other brokers: the new replicas copy
the log from the leader, join the ISR once caught up, then the old ones are
dropped (leadership moves first if the leader leaves). Produce and fetch go
on throughout; each step is a new leader epoch, which clients follow.

  sluice topic reassign NAME --partition P --replicas 4,2,3   one partition
  sluice topic reassign NAME --to-brokers 1,2,3,4             spread the topic over these
                                                              brokers, moving as few replicas
                                                              as possible (e.g. onto a new one)
  sluice topic reassign NAME --plan FILE                      a plan file (the --json output of
                                                              --dry-run, edited as wanted)
  sluice topic reassign NAME --status                         reassignments in progress
  sluice topic reassign NAME --cancel [--partition P]         stop and go back to where each began

A plan file: {"partitions": [{"partition": 0, "replicas": [4, 2, 3]}, ...]};
the first replica is the preferred leader. --dry-run prints the plan only;
--wait follows the moves until they are done.`

// reassignPlan is the plan file's shape and --json's output.
type reassignPlan struct {
	Partitions []reassignEntry `json:"partitions"`
}

type reassignEntry struct {
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

func runTopicReassign(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("topic reassign", "NAME", reassignDescription)
	cf := addClientFlags(fs, true)
	partition := fs.Int("partition", -1, "the partition to move (with --replicas) or to cancel")
	replicas := fs.String("replicas", "", "target brokers of --partition, comma-separated, preferred leader first")
	onto := fs.String("to-brokers", "", "brokers to spread the topic over, comma-separated")
	planFile := fs.String("plan", "", "JSON plan file")
	status := fs.Bool("status", false, "show the reassignments in progress")
	cancelIt := fs.Bool("cancel", false, "cancel reassignments (all of the topic's, or --partition's)")
	dryRun := fs.Bool("dry-run", false, "print the plan, change nothing")
	wait := fs.Bool("wait", false, "follow the moves until they are done")
	waitTimeout := fs.Duration("wait-timeout", 30*time.Minute, "give up waiting after this long (with --wait)")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "topic reassign", err)
	}
	if len(pos) != 1 {
		return failf(stderr, exitUsage, "topic reassign: want exactly one topic name")
	}
	topic := pos[0]
	modes := 0
	for _, on := range []bool{*replicas != "", *onto != "", *planFile != "", *status, *cancelIt} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return failf(stderr, exitUsage, "topic reassign: give one of --replicas, --to-brokers, --plan, --status, --cancel")
	}
	if (*replicas != "") != (*partition >= 0) && !*cancelIt {
		return failf(stderr, exitUsage, "topic reassign: --partition and --replicas go together")
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "topic reassign: %v", err)
	}
	defer c.Close()
	ctx, cancel := cf.ctx()
	defer cancel()
	info, err := describeTopicInfo(ctx, c, topic)
	if err != nil {
		return failf(stderr, exitFailure, "topic reassign: %v", err)
	}

	switch {
	case *status:
		return printReassignments(stdout, cf.json, info)
	case *cancelIt:
		parts := inProgress(info)
		if *partition >= 0 {
			parts = []int32{int32(*partition)}
		}
		if len(parts) == 0 {
			fmt.Fprintf(stdout, "no reassignment of %s in progress\n", topic)
			return exitOK
		}
		if _, err := c.CancelReassignments(ctx, topic, parts...); err != nil {
			return failf(stderr, exitFailure, "topic reassign --cancel: %v", err)
		}
		fmt.Fprintf(stdout, "cancelled the reassignment of %s partitions %v: they go back to their replicas\n", topic, parts)
		if *wait {
			return waitReassigned(c, stdout, stderr, topic, parts, *waitTimeout)
		}
		return exitOK
	}

	var plan map[int32][]int32
	switch {
	case *replicas != "":
		ids, err := parseBrokerIDs(*replicas)
		if err != nil {
			return failf(stderr, exitUsage, "topic reassign: --replicas: %v", err)
		}
		plan = map[int32][]int32{int32(*partition): ids}
	case *onto != "":
		ids, err := parseBrokerIDs(*onto)
		if err != nil {
			return failf(stderr, exitUsage, "topic reassign: --to-brokers: %v", err)
		}
		if plan, err = spreadPlan(info, ids); err != nil {
			return failf(stderr, exitUsage, "topic reassign: %v", err)
		}
	default:
		if plan, err = readPlan(*planFile); err != nil {
			return failf(stderr, exitUsage, "topic reassign: %v", err)
		}
	}
	if cf.json && *dryRun {
		return printJSON(stdout, planJSON(plan))
	}
	if len(plan) == 0 {
		fmt.Fprintf(stdout, "%s is already where the plan puts it: nothing to move\n", topic)
		return exitOK
	}
	printPlan(stdout, info, plan)
	if *dryRun {
		return exitOK
	}
	if _, err := c.ReassignPartitions(ctx, topic, plan); err != nil {
		return failf(stderr, exitFailure, "topic reassign: %v", err)
	}
	fmt.Fprintf(stdout, "reassignment of %d partitions recorded; the controller is moving them (sluice topic reassign %s --status)\n", len(plan), topic)
	if *wait {
		return waitReassigned(c, stdout, stderr, topic, slices.Sorted(maps.Keys(plan)), *waitTimeout)
	}
	return exitOK
}

func describeTopicInfo(ctx context.Context, c *client.Client, topic string) (*brokerpb.TopicInfo, error) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			return t, nil
		}
	}
	return nil, fmt.Errorf("unknown topic %q", topic)
}

func parseBrokerIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%q is not a broker id", f)
		}
		if slices.Contains(ids, int32(id)) {
			return nil, fmt.Errorf("broker %d is named twice", id)
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

func readPlan(path string) (map[int32][]int32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p reassignPlan
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	out := map[int32][]int32{}
	for _, e := range p.Partitions {
		if _, dup := out[e.Partition]; dup {
			return nil, fmt.Errorf("plan %s: partition %d appears twice", path, e.Partition)
		}
		out[e.Partition] = e.Replicas
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan %s names no partitions", path)
	}
	return out, nil
}

func planJSON(plan map[int32][]int32) reassignPlan {
	p := reassignPlan{Partitions: []reassignEntry{}}
	for _, id := range slices.Sorted(maps.Keys(plan)) {
		p.Partitions = append(p.Partitions, reassignEntry{Partition: id, Replicas: plan[id]})
	}
	return p
}

// spreadPlan places the topic's replicas on brokers, moving as few as it
// can: replicas on brokers outside the set move to the least loaded ones
// in it, then replicas move from the most to the least loaded broker
// until the counts differ by at most one. A moved replica keeps its slot,
// so the preferred leader moves only when the preferred broker does, and
// followers are moved before leaders. Only changed partitions are
// returned. (Kafka's --generate instead computes a fresh assignment, which
// moves most replicas.)
func spreadPlan(t *brokerpb.TopicInfo, brokers []int32) (map[int32][]int32, error) {
	rf := int(t.ReplicationFactor)
	if rf > len(brokers) {
		return nil, fmt.Errorf("replication factor %d needs at least %d brokers, %d given", rf, rf, len(brokers))
	}
	load := map[int32]int{}
	for _, b := range brokers {
		load[b] = 0
	}
	assign := map[int32][]int32{}
	for _, p := range t.Partitions {
		assign[p.Partition] = slices.Clone(currentTarget(p))
		for _, r := range assign[p.Partition] {
			if _, in := load[r]; in {
				load[r]++
			}
		}
	}
	parts := slices.Sorted(maps.Keys(assign))
	// least loaded broker of the set that the partition does not hold.
	leastFor := func(rs []int32) int32 {
		best := int32(-1)
		for _, b := range brokers {
			if slices.Contains(rs, b) {
				continue
			}
			if best < 0 || load[b] < load[best] || (load[b] == load[best] && b < best) {
				best = b
			}
		}
		return best
	}
	for _, p := range parts {
		rs := assign[p]
		for i, r := range rs {
			if _, in := load[r]; !in {
				b := leastFor(rs)
				rs[i] = b
				load[b]++
			}
		}
	}
	for range rf * len(parts) {
		hi, lo := brokers[0], brokers[0]
		for _, b := range brokers {
			if load[b] > load[hi] {
				hi = b
			}
			if load[b] < load[lo] {
				lo = b
			}
		}
		if load[hi]-load[lo] <= 1 {
			break
		}
		moved := false
		// Followers first (slot > 0), then preferred leaders.
		for _, leaders := range []bool{false, true} {
			for _, p := range parts {
				rs := assign[p]
				i := slices.Index(rs, hi)
				if i < 0 || (i == 0) != leaders || slices.Contains(rs, lo) {
					continue
				}
				rs[i] = lo
				load[hi]--
				load[lo]++
				moved = true
				break
			}
			if moved {
				break
			}
		}
		if !moved {
			break
		}
	}
	out := map[int32][]int32{}
	for _, p := range t.Partitions {
		if !slices.Equal(assign[p.Partition], currentTarget(p)) {
			out[p.Partition] = assign[p.Partition]
		}
	}
	return out, nil
}

// currentTarget is where the partition is, or is going.
func currentTarget(p *brokerpb.PartitionInfo) []int32 {
	if len(p.TargetReplicas) > 0 {
		return p.TargetReplicas
	}
	return p.Replicas
}

func printPlan(w io.Writer, t *brokerpb.TopicInfo, plan map[int32][]int32) {
	fmt.Fprintf(w, "plan for %s:\n", t.Name)
	for _, p := range t.Partitions {
		if target, ok := plan[p.Partition]; ok {
			fmt.Fprintf(w, "  partition %d: %v -> %v\n", p.Partition, currentTarget(p), target)
		}
	}
	for id := range plan {
		if id < 0 || int(id) >= len(t.Partitions) {
			fmt.Fprintf(w, "  partition %d: no such partition (the broker will refuse it)\n", id)
		}
	}
}

func inProgress(t *brokerpb.TopicInfo) []int32 {
	var out []int32
	for _, p := range t.Partitions {
		if len(p.TargetReplicas) > 0 {
			out = append(out, p.Partition)
		}
	}
	return out
}

func printReassignments(w io.Writer, asJSON bool, t *brokerpb.TopicInfo) int {
	parts := inProgress(t)
	if asJSON {
		plan := map[int32][]int32{}
		for _, id := range parts {
			plan[id] = t.Partitions[id].TargetReplicas
		}
		return printJSON(w, planJSON(plan))
	}
	if len(parts) == 0 {
		fmt.Fprintf(w, "no reassignment of %s in progress\n", t.Name)
		return exitOK
	}
	for _, id := range parts {
		fmt.Fprintln(w, reassignLine(t.Partitions[id]))
	}
	return exitOK
}

func reassignLine(p *brokerpb.PartitionInfo) string {
	return fmt.Sprintf("partition %d: replicas %v isr %v leader %d epoch %d -> target %v",
		p.Partition, p.Replicas, p.Isr, p.Leader, p.LeaderEpoch, p.TargetReplicas)
}

// waitReassigned prints each change of the partitions until none of them
// is being reassigned.
func waitReassigned(c *client.Client, stdout, stderr io.Writer, topic string, parts []int32, timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := map[int32]string{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := describeTopicInfo(ctx, c, topic)
		if err == nil {
			busy := 0
			for _, id := range parts {
				if int(id) >= len(info.Partitions) {
					continue
				}
				p := info.Partitions[id]
				line := fmt.Sprintf("partition %d: replicas %v isr %v leader %d", p.Partition, p.Replicas, p.Isr, p.Leader)
				if len(p.TargetReplicas) > 0 {
					busy++
					line = reassignLine(p)
				}
				if line != last[id] {
					fmt.Fprintln(stdout, line)
					last[id] = line
				}
			}
			if busy == 0 {
				fmt.Fprintf(stdout, "reassignment of %s done\n", topic)
				return exitOK
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if err == nil {
				err = errors.New("still in progress")
			}
			return failf(stderr, exitFailure, "topic reassign --wait: gave up after %v: %v (the moves go on; --status shows them)", timeout, err)
		}
	}
}
