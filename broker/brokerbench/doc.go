// Package brokerbench measures the broker end to end, through the Go
// client, against NATS JetStream run embedded in the same process on the
// same machine (TESTING.md §8; goals in reference/performance.md Part C).
// It is shared by `go test -bench` (bench_test.go) and `sluice bench
// broker` (internal/cli).
//
// One Sluice broker (embedded etcd, loopback, a temporary data directory)
// and one nats-server (JetStream, file storage, a temporary store
// directory, 127.0.0.1 and a random port) are started once per Run and
// stopped at its end. Each measurement uses a fresh topic or stream that is
// deleted afterwards. The comparisons:
//
//   - produce, acks=1, sync.policy=never: 1 KiB messages to one partition
//     through one client.Producer (ProfileThroughput) with at most Window
//     messages unacknowledged, versus JetStream async publish of the same
//     messages with the same window (JetStream's default sync_interval of
//     2 minutes: acknowledged data sits in the page cache, as with
//     sync.policy=never);
//   - produce, durable: sync.policy=always with AcksAll (one replica: the
//     leader appended and fsynced the batch) from several producers sharing
//     the window, versus JetStream with sync_interval: always (server option
//     SyncAlways) and as many publishers sharing the same window; the
//     broker's fsyncs and bytes per fsync come from its /metrics, and a raw
//     pwrite+fdatasync loop at that commit size (enginebench.RawWriteSync)
//     is run next to it;
//   - fetch: a preloaded partition read from the beginning to the end by
//     one consumer over the data plane (sendfile on the broker) and over
//     gRPC, next to a JetStream ordered consumer reading the same number of
//     messages. CPU is getrusage of this whole process, so it is broker plus
//     consumer (and for NATS, server plus client) together.
//
// Run interleaves the reference and Sluice (A B A B ...), waits for a quiet
// machine before every run, records how busy other processes were during
// it, and reports the median of the per-pair ratios with min..max over the
// pairs that were not contaminated.
package brokerbench
