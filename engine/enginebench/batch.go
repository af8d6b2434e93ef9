package enginebench

import (
	"fmt"

	"github.com/sluice-mq/sluice/engine/record"
)

// RecordBytes is the encoded size of one benchmark record: an 8-byte key
// and a value sized so key, value and the record's framing come to 1 KiB.
const RecordBytes = 1 << 10

// Batch shapes of the benchmarks.
const (
	// BigBatchRecords fill a 64 KiB batch (63 x 1 KiB + the 61-byte header
	// = 64,573 bytes): the sync=never append and the read preload.
	BigBatchRecords = (64<<10 - record.HeaderSize) / RecordBytes
	// SmallBatchRecords make the durable append's "4 KiB" batch: 4 x 1 KiB
	// + 61 = 4,157 bytes per Append.
	SmallBatchRecords = 4
)

// valueBytes makes key (8) + value + record framing = RecordBytes.
var valueBytes = func() int {
	for v := RecordBytes; v > 0; v-- {
		b := record.NewBuilder(record.DefaultBuilderOptions())
		b.Append(1, make([]byte, 8), make([]byte, v), nil)
		if b.SizeBytes()-record.HeaderSize <= RecordBytes {
			return v
		}
	}
	panic("unreachable")
}()

// MakeBatch returns one uncompressed RecordBatch v2 of records 1 KiB
// records (records*1 KiB + 61 bytes). seed varies keys and values so batches
// are not all alike.
func MakeBatch(records int, seed int) []byte {
	if records < 1 {
		panic(fmt.Sprintf("enginebench: batch of %d records", records))
	}
	b := record.NewBuilder(record.DefaultBuilderOptions())
	key := make([]byte, 8)
	val := make([]byte, valueBytes)
	for i := range val {
		val[i] = byte(i*7 + seed)
	}
	for i := 0; i < records; i++ {
		key[0], key[1], key[2] = byte(seed), byte(i), byte(i>>8)
		val[0] = byte(i)
		b.Append(1_700_000_000_000+int64(i), key, val, nil)
	}
	return b.Build()
}

// makeBatches returns n distinct batches of the given record count.
func makeBatches(n, records int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = MakeBatch(records, i)
	}
	return out
}
