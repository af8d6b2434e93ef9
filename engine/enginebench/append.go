package enginebench

import (
	"errors"
	"fmt"
	"github.com/sluice-mq/sluice/internal/benchutil"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// Measurement is the outcome of one run.
type Measurement struct {
	// Bytes and Ops (appends, writes or sends) done in Elapsed.
	Bytes   int64
	Ops     int64
	Elapsed time.Duration
	// Syncs and SyncedBytes: fdatasyncs during the run and the bytes they
	// made durable (the engine's Stats; the raw loop's own count).
	Syncs       int64
	SyncedBytes int64
	// GroupCommits of the engine during the run (Ops/GroupCommits is the
	// mean number of appends sharing one pwritev).
	GroupCommits int64
	// OpLatency is each operation's latency, sorted, when recorded.
	OpLatency []time.Duration
	// SyncLatency is each fdatasync's latency, sorted (durable runs).
	SyncLatency []time.Duration
	// Cache counters of the copy read path with a BlockCache.
	CacheHits, CacheMisses int64
	// Load is how busy the rest of the machine was (filled by Run).
	Load benchutil.Load
}

// MBps is the throughput in MB/s (10^6 bytes per second).
func (m Measurement) MBps() float64 { return perSecond(float64(m.Bytes)/1e6, m.Elapsed) }

// OpsPerSec is operations per second.
func (m Measurement) OpsPerSec() float64 { return perSecond(float64(m.Ops), m.Elapsed) }

// SyncsPerSec is fdatasyncs per second.
func (m Measurement) SyncsPerSec() float64 { return perSecond(float64(m.Syncs), m.Elapsed) }

// BytesPerSync is the mean number of bytes each fdatasync made durable.
func (m Measurement) BytesPerSync() float64 {
	if m.Syncs == 0 {
		return 0
	}
	return float64(m.SyncedBytes) / float64(m.Syncs)
}

// AppendsPerGroup is the mean number of appends per group commit.
func (m Measurement) AppendsPerGroup() float64 {
	if m.GroupCommits == 0 {
		return 0
	}
	return float64(m.Ops) / float64(m.GroupCommits)
}

// CacheHitRate is hits / (hits + misses) of the block cache.
func (m Measurement) CacheHitRate() float64 {
	if m.CacheHits+m.CacheMisses == 0 {
		return 0
	}
	return float64(m.CacheHits) / float64(m.CacheHits+m.CacheMisses)
}

func perSecond(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func openLog(dir string, fs vfs.FS, sync engine.SyncPolicy, prealloc engine.Prealloc, cache *engine.BlockCache) (*engine.Log, error) {
	return engine.Open(engine.Options{
		FS:                     fs,
		Dir:                    dir,
		Sync:                   sync,
		Prealloc:               prealloc,
		RetentionCheckInterval: -1,
		Cache:                  cache,
		Logger:                 quietLogger,
	})
}

// NeverParams shape the sync=never append run.
type NeverParams struct {
	// TotalBytes to write (at most the 1 GiB segment, so no roll and no
	// fsync happens during the run).
	TotalBytes int64
	// MaxDuration bounds the run.
	MaxDuration time.Duration
	// Verified appends with AppendVerified (the CRC checked once by the
	// caller, as the broker's produce validation does) instead of Append
	// (which checks the CRC itself).
	Verified bool
}

// AppendNever appends 64 KiB batches of 1 KiB records (built up front, 16
// distinct ones reused in turn) to a fresh sync=never log in a new
// directory under parent, then deletes it.
func AppendNever(parent string, p NeverParams) (m Measurement, err error) {
	dir, err := newRunDir(parent)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, RemoveDir(dir)) }()
	batches := makeBatches(16, BigBatchRecords)
	headers := make([]record.Header, len(batches))
	for i, b := range batches {
		if headers[i], err = record.Verify(b); err != nil {
			return m, err
		}
	}
	l, err := openLog(dir, vfs.Default, engine.SyncPolicyNever, engine.PreallocNone, nil)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	start := time.Now()
	deadline := start.Add(p.MaxDuration)
	for m.Bytes < p.TotalBytes {
		i := m.Ops % int64(len(batches))
		b := batches[i]
		if p.Verified {
			_, err = l.AppendVerified(b, headers[i])
		} else {
			_, err = l.Append(b)
		}
		if err != nil {
			return m, err
		}
		m.Bytes += int64(len(b))
		m.Ops++
		if m.Ops%32 == 0 && time.Now().After(deadline) {
			break
		}
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// RawWriteNever is AppendNever's baseline: pwrite of the same batch bytes
// in turn to a fresh file in a new directory under parent.
func RawWriteNever(parent string, p NeverParams) (m Measurement, err error) {
	dir, err := newRunDir(parent)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, RemoveDir(dir)) }()
	batches := makeBatches(16, BigBatchRecords)
	f, err := vfs.Default.Create(filepath.Join(dir, "raw.log"))
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	start := time.Now()
	deadline := start.Add(p.MaxDuration)
	for m.Bytes < p.TotalBytes {
		b := batches[m.Ops%int64(len(batches))]
		if _, err := f.WriteAt(b, m.Bytes); err != nil {
			return m, err
		}
		m.Bytes += int64(len(b))
		m.Ops++
		if m.Ops%32 == 0 && time.Now().After(deadline) {
			break
		}
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// SyncParams shape a sync=always append run.
type SyncParams struct {
	// Appenders is the number of goroutines calling Append in a loop.
	Appenders int
	// Records per Append (SmallBatchRecords: 4 x 1 KiB = 4,157 bytes).
	Records int
	// Duration of the run; appends in flight at the end complete and count.
	Duration time.Duration
	// Prealloc of the log's segments.
	Prealloc engine.Prealloc
	// RecordLatency keeps every Append's latency in OpLatency.
	RecordLatency bool
	// GroupCommitDelay is the log's engine.Options.GroupCommitDelay.
	GroupCommitDelay time.Duration
}

// AppendSync runs p.Appenders goroutines, each owning one batch, that loop
// Append on a fresh sync=always log for p.Duration. Syncs, SyncedBytes and
// SyncLatency cover the run only (not Open or Close).
func AppendSync(parent string, p SyncParams) (m Measurement, err error) {
	if p.Appenders < 1 || p.Records < 1 {
		return m, fmt.Errorf("enginebench: %d appenders, %d records per batch", p.Appenders, p.Records)
	}
	dir, err := newRunDir(parent)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, RemoveDir(dir)) }()
	timer := &syncTimer{}
	l, err := engine.Open(engine.Options{
		FS: timedFS{FS: vfs.Default, t: timer}, Dir: dir, Sync: engine.SyncPolicyAlways, Prealloc: p.Prealloc,
		GroupCommitDelay: p.GroupCommitDelay, RetentionCheckInterval: -1, Logger: quietLogger,
	})
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()

	type result struct {
		bytes, ops int64
		lat        []time.Duration
		err        error
	}
	results := make([]result, p.Appenders)
	batches := makeBatches(p.Appenders, p.Records)
	var stop atomic.Bool
	var ready, done sync.WaitGroup
	begin := make(chan struct{})
	for i := range p.Appenders {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			r := &results[i]
			b := batches[i]
			if p.RecordLatency {
				r.lat = make([]time.Duration, 0, 1<<14)
			}
			ready.Done()
			<-begin
			for !stop.Load() {
				t0 := time.Now()
				res, err := l.Append(b)
				if err != nil {
					r.err = err
					return
				}
				if !res.Durable {
					r.err = errors.New("enginebench: sync=always append returned before it was durable")
					return
				}
				if p.RecordLatency {
					r.lat = append(r.lat, time.Since(t0))
				}
				r.bytes += int64(len(b))
				r.ops++
			}
		}()
	}
	ready.Wait()
	before := l.Stats()
	timer.start()
	start := time.Now()
	close(begin)
	time.AfterFunc(p.Duration, func() { stop.Store(true) })
	done.Wait()
	m.Elapsed = time.Since(start)
	m.SyncLatency = timer.stop()
	after := l.Stats()
	m.Syncs = after.Syncs - before.Syncs
	m.SyncedBytes = after.SyncedBytes - before.SyncedBytes
	m.GroupCommits = after.GroupCommits - before.GroupCommits
	var errs []error
	for _, r := range results {
		m.Bytes += r.bytes
		m.Ops += r.ops
		m.OpLatency = append(m.OpLatency, r.lat...)
		errs = append(errs, r.err)
	}
	sortDurations(m.OpLatency)
	return m, errors.Join(errs...)
}

