package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

func TestClusterDescribeSelection(t *testing.T) {
	md := &brokerpb.MetadataResponse{
		ClusterId: "c1", Controller: 0,
		Brokers: []*brokerpb.BrokerInfo{{Id: 0, Addr: "a0", Rack: "r1"}, {Id: 1, Addr: "a1"}, {Id: 2, Addr: "a2"}},
		Topics: []*brokerpb.TopicInfo{
			{Name: "healthy", Partitions: []*brokerpb.PartitionInfo{
				{Partition: 0, Leader: 0, LeaderEpoch: 1, Replicas: []int32{0, 1, 2}, Isr: []int32{0, 1, 2}},
				{Partition: 1, Leader: 1, Replicas: []int32{1}, Isr: []int32{1}},
			}},
			{Name: "sick", Partitions: []*brokerpb.PartitionInfo{
				{Partition: 0, Leader: 2, LeaderEpoch: 3, Replicas: []int32{2, 0, 1}, Isr: []int32{2}},       // under-replicated
				{Partition: 1, Leader: -1, LeaderEpoch: 4, Replicas: []int32{0}, Isr: []int32{0}},            // offline
				{Partition: 2, Leader: -1, LeaderEpoch: 5, Replicas: []int32{1, 2}, Isr: []int32{1}},         // both
				{Partition: 3, Leader: 0, LeaderEpoch: 0, Replicas: []int32{0, 1, 2}, Isr: []int32{1, 0, 2}}, // ISR order does not matter
			}},
			{Name: "moving", Partitions: []*brokerpb.PartitionInfo{
				// The new replica 2 catches up; the target's replicas are all in sync.
				{Partition: 0, Leader: 0, LeaderEpoch: 2, Replicas: []int32{0, 1, 2}, Isr: []int32{0, 1}, TargetReplicas: []int32{2, 1}},
			}},
		},
	}
	d := describeCluster(md)
	wantUnder := []partitionState{
		{Topic: "sick", Partition: 0, Leader: 2, LeaderEpoch: 3, Replicas: []int32{2, 0, 1}, InSyncReplicas: []int32{2}},
		{Topic: "sick", Partition: 2, Leader: -1, LeaderEpoch: 5, Replicas: []int32{1, 2}, InSyncReplicas: []int32{1}},
	}
	wantOffline := []partitionState{
		{Topic: "sick", Partition: 1, Leader: -1, LeaderEpoch: 4, Replicas: []int32{0}, InSyncReplicas: []int32{0}},
		{Topic: "sick", Partition: 2, Leader: -1, LeaderEpoch: 5, Replicas: []int32{1, 2}, InSyncReplicas: []int32{1}},
	}
	if !reflect.DeepEqual(d.UnderReplicated, wantUnder) {
		t.Errorf("under-replicated %+v\nwant %+v", d.UnderReplicated, wantUnder)
	}
	if !reflect.DeepEqual(d.Offline, wantOffline) {
		t.Errorf("offline %+v\nwant %+v", d.Offline, wantOffline)
	}
	wantMoving := []partitionState{{Topic: "moving", Partition: 0, Leader: 0, LeaderEpoch: 2, Replicas: []int32{0, 1, 2}, InSyncReplicas: []int32{0, 1}, TargetReplicas: []int32{2, 1}}}
	if !reflect.DeepEqual(d.Reassigning, wantMoving) {
		t.Errorf("reassigning %+v\nwant %+v", d.Reassigning, wantMoving)
	}
	if d.ClusterID != "c1" || d.Controller != 0 || len(d.Brokers) != 3 || d.Topics != 3 || d.Partitions != 7 {
		t.Errorf("summary %+v", d)
	}

	var out strings.Builder
	printCluster(&out, d)
	for _, want := range []string{"cluster c1  controller 0", "under-replicated partitions:\n", "offline partitions:\n",
		"partitions being reassigned:\n", "[0 1 2]->[2 1]",
		"3 brokers, 3 topics, 7 partitions, 2 under-replicated, 2 offline, 1 being reassigned"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}

	// An empty cluster prints "none" and JSON has empty lists, not null;
	// ids that are 0 are not omitted.
	empty := describeCluster(&brokerpb.MetadataResponse{ClusterId: "c2", Controller: -1})
	out.Reset()
	printCluster(&out, empty)
	for _, want := range []string{"controller none", "under-replicated partitions: none", "offline partitions: none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("empty cluster text lacks %q:\n%s", want, out.String())
		}
	}
	b, err := json.Marshal(describeCluster(&brokerpb.MetadataResponse{Brokers: []*brokerpb.BrokerInfo{{Id: 0}}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cluster_id":"","controller":0,"brokers":[{"id":0,"addr":"","data_addr":"","admin_addr":"","rack":""}],"under_replicated":[],"offline":[],"reassigning":[],"topics":0,"partitions":0}`; string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
}

// TestClusterDescribe runs the command against an in-process broker with
// an embedded etcd on free ports.
func TestClusterDescribe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		EtcdListen: "127.0.0.1:0", FastEmbeddedEtcd: true, SessionTTL: 2 * time.Second, Rack: "rack-a",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(context.Background())
	c, err := client.Dial(ctx, []string{b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Creates topic "demo" with replication factor 1, retrying until the
	// broker has elected itself controller.
	if err := waitForController(ctx, c, 3, "never"); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run("cluster", "describe", "--brokers", b.Addr())
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	brokerRow := fmt.Sprintf("%d %s %s %s rack-a", b.ID(), b.Addr(), b.DataAddr(), b.AdminAddr())
	if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.Join(strings.Fields(l), " ") == brokerRow }) {
		t.Errorf("output lacks the broker row %q:\n%s", brokerRow, out)
	}
	for _, want := range []string{fmt.Sprintf("controller %d\n", b.ID()),
		"under-replicated partitions: none", "offline partitions: none",
		"1 brokers, 1 topics, 3 partitions, 0 under-replicated, 0 offline"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = run("cluster", "describe", "--brokers", b.Addr(), "--json")
	if code != exitOK || errOut != "" {
		t.Fatalf("--json: exit %d, stderr %q", code, errOut)
	}
	var d clusterState
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	wantBroker := clusterBroker{ID: b.ID(), Addr: b.Addr(), DataAddr: b.DataAddr(), AdminAddr: b.AdminAddr(), Rack: "rack-a"}
	if d.ClusterID == "" || d.Controller != b.ID() || len(d.Brokers) != 1 || d.Brokers[0] != wantBroker ||
		len(d.UnderReplicated) != 0 || len(d.Offline) != 0 || d.Topics != 1 || d.Partitions != 3 {
		t.Errorf("--json: %+v", d)
	}

	if code, _, errOut := run("cluster", "describe", "extra", "--brokers", b.Addr()); code != exitUsage || !strings.HasPrefix(errOut, "sluice: cluster describe: takes no arguments") {
		t.Errorf("extra argument: exit %d, stderr %q", code, errOut)
	}
}
