// Package engine is Sluice's storage engine: one append-only, segmented log
// per partition replica, storing Kafka RecordBatch v2 batches byte for byte.
//
// A log is a directory:
//
//	00000000000000000000.log        batches, back to back (engine/record format)
//	00000000000000000000.index      sparse offset index   (see index.go)
//	00000000000000000000.timeindex  sparse time index
//	00000000000000052311.log        the next segment, named by its base offset
//	...
//	.clean-shutdown                 present only after a clean Close
//	<name>                          small metadata files (WriteMeta)
//	<segment>.log.torn              a torn tail cut off by recovery, kept aside
//
// Writes: one writer at a time, group commit (append.go): concurrent Appends
// are coalesced into one pwritev and at most one fdatasync, as the typed
// SyncPolicy says. The log tracks its log end offset (written) and durable
// end offset (synced) separately, because acks and replication need both.
//
// Reads: Read/ReadUpTo copy whole batches (through an optional ristretto
// BlockCache); ReadRegion returns a file region for sendfile(2).
//
// Recovery (recovery.go): torn tails of the last segment are truncated and
// kept aside; corruption anywhere else refuses to open with file, position
// and offset; indexes are rebuilt when they disagree with the log; an fsync
// or write error poisons the log for good (a disk-full write does not: it is
// undone and the log recovers when space returns).
//
// Retention (maintenance.go) deletes whole sealed segments by time (default
// 14 days) and size, advancing the log start offset.
//
// The engine touches the disk only through engine/vfs, so every crash and
// fault test runs deterministically on the memory FS.
package engine
