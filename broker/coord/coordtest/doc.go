// Package coordtest is the conformance suite every coord.Coordinator must
// pass: the etcd coordinator (against an embedded etcd) and the in-memory
// twin run the same tests, so the broker's tests on the twin mean
// something for etcd.
//
// Lease expiry is exercised by halting a coordinator (coord.Halter): its
// leases stop being renewed and expire after their TTL, and the suite
// checks that the session stopped being Valid strictly before the
// registration (or the controllership) went away.
package coordtest
