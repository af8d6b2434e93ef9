package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/broker/client"
)

const consumeDescription = `Reads messages from TOPIC and prints one value per line (or one JSON object
per line with --json: partition, offset, timestamp, key, headers, value).
Starts at the end of the log unless --from-beginning, --offset or --timestamp
says otherwise. Stops after --max-messages, after --timeout without a new
message, or on SIGINT/SIGTERM.

With --group GROUP it reads as a member of that consumer group: the group's
coordinator assigns it a share of TOPIC's partitions, each partition starts at
the group's committed offset (without one: the end, or the beginning with
--from-beginning), and offsets are committed as it goes:
  --delivery at-least-once (default)  commit after printing: a crash may print
                                      some messages again, never skips one
  --delivery at-most-once             commit before printing: a crash may skip
                                      messages, never prints one twice
On --max-messages, --timeout or a signal it commits what it printed and leaves
the group, so the partitions move to the other members at once.`

func runConsume(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("consume", "TOPIC [flags]", consumeDescription)
	cf := addClientFlags(fs, true)
	fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset")
	offset := fs.Int64("offset", -1, "start at this offset (needs --partition or applies to every partition)")
	timestamp := fs.String("timestamp", "", "start at the first message at or after this time (RFC 3339 or Unix milliseconds)")
	partition := fs.Int("partition", -1, "read only this partition (default: all)")
	maxMessages := fs.Int("max-messages", 0, "stop after this many messages (0: no limit)")
	idle := fs.Duration("timeout", 0, "stop after this long without a new message (0: never)")
	transport := fs.String("transport", "dataplane", "dataplane (zero-copy, default) or grpc")
	group := fs.String("group", "", "consume as a member of this consumer group")
	delivery := fs.String("delivery", "at-least-once", "with --group: at-least-once or at-most-once")
	session := fs.Duration("session-timeout", 0, "with --group: remove the member after this long without a heartbeat (0: the broker's default, 45s)")
	tagFilter := fs.String("tag-filter", "", "only messages whose headers match, e.g. 'region=eu && priority=high' (filtered on the broker)")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "consume", err)
	}
	if len(pos) != 1 {
		return failf(stderr, exitUsage, "consume: want exactly one topic")
	}
	starts := 0
	for _, set := range []bool{*fromBeginning, *offset >= 0, *timestamp != ""} {
		if set {
			starts++
		}
	}
	if starts > 1 {
		return failf(stderr, exitUsage, "consume: give at most one of --from-beginning, --offset and --timestamp")
	}
	var startTime time.Time
	if *timestamp != "" {
		if startTime, err = parseTime(*timestamp); err != nil {
			return failf(stderr, exitUsage, "consume: --timestamp: %v", err)
		}
	}
	opts := client.ConsumerOptions{}
	if *group != "" {
		if *partition >= 0 || *offset >= 0 || *timestamp != "" {
			return failf(stderr, exitUsage, "consume: --group takes its partitions and offsets from the group; drop --partition, --offset and --timestamp (see 'sluice group reset')")
		}
		if opts, err = groupConsumeOptions(*group, pos[0], *delivery, *fromBeginning, *session); err != nil {
			return failf(stderr, exitUsage, "consume: %v", err)
		}
	}
	opts.TagFilter = *tagFilter
	switch *transport {
	case "dataplane":
	case "grpc":
		opts.Transport = client.TransportGRPC
	default:
		return failf(stderr, exitUsage, "consume: --transport %q: want dataplane or grpc", *transport)
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "consume: %v", err)
	}
	defer c.Close()
	if *group != "" {
		return consumeGroup(c, opts, cf.json, *maxMessages, *idle, stdout, stderr)
	}
	topic := pos[0]
	var tps []client.TopicPartition
	if *partition >= 0 {
		tps = []client.TopicPartition{{Topic: topic, Partition: int32(*partition)}}
	} else {
		ctx, cancel := cf.ctx()
		md, err := c.Metadata(ctx, topic)
		cancel()
		if err != nil {
			return failf(stderr, exitFailure, "consume: %v", err)
		}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, client.TopicPartition{Topic: topic, Partition: p.Partition})
			}
		}
	}
	co, err := c.NewConsumer(opts)
	if err != nil {
		return failf(stderr, exitFailure, "consume: %v", err)
	}
	defer co.Close()
	co.Assign(tps...)
	switch {
	case *fromBeginning:
		co.SeekToBeginning(tps...)
	case *offset >= 0:
		for _, tp := range tps {
			co.Seek(tp, *offset)
		}
	case !startTime.IsZero():
		ctx, cancel := cf.ctx()
		err := co.SeekToTime(ctx, startTime, tps...)
		cancel()
		if err != nil {
			return failf(stderr, exitFailure, "consume: %v", err)
		}
	default:
		co.SeekToEnd(tps...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(stdout)
	seen := 0
	last := time.Now()
	for *maxMessages == 0 || seen < *maxMessages {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if *idle > 0 {
			remaining := *idle - time.Since(last)
			if remaining <= 0 {
				return exitOK
			}
			pollCtx, cancel = context.WithTimeout(ctx, remaining)
		}
		recs, err := co.Poll(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return exitOK
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return failf(stderr, exitFailure, "consume: %v", err)
		}
		for _, r := range recs {
			if *maxMessages > 0 && seen >= *maxMessages {
				break
			}
			seen++
			last = time.Now()
			if cf.json {
				_ = enc.Encode(jsonRecord(r))
			} else {
				fmt.Fprintf(stdout, "%s\n", r.Value)
			}
		}
	}
	return exitOK
}

// jsonRecord renders a record; keys, values and header values that are not
// UTF-8 text are base64 encoded, with a flag saying so.
func jsonRecord(r client.Record) map[string]any {
	text := func(b []byte) (any, bool) {
		if b == nil {
			return nil, false
		}
		if utf8.Valid(b) {
			return string(b), false
		}
		return b, true
	}
	out := map[string]any{"topic": r.Topic, "partition": r.Partition, "offset": r.Offset, "timestamp": r.Timestamp.UTC().Format(time.RFC3339Nano)}
	var b64 bool
	out["key"], b64 = text(r.Key)
	if b64 {
		out["key_base64"] = true
	}
	out["value"], b64 = text(r.Value)
	if b64 {
		out["value_base64"] = true
	}
	if len(r.Headers) > 0 {
		hs := make([]map[string]any, 0, len(r.Headers))
		for _, h := range r.Headers {
			v, _ := text(h.Value)
			hs = append(hs, map[string]any{"key": h.Key, "value": v})
		}
		out["headers"] = hs
	}
	return out
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix milliseconds", s)
	}
	return t, nil
}

