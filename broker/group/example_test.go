package group_test

import (
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/broker/group"
)

// A second member joins a one-member group: the first gives up half of its
// partitions before the second gets them.
func Example() {
	ids := []string{"alice", "bob"}
	c := group.New(group.Config{
		NewMemberID:     func() string { id := ids[0]; ids = ids[1:]; return id },
		PartitionCounts: func(topic string) (int32, bool) { return 4, topic == "orders" },
	})
	now := time.Unix(0, 0)
	show := func(who string, r group.HeartbeatResponse) {
		fmt.Printf("%-5s epoch %d %v %v\n", who, r.MemberEpoch, r.Assignment, r.Error)
	}

	a, _ := c.Heartbeat(group.HeartbeatRequest{Group: "billing", Topics: []string{"orders"}}, now)
	show("alice", a)
	b, _ := c.Heartbeat(group.HeartbeatRequest{Group: "billing", Topics: []string{"orders"}}, now)
	show("bob", b) // nothing yet: alice owns everything

	// alice is told to revoke two; she keeps her epoch while she does.
	a, _ = c.Heartbeat(group.HeartbeatRequest{Group: "billing", MemberID: a.MemberID, MemberEpoch: a.MemberEpoch}, now)
	show("alice", a)
	fmt.Println("alice commits:", c.ValidateCommit("billing", a.MemberID, a.MemberEpoch))
	// She reports what she still owns; her epoch moves on.
	a, _ = c.Heartbeat(group.HeartbeatRequest{Group: "billing", MemberID: a.MemberID, MemberEpoch: a.MemberEpoch, Owned: a.Assignment}, now)
	show("alice", a)
	b, _ = c.Heartbeat(group.HeartbeatRequest{Group: "billing", MemberID: b.MemberID, MemberEpoch: b.MemberEpoch, Owned: b.Assignment}, now)
	show("bob", b)
	fmt.Println(c.List())
	// Output:
	// alice epoch 1 [orders/0 orders/1 orders/2 orders/3] none
	// bob   epoch 2 [] none
	// alice epoch 1 [orders/0 orders/1] none
	// alice commits: none
	// alice epoch 2 [orders/0 orders/1] none
	// bob   epoch 2 [orders/2 orders/3] none
	// [{billing stable 2}]
}
