package broker

import (
	"context"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine/record"
)

func hb(t *testing.T, c brokerpb.SluiceClient, req *brokerpb.GroupHeartbeatRequest) *brokerpb.GroupHeartbeatResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.GroupHeartbeat(ctx, req)
	if err != nil {
		t.Fatalf("heartbeat %+v: %v", req, err)
	}
	return resp
}

func parts(tps []*brokerpb.TopicPartition) []int32 {
	var out []int32
	for _, tp := range tps {
		out = append(out, tp.Partition)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestGroupLifecycle(t *testing.T) {
	cfg := testConfig(t)
	b := startTestBroker(t, cfg)
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "g", 6, nil)
	ctx := context.Background()
	for i := range 10 {
		if _, err := c.Produce(ctx, &brokerpb.ProduceRequest{Topic: "g", Partition: int32(i % 6), Batch: batchOf("x"), LeaderEpoch: -1}); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := c.FindCoordinator(ctx, &brokerpb.FindCoordinatorRequest{Group: "workers"})
	if err != nil || fc.Coordinator != b.ID() || fc.Addr != b.Addr() {
		t.Fatalf("FindCoordinator: %v %v", fc, err)
	}
	m1 := hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberEpoch: 0, Topics: []string{"g"}, TopicsSet: true, SessionTimeoutMs: 6000})
	if m1.MemberId == "" || m1.MemberEpoch < 1 || len(m1.Assignment) != 6 {
		t.Fatalf("first member: %+v", m1)
	}
	commit := func(member string, epoch int32, p int32, off int64) error {
		_, err := c.CommitOffsets(ctx, &brokerpb.CommitOffsetsRequest{Group: "workers", MemberId: member, MemberEpoch: epoch,
			Offsets: []*brokerpb.OffsetCommit{{Topic: "g", Partition: p, Offset: off, Metadata: "m"}}})
		return err
	}
	if err := commit(m1.MemberId, m1.MemberEpoch, 0, 1); err != nil {
		t.Fatal(err)
	}
	expectCode(t, commit(m1.MemberId, m1.MemberEpoch+5, 0, 1), brokerpb.ErrorCode_FENCED_MEMBER_EPOCH, codes.FailedPrecondition)
	expectCode(t, commit("nobody", 1, 0, 1), brokerpb.ErrorCode_UNKNOWN_MEMBER, codes.NotFound)
	_, err = c.ResetOffsets(ctx, &brokerpb.ResetOffsetsRequest{Group: "workers", Topic: "g", Spec: brokerpb.OffsetSpec_EARLIEST})
	expectCode(t, err, brokerpb.ErrorCode_GROUP_NOT_EMPTY, codes.FailedPrecondition)

	// A second member: the first is asked to revoke before the second gets
	// anything; partitions the first keeps never leave its assignment.
	m2 := hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberEpoch: 0, Topics: []string{"g"}, TopicsSet: true, SessionTimeoutMs: 6000})
	r1 := hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberId: m1.MemberId, MemberEpoch: m1.MemberEpoch})
	if len(r1.Assignment) != 3 {
		t.Fatalf("first member after the second joined: %v", parts(r1.Assignment))
	}
	r2 := hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberId: m2.MemberId, MemberEpoch: m2.MemberEpoch})
	if len(r2.Assignment) != 0 {
		t.Fatalf("second member got partitions before the first released them: %v", parts(r2.Assignment))
	}
	r1 = hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberId: m1.MemberId, MemberEpoch: r1.MemberEpoch, Owned: r1.Assignment, OwnedSet: true})
	r2 = hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberId: m2.MemberId, MemberEpoch: r2.MemberEpoch})
	if got := append(parts(r1.Assignment), parts(r2.Assignment)...); len(r2.Assignment) != 3 || len(got) != 6 {
		t.Fatalf("after the revocation: first %v, second %v", parts(r1.Assignment), parts(r2.Assignment))
	}
	d, err := c.DescribeGroup(ctx, &brokerpb.DescribeGroupRequest{Group: "workers"})
	if err != nil || len(d.Members) != 2 || len(d.Partitions) != 6 {
		t.Fatalf("describe: %v %v", d, err)
	}
	for _, pl := range d.Partitions {
		wantCommitted := int64(-1)
		if pl.Partition == 0 {
			wantCommitted = 1
		}
		if pl.Committed != wantCommitted || pl.HighWatermark < 1 || pl.Owner == "" {
			t.Fatalf("describe partition %+v", pl)
		}
		if pl.Partition == 0 && pl.Lag != pl.HighWatermark-1 {
			t.Fatalf("lag of partition 0: %+v", pl)
		}
	}
	lg, err := c.ListGroups(ctx, &brokerpb.ListGroupsRequest{})
	if err != nil || len(lg.Groups) != 1 || lg.Groups[0].Members != 2 {
		t.Fatalf("list groups: %v %v", lg, err)
	}

	// The coordinator restarts: the group's state comes back from etcd.
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b = startTestBroker(t, cfg)
	waitController(t, b)
	c = dialBroker(t, b)
	d, err = c.DescribeGroup(ctx, &brokerpb.DescribeGroupRequest{Group: "workers"})
	if err != nil || len(d.Members) != 2 {
		t.Fatalf("describe after the coordinator restarted: %v %v", d, err)
	}
	// Both leave; then offsets can be reset and the group deleted.
	for _, m := range []*brokerpb.GroupHeartbeatResponse{r1, r2} {
		hb(t, c, &brokerpb.GroupHeartbeatRequest{Group: "workers", MemberId: m.MemberId, MemberEpoch: -1})
	}
	rs, err := c.ResetOffsets(ctx, &brokerpb.ResetOffsetsRequest{Group: "workers", Topic: "g", Spec: brokerpb.OffsetSpec_LATEST})
	if err != nil || len(rs.Offsets) != 6 {
		t.Fatalf("reset: %v %v", rs, err)
	}
	fo, err := c.FetchOffsets(ctx, &brokerpb.FetchOffsetsRequest{Group: "workers"})
	if err != nil || len(fo.Offsets) != 6 {
		t.Fatalf("fetch offsets: %v %v", fo, err)
	}
	for _, o := range fo.Offsets {
		if o.Offset < 1 {
			t.Fatalf("offset after reset to latest: %+v", o)
		}
	}
	if _, err := c.DeleteGroup(ctx, &brokerpb.DeleteGroupRequest{Group: "workers"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeGroup(ctx, &brokerpb.DescribeGroupRequest{Group: "workers"})
	expectCode(t, err, brokerpb.ErrorCode_UNKNOWN_GROUP, codes.NotFound)
	_, err = c.GroupHeartbeat(ctx, &brokerpb.GroupHeartbeatRequest{Group: "bad/group", TopicsSet: true})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_REQUEST, codes.InvalidArgument)
}

