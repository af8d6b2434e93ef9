package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// workload is a sequential run of appends against one log directory: a
// clean close and reopen in the middle, explicit syncs when the policy
// does not sync by itself. It records what was acknowledged, and stops at
// the first error (after checking what a second call says).
type workload struct {
	opts      Options
	batches   int
	syncEvery int // explicit Sync every n appends; 0 = never

	acked      []appended // Append returned nil
	durable    int        // acked[:durable] are known durable
	attempts   map[int64]string
	firstErr   error
	afterErr   error // the error of one more Append after firstErr
	afterTried bool
}

func newWorkload(opts Options, batches, syncEvery int) *workload {
	return &workload{opts: opts, batches: batches, syncEvery: syncEvery, attempts: map[int64]string{}}
}

func (w *workload) run(t *testing.T) {
	l, err := Open(w.opts)
	if err != nil {
		w.firstErr = err
		return
	}
	next := int64(0)
	for i := 0; i < w.batches; i++ {
		if i == w.batches/2 {
			if err := l.Close(); err != nil {
				w.firstErr = err
				return
			}
			if l, err = Open(w.opts); err != nil {
				w.firstErr = err
				return
			}
		}
		batch := makeBatch(i, 1+i%3, 90, int64(i))
		vals := batchValues(t, batch)
		for j, v := range vals {
			w.attempts[next+int64(j)] = v
		}
		res, err := l.Append(batch)
		if err != nil {
			w.firstErr = err
			w.tryAfter(t, l, next, 10_000+i)
			l.closing.Store(true) // abandon: no clean close after a failure
			return
		}
		if res.BaseOffset != next {
			t.Fatalf("append %d got offset %d, want %d", i, res.BaseOffset, next)
		}
		next += int64(len(vals))
		w.acked = append(w.acked, appended{res.BaseOffset, vals})
		if res.Durable {
			w.durable = len(w.acked)
		}
		if w.syncEvery > 0 && (i+1)%w.syncEvery == 0 {
			if err := l.Sync(); err != nil {
				w.firstErr = err
				w.tryAfter(t, l, next, 20_000+i)
				l.closing.Store(true)
				return
			}
			w.durable = len(w.acked)
		}
	}
	if err := l.Close(); err != nil {
		w.firstErr = err
	}
}

// tryAfter appends once more after a failure: a poisoned log must refuse,
// a log that only ran out of space must take it at the next offset.
func (w *workload) tryAfter(t *testing.T, l *Log, next int64, id int) {
	batch := makeBatch(id, 1, 10, 0)
	vals := batchValues(t, batch)
	var res AppendResult
	res, w.afterErr = l.Append(batch)
	w.afterTried = true
	if w.afterErr == nil {
		if res.BaseOffset != next {
			t.Fatalf("append after %v got offset %d, want %d", w.firstErr, res.BaseOffset, next)
		}
		w.attempts[next] = vals[0]
		w.acked = append(w.acked, appended{next, vals})
		if res.Durable {
			w.durable = len(w.acked)
		}
	}
}

// verifyReopen opens the log on fs and checks the engine's promises: it
// opens (a crash is never reported as corruption), every record in it is
// one that was attempted at that very offset, offsets are dense, and every
// acknowledged-durable record (or every acknowledged one, when mustHave
// says so) is there. Appends then continue densely.
func (w *workload) verifyReopen(t *testing.T, fs vfs.FS, mustHave int, label string) {
	t.Helper()
	opts := w.opts
	opts.FS = fs
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("%s: reopen failed: %v", label, err)
	}
	defer l.Close()
	got := readAll(t, l)
	for _, r := range got {
		if want, ok := w.attempts[r.offset]; !ok || want != r.value {
			t.Fatalf("%s: offset %d holds %q, attempted %q (%v)", label, r.offset, r.value, want, ok)
		}
	}
	if len(got) > 0 && got[0].offset != 0 {
		t.Fatalf("%s: log starts at %d", label, got[0].offset)
	}
	expectPrefix(t, got, w.acked[:mustHave])
	end := l.LogEndOffset()
	res, err := l.Append(makeBatch(99_999, 2, 10, 0))
	if err != nil || res.BaseOffset != end {
		t.Fatalf("%s: append after recovery at %d (%v), log end %d", label, res.BaseOffset, err, end)
	}
}

type crashConfig struct {
	name      string
	sync      SyncPolicy
	syncEvery int
	prealloc  Prealloc
}

var crashConfigs = []crashConfig{
	{"always", SyncPolicyAlways, 0, PreallocNone},
	{"always-zerofill", SyncPolicyAlways, 0, PreallocZeroFill},
	{"never+sync", SyncPolicyNever, 4, PreallocNone},
	{"bytes", SyncPolicy{Mode: SyncBytes, Bytes: 700}, 0, PreallocFallocate},
}

func crashOptions(fs vfs.FS, c crashConfig) Options {
	opts := testOptions(fs, "/data/p0")
	opts.SegmentBytes = 2048
	opts.IndexIntervalBytes = 300
	opts.Sync = c.sync
	opts.Prealloc = c.prealloc
	opts.ZeroFillChunkBytes = 1024
	return opts
}

