// Package group is the consumer-group coordinator's core: a pure state
// machine (no goroutines, clocks, sockets or I/O) for KIP-848's
// ConsumerGroupHeartbeat protocol, simplified: server-side assignment,
// member epochs, and incremental reconciliation that revokes before it
// assigns. DESIGN.md §6.
//
// # Epochs
//
// Each group has a group epoch, bumped by every change of membership,
// subscriptions, assignor choice or partition counts of subscribed topics,
// and a target assignment computed at that epoch (its assignment epoch)
// by the group's Assignor. Each member has a member epoch: the assignment
// epoch it has caught up with. Epoch 0 joins, -1 leaves.
//
// # Reconciliation (group.reconcile)
//
// On each of its heartbeats a member moves towards its share of the
// target:
//
//  1. Partitions it owns outside the target are revoked first: the
//     response leaves them out, the member stops fetching them, commits
//     (with its unchanged epoch) and reports Owned without them. Partitions
//     it keeps stay in every response.
//  2. Only then does its epoch move to the assignment epoch, and it gets
//     each partition of its target that no other member owns; partitions
//     another member still owns (still revoking, or not yet told) follow on
//     later heartbeats, once released.
//  3. A member revoking longer than its rebalance timeout is fenced
//     (removed) by Tick; a member silent longer than its session timeout
//     expires. Both free their partitions at once.
//
// So a partition has at most one owner at every instant: it is handed out
// only when free, and it becomes free only when its owner has said it let
// go, left, or was removed (and then its commits are refused:
// ValidateCommit). The events in Changes trace it.
//
// # Driver (the broker)
//
// The broker holds one Coordinator for the groups it coordinates and calls
// it under one mutex, in this order:
//
//  1. On becoming coordinator: Restore each group's last persisted
//     GroupState (members get fresh session deadlines).
//  2. Per ConsumerGroupHeartbeat: Heartbeat(req, now); persist
//     Changes.Groups (etcd) and only then send the response. A response
//     sent before its state is persisted could hand a partition to a member
//     that a failover coordinator does not know owns it.
//  3. Every second or so: Tick(now); persist Changes.Groups.
//  4. Per OffsetCommit: ValidateCommit under the same mutex, then write the
//     offsets (one etcd transaction per call).
//
// Partition counts come from Config.PartitionCounts (the broker's metadata
// cache), read during Heartbeat and Tick. Time comes in as now; nothing
// here reads a clock.
//
// # Tests
//
// testdata/*.txt are protocol scenarios run by script_test.go (-rewrite
// updates their expected output). TestRandomized drives many simulated
// clients through joins, leaves, crashes, pauses, resubscriptions,
// partition-count changes, slow revocations and failovers (Restore),
// checking after every call that no partition has two owners; it prints
// the seed and the command that replays a failure (-seed, -steps).
//
// # Files
//
//	types.go        requests, responses, events, snapshots, error kinds
//	coordinator.go  Coordinator: Heartbeat, Tick, ValidateCommit, Restore, …
//	group.go        one group: target update, reconciliation, invariants
//	assignor.go     Sticky, Range, RoundRobin
package group