// RawSyncParams shape the raw durable write loop.
type RawSyncParams struct {
	// CommitBytes written with one pwrite and then fdatasynced.
	CommitBytes int
	// Duration of the run.
	Duration time.Duration
	// Overwrite first writes and syncs OverwriteBytes of zeros, then
	// overwrites them from the start (wrapping around): fdatasync then
	// commits data to blocks that are already allocated and written.
	Overwrite      bool
	OverwriteBytes int64
	// RecordLatency keeps each pwrite+fdatasync's latency in OpLatency.
	RecordLatency bool
}

// RawWriteSync is the durable baseline: a loop of one pwrite of
// p.CommitBytes (the bytes of 4 KiB benchmark batches back to back) and
// one fdatasync, appending to a fresh file (or overwriting a pre-written
// one) in a new directory under parent.
func RawWriteSync(parent string, p RawSyncParams) (m Measurement, err error) {
	if p.CommitBytes < 1 {
		return m, fmt.Errorf("enginebench: commit of %d bytes", p.CommitBytes)
	}
	dir, err := newRunDir(parent)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, RemoveDir(dir)) }()
	f, err := vfs.Default.Create(filepath.Join(dir, "raw.log"))
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	size := int64(0)
	if p.Overwrite {
		size = max(p.OverwriteBytes, int64(p.CommitBytes))
		zeros := make([]byte, 1<<20)
		for pos := int64(0); pos < size; pos += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-pos)], pos); err != nil {
				return m, err
			}
		}
		if err := f.Sync(); err != nil {
			return m, err
		}
	}
	buf := make([]byte, 0, p.CommitBytes)
	batch := MakeBatch(SmallBatchRecords, 1)
	for len(buf) < p.CommitBytes {
		buf = append(buf, batch[:min(len(batch), p.CommitBytes-len(buf))]...)
	}
	if p.RecordLatency {
		m.OpLatency = make([]time.Duration, 0, 1<<14)
	}
	m.SyncLatency = make([]time.Duration, 0, 1<<14)
	pos := int64(0)
	start := time.Now()
	deadline := start.Add(p.Duration)
	for time.Now().Before(deadline) {
		if p.Overwrite && pos+int64(len(buf)) > size {
			pos = 0
		}
		t0 := time.Now()
		if _, err := f.WriteAt(buf, pos); err != nil {
			return m, err
		}
		t1 := time.Now()
		if err := f.Sync(); err != nil {
			return m, err
		}
		t2 := time.Now()
		m.SyncLatency = append(m.SyncLatency, t2.Sub(t1))
		if p.RecordLatency {
			m.OpLatency = append(m.OpLatency, t2.Sub(t0))
		}
		pos += int64(len(buf))
		m.Bytes += int64(len(buf))
		m.Ops++
	}
	m.Elapsed = time.Since(start)
	m.Syncs, m.SyncedBytes = m.Ops, m.Bytes
	sortDurations(m.OpLatency)
	sortDurations(m.SyncLatency)
	return m, nil
}
