package check_test

import (
	"fmt"

	"github.com/sluice-mq/sluice/linearizability/check"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Check a (tiny, hand-written) run: one acks=leader produce was
// acknowledged and then lost when the leader was killed. Declared as
// acks=leader, the loss is an expected anomaly and the run passes;
// declared as the strong configuration, it fails.
func ExampleCheck() {
	v1, v2 := history.NewValueID(0, 1), history.NewValueID(0, 2)
	h := &history.History{
		Version: history.FormatVersion,
		Ops: []history.Op{
			{ID: 0, Client: 0, Kind: history.Produce, Topic: "t", Acks: history.AcksLeader, Value: v1, Call: 0, Return: 10, Outcome: history.OK, Offset: 0},
			{ID: 1, Client: 0, Kind: history.Produce, Topic: "t", Acks: history.AcksLeader, Value: v2, Call: 20, Return: 30, Outcome: history.OK, Offset: 1},
		},
		Faults: []history.Fault{{ID: 0, Kind: history.F1KillLeader, Target: "broker 1", Start: 35, End: 90}},
	}
	log := []history.Record{{Offset: 0, Value: v1}}
	final := &history.FinalReads{Partitions: []history.PartitionRead{{
		Topic: "t", HighWatermark: 1, Log: log,
		Replicas: []history.ReplicaRead{{Broker: 1, Source: "dump", Records: log}, {Broker: 2, Source: "fetch", Records: log}},
	}}}

	weak := expect.Strong("acks1-kill-leader", expect.ModeISR)
	weak.Acks = history.AcksLeader
	v := check.Check(h, final, expect.Expectations{Config: weak})
	fmt.Println(v.Pass, v.Count("lost-write"), v.Anomalies[0].Where)

	v = check.Check(h, final, expect.Expectations{Config: expect.Strong("strong-kill-leader", expect.ModeISR)})
	fmt.Println(v.Pass)
	// v.WriteReport(check.ReportDir("results/checks", "acks1-kill-leader", time.Now()))
	// Output:
	// true 1 on no replica
	// false
}
