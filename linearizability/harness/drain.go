package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/localcluster"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// heal lifts network faults, restarts the brokers that are down and
// resumes paused ones.
func heal(ctx context.Context, c *localcluster.Cluster, sc Scenario) error {
	if err := c.HealNetwork(); err != nil {
		return err
	}
	for i := range c.Len() {
		if p := c.Broker(i); p == nil || p.Exited() {
			if err := c.StartBroker(ctx, i); err != nil {
				return err
			}
		} else {
			_ = c.Resume(i) // harmless when it runs
			if strings.Contains(sc.FaultFS(), "space") {
				_ = c.Signal(i, syscall.SIGUSR2) // space back (a faultfs build)
			}
		}
	}
	return nil
}

// readCommitted reads partition part from its leader with a fresh
// consumer: the log start, the high watermark, and every record in
// between (L).
func readCommitted(ctx context.Context, cl *client.Client, part int32) (*history.PartitionRead, error) {
	pr := &history.PartitionRead{Topic: topic, Partition: part}
	var err error
	if pr.LogStartOffset, err = cl.ListOffsets(ctx, topic, part, client.Earliest, time.Time{}); err != nil {
		return nil, err
	}
	if pr.HighWatermark, err = cl.ListOffsets(ctx, topic, part, client.Latest, time.Time{}); err != nil {
		return nil, err
	}
	co, err := cl.NewConsumer(client.ConsumerOptions{MaxWait: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer co.Close()
	tp := client.TopicPartition{Topic: topic, Partition: part}
	co.Assign(tp)
	co.Seek(tp, pr.LogStartOffset)
	for co.Position(tp) < pr.HighWatermark {
		rs, err := co.Poll(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s-%d at %d (high watermark %d): %w", topic, part, co.Position(tp), pr.HighWatermark, err)
		}
		for _, r := range rs {
			if r.Offset < pr.HighWatermark {
				pr.Log = append(pr.Log, history.RecordOf(r))
			}
		}
	}
	return pr, nil
}

// dumpBatch is the part of `sluice dump --json --records` output the
// drain reads.
type dumpBatch struct {
	Attributes uint16 `json:"attributes"`
	CRC        string `json:"crc"`
	Error      string `json:"error"`
	Records    []struct {
		Offset int64  `json:"offset"`
		Value  []byte `json:"value"`
	} `json:"records"`
}

// controlAttr is the batch attribute bit of control batches (Kafka v2).
const controlAttr = 0x20

// readReplica reads one replica's segment files offline with the sluice
// binary's dump command (the broker must be stopped).
func readReplica(ctx context.Context, bin, dataDir string, broker int32, part int32) history.ReplicaRead {
	rr := history.ReplicaRead{Broker: broker, Source: "dump"}
	dir := filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topic, part))
	if _, err := os.Stat(dir); err != nil {
		rr.Err = err.Error()
		return rr
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "dump", "--json", "--records", dir)
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var b dumpBatch
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			rr.Err = fmt.Sprintf("dump output: %v", err)
			return rr
		}
		if b.CRC != "ok" {
			// A damaged batch: its records cannot be trusted; the
			// checkers see the gap (or the missing values).
			continue
		}
		for _, r := range b.Records {
			rec := history.Record{Offset: r.Offset, Control: b.Attributes&controlAttr != 0}
			if !rec.Control {
				if id, err := history.DecodeValue(r.Value); err != nil {
					rec.Corrupt = err.Error()
				} else {
					rec.Value = id
				}
			}
			rr.Records = append(rr.Records, rec)
		}
	}
	if runErr != nil && len(rr.Records) == 0 {
		rr.Err = fmt.Sprintf("sluice dump: %v: %s", runErr, bytes.TrimSpace(errb.Bytes()))
	}
	return rr
}
