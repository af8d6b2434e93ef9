// Package loadgen is Sluice's load generator: it runs a workload (a YAML
// or JSON file) against a messaging system through a Driver and measures,
// honestly (STYLE.md habit 19, DESIGN.md §10), how much it carried and how
// long each message took.
//
// The pieces: Workload (workload.go, settings.go) says what to send;
// Run (run.go) sends it on an open-loop schedule and measures
// (recorder.go, histogram.go); Sweep (sweep.go) walks rates from low to
// saturation for each ack level × replication mode × sync policy; Driver
// (driver.go) is the one seam to the system, implemented by Fake (in
// memory), loadgen/sluicedriver and loadgen/natsdriver, all held to one
// conformance suite (loadgen/drivertest); loadgen/results stores runs,
// sweeps and comparisons of drivers and draws the charts and the report.
//
// # Workload files
//
// Strict: an unknown or repeated field is an error, so a typo never falls
// back to a default silently. Every problem found is reported, naming the
// field. Fields (defaults in brackets; workloads/README.md has examples):
//
//	name               1-64 of [A-Za-z0-9._-]; names the result directory (required)
//	description        free text
//	topics             topics created per run, 1..64 [1]
//	partitions         per topic, 1..1024 [1]
//	replicationFactor  1..16 [1]
//	replicationMode    isr | quorum: acks=all waits for every in-sync replica, or a majority [isr]
//	syncPolicy         always | never | interval=<duration> | bytes=<n>, the topics' fsync policy [never]
//	messageSize        bytes per message value, header included, 28..16 MiB: a number (fixed),
//	                   {uniform: {min, max}} or {weighted: [{size, weight}, ...]} [1024]
//	keys               none | {distribution: uniform, count: N} | {distribution: zipf, count: N, s: S}
//	                   (key k drawn with probability ∝ (1+k)^-s, s > 1) [none]
//	compressibility    0..1: the fraction of each payload after the header that is one repeated
//	                   byte; the rest is random [0]
//	producers          1..1024 [1]
//	rate               messages/s, all producers together (equal shares), 0..10M; 0 = as fast
//	                   as possible, closed loop [0]
//	acks               0 | 1 | all [all]
//	batchBytes         producer batch limit, 1 KiB..64 MiB, 0 = the driver's default [0]
//	linger             producer linger, 0..10s, 0 = the driver's default [0]
//	inFlight           messages one producer may have unacknowledged, 1..100000 [1000]
//	consumers          {count: 0..1024, group: name}; count 0 = no consumers (no end-to-end
//	                   latency); with a group the system's consumer groups assign partitions,
//	                   without one partition p goes to consumer p mod count [count 0]
//	warmUp             run before the measured part, left out of the cumulative figures;
//	                   write 0s for none [10s]
//	duration           the measured part, 1s..24h [60s]
//	sweep              for Sweep only: acks, modes, syncPolicies (lists; empty = the workload's
//	                   value), fractions of the probed maximum [0.1 .. 1.25], probe [10s],
//	                   stepWarmUp [5s], stepDuration [20s], minAchieved [0.95], p99Factor [10]
//
// # The payload header
//
// Every value starts with a 28-byte header (header.go; format, never
// changed silently):
//
//	0      4        8                16         20               28
//	+------+--------+----------------+----------+----------------+---------
//	|magic | run id | intended send  | producer | sequence       | filler…
//	|"SLG1"|        | time, Unix ns  | id       | (per producer) |
//	+------+--------+----------------+----------+----------------+---------
//
// Consumers measure end-to-end latency from the intended send time, count
// duplicates and messages acknowledged but never received (per-producer
// bitsets over the sequence), and ignore values of other runs.
//
// # Measurement
//
// Open loop: producer i of P sends its k-th message at start + i·T/P +
// k·T, T = P/rate, whether or not earlier ones were answered. Sends are
// asynchronous; a producer has at most inFlight outstanding, and when the
// window is full it waits, without skipping anything, and the wait counts:
// publish latency = acknowledgement time − intended time, end-to-end
// latency = consumer receipt − intended time. So a stalled system shows as
// latency of every message that was due during the stall, not as one slow
// message (coordinated omission). The send lag (actual − intended send
// time) is reported separately to show how much the generator itself fell
// behind. All times are monotonic-clock offsets from one base instant.
//
// With rate 0 the run is closed loop instead: each producer keeps inFlight
// messages outstanding and a message is "intended" when a slot frees. Its
// latencies are service times under that window, and results say so (Loop
// "closed" and a note).
//
// Latencies go into HdrHistograms (hdrhistogram-go) in nanoseconds, 1µs to
// 60s at 3 significant digits; values outside are clamped into the range
// and counted (Result.Clamped). Each interval (1s) has its own histograms
// (by completion time) and counters: sent, acknowledged, failed, received,
// duplicates, the backlog (due but not sent), the messages in flight and
// the largest number pending (due and not completed, sampled 50 times per
// interval, so a stall shorter than an interval shows too). The cumulative
// histograms take the messages intended after the warm-up and before the
// end of the measured part; the achieved rate is the acknowledgements
// completed inside that window divided by its length. Interval boundaries
// are aligned to the end of the warm-up.
//
// A run is bounded in time: after the last scheduled send it drains (waits
// for outstanding acknowledgements, the backlog and deliveries) for at most
// Options.Drain; whatever is still outstanding then is counted (Unsent,
// Unacked, Missing), never dropped. Closing producers and consumers is
// bounded too. Each run creates fresh topics (named
// <prefix>-<workload>-<run id>-<i>) and deletes them afterwards.
//
// # Sweeps
//
// Sweep takes each combination of the sweep section's ack levels ×
// replication modes × sync policies (sync outermost), asks the driver
// whether it can run it honestly (skipping and listing it if not), runs a
// closed-loop probe to find the maximum rate, then open-loop steps at the
// listed fractions of it, ascending, until a step saturates: achieved <
// minAchieved × target, sends left unsent, or publish p99 above p99Factor
// × the first step's (and above 5 ms). Quick mode (QuickSweep) uses a 2 s
// probe and three 2 s steps (30%, 70%, 100%) after 1 s warm-ups;
// workloads/quick.yaml's eight combinations fit about two minutes on 2
// cores.
//
// # What the settings mean per driver
//
// Describe returns this mapping for a workload, stored with every result;
// a combination with no honest counterpart is refused with ErrUnsupported
// (a sweep lists it as skipped) rather than run under a misleading label.
//
//	setting         sluice (sluicedriver)                      NATS JetStream (natsdriver)                   fake
//	--------------  -----------------------------------------  --------------------------------------------  -------------------
//	acks 0          client.AcksNone: done when the request is  core NATS publish, no reply: done when        done at once
//	                handed to the network; no retries,         nats.go buffered it (the stream stores it;
//	                failures not reported                      nothing confirms it)
//	acks 1          client.AcksLeader: the leader appended     R=1: JetStream publish + PubAck (the same as  after ServiceTime
//	                (and synced per sync.policy)               acks all); R>1: unsupported (JetStream only
//	                                                           acks after a Raft majority)
//	acks all        client.AcksAll: committed under            JetStream publish, PubAck after a Raft        after ServiceTime
//	                replication.mode; idempotent producer      majority (R/2+1) stored it
//	mode isr        replication.mode=isr: every in-sync        R=1: no replication (isr = quorum);           ignored
//	                replica                                    R>1: unsupported (no ISR in JetStream)
//	mode quorum     replication.mode=quorum: a majority        stream Replicas=R, Raft majority              ignored
//	sync always     sync.policy=always: fsync before the ack   server sync_always: every write synced        ignored
//	                (group commit)                             (server-wide)
//	sync interval=d sync.policy=interval=d                     server sync_interval d (server-wide)          ignored
//	sync bytes=n    sync.policy=bytes=n                        unsupported                                   ignored
//	sync never      sync.policy=never: the page cache, the OS  default sync_interval 2m: JetStream has no    ignored
//	                writes back                                "never", this is the closest
//	partitions      topic partitions                           one stream per partition, one subject each    in-memory logs
//	keys            Kafka's murmur2 partitioner; keyless:      KafkaPartition(key); keyless: round robin     fnv; round robin
//	                sticky per batch (KIP-480)
//	batch, linger   ProducerOptions.MaxBatchBytes, Linger      ignored (nats.go does not batch), noted       ignored
//	consumers       group: client consumer group, auto-commit, group: a durable pull consumer per stream,    the split
//	                from Earliest; none: Assign of the split,  shared by all members, each message acked;
//	                from offset 0                              none: an ordered consumer per stream of the
//	                                                           split
//	fetch path      data plane (sendfile, gRPC fallback) or    Consume (push-style pulls) on the client      -
//	                gRPC Fetch (sluicedriver.Options.Fetch)    connection
//
// NATS's sync settings are the server's, not a stream's: the embedded
// server (natsdriver.StartEmbedded, 127.0.0.1, a random port, a temporary
// store) is restarted when a run asks for another policy, and an external
// server's setting must be declared (natsdriver.Options.ExternalSync);
// workloads with any other policy are refused for it.
package loadgen