func TestTagFilteredFetch(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "tags", 1, nil)
	bb := record.NewBuilder(record.DefaultBuilderOptions())
	for i, region := range []string{"eu", "us", "eu", "ap", "eu"} {
		bb.Append(int64(i), nil, []byte(region), []record.RecordHeader{{Key: "region", Value: []byte(region)}})
	}
	ctx := context.Background()
	if _, err := c.Produce(ctx, &brokerpb.ProduceRequest{Topic: "tags", Batch: bb.Build(), LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "tags", Offset: 0, MaxBytes: 1 << 20, LeaderEpoch: -1, TagFilter: "region=eu"})
	if err != nil {
		t.Fatal(err)
	}
	bt, err := record.Decode(res.Records)
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	for _, r := range bt.Records {
		if string(r.Value) != "eu" {
			t.Fatalf("filter let %q through", r.Value)
		}
		offsets = append(offsets, bt.BaseOffset+int64(r.OffsetDelta))
	}
	if len(offsets) != 3 || offsets[0] != 0 || offsets[1] != 2 || offsets[2] != 4 || res.NextOffset != 5 {
		t.Fatalf("filtered offsets %v, next %d", offsets, res.NextOffset)
	}
	res, err = c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "tags", Offset: 0, MaxBytes: 1 << 20, LeaderEpoch: -1, TagFilter: "region=mars"})
	if err != nil || len(res.Records) != 0 || res.NextOffset != 5 {
		t.Fatalf("filter matching nothing: %d bytes, next %d, %v", len(res.Records), res.NextOffset, err)
	}
	_, err = c.Fetch(ctx, &brokerpb.FetchRequest{Topic: "tags", Offset: 0, LeaderEpoch: -1, TagFilter: "a=1 && "})
	expectCode(t, err, brokerpb.ErrorCode_INVALID_REQUEST, codes.InvalidArgument)
}
