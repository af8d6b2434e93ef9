// Package natsdriver is the load generator's driver for NATS JetStream
// (nats.go), against a nats-server it starts in this process (Embedded)
// or an external one.
//
// Mapping (also in loadgen's doc.go), chosen so that a NATS figure is
// never labelled with a guarantee JetStream did not give:
//
//   - A topic of P partitions is P streams "<topic>_p<i>", one subject
//     each: a Kafka-style partition is an independent ordered log with its
//     own leader, which is what a JetStream stream is (a stream's subjects
//     share one Raft group, so one stream with P subjects would be one
//     partition). Keyed messages go to KafkaPartition(key, P), keyless ones
//     round robin per producer (nats.go does not batch, so there is no
//     batch to stick to).
//   - acks 0 → core NATS publish to the stream's subject, no reply: done
//     when nats.go has buffered it for the connection; the stream still
//     stores it. acks all → JetStream publish; the PubAck comes after the
//     stream's Raft majority stored it (the only ack JetStream has). acks
//     1 → the same publish, which is honest only with one replica (leader
//     = all); with more it is unsupported (JetStream has no leader-only
//     ack).
//   - replication factor → stream Replicas; mode quorum → JetStream's
//     Raft majority (the same rule); mode isr with more than one replica is
//     unsupported (JetStream has no ISR); with one replica the two modes
//     are the same and both accepted.
//   - sync policy → the server's sync settings (SyncMapping); they are
//     server-wide, so the embedded server is restarted when a run asks for
//     another policy, and an external server must be declared
//     (Options.ExternalSync).
//   - batch size and linger: nats.go has no producer batching; they are
//     ignored and the mapping says so.
//   - consumers without a group → an ordered consumer (ephemeral, no acks,
//     flow control) per stream of the load generator's split; with a group
//     → a durable pull consumer named after the group on every stream,
//     shared by all members (JetStream spreads messages among them), each
//     message acknowledged (JetStream has no offset commit).
package natsdriver
