package engine

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// CacheBlockSize is the unit the block cache stores: whole 64 KiB blocks
// of segment files, so a run of tail readers shares one pread per block.
const CacheBlockSize = 64 << 10

// BlockCache holds hot blocks of segment files for the copy read path (gRPC
// fetches; the zero-copy path reads the page cache directly). It is byte
// budgeted and admission controlled (ristretto's TinyLFU), so one scan of
// old data cannot evict the tail everyone reads. A miss is never an error:
// the cache is not a source of truth.
type BlockCache struct {
	c      *ristretto.Cache[uint64, []byte]
	budget int64
	hits   atomic.Int64
	misses atomic.Int64
}

// CacheStats are the cache's counters.
type CacheStats struct {
	Hits, Misses int64
	BudgetBytes  int64
}

// NewBlockCache makes a cache holding at most budgetBytes of blocks.
func NewBlockCache(budgetBytes int64) (*BlockCache, error) {
	if budgetBytes < CacheBlockSize {
		return nil, fmt.Errorf("engine: block cache budget %d smaller than one block (%d)", budgetBytes, CacheBlockSize)
	}
	blocks := budgetBytes / CacheBlockSize
	c, err := ristretto.NewCache(&ristretto.Config[uint64, []byte]{
		NumCounters:        max(blocks*10, 1000), // ristretto's advice: 10x the items
		MaxCost:            budgetBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost is the block's bytes
	})
	if err != nil {
		return nil, err
	}
	return &BlockCache{c: c, budget: budgetBytes}, nil
}

// Stats returns hit and miss counts.
func (c *BlockCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), BudgetBytes: c.budget}
}

// Wait blocks until pending admissions are applied (tests).
func (c *BlockCache) Wait() { c.c.Wait() }

// Close releases the cache's goroutines.
func (c *BlockCache) Close() { c.c.Close() }

func blockKey(segmentID uint64, block int64) uint64 { return segmentID<<20 | uint64(block) }

// readAt fills p from f at off. Blocks lying wholly below fullUpTo (the
// segment's published size, immutable until a truncation changes the
// segment id) are cached; the partial last block is read directly.
func (c *BlockCache) readAt(f vfs.File, id uint64, p []byte, off, fullUpTo int64) error {
	for len(p) > 0 {
		block := off / CacheBlockSize
		blockStart := block * CacheBlockSize
		inBlock := off - blockStart
		n := min(int64(len(p)), CacheBlockSize-inBlock)
		if blockStart+CacheBlockSize > fullUpTo {
			if err := readFull(f, p[:n], off); err != nil {
				return err
			}
		} else {
			key := blockKey(id, block)
			data, ok := c.c.Get(key)
			if ok {
				c.hits.Add(1)
			} else {
				c.misses.Add(1)
				data = make([]byte, CacheBlockSize)
				if err := readFull(f, data, blockStart); err != nil {
					return err
				}
				c.c.Set(key, data, CacheBlockSize)
			}
			copy(p[:n], data[inBlock:])
		}
		p, off = p[n:], off+n
	}
	return nil
}

func readFull(f vfs.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("engine: read %s at %d: %w", f.Name(), off, err)
}
