package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

const clusterDescription = `Shows the cluster:

  sluice cluster describe    the cluster id, the controller, the live brokers, and the
                             partitions that need attention: under-replicated (fewer
                             in-sync replicas than replicas) and offline (no leader)

A partition can be both. The answer is one broker's cached view of etcd, so a
change made a moment ago may not show yet.`

func runCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, "Usage: sluice cluster describe [flags]\n\n"+clusterDescription)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	if sub != "describe" {
		return failf(stderr, exitUsage, "cluster: unknown subcommand %q (describe)", sub)
	}
	fs := newFlagSet("cluster describe", "[flags]", clusterDescription)
	cf := addClientFlags(fs, true)
	pos, err := parseArgs(fs, rest, stdout)
	if err != nil {
		return parseFailed(stderr, "cluster describe", err)
	}
	if len(pos) != 0 {
		return failf(stderr, exitUsage, "cluster describe: takes no arguments")
	}
	c, err := cf.dial()
	if err != nil {
		return failf(stderr, exitFailure, "cluster describe: %v", err)
	}
	defer c.Close()
	ctx, cancel := cf.ctx()
	defer cancel()
	md, err := c.Metadata(ctx)
	if err != nil {
		return failf(stderr, exitFailure, "cluster describe: %v", err)
	}
	d := describeCluster(md)
	if cf.json {
		return printJSON(stdout, d)
	}
	printCluster(stdout, d)
	return exitOK
}

// clusterState is what `cluster describe` prints. The JSON names are the
// proto's, but unlike the generated structs nothing is omitted when zero
// (broker 0, controller 0 and leader 0 are real ids).
type clusterState struct {
	ClusterID  string          `json:"cluster_id"`
	Controller int32           `json:"controller"` // -1: none elected
	Brokers    []clusterBroker `json:"brokers"`
	// UnderReplicated are the partitions with fewer in-sync replicas than
	// replicas (than target replicas while reassigned: the departing ones
	// count for nothing); Offline those without a leader; Reassigning
	// those being moved (sluice topic reassign).
	UnderReplicated []partitionState `json:"under_replicated"`
	Offline         []partitionState `json:"offline"`
	Reassigning     []partitionState `json:"reassigning"`
	Topics          int              `json:"topics"`
	Partitions      int              `json:"partitions"`
}

type clusterBroker struct {
	ID        int32  `json:"id"`
	Addr      string `json:"addr"`
	DataAddr  string `json:"data_addr"`
	AdminAddr string `json:"admin_addr"`
	Rack      string `json:"rack"`
}

type partitionState struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"` // -1: none
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	InSyncReplicas []int32 `json:"isr"`
	TargetReplicas []int32 `json:"target_replicas,omitempty"`
}

// describeCluster selects from a metadata answer what `cluster describe`
// shows, keeping the answer's order (brokers by id, topics by name,
// partitions by number).
func describeCluster(md *brokerpb.MetadataResponse) clusterState {
	d := clusterState{
		ClusterID: md.GetClusterId(), Controller: md.GetController(),
		Brokers:         []clusterBroker{},
		UnderReplicated: []partitionState{},
		Offline:         []partitionState{},
		Reassigning:     []partitionState{},
		Topics:          len(md.GetTopics()),
	}
	for _, b := range md.GetBrokers() {
		d.Brokers = append(d.Brokers, clusterBroker{ID: b.GetId(), Addr: b.GetAddr(), DataAddr: b.GetDataAddr(), AdminAddr: b.GetAdminAddr(), Rack: b.GetRack()})
	}
	for _, t := range md.GetTopics() {
		for _, p := range t.GetPartitions() {
			d.Partitions++
			ps := partitionState{
				Topic: t.GetName(), Partition: p.GetPartition(), Leader: p.GetLeader(), LeaderEpoch: p.GetLeaderEpoch(),
				Replicas: append([]int32{}, p.GetReplicas()...), InSyncReplicas: append([]int32{}, p.GetIsr()...),
			}
			want := len(ps.Replicas)
			if len(p.GetTargetReplicas()) > 0 {
				ps.TargetReplicas = append([]int32{}, p.GetTargetReplicas()...)
				want = len(ps.TargetReplicas)
				d.Reassigning = append(d.Reassigning, ps)
			}
			if len(ps.InSyncReplicas) < want {
				d.UnderReplicated = append(d.UnderReplicated, ps)
			}
			if ps.Leader < 0 {
				d.Offline = append(d.Offline, ps)
			}
		}
	}
	return d
}

func printCluster(w io.Writer, d clusterState) {
	controller := "none"
	if d.Controller >= 0 {
		controller = fmt.Sprint(d.Controller)
	}
	fmt.Fprintf(w, "cluster %s  controller %s\n", d.ClusterID, controller)
	fmt.Fprintln(w, "brokers:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  id\taddr\tdata-addr\tadmin-addr\track")
	for _, b := range d.Brokers {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", b.ID, b.Addr, orDash(b.DataAddr), orDash(b.AdminAddr), orDash(b.Rack))
	}
	_ = tw.Flush()
	printPartitionStates(w, "under-replicated partitions", d.UnderReplicated)
	printPartitionStates(w, "offline partitions", d.Offline)
	if len(d.Reassigning) > 0 {
		printPartitionStates(w, "partitions being reassigned", d.Reassigning)
	}
	fmt.Fprintf(w, "%d brokers, %d topics, %d partitions, %d under-replicated, %d offline, %d being reassigned\n",
		len(d.Brokers), d.Topics, d.Partitions, len(d.UnderReplicated), len(d.Offline), len(d.Reassigning))
}

func printPartitionStates(w io.Writer, title string, ps []partitionState) {
	if len(ps) == 0 {
		fmt.Fprintf(w, "%s: none\n", title)
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  topic\tpartition\tleader\tepoch\treplicas\tisr")
	for _, p := range ps {
		replicas := fmt.Sprint(p.Replicas)
		if p.TargetReplicas != nil {
			replicas += fmt.Sprintf("->%v", p.TargetReplicas)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%v\n", p.Topic, p.Partition, p.Leader, p.LeaderEpoch, replicas, p.InSyncReplicas)
	}
	_ = tw.Flush()
}
