package engine

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

var (
	propertySeed  = flag.Uint64("engine.seed", 0, "run the property test with this seed only")
	propertySeeds = flag.Int("engine.seeds", 20, "number of seeds the property test runs")
)

// modelBatch is the reference model's view of one batch.
type modelBatch struct {
	base   int64
	values []string
}

func (b modelBatch) last() int64 { return b.base + int64(len(b.values)) - 1 }

type propConfig struct {
	name     string
	segment  int64
	interval int
	sync     SyncPolicy
	prealloc Prealloc
	cache    bool
}

var propConfigs = []propConfig{
	{"small-never", 2048, 64, SyncPolicyNever, PreallocNone, false},
	{"mid-always", 8192, 1024, SyncPolicyAlways, PreallocZeroFill, true},
	{"large-bytes", 64 << 10, 4096, SyncPolicy{Mode: SyncBytes, Bytes: 3000}, PreallocFallocate, false},
	{"tiny-index", 4096, 1, SyncPolicyNever, PreallocZeroFill, true},
}

// TestPropertySameOpsSameLog runs one seeded sequence of appends, reads,
// truncations, clean and unclean reopens and retention under several
// configurations. Every read must agree with a plain list of batches, so
// all configurations read back identically.
func TestPropertySameOpsSameLog(t *testing.T) {
	seeds := make([]uint64, 0, *propertySeeds)
	if *propertySeed != 0 {
		seeds = append(seeds, *propertySeed)
	} else {
		for i := 0; i < *propertySeeds; i++ {
			seeds = append(seeds, uint64(1000+i))
		}
	}
	for _, seed := range seeds {
		for _, c := range propConfigs {
			t.Run(fmt.Sprintf("seed=%d/%s", seed, c.name), func(t *testing.T) {
				defer func() {
					if t.Failed() {
						t.Logf("replay: go test ./engine -run 'TestPropertySameOpsSameLog' -engine.seed=%d", seed)
					}
				}()
				runProperty(t, seed, c)
			})
		}
	}
}

func runProperty(t *testing.T, seed uint64, c propConfig) {
	rng := rand.New(rand.NewPCG(seed, 42))
	fs := vfs.NewMem()
	opts := Options{
		FS: fs, Dir: "/p", SegmentBytes: c.segment, IndexIntervalBytes: c.interval,
		Sync: c.sync, Prealloc: c.prealloc, ZeroFillChunkBytes: 2048,
		RetentionCheckInterval: -1, RetentionTime: -1, Logger: quietLogger,
	}
	if c.cache {
		cache, err := NewBlockCache(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer cache.Close()
		opts.Cache = cache
	}
	l := mustOpen(t, opts)
	defer func() { l.Close() }()
	var model []modelBatch
	next := int64(0)
	start := int64(0)
	for step := 0; step < 150; step++ {
		switch op := rng.IntN(100); {
		case op < 60: // append
			n := 1 + rng.IntN(6)
			size := 10 + rng.IntN(250)
			batch := makeBatch(step, n, size, int64(step*10))
			vals := batchValues(t, batch)
			res, err := l.Append(batch)
			if err != nil {
				t.Fatalf("step %d append: %v", step, err)
			}
			if res.BaseOffset != next {
				t.Fatalf("step %d: append at %d, model says %d", step, res.BaseOffset, next)
			}
			model = append(model, modelBatch{next, vals})
			next += int64(n)
		case op < 80: // read at a random offset with a random size
			if next == start {
				continue
			}
			off := start + rng.Int64N(next-start)
			maxBytes := 1 + rng.IntN(3000)
			res, err := l.Read(off, maxBytes)
			if err != nil {
				t.Fatalf("step %d Read(%d, %d): %v", step, off, maxBytes, err)
			}
			checkReadAgainstModel(t, model, off, maxBytes, res)
		case op < 86: // truncate
			if next == start {
				continue
			}
			to := start + rng.Int64N(next-start+1)
			if err := l.TruncateTo(to); err != nil {
				t.Fatalf("step %d TruncateTo(%d): %v", step, to, err)
			}
			for len(model) > 0 && model[len(model)-1].last() >= to {
				model = model[:len(model)-1]
			}
			next = start
			if len(model) > 0 {
				next = model[len(model)-1].last() + 1
			}
			if l.LogEndOffset() != next {
				t.Fatalf("step %d: log end %d after TruncateTo(%d), model %d", step, l.LogEndOffset(), to, next)
			}
		case op < 92: // clean reopen
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, opts)
		case op < 97: // unclean reopen: the process dies, the page cache stays
			l.closing.Store(true)
			l = mustOpen(t, opts)
		default: // size retention down to a random budget
			l.Close()
			o := opts
			o.RetentionBytes = 1 + rng.Int64N(4*c.segment)
			l = mustOpen(t, o)
			if _, err := l.EnforceRetention(time.Now()); err != nil {
				t.Fatal(err)
			}
			start = l.LogStartOffset()
			for len(model) > 0 && model[0].last() < start {
				model = model[1:]
			}
			if len(model) > 0 && model[0].base != start {
				t.Fatalf("step %d: retention cut inside a batch: start %d, batch %d", step, start, model[0].base)
			}
			if len(model) == 0 {
				if start != next {
					t.Fatalf("step %d: empty model but log start %d, end %d", step, start, next)
				}
			}
			l.Close()
			l = mustOpen(t, opts)
		}
	}
	var want []appended
	for _, b := range model {
		want = append(want, appended(b))
	}
	got := readAll(t, l)
	expectPrefix(t, got, want)
	if int64(len(got)) != next-start {
		t.Fatalf("read %d records, model holds %d", len(got), next-start)
	}
}

// checkReadAgainstModel: the read starts with the batch holding off, holds
// whole batches only, matches the model, and respects maxBytes (beyond the
// first batch).
func checkReadAgainstModel(t *testing.T, model []modelBatch, off int64, maxBytes int, res ReadResult) {
	t.Helper()
	i := 0
	for i < len(model) && model[i].last() < off {
		i++
	}
	pos := 0
	for pos < len(res.Data) {
		b, err := record.Decode(res.Data[pos:])
		if err != nil {
			t.Fatalf("Read(%d) data at %d: %v", off, pos, err)
		}
		if i >= len(model) || b.BaseOffset != model[i].base || len(b.Records) != len(model[i].values) {
			t.Fatalf("Read(%d): batch %d at %d does not match the model", off, b.BaseOffset, pos)
		}
		for j, r := range b.Records {
			if string(r.Value) != model[i].values[j] {
				t.Fatalf("Read(%d): offset %d differs", off, b.BaseOffset+int64(j))
			}
		}
		if pos > 0 && pos+b.Size() > maxBytes {
			t.Fatalf("Read(%d, %d) returned %d bytes beyond the first batch", off, maxBytes, pos+b.Size())
		}
		pos += b.Size()
		i++
	}
	if pos == 0 {
		t.Fatalf("Read(%d) returned nothing", off)
	}
	if i < len(model) && res.NextOffset != model[i].base {
		t.Fatalf("Read(%d) next %d, want %d", off, res.NextOffset, model[i].base)
	}
}