// consumeGroup is `consume --group`: print, commit per the delivery mode,
// and leave the group at the end.
func consumeGroup(c *client.Client, opts client.ConsumerOptions, asJSON bool, maxMessages int, idle time.Duration, stdout, stderr io.Writer) int {
	co, err := c.NewConsumer(opts)
	if err != nil {
		return failf(stderr, exitFailure, "consume: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(stdout)
	seen := 0
	last := time.Now()
	status := exitOK
loop:
	for maxMessages == 0 || seen < maxMessages {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			remaining := idle - time.Since(last)
			if remaining <= 0 {
				break
			}
			pollCtx, cancel = context.WithTimeout(ctx, remaining)
		}
		recs, err := co.Poll(pollCtx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !client.IsRetryable(err) && !client.IsMembershipLost(err) {
			status = failf(stderr, exitFailure, "consume: %v", err)
			break
		}
		printed := map[client.TopicPartition]int64{}
		for _, r := range recs {
			if maxMessages > 0 && seen >= maxMessages {
				break
			}
			seen++
			last = time.Now()
			if asJSON {
				_ = enc.Encode(jsonRecord(r))
			} else {
				fmt.Fprintf(stdout, "%s\n", r.Value)
			}
			printed[client.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		if len(printed) > 0 && opts.Delivery == client.AtLeastOnce {
			// Commit exactly what was printed (a batch cut short by
			// --max-messages is committed up to its last printed message).
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := co.CommitOffsets(cctx, printed)
			cancel()
			if err != nil && !client.IsMembershipLost(err) {
				status = failf(stderr, exitFailure, "consume: commit: %v", err)
				break loop
			}
		}
	}
	if err := co.Close(); err != nil && status == exitOK {
		return failf(stderr, exitFailure, "consume: leaving the group: %v", err)
	}
	return status
}
