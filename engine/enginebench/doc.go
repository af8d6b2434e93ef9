// Package enginebench holds the storage engine's benchmark measurements,
// shared by `go test -bench` (engine/bench_test.go) and `sluice bench
// engine` (internal/cli).
//
// Every figure is judged as a ratio against a raw baseline measured in the
// same process on the same file system (TESTING.md §8):
//
//   - append, sync=never: 1 KiB records in 64 KiB batches through Log.Append
//     versus a pwrite loop of the same batch bytes;
//   - append, sync=always with 1..64 concurrent appenders (4 records of
//     1 KiB per Append): engine MB/s versus a pwrite+fdatasync loop that
//     commits the engine's own observed mean bytes per fsync;
//   - durable append latency (1 appender): Append p50/p99 versus pwrite +
//     fdatasync of the same batch;
//   - hot reads to a loopback socket: ReadRegion+SendTo versus a raw
//     sendfile loop of the segment file, and the copy path (Read + Write,
//     with and without a BlockCache) versus pread + write;
//   - preallocation: fdatasync latency and MB/s for PreallocNone,
//     PreallocFallocate and PreallocZeroFill, next to raw 4 KiB appends to a
//     new file and overwrites of an already written one.
//
// The single-run functions (AppendNever, RawWriteNever, AppendSync,
// RawWriteSync, ReadFixture's methods) each measure one run in a fresh
// directory and delete their files. Run drives them in interleaved pairs
// (A B A B ...), waits for a quiet machine before each run, records how busy
// the rest of the machine was during it, and reports the median of the
// per-pair ratios with min..max over the pairs that were not contaminated.
//
// Like the engine, the package reaches files only through engine/vfs.
package enginebench
