// Package sluicedriver is the load generator's driver for Sluice, through
// the public Go client (broker/client): one client.Client shared by every
// producer and consumer of a run, one client.Producer per load-generator
// producer, one client.Consumer per consumer.
//
// Mapping (the full table is in loadgen's doc.go):
//
//   - acks 0 → client.AcksNone: done when the request is handed to the
//     network (no retries, failures not reported); acks 1 → AcksLeader:
//     the leader appended the batch and synced it per sync.policy; acks
//     all → AcksAll: committed under the topic's replication.mode, with the
//     client's idempotent producer (its default for AcksAll).
//   - replication mode → topic config replication.mode; sync policy →
//     topic config sync.policy, value for value.
//   - batch size and linger → ProducerOptions.MaxBatchBytes and Linger
//     (0: the client's ProfileThroughput defaults).
//   - fetch path → ConsumerOptions.Transport: the data plane (sendfile on
//     the broker, gRPC fallback per broker) or gRPC Fetch; the long-poll
//     MaxWait is 50 ms unless set (see Options.MaxWait).
//   - consumers with a group → client consumer groups (the coordinator
//     assigns partitions; auto-commit; a new partition starts at Earliest);
//     without → Assign of the load generator's split, from offset 0.
package sluicedriver
