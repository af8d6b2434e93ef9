// Package client is the Go client of Sluice: admin operations, a batching
// producer and a consumer, over the brokers' gRPC API and the fetch data
// plane (DESIGN.md §4).
//
// # Connections and metadata
//
// Dial asks any bootstrap broker for the cluster metadata, which names every
// broker (id, gRPC address, data-plane address) and every partition's leader
// and leader epoch. The Client keeps one gRPC connection per broker address
// and sends partition requests (produce, fetch, list offsets) to the leader
// it has cached. When a broker answers NOT_LEADER, an epoch error,
// UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE, or cannot be reached,
// the client takes the leader hint from the error if it is newer, and
// otherwise refreshes the metadata (concurrent refreshes share one request)
// before retrying.
//
// # Producing
//
// A Producer accumulates messages per partition into Kafka v2 record batches
// (engine/record) until MaxBatchBytes or Linger, then sends each batch with
// one Produce call. Keyed messages go to KafkaPartition(key, n), the
// partition Kafka's default partitioner would choose; keyless messages stick
// to one partition per batch (KIP-480). One producer's messages to one
// partition keep their send order, also across retries, because a partition
// has at most one request in flight (see Producer).
//
// The acks setting picks the delivery mode of DESIGN.md §8: AcksNone is
// at-most-once (no retries, no errors reported), AcksLeader and AcksAll with
// retries are at-least-once. With AcksAll the producer is idempotent by
// default (as in Kafka): it takes a producer id from the cluster and numbers
// its batches per partition, so a retry after a lost response is answered
// with the original offsets instead of being written twice
// (ProducerOptions.DisableIdempotence turns it off).
//
// # Consuming
//
// A Consumer reads partitions from their leaders with long polls: the
// partitions given to Assign, or, with ConsumerOptions.Group, those its
// group's coordinator assigns it (below). By default it uses the data plane: one TCP
// connection per broker, on which it writes a brokerpb fetch request frame,
// reads the response header frame and then exactly RecordsLength bytes of
// whole batches, which the broker sends with sendfile. A response declaring
// more than FetchMaxBytes + 16 MiB is rejected before anything is allocated
// for it. If a broker's data plane cannot be reached or does not speak the
// protocol, the consumer remembers that and fetches from that broker over
// gRPC. Every batch's CRC is verified before its records are returned.
//
// A TagFilter is applied on the broker; filtered fetches go over gRPC and
// continue from the broker's next offset (the offsets returned are sparse).
//
// # Consumer groups
//
// NewConsumer with a Group and Topics (or Subscribe later) joins the group:
// a goroutine heartbeats to the group's coordinator (FindCoordinator, found
// again after NOT_COORDINATOR), at the interval the coordinator asks for,
// always reporting the partitions the member owns (KIP-848). Each answer
// carries the complete assignment to own now. Partitions left out are
// revoked: the member stops fetching them, waits (at most half the
// RebalanceTimeout, heartbeating meanwhile) until the application has
// processed what Poll returned of them, commits (AtLeastOnce; the mirror
// for ExactlyOnce), calls OnRevoked(tps, false), and heartbeats without
// them; only then can the coordinator give them to another member. New
// partitions start at the PositionStore's position (ExactlyOnce), else the
// committed offset, else AutoOffsetReset (Latest by default); OnAssigned
// runs before their first fetch. Partitions the member keeps are fetched
// throughout. UNKNOWN_MEMBER or FENCED_MEMBER_EPOCH (the member expired or
// was fenced) drops every partition with OnRevoked(tps, true) and rejoins
// with epoch 0. Commits (Commit, CommitAsync, CommitOffsets, auto-commit)
// carry the member id and epoch; STALE_MEMBER_EPOCH is retried after a
// heartbeat. A commit is all or nothing: one naming a partition the member
// no longer owns fails with FENCED_MEMBER_EPOCH and commits nothing.
// Pause/Resume stop fetching partitions without giving them up. Close commits, calls OnRevoked and
// leaves (epoch -1). Delivery picks at-most-once, at-least-once or
// exactly-once (see Delivery and the examples); Process is the
// at-least-once loop. The admin side is ListGroups, DescribeGroup,
// ResetOffsets, DeleteGroup and CommittedOffsets.
//
// # Errors
//
// Broker errors arrive as gRPC statuses carrying a google.rpc.ErrorInfo
// (reason = the brokerpb.ErrorCode name, domain "sluice") and become *Error
// values; an offset outside the stored range is an *OffsetOutOfRangeError
// with the valid range. IsRetryable says whether trying again may help,
// IsIndefinite whether a failed write may nevertheless have happened,
// IsMembershipLost whether a group member was removed or fenced, and Code
// extracts the error code.
//
// # Concurrency
//
// Client and Producer are safe for concurrent use. A Consumer's Poll must be
// called from one goroutine at a time. Lock order: the group member's
// commitMu, then Producer.mu or Consumer.mu, then Client.mu; no lock but
// commitMu is held while calling the network or a user callback, except
// that a Partitioner runs under Producer.mu (the PositionStore and the
// rebalance callbacks run with no lock held).
package client
