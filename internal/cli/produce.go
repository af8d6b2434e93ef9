package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/sluice-mq/sluice/broker/client"
)

const produceDescription = `Sends one message per line of standard input to TOPIC. Lines are sent in
order; with --print-offsets each acknowledged message prints "partition offset"
in input order. The first failure prints its reason and exits 1.`

// stdinReader lets tests replace standard input.
var stdinReader io.Reader = os.Stdin

func parseAcks(v string) (client.Acks, error) {
	switch v {
	case "0":
		return client.AcksNone, nil
	case "1":
		return client.AcksLeader, nil
	case "all", "-1":
		return client.AcksAll, nil
	}
	return 0, fmt.Errorf("--acks %q: want 0, 1 or all", v)
}

func runProduce(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("produce", "TOPIC [flags] < lines", produceDescription)
	cf := addClientFlags(fs, false)
	key := fs.String("key", "", "message key (messages with a key go to the key's partition)")
	acksFlag := fs.String("acks", "all", "0, 1 or all")
	partition := fs.Int("partition", -1, "send every message to this partition (default: by key, or sticky)")
	printOffsets := fs.Bool("print-offsets", false, `print "partition offset" for every acknowledged message`)
	profile := fs.String("profile", "throughput", "throughput (batches with a short linger) or latency (sends at once)")
	maxLine := fs.Int("max-line-bytes", 1<<20, "longest input line accepted")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "produce", err)
	}
	if len(pos) != 1 {
		return failf(stderr, exitUsage, "produce: want exactly one topic")
	}
	acks, err := parseAcks(*acksFlag)
	if err != nil {
		return failf(stderr, exitUsage, "produce: %v", err)
	}
	opts := client.ProducerOptions{Acks: acks}
	switch *profile {
	case "throughput":
		opts.Profile = client.ProfileThroughput
	case "latency":
		opts.Profile = client.ProfileLatency
	default:
		return failf(stderr, exitUsage, "produce: --profile %q: want throughput or latency", *profile)
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "produce: %v", err)
	}
	defer c.Close()
	p, err := c.NewProducer(opts)
	if err != nil {
		return failf(stderr, exitFailure, "produce: %v", err)
	}
	type pending struct {
		done chan struct{}
		res  client.Result
		err  error
	}
	queue := make(chan *pending, 4096)
	printed := make(chan error, 1)
	go func() {
		var first error
		for pd := range queue {
			<-pd.done
			if pd.err != nil && first == nil {
				first = pd.err
			}
			if pd.err == nil && *printOffsets && first == nil {
				fmt.Fprintf(stdout, "%d %d\n", pd.res.Partition, pd.res.Offset)
			}
		}
		printed <- first
	}()
	sc := bufio.NewScanner(stdinReader)
	sc.Buffer(make([]byte, 64<<10), *maxLine)
	var k []byte
	if *key != "" {
		k = []byte(*key)
	}
	for sc.Scan() {
		pd := &pending{done: make(chan struct{})}
		msg := client.Message{Topic: pos[0], Partition: int32(*partition), Key: k, Value: append([]byte(nil), sc.Bytes()...)}
		p.SendAsync(msg, func(r client.Result, err error) {
			pd.res, pd.err = r, err
			close(pd.done)
		})
		queue <- pd
	}
	scanErr := sc.Err()
	ctx, cancel := cf.ctx()
	flushErr := p.Flush(ctx)
	cancel()
	close(queue)
	sendErr := <-printed
	_ = p.Close()
	switch {
	case scanErr != nil:
		return failf(stderr, exitFailure, "produce: reading input: %v", scanErr)
	case sendErr != nil:
		return failf(stderr, exitFailure, "produce: %v", sendErr)
	case flushErr != nil:
		return failf(stderr, exitFailure, "produce: %v", flushErr)
	}
	return exitOK
}
