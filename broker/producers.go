package broker

import (
	"encoding/json"
	"errors"
	"math"
	"sync"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// Idempotent producers (Kafka's model): a producer has an id (allocated
// through etcd) and an epoch, and numbers its records per partition. Each
// partition remembers, per producer, the last producerBatchesKept batches it
// appended; a batch whose sequence range matches one of them is a retry and
// is answered with the original offsets instead of being written again.
const (
	producerBatchesKept = 5
	producerStateMeta   = "producer-state"
	// producerScanBytes bounds the log read after an unclean shutdown to
	// rebuild the table: producers not seen in it are forgotten (their
	// next batch gets UNKNOWN_PRODUCER_ID and they start over).
	producerScanBytes = 256 << 20
)

type seqBatch struct {
	FirstSeq   int32 `json:"firstSeq"`
	LastSeq    int32 `json:"lastSeq"`
	BaseOffset int64 `json:"baseOffset"`
	LastOffset int64 `json:"lastOffset"`
}

// producerEntry is one producer's state in one partition. mu serialises the
// producer's batches from check to append to record, so its sequence order
// is the log's order; different producers still share group commits.
type producerEntry struct {
	mu      sync.Mutex
	Epoch   int16      `json:"epoch"`
	Batches []seqBatch `json:"batches"` // oldest first, at most producerBatchesKept
}

type producerTable struct {
	mu   sync.Mutex
	byID map[int64]*producerEntry
}

func newProducerTable() *producerTable { return &producerTable{byID: map[int64]*producerEntry{}} }

func (t *producerTable) entry(id int64) *producerEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byID[id]
	if e == nil {
		e = &producerEntry{Epoch: -1}
		t.byID[id] = e
	}
	return e
}

func lastSeqOf(h record.Header) int32 {
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (math.MaxInt32 + 1))
}

// check decides what to do with batch h of this producer: append it (nil,
// nil), answer it as a duplicate (the original batch), or refuse it.
func (e *producerEntry) check(h record.Header) (*seqBatch, *Error) {
	first, last := h.BaseSequence, lastSeqOf(h)
	switch {
	case e.Epoch >= 0 && h.ProducerEpoch < e.Epoch:
		return nil, errf(brokerpb.ErrorCode_INVALID_PRODUCER_EPOCH, "producer %d epoch %d is fenced by epoch %d", h.ProducerID, h.ProducerEpoch, e.Epoch)
	case e.Epoch < 0 || len(e.Batches) == 0:
		if first != 0 {
			return nil, errf(brokerpb.ErrorCode_UNKNOWN_PRODUCER_ID, "producer %d has no state here; its first batch must start at sequence 0, not %d", h.ProducerID, first)
		}
		return nil, nil
	case h.ProducerEpoch > e.Epoch:
		if first != 0 {
			return nil, errf(brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE, "producer %d: a new epoch %d must start at sequence 0, not %d", h.ProducerID, h.ProducerEpoch, first)
		}
		return nil, nil
	}
	for i := range e.Batches {
		if b := &e.Batches[i]; b.FirstSeq == first && b.LastSeq == last {
			return b, nil
		}
	}
	prev := e.Batches[len(e.Batches)-1].LastSeq
	switch {
	case first == int32((int64(prev)+1)%(math.MaxInt32+1)):
		return nil, nil
	case first <= prev && first >= e.Batches[0].FirstSeq:
		return nil, errf(brokerpb.ErrorCode_DUPLICATE_SEQUENCE, "producer %d: sequences %d..%d overlap batches already written", h.ProducerID, first, last)
	}
	return nil, errf(brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE, "producer %d: sequence %d does not follow %d", h.ProducerID, first, prev)
}

// record notes an appended (or replayed) batch.
func (e *producerEntry) record(h record.Header, base, last int64) {
	if h.ProducerEpoch != e.Epoch {
		e.Epoch, e.Batches = h.ProducerEpoch, e.Batches[:0]
	}
	e.Batches = append(e.Batches, seqBatch{FirstSeq: h.BaseSequence, LastSeq: lastSeqOf(h), BaseOffset: base, LastOffset: last})
	if len(e.Batches) > producerBatchesKept {
		e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-producerBatchesKept:]...)
	}
}

// appendIdempotent appends a batch of an idempotent producer, or answers a
// retry with the original offsets.
func (p *partition) appendIdempotent(batch []byte, h record.Header) (engine.AppendResult, bool, *Error) {
	e := p.producerTable().entry(h.ProducerID)
	e.mu.Lock()
	defer e.mu.Unlock()
	dup, be := e.check(h)
	if be != nil {
		return engine.AppendResult{}, false, be
	}
	if dup != nil {
		return engine.AppendResult{BaseOffset: dup.BaseOffset, LastOffset: dup.LastOffset}, true, nil
	}
	res, err := p.log.AppendVerified(batch, h)
	if err != nil {
		se := storageError(err)
		if errors.Is(err, engine.ErrPoisoned) {
			se.Indefinite = true
		}
		return res, false, se
	}
	e.record(h, res.BaseOffset, res.LastOffset)
	return res, false, nil
}

// producerSnapshot is the table as written at a clean shutdown.
type producerSnapshot struct {
	EndOffset int64                    `json:"endOffset"`
	Producers map[int64]*producerEntry `json:"producers"`
}

// saveProducers writes the table next to the log (clean shutdown). Every
// producer's lock is taken first: an append that is written but not yet
// recorded would otherwise fall below the snapshot's end offset without
// being in its table, and its retry would be written again after a restart.
// Holding the table lock keeps new producers out meanwhile.
func (p *partition) saveProducers() error {
	t := p.producerTable()
	t.mu.Lock()
	for _, e := range t.byID {
		e.mu.Lock()
	}
	snap := producerSnapshot{EndOffset: p.log.LogEndOffset(), Producers: t.byID}
	data, err := json.Marshal(snap)
	for _, e := range t.byID {
		e.mu.Unlock()
	}
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return p.log.WriteMeta(producerStateMeta, data)
}

// loadProducers rebuilds the table: the snapshot of the last clean
// shutdown, then the batches written after it. Without a usable snapshot it
// reads the last producerScanBytes of the log.
func loadProducers(log *engine.Log) (*producerTable, error) {
	t := newProducerTable()
	start, end, _ := log.Offsets()
	from := start
	data, err := log.ReadMeta(producerStateMeta)
	switch {
	case err == nil:
		var snap producerSnapshot
		if jerr := json.Unmarshal(data, &snap); jerr == nil && snap.EndOffset <= end && snap.EndOffset >= start {
			for id, e := range snap.Producers {
				t.byID[id] = &producerEntry{Epoch: e.Epoch, Batches: e.Batches}
			}
			from = snap.EndOffset
		} else {
			from = max(start, log.OffsetBytesBeforeEnd(producerScanBytes))
		}
	case vfs.IsNotExist(err), errors.Is(err, engine.ErrMetaCorrupt):
		from = max(start, log.OffsetBytesBeforeEnd(producerScanBytes))
	default:
		return nil, err
	}
	for off := from; off < end; {
		res, err := log.ReadUpTo(off, 4<<20, end)
		if err != nil {
			return nil, err
		}
		for pos := 0; pos < len(res.Data); {
			h, err := record.ParseHeader(res.Data[pos:])
			if err != nil {
				return nil, err
			}
			if h.ProducerID >= 0 && h.LastOffset() >= off {
				t.entry(h.ProducerID).record(h, h.BaseOffset, h.LastOffset())
			}
			pos += h.Size()
		}
		if res.NextOffset <= off {
			break
		}
		off = res.NextOffset
	}
	return t, nil
}
