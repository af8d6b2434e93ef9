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
message, or on SIGINT/SIGTERM.`

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
