// Package vfs is the storage engine's fault seam: the only place that talks
// to the operating system's files, and the place tests swap out to make the
// disk lie, fail or lose power.
//
// # Implementations
//
//   - Default is the real thing: *os.File plus golang.org/x/sys/unix for the
//     calls the os package does not offer (pwritev, fdatasync, fallocate,
//     sendfile, mmap, sync_file_range). It is the only code in the module that
//     makes file system calls.
//   - NewMem returns an in-memory FS that remembers, per file, which bytes were
//     made durable by Sync and, per directory, which entries were made durable
//     by SyncDir. MemFS.Crash returns the FS a machine would find after power
//     loss at that instant, optionally with a torn tail of unsynced writes.
//   - WithErrors wraps any FS and asks an Injector before every operation, so a
//     test can run out of space, fail an fsync or fail the i-th operation of a
//     workload.
//
// The conformance suite in package vfstest runs the same checks over every
// implementation, so a test that passes on MemFS means the same on disk.
//
// # Durability contract
//
// Bytes written to a File survive a crash only once File.Sync has returned
// nil after the write. A directory entry that was created, renamed or removed
// survives a crash only once SyncDir on its parent directory has returned nil
// after the change. Nothing else is a durability point: not Close, not
// StartWriteback, not a successful write. MemFS enforces exactly this and no
// more, so code that is correct against MemFS crashes is correct against the
// contract.
package vfs
