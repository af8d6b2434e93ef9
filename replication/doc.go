// Package replication is Sluice's leader/follower replication protocol for
// one partition (DESIGN §5): Kafka-style pull replication with an in-sync
// replica set (ModeISR) or a majority rule (ModeQuorum), leader epochs that
// fence everything, truncation by epoch (KIP-101/KIP-320) and the unclean
// restart rule (KIP-966).
//
// It is a pure state machine in the manner of etcd-io/raft's RawNode: a
// Node has no goroutines, clocks, sockets or files. The broker's partition
// driver owns all of those. It feeds the node messages (Step) and time
// (Tick), and carries out what Ready asks, in the order below. The same
// inputs always give the same outputs, which is what makes the datadriven
// scripts in testdata/ and the seeded simulation possible.
//
// # The protocol
//
// The controller (through etcd) tells each replica its role in an epoch:
// BecomeLeader or BecomeFollower. The epoch goes up on every leadership
// change. The leader stamps it into every batch it appends
// (partitionLeaderEpoch) and records where it starts in its leader-epoch
// cache (EpochCache).
//
// A follower fetches from the leader with FetchRequest{FetchOffset: its log
// end, DurableEnd, LastFetchedEpoch: the epoch of its last batch}. The
// leader checks the epoch first: older gets FencedEpoch, newer gets
// UnknownEpoch. Then it checks that the follower's last epoch does not end
// earlier in the leader's log than FetchOffset. If it does, the follower's
// tail diverges. The reply carries the leader's (epoch, end offset) for it.
// The follower truncates to where the two logs part and fetches again.
// Otherwise the reply names the range [ReadFrom, ReadTo) up to the leader's
// log end, and the driver ships those bytes. The follower's driver appends
// them, and the node learns the leader's high watermark.
//
// The leader records each follower's log end (and durable end) from its
// fetches. From them it computes the high watermark (HW):
//   - ModeISR: the smallest end over the ISR, the leader included.
//   - ModeQuorum: the highest offset held by a majority of all replicas,
//     and only once that offset includes a record of the current epoch.
//
// With Config.DurableHW (sync=always) the ends are durable (fsynced) ends.
// Then acks=all means "on disk" on every ISR member, or on a majority.
//
// The leader keeps the ISR. A follower that has not been caught up for
// LagTicks is proposed out. A follower outside the ISR whose log end
// reached the HW and this epoch's start offset is proposed in. A proposal
// is an ISRProposal to the controller: a compare-and-swap on the ISR
// version. The leader applies an ISR only when it comes back as ISRChanged.
//
// # Invariants, and why
//
// Truncation is by epoch, never by HW (KIP-101). Once a follower restarts
// or an epoch changes, its HW may lag the real commit point. Truncating to
// the HW can therefore cut committed records from a replica that the next
// election then picks. It can also keep a divergent tail that happens to
// sit below a stale HW. The epoch cache says exactly where two logs part.
// Within one epoch only one leader writes. So two replicas holding a batch
// of epoch E at offset o hold the same batch, and everything before it
// matches too.
//
// HW never decreases within a node's lifetime. Consumers and acks=all
// producers were told everything below it is committed. A restarted node
// starts from its checkpoint, clamped to its log. There is one exception:
// a truncation below the HW. It can only follow data loss elsewhere: an
// unclean election, or every replica holding a record losing its page
// cache with DurableHW off. The node follows the leader, lowers its HW and
// counts the event (Status.TruncatedBelowHW). The simulation fails on it.
//
// A new leader does not advance the HW until its followers have fetched in
// its epoch (Kafka's rule). Their earlier offsets may describe a log the
// divergence check has not vetted yet. Until every ISR member (a majority,
// in ModeQuorum) has fetched, the leader keeps the HW it had as a follower.
// In ModeQuorum the leader also counts only offsets that include a record
// of its own epoch (Raft's Figure 8). Otherwise a replica with a newer last
// epoch could win the next election and truncate a "committed" majority.
// Like Raft, a quorum leader therefore commits older records only once it
// has appended one of its own.
//
// ISR changes apply only once the controller wrote them. The controller's
// ISR decides who may be elected, so the leader must never commit on a
// smaller set than the controller's. While a proposal that adds replicas
// is unanswered, the HW counts them already (Kafka's maximal ISR, KIP-497).
// A shrink counts only after it is confirmed. Proposals and ISRChanged
// carry the epoch: a deposed leader can neither shrink the ISR nor use one
// from another epoch.
//
// A deposed leader cannot advance the HW. Once it learns of a newer epoch
// it is a follower. It answers fetches with NotLeader, or FencedEpoch for
// the old epoch, and its HW follows the new leader. Before it learns, it
// is a zombie in the old epoch. In ModeISR it still cannot commit anything
// the new leader lacks, because the new leader was in its ISR and must
// fetch in the old epoch to be counted. In ModeQuorum the controller must
// fence a majority before it elects (next section).
//
// A replica may be elected only when Ready.Eligible is true. It is false
// after an unclean restart (Config.UncleanRestart) until the replica has
// fetched up to its leader's HW. Such a replica may have lost records it
// acknowledged, so it must not lead or decide an election until it holds
// them again.
//
// # The controller's side (the driver forwards it)
//
// The controller elects and bumps the epoch on every change. In ModeISR it
// elects an eligible ISR member. In ModeQuorum it elects among a live,
// eligible majority the replica with the highest (Status.LastEpoch,
// Status.LogEndOffset). For the quorum rule to be Raft's, those replicas
// must have stopped following the old epoch before their offsets are read.
// The controller first fences them (BecomeFollower{Epoch: new, Leader:
// NoLeader}), reads their offsets, and then names the leader in the same
// epoch. A leaderless follower may learn its leader, or become it, within
// one epoch.
//
// A replica never leads an epoch its log may already hold: a restarted
// leader needs a newer epoch (ErrFencedEpoch). The controller applies an
// ISRProposal only if its Version and Epoch are current. It answers every
// proposal, applied or not, with ISRChanged of the current ISR.
//
// # The driver loop
//
// One goroutine per partition replica owns the Node, the engine.Log, a
// ticker and the connections:
//
//	node := replication.NewNode(replication.Config{
//		ID: self, Mode: mode, MinISR: minISR, LagTicks: lag, DurableHW: syncAlways,
//		UncleanRestart: !cleanShutdown && !syncAlways,
//		Store: log, HighWatermark: checkpointedHW, EpochCache: loadedEpochs,
//	})
//	for {
//		select {
//		case <-ticker.C:
//			node.Tick()
//		case md := <-metadata: // from the etcd watch
//			err = node.Step(md) // BecomeLeader, BecomeFollower, ISRChanged
//		case f := <-followerFetches: // data plane, as leader
//			err = node.Step(replication.FollowerFetch{From: f.from, ...})
//		case r := <-fetchReplies: // data plane, as follower
//			// Append first: only batches starting at the log end, and only if
//			// r.Epoch is the node's current epoch (else append nothing).
//			appended := appendReplica(log, r.batches)
//			err = node.Step(replication.FetchResponse{..., AppendedThrough:
//				log.LogEndOffset(), Appended: appended /* (epoch, base) per batch */})
//		case <-log.Changed(): // own appends and syncs
//			err = node.Step(replication.LocalLogChanged{})
//		}
//		for node.HasReady() {
//			rd := node.Ready()
//			// (1) Truncate first: everything after assumes the cut log.
//			if t := rd.Truncate; t != nil {
//				if t.Fully {
//					log.TruncateFullyAndStartAt(t.Offset)
//				} else {
//					log.TruncateTo(t.Offset) // durable
//				}
//			}
//			// (2) Persist the epoch cache (and, from time to time, the HW).
//			if rd.EpochCache != nil {
//				b, _ := rd.EpochCache.MarshalBinary()
//				log.WriteMeta("leader-epoch-checkpoint", b)
//			}
//			// (3) Send: FetchRequest to the leader, FetchReply to a follower
//			// (with the log bytes [ReadFrom, ReadTo)), ISRProposal to the
//			// controller (etcd CAS, answered with ISRChanged).
//			send(rd.Messages)
//			// (4) Publish HW, role and epoch to readers and producers. acks=all
//			// waiters below the HW complete if rd.MinISRSatisfied (ModeQuorum:
//			// always); otherwise they fail with NOT_ENOUGH_REPLICAS_AFTER_APPEND.
//			// Report rd.Eligible to the controller.
//			publish(rd.HighWatermark, rd.Role, rd.Epoch, rd.MinISRSatisfied)
//			node.Advance(rd)
//		}
//	}
//
// The order matters:
//
//   - (1) before (3). A FetchRequest in the same Ready already quotes the
//     truncated log end. Sending it first would ask for data the log
//     cannot take.
//   - (2) before (3) and (4). A new leader's epoch entry must be durable
//     before any batch of that epoch exists. Otherwise a crash could leave
//     batches whose epoch the restarted cache does not know, and the
//     replica could then lead that epoch again. The produce path must not
//     append as leader until (4) published the role, so that holds.
//
// A follower's driver appends batches before stepping their
// FetchResponse. Their epochs reach the cache in the next Ready. A crash in
// between loses only cache entries, never correctness: at start the driver
// re-derives the tail of the cache from the batch headers after the last
// cached start offset (Assign is idempotent), and NewNode drops entries
// beyond the log end.
//
// Fetch sequence numbers (Seq) restart with every Node. A reply must
// reach only the Node whose request it answers: it travels back on that
// request's connection, and the connections of a previous process are
// gone.
//
// The HW checkpoint may lag: a restarted node only uses it as a floor for
// what it will report. Kafka checkpoints it every few seconds.
//
// Produce: a leader refuses acks=all with NOT_ENOUGH_REPLICAS when the last
// published MinISRSatisfied is false, before appending. It stamps
// rd.Epoch into each batch.
//
// # Ticks
//
// Time is a tick count. LagTicks, FetchWaitTicks and FetchBackoffTicks are
// in ticks, and the driver picks the tick length (e.g. 10 ms). Randomness
// is not needed: the protocol has no elections of its own.
package replication