// TestCrashAtEveryOperation crashes the memory FS before each operation of
// the workload in turn (Open, appends, syncs, rolls, the clean close and the
// reopen included), with and without torn unsynced writes, and checks that
// recovery keeps every acknowledged-durable append and serves nothing
// half-written.
func TestCrashAtEveryOperation(t *testing.T) {
	for _, c := range crashConfigs {
		t.Run(c.name, func(t *testing.T) {
			var counter vfs.OpCounter
			full := newWorkload(crashOptions(vfs.WithErrors(vfs.NewMem(), &counter), c), 24, c.syncEvery)
			full.run(t)
			if full.firstErr != nil {
				t.Fatalf("workload without faults failed: %v", full.firstErr)
			}
			ops := counter.Count()
			for i := int64(0); i <= ops; i++ {
				for _, torn := range []bool{false, true} {
					mem := vfs.NewMem()
					var crashed *vfs.MemFS
					var seen int64
					inj := vfs.InjectorFunc(func(op vfs.Op) error {
						if seen == i && crashed == nil {
							crashed = mem.Crash(vfs.CrashOptions{TornWrites: torn, Rand: rand.New(rand.NewPCG(uint64(i), 7))})
						}
						seen++
						return nil
					})
					w := newWorkload(crashOptions(vfs.WithErrors(mem, inj), c), 24, c.syncEvery)
					w.run(t)
					if crashed == nil {
						crashed = mem.Crash(vfs.CrashOptions{TornWrites: torn, Rand: rand.New(rand.NewPCG(uint64(i), 7))})
					}
					w.verifyReopen(t, crashed, w.durable, fmt.Sprintf("crash before op %d/%d torn=%v", i, ops, torn))
				}
			}
		})
	}
}

// TestFaultAtEveryOperation fails each operation of the workload in turn
// with EIO and with ENOSPC. The error must reach the caller (or be retried:
// index writes are); nothing acknowledged may be lost, neither after a
// process restart nor after a power loss; a poisoned log stays poisoned;
// a disk-full append leaves the log usable.
func TestFaultAtEveryOperation(t *testing.T) {
	c := crashConfigs[0]
	var counter vfs.OpCounter
	full := newWorkload(crashOptions(vfs.WithErrors(vfs.NewMem(), &counter), c), 24, 0)
	full.run(t)
	ops := counter.Count()
	swallowed := 0
	for _, errno := range []error{nil /* EIO */, errNoSpace} {
		for i := int64(0); i < ops; i++ {
			mem := vfs.NewMem()
			inj := &recordingAtOp{AtOpInjector: vfs.AtOp(i, errno)}
			w := newWorkload(crashOptions(vfs.WithErrors(mem, inj), c), 24, 0)
			w.run(t)
			label := fmt.Sprintf("%v at op %d (%v)", errno, i, inj.op)
			if !inj.Fired() {
				t.Fatalf("%s: never fired", label)
			}
			if w.firstErr == nil {
				// Only derived data may absorb an error, by retrying it later.
				if !retriedByDesign(inj.op) {
					t.Fatalf("%s: the error did not reach the caller", label)
				}
				swallowed++
			} else {
				if !errors.Is(w.firstErr, vfs.ErrInjected) {
					t.Fatalf("%s: caller saw %v, not the injected error", label, w.firstErr)
				}
				switch {
				case !w.afterTried:
					// The failure came from Open or Close: nothing to retry on.
				case errors.Is(w.firstErr, ErrPoisoned):
					if !errors.Is(w.afterErr, ErrPoisoned) {
						t.Fatalf("%s: poisoned log accepted a later append: %v", label, w.afterErr)
					}
				case errors.Is(w.firstErr, ErrDiskFull):
					if w.afterErr != nil {
						t.Fatalf("%s: log unusable after disk full: %v", label, w.afterErr)
					}
				}
			}
			// A process restart keeps the page cache: everything acked.
			w.verifyReopen(t, mem.Crash(vfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(1, 1))}), w.durable, label+" then power loss")
		}
	}
	t.Logf("%d operations, %d faults absorbed by retry (index writes)", ops, swallowed)
}

var errNoSpace = fmt.Errorf("%w: %w", vfs.ErrInjected, syscallENOSPC)

// recordingAtOp remembers which operation it failed.
type recordingAtOp struct {
	*vfs.AtOpInjector
	op vfs.Op
}

func (r *recordingAtOp) Inject(op vfs.Op) error {
	err := r.AtOpInjector.Inject(op)
	if err != nil {
		r.op = op
	}
	return err
}

// retriedByDesign lists the operations whose failure the engine may absorb:
// index files are derived data written lazily (a failed write is retried
// at the next flush, and recovery rebuilds the index; a failed mapping of a
// sealed index leaves it on the heap), and closing a file that is no longer
// used has nothing left to report to.
func retriedByDesign(op vfs.Op) bool {
	isIndex := hasSuffix(op.Path, indexSuffix) || hasSuffix(op.Path, timeIndexSuffix)
	return (isIndex && (op.Kind == vfs.OpWrite || op.Kind == vfs.OpMap)) || op.Kind == vfs.OpClose
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
