package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
	"github.com/sluice-mq/sluice/replication"
)

// replicaTiming is the replication clock of a broker: the tick length and
// the protocol's durations in ticks (replication.Config counts ticks).
type replicaTiming struct {
	tick time.Duration
	// lag is replica.lag.time.max, fetchWait the longest a leader holds a
	// follower fetch that has nothing new.
	lag, fetchWait time.Duration
}

func (b *Broker) replicaTiming() replicaTiming {
	return replicaTiming{tick: b.cfg.ReplicaTick, lag: b.cfg.ReplicaLagMax, fetchWait: b.cfg.ReplicaFetchWait}
}

func (t replicaTiming) ticks(d time.Duration) int {
	return max(1, int((d+t.tick-1)/t.tick))
}

// nodeConfig is the part of replication.Config that topic settings and the
// broker's timing decide (and Reconfigure may change).
func (t replicaTiming) nodeConfig(s topicSettings) replication.Config {
	return replication.Config{
		MinISR:            s.minISR,
		LagTicks:          t.ticks(t.lag),
		FetchWaitTicks:    t.ticks(t.fetchWait),
		FetchBackoffTicks: t.ticks(100 * time.Millisecond),
		DurableHW:         s.sync.Mode == engine.SyncAlways,
	}
}

// loadEpochCache reads the leader-epoch checkpoint and completes it from
// the batch headers after its last entry: a crash between appending a
// follower's batches and persisting the cache loses entries, never batches
// (replication/doc.go). Assign is idempotent, so re-deriving is safe.
func loadEpochCache(log *engine.Log) (*replication.EpochCache, error) {
	cache := replication.NewEpochCache()
	data, err := log.ReadMeta(epochCacheMeta)
	switch {
	case err == nil:
		if uerr := cache.UnmarshalBinary(data); uerr != nil {
			cache = replication.NewEpochCache()
		}
	case vfs.IsNotExist(err), errors.Is(err, engine.ErrMetaCorrupt):
	default:
		return nil, err
	}
	start, end, _ := log.Offsets()
	from := start
	if last, ok := cache.Latest(); ok {
		from = max(start, min(last.StartOffset, end))
	}
	for off := from; off < end; {
		res, err := log.ReadUpTo(off, 4<<20, end)
		if err != nil {
			return nil, fmt.Errorf("rebuilding the leader-epoch cache: %w", err)
		}
		for pos := 0; pos < len(res.Data); {
			h, err := record.ParseHeader(res.Data[pos:])
			if err != nil {
				return nil, fmt.Errorf("rebuilding the leader-epoch cache: %w", err)
			}
			if h.PartitionLeaderEpoch >= 0 {
				cache.Assign(replication.Epoch(h.PartitionLeaderEpoch), h.BaseOffset)
			}
			pos += h.Size()
		}
		if res.NextOffset <= off {
			break
		}
		off = res.NextOffset
	}
	return cache, nil
}
