package engine

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// SyncMode says when the log fdatasyncs.
type SyncMode int

const (
	// SyncNever leaves write-back to the OS (Kafka's default). Data survives a
	// process crash but not a power loss.
	SyncNever SyncMode = iota
	// SyncAlways fdatasyncs every group commit before any of its appends
	// return.
	SyncAlways
	// SyncInterval fdatasyncs from a background flusher every Interval.
	SyncInterval
	// SyncBytes fdatasyncs once Bytes have been written since the last sync.
	SyncBytes
)

// SyncPolicy is the typed fsync policy of one log.
type SyncPolicy struct {
	Mode     SyncMode
	Interval time.Duration // SyncInterval only
	Bytes    int64         // SyncBytes only
}

// Common policies.
var (
	SyncPolicyNever  = SyncPolicy{Mode: SyncNever}
	SyncPolicyAlways = SyncPolicy{Mode: SyncAlways}
)

// ParseSyncPolicy reads the policy syntax used in topic configs and flags:
// "always", "never", "interval=<duration>" or "bytes=<n>".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch {
	case s == "always":
		return SyncPolicyAlways, nil
	case s == "never":
		return SyncPolicyNever, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return SyncPolicy{}, fmt.Errorf("engine: sync policy %q: interval must be a positive duration such as 100ms", s)
		}
		return SyncPolicy{Mode: SyncInterval, Interval: d}, nil
	case strings.HasPrefix(s, "bytes="):
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "bytes="), 10, 64)
		if err != nil || n <= 0 {
			return SyncPolicy{}, fmt.Errorf("engine: sync policy %q: bytes must be a positive integer", s)
		}
		return SyncPolicy{Mode: SyncBytes, Bytes: n}, nil
	}
	return SyncPolicy{}, fmt.Errorf("engine: sync policy %q: want always, never, interval=<duration> or bytes=<n>", s)
}

func (p SyncPolicy) String() string {
	switch p.Mode {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval=" + p.Interval.String()
	case SyncBytes:
		return "bytes=" + strconv.FormatInt(p.Bytes, 10)
	}
	return "never"
}

// Prealloc says how the active segment's space is reserved ahead of writes.
// Which one makes fdatasync cheapest depends on the file system; `sluice
// bench engine` measures all three on the machine at hand.
type Prealloc int

const (
	// PreallocAuto, the default, is PreallocZeroFill under SyncAlways and
	// PreallocNone otherwise. Measured on this project's reference machine
	// (ext4 on virtio, `sluice bench engine --only prealloc`): zero fill
	// halves fdatasync p50 for 4 KiB group commits (78-84 µs vs 144-162 µs,
	// 1.6x the throughput of a growing file, fallocate no better than none),
	// but it writes every byte twice, which only pays when fsyncs dominate.
	PreallocAuto Prealloc = iota
	// PreallocNone appends to a growing file: every fdatasync also commits a
	// size change to the file system journal.
	PreallocNone
	// PreallocFallocate reserves the whole segment with fallocate(KEEP_SIZE).
	// On ext4 the blocks are "unwritten extents" whose conversion still costs
	// a journal commit per fdatasync.
	PreallocFallocate
	// PreallocZeroFill writes zeros ahead of the write position (in chunks),
	// so appends overwrite blocks that are already allocated and written and
	// fdatasync commits data only. Recovery treats a zero tail as free space.
	PreallocZeroFill
)

func (p Prealloc) String() string {
	switch p {
	case PreallocNone:
		return "none"
	case PreallocFallocate:
		return "fallocate"
	case PreallocZeroFill:
		return "zerofill"
	}
	return "auto"
}

// ParsePrealloc reads "auto", "none", "fallocate" or "zerofill".
func ParsePrealloc(s string) (Prealloc, error) {
	switch s {
	case "auto":
		return PreallocAuto, nil
	case "none":
		return PreallocNone, nil
	case "fallocate":
		return PreallocFallocate, nil
	case "zerofill":
		return PreallocZeroFill, nil
	}
	return 0, fmt.Errorf("engine: prealloc %q: want auto, none, fallocate or zerofill", s)
}

// VerifyMode says how much of the log Open reads and checks.
type VerifyMode int

const (
	// VerifyTail checks what a crash can have damaged.
	VerifyTail VerifyMode = iota
	// VerifyAll checks every batch.
	VerifyAll
)

