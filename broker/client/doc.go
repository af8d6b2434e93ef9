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
// retries are at-least-once: a retry after an indefinite failure may write a
// batch twice. Idempotent producers (exactly-once per partition) are a later
// feature.
//
// # Consuming
//
// A Consumer reads assigned partitions (consumer groups come later) from
// their leaders with long polls. By default it uses the data plane: one TCP
// connection per broker, on which it writes a brokerpb fetch request frame,
// reads the response header frame and then exactly RecordsLength bytes of
// whole batches, which the broker sends with sendfile. A response declaring
// more than FetchMaxBytes + 16 MiB is rejected before anything is allocated
// for it. If a broker's data plane cannot be reached or does not speak the
// protocol, the consumer remembers that and fetches from that broker over
// gRPC. Every batch's CRC is verified before its records are returned.
//
// # Errors
//
// Broker errors arrive as gRPC statuses carrying a google.rpc.ErrorInfo
// (reason = the brokerpb.ErrorCode name, domain "sluice") and become *Error
// values; an offset outside the stored range is an *OffsetOutOfRangeError
// with the valid range. IsRetryable says whether trying again may help,
// IsIndefinite whether a failed write may nevertheless have happened, and
// Code extracts the error code.
//
// # Concurrency
//
// Client and Producer are safe for concurrent use. A Consumer's Poll must be
// called from one goroutine at a time. Lock order: Producer.mu or
// Consumer.mu before Client.mu; no lock is held while calling the network or
// a user callback, except that a Partitioner runs under Producer.mu.
package client
