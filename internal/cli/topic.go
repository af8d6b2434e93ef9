package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

const topicDescription = `Manages topics:

  sluice topic create NAME --partitions N [--replication-factor R] [--config k=v]...
  sluice topic list
  sluice topic describe NAME
  sluice topic delete NAME
  sluice topic alter NAME [--config k=v]... [--delete-config k]...
  sluice topic reassign NAME (--replicas|--to-brokers|--plan|--status|--cancel) ...`

func runTopic(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: sluice topic <create|list|describe|delete|alter|reassign> ...\n\n"+topicDescription)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	if sub == "reassign" {
		return runTopicReassign(rest, stdout, stderr)
	}
	fs := newFlagSet("topic "+sub, "...", topicDescription)
	cf := addClientFlags(fs, true)
	partitions := fs.Int("partitions", 1, "number of partitions (create)")
	rf := fs.Int("replication-factor", 0, "replicas per partition (create); 0 uses the broker's default")
	var configs, deletes repeated
	fs.Var(&configs, "config", "topic config key=value (create, alter); repeatable")
	fs.Var(&deletes, "delete-config", "config key to remove (alter); repeatable")
	pos, err := parseArgs(fs, rest, stdout)
	if err != nil {
		return parseFailed(stderr, "topic "+sub, err)
	}
	needName := sub != "list"
	if needName && len(pos) != 1 {
		return failf(stderr, exitUsage, "topic %s: want exactly one topic name", sub)
	}
	cfgs, err := kvs(configs)
	if err != nil {
		return failf(stderr, exitUsage, "topic %s: %v", sub, err)
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "topic %s: %v", sub, err)
	}
	defer c.Close()
	ctx, cancel := cf.ctx()
	defer cancel()
	switch sub {
	case "create":
		t, err := c.CreateTopic(ctx, pos[0], int32(*partitions), int32(*rf), cfgs)
		if err != nil {
			return failf(stderr, exitFailure, "topic create: %v", err)
		}
		return printTopics(stdout, cf.json, []*brokerpb.TopicInfo{t}, nil)
	case "list":
		ts, err := c.ListTopics(ctx)
		if err != nil {
			return failf(stderr, exitFailure, "topic list: %v", err)
		}
		if cf.json {
			return printJSON(stdout, ts)
		}
		for _, t := range ts {
			fmt.Fprintf(stdout, "%s\tpartitions=%d\treplication-factor=%d\n", t.Name, len(t.Partitions), t.ReplicationFactor)
		}
		return exitOK
	case "describe":
		d, err := c.DescribeTopic(ctx, pos[0])
		if err != nil {
			return failf(stderr, exitFailure, "topic describe: %v", err)
		}
		if cf.json {
			return printJSON(stdout, d)
		}
		return printTopics(stdout, false, []*brokerpb.TopicInfo{d.Topic}, d)
	case "delete":
		if err := c.DeleteTopic(ctx, pos[0]); err != nil {
			return failf(stderr, exitFailure, "topic delete: %v", err)
		}
		fmt.Fprintf(stdout, "deleted topic %s\n", pos[0])
		return exitOK
	case "alter":
		if len(cfgs) == 0 && len(deletes) == 0 {
			return failf(stderr, exitUsage, "topic alter: give --config k=v or --delete-config k")
		}
		t, err := c.AlterConfig(ctx, pos[0], cfgs, deletes)
		if err != nil {
			return failf(stderr, exitFailure, "topic alter: %v", err)
		}
		return printTopics(stdout, cf.json, []*brokerpb.TopicInfo{t}, nil)
	}
	return failf(stderr, exitUsage, "topic: unknown subcommand %q (create, list, describe, delete, alter, reassign)", sub)
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitFailure
	}
	return exitOK
}

func printTopics(w io.Writer, asJSON bool, ts []*brokerpb.TopicInfo, d *brokerpb.DescribeTopicResponse) int {
	if asJSON {
		return printJSON(w, ts)
	}
	for _, t := range ts {
		fmt.Fprintf(w, "topic %s  id %s  partitions %d  replication-factor %d\n", t.Name, t.Id, len(t.Partitions), t.ReplicationFactor)
		offsets := map[int32]*brokerpb.PartitionOffsets{}
		if d != nil {
			for _, o := range d.Offsets {
				offsets[o.Partition] = o
			}
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  partition\tleader\tepoch\treplicas\tisr\tlog-start\thigh-watermark\tlog-end\tbytes")
		for _, p := range t.Partitions {
			o := offsets[p.Partition]
			start, hw, end, size := "-", "-", "-", "-"
			if o != nil {
				start, hw, end, size = fmt.Sprint(o.LogStartOffset), fmt.Sprint(o.HighWatermark), fmt.Sprint(o.LogEndOffset), fmt.Sprint(o.SizeBytes)
			}
			replicas := fmt.Sprint(p.Replicas)
			if len(p.TargetReplicas) > 0 {
				replicas += fmt.Sprintf("->%v", p.TargetReplicas)
			}
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%v\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, p.LeaderEpoch, replicas, p.Isr, start, hw, end, size)
		}
		_ = tw.Flush()
		cfgs := t.Configs
		label := "configs"
		if d != nil {
			cfgs, label = d.EffectiveConfigs, "effective configs"
		}
		if len(cfgs) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(cfgs)) {
				parts = append(parts, k+"="+cfgs[k])
			}
			fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(parts, " "))
		}
	}
	return exitOK
}
