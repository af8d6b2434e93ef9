// Package coord is the broker's one seam to cluster metadata: it stores and
// watches the metadata in etcd, and provides broker leases and the
// controller election. It holds no policy: which broker leads what is
// decided by the controller code that calls it.
//
// # Implementations
//
//   - Etcd (etcd.go, etcd_session.go, etcd_cache.go): the real one, over a
//     clientv3.Client. StartEmbedded (embedded.go) runs a single-member
//     etcd in the process for the one-command default; Dial connects to an
//     existing cluster.
//   - Memory (memory.go): the in-process twin, for tests of the broker and
//     controller. It models etcd's revisions, leases and election.
//
// Package coordtest is the conformance suite both pass.
//
// # Key layout
//
// Under a prefix (DefaultPrefix: /sluice/<cluster>/); values are JSON.
// These names are format: every broker of a cluster must agree on them.
//
//	cluster-id               random hex, created once (txn on CreateRevision == 0: first writer wins)
//	brokers/<id>             {id, addr, dataAddr, adminAddr, rack}, on the broker's lease;
//	                         its create revision is the broker's Epoch
//	controller/<lease hex>   election keys (clientv3/concurrency.Election), value = broker id;
//	                         the lowest create revision is the controller
//	topics/<topic>           {name, id, partitions, replicationFactor, configs}
//	partitions/<topic>/<p>   {leader, leaderEpoch, replicas, isr, elr}; every write is a CAS on the
//	                         key's mod revision (0: must not exist)
//	producers/next-id        the last producer id allocated (CAS increment)
//
// Topic names may not contain '/': partitions/<a>/ must not cover the
// partitions of a topic "a/b".
//
// # The cache
//
// Each coordinator lists the whole prefix once and then watches it,
// applying each watch response as one batch and publishing an immutable
// Snapshot per batch (copy on write: unchanged maps are shared). Changed
// is closed when the content changes; WaitRevision gives read-your-writes
// for the revisions the write methods return.
//
// # Fencing: why Valid is false before the lease can expire
//
// The property the broker needs: a broker that loses its lease stops
// serving as leader (of partitions, or as controller) before anyone else
// can be elected in its place. Others are elected only after etcd deletes
// the broker's keys, which it does when the lease expires.
//
// The session renews its lease itself (KeepAliveOnce every TTL/3) and,
// for each renewal that gets an answer, takes the time it *sent* the
// request, s. etcd handled that request at some time h >= s, and from then
// on the lease cannot expire before h + TTL >= s + TTL. So
//
//	deadline = s + TTL - SafetyMargin(TTL)  <  s + TTL  <=  expiry
//
// and Valid() = now < deadline (local monotonic clock) is false strictly
// before etcd can expire the lease, by at least the margin. The margin
// covers what the inequality ignores: the rate difference between our
// clock and the etcd leader's, and the time between the broker checking
// Valid and completing the action it guards. A change of etcd leader only
// extends leases (the new leader renews every lease on promotion), so it
// cannot break the inequality. Extra renewals by others (clientv3's own
// KeepAlive, run by the election session on the same lease) only move the
// expiry later. Only an explicit revoke (Close, or an operator) removes
// the keys early; that is a deliberate deregistration, not a failure.
//
// When the deadline passes without an answered renewal the session ends
// (Lost is closed) even if the lease might still be alive: the broker has
// already fenced itself, and it registers again as a new incarnation (new
// Epoch) rather than resuming the old one. The old lease is revoked in the
// background, or by the next Register of the same coordinator.
//
// Controller writes carry their own fence: they run inside a transaction
// comparing the election key's create revision with the one the
// controller won with (Leadership.Epoch), so a deposed controller's writes
// fail with ErrNotController even if it has not noticed yet, and
// partition writes are compare-and-swaps on the key's mod revision, so two
// controllers can never both win.
//
// # Goroutines and locks
//
// Etcd: one watch goroutine (the only writer of the cache), one keepalive
// goroutine per session, one goroutine per Leadership watching for its
// end, and short-lived background revokes; Close and Halt wait for all of
// them. Etcd.mu guards the cache pointers and the session set; session.mu
// guards a session's deadline. Neither is held across a call to etcd.
// Memory: one mutex (Memory.mu) for the whole store and every handle.
package coord