// Defaults, chosen to match what Kafka users expect.
const (
	DefaultSegmentBytes        = 1 << 30
	DefaultSegmentMaxAge       = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes  = 4096
	DefaultRetentionTime       = 14 * 24 * time.Hour
	DefaultMaxGroupBytes       = 8 << 20
	DefaultZeroFillChunkBytes  = 8 << 20
	DefaultRetentionCheckEvery = 5 * time.Minute
)

// Options configure one Log. The zero value of every field but FS and Dir
// means "the default".
type Options struct {
	FS  vfs.FS
	Dir string

	// SegmentBytes rolls the active segment when the next batch would not fit.
	SegmentBytes int64
	// SegmentMaxAge rolls the active segment when its first append is older.
	// The age restarts when the log is reopened.
	SegmentMaxAge time.Duration
	// IndexIntervalBytes is the number of bytes between two sparse index
	// entries: a read scans at most this many bytes of batch headers.
	IndexIntervalBytes int
	// Sync is the fsync policy.
	Sync SyncPolicy
	// Prealloc reserves space of the active segment ahead of writes.
	Prealloc Prealloc
	// ZeroFillChunkBytes is how far ahead PreallocZeroFill writes zeros.
	ZeroFillChunkBytes int64

	// RetentionTime deletes sealed segments whose newest record is older.
	// Negative keeps segments forever.
	RetentionTime time.Duration
	// RetentionBytes deletes the oldest sealed segments while the log is
	// larger. Zero or negative means no size limit.
	RetentionBytes int64
	// RetentionCheckInterval runs the cleaner in the background this often.
	// Zero means DefaultRetentionCheckEvery; negative disables the cleaner
	// (call EnforceRetention yourself).
	RetentionCheckInterval time.Duration

	// Verify says how much Open checks. The default, VerifyTail, reads every
	// batch of the last segment after an unclean shutdown and the batches
	// after the last index entry of every other segment. VerifyAll reads
	// every batch of every segment on every open (slow on large logs; what
	// `sluice dump --verify` does offline). Damage in a sealed segment that
	// Open does not read is still never served: copy reads check CRCs.
	Verify VerifyMode

	// GroupCommitDelay lets a group-commit leader wait up to this long for
	// every appender in flight to queue before it writes and syncs. Zero
	// (the default) never waits. See awaitGroup in append.go.
	GroupCommitDelay time.Duration

	// MaxGroupBytes bounds one group commit (one pwritev).
	MaxGroupBytes int
	// InitialOffset is the base offset of the first segment of a new log.
	InitialOffset int64

	// Cache is an optional block cache for the copy read path, usually
	// shared by every log of a broker.
	Cache *BlockCache
	// Now is the clock (time.Now when nil); tests use a fake one.
	Now func() time.Time
	// Logger receives recovery and retention events (slog.Default when nil).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentMaxAge <= 0 {
		o.SegmentMaxAge = DefaultSegmentMaxAge
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.ZeroFillChunkBytes <= 0 {
		o.ZeroFillChunkBytes = DefaultZeroFillChunkBytes
	}
	if o.RetentionTime == 0 {
		o.RetentionTime = DefaultRetentionTime
	}
	if o.RetentionCheckInterval == 0 {
		o.RetentionCheckInterval = DefaultRetentionCheckEvery
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = DefaultMaxGroupBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// prealloc resolves PreallocAuto against the sync policy.
func (o Options) prealloc() Prealloc {
	if o.Prealloc != PreallocAuto {
		return o.Prealloc
	}
	if o.Sync.Mode == SyncAlways {
		return PreallocZeroFill
	}
	return PreallocNone
}

func (o Options) validate() error {
	if o.FS == nil {
		return fmt.Errorf("engine: Options.FS is nil")
	}
	if o.Dir == "" {
		return fmt.Errorf("engine: Options.Dir is empty")
	}
	if o.SegmentBytes < 1024 || o.SegmentBytes > 1<<32-1 {
		return fmt.Errorf("engine: segment size %d out of range [1024, 4 GiB)", o.SegmentBytes)
	}
	if o.Sync.Mode == SyncInterval && o.Sync.Interval <= 0 {
		return fmt.Errorf("engine: sync interval must be positive")
	}
	if o.Sync.Mode == SyncBytes && o.Sync.Bytes <= 0 {
		return fmt.Errorf("engine: sync bytes must be positive")
	}
	if o.InitialOffset < 0 {
		return fmt.Errorf("engine: initial offset %d is negative", o.InitialOffset)
	}
	return nil
}
