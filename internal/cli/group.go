package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

const groupDescription = `Manages consumer groups:

  sluice group list
  sluice group describe GROUP          members, partitions, committed offsets, lag
  sluice group reset GROUP --topic T (--to-earliest | --to-latest | --to-offset N | --to-time T)
                                       [--partition P]... (only for a group without members)
  sluice group delete GROUP            (only for a group without members)

Consume as a group member with 'sluice consume TOPIC --group GROUP'.`

func runGroup(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: sluice group <list|describe|reset|delete> ...\n\n"+groupDescription)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("group "+sub, "...", groupDescription)
	cf := addClientFlags(fs, true)
	topic := fs.String("topic", "", "topic whose offsets to reset (reset)")
	toEarliest := fs.Bool("to-earliest", false, "reset to the log start (reset)")
	toLatest := fs.Bool("to-latest", false, "reset to the high watermark (reset)")
	toOffset := fs.Int64("to-offset", -1, "reset to this offset (reset)")
	toTime := fs.String("to-time", "", "reset to the first record at or after this time, RFC 3339 or Unix ms (reset)")
	var partitions repeated
	fs.Var(&partitions, "partition", "partition to reset (reset; repeatable; default: all)")
	pos, err := parseArgs(fs, rest, stdout)
	if err != nil {
		return parseFailed(stderr, "group "+sub, err)
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return failf(stderr, exitUsage, "group list: takes no arguments")
		}
	case "describe", "reset", "delete":
		if len(pos) != 1 {
			return failf(stderr, exitUsage, "group %s: want exactly one group name", sub)
		}
	default:
		return failf(stderr, exitUsage, "group: unknown subcommand %q (list, describe, reset, delete)", sub)
	}
	var to client.ResetTo
	var parts []int32
	if sub == "reset" {
		if *topic == "" {
			return failf(stderr, exitUsage, "group reset: --topic is required")
		}
		n := 0
		for _, set := range []bool{*toEarliest, *toLatest, *toOffset >= 0, *toTime != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			return failf(stderr, exitUsage, "group reset: give exactly one of --to-earliest, --to-latest, --to-offset and --to-time")
		}
		switch {
		case *toEarliest:
			to.Spec = client.Earliest
		case *toLatest:
			to.Spec = client.Latest
		case *toOffset >= 0:
			to.Offset = *toOffset
		default:
			t, err := parseTime(*toTime)
			if err != nil {
				return failf(stderr, exitUsage, "group reset: --to-time: %v", err)
			}
			to.Spec, to.Time = client.AtTime, t
		}
		for _, p := range partitions {
			var v int32
			if _, err := fmt.Sscan(p, &v); err != nil || v < 0 {
				return failf(stderr, exitUsage, "group reset: --partition %q: want a partition number", p)
			}
			parts = append(parts, v)
		}
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "group %s: %v", sub, err)
	}
	defer c.Close()
	ctx, cancel := cf.ctx()
	defer cancel()
	switch sub {
	case "list":
		gs, err := c.ListGroups(ctx)
		if err != nil {
			return failf(stderr, exitFailure, "group list: %v", err)
		}
		if cf.json {
			return printJSON(stdout, gs)
		}
		for _, g := range gs {
			state := g.State
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(stdout, "%s\tstate=%s\tmembers=%d\tcoordinator=%d\n", g.Group, state, g.Members, g.Coordinator)
		}
		return exitOK
	case "describe":
		d, err := c.DescribeGroup(ctx, pos[0])
		if err != nil {
			return failf(stderr, exitFailure, "group describe: %v", err)
		}
		if cf.json {
			return printJSON(stdout, d)
		}
		printGroup(stdout, d)
		return exitOK
	case "reset":
		offs, err := c.ResetOffsets(ctx, pos[0], *topic, to, parts...)
		if err != nil {
			return failf(stderr, exitFailure, "group reset: %v", err)
		}
		if cf.json {
			return printJSON(stdout, offs)
		}
		for _, o := range offs {
			fmt.Fprintf(stdout, "%s/%d\t%d\n", o.Topic, o.Partition, o.Offset)
		}
		return exitOK
	default: // delete
		if err := c.DeleteGroup(ctx, pos[0]); err != nil {
			return failf(stderr, exitFailure, "group delete: %v", err)
		}
		fmt.Fprintf(stdout, "deleted group %s\n", pos[0])
		return exitOK
	}
}

func printGroup(w io.Writer, d *brokerpb.DescribeGroupResponse) {
	fmt.Fprintf(w, "group %s  state %s  epoch %d  assignor %s  coordinator %d\n", d.Group, d.State, d.GroupEpoch, orDash(d.Assignor), d.Coordinator)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(d.Members) > 0 {
		fmt.Fprintln(tw, "  member\tepoch\ttopics\ttag-filter\tassigned")
		for _, m := range d.Members {
			var as []string
			for _, tp := range m.Assignment {
				as = append(as, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", m.MemberId, m.MemberEpoch, strings.Join(m.Topics, ","), orDash(m.TagFilter), orDash(strings.Join(as, ",")))
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(tw, "  topic\tpartition\tcommitted\thigh-watermark\tlag\towner")
	num := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprint(v)
	}
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, num(p.Committed), num(p.HighWatermark), num(p.Lag), orDash(p.Owner))
	}
	_ = tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// groupConsumeOptions builds the options of `consume --group`.
func groupConsumeOptions(group, topic, delivery string, fromBeginning bool, session time.Duration) (client.ConsumerOptions, error) {
	d, err := client.ParseDelivery(delivery)
	if err != nil {
		return client.ConsumerOptions{}, err
	}
	if d == client.ExactlyOnce {
		return client.ConsumerOptions{}, fmt.Errorf("--delivery exactly-once needs an application store of its own (client.PositionStore); the CLI offers at-most-once and at-least-once")
	}
	o := client.ConsumerOptions{Group: group, Topics: []string{topic}, Delivery: d, SessionTimeout: session, AutoOffsetReset: client.Latest}
	if fromBeginning {
		o.AutoOffsetReset = client.Earliest
	}
	return o, nil
}
