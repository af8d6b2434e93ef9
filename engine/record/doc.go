// Package record encodes and decodes Kafka RecordBatch v2 ("magic 2"), byte
// for byte, so that batches produced by Kafka clients can be stored and served
// back unchanged.
//
// # Batch layout
//
// All fixed-width fields are big-endian. Offsets are from the start of the
// batch. The header is HeaderSize (61) bytes.
//
//	offset  size  field
//	------  ----  -----------------------------------------------------------
//	     0     8  baseOffset            int64   first offset in the batch
//	     8     4  batchLength           int32   bytes that follow this field
//	    12     4  partitionLeaderEpoch  int32
//	    16     1  magic                 int8    always 2 (Magic)
//	    17     4  crc                   uint32  CRC-32C (Castagnoli) of
//	                                            bytes [21, 12+batchLength)
//	    21     2  attributes            int16   see below
//	    23     4  lastOffsetDelta       int32
//	    27     8  baseTimestamp         int64   ms
//	    35     8  maxTimestamp          int64   ms
//	    43     8  producerId            int64
//	    51     2  producerEpoch         int16
//	    53     4  baseSequence          int32
//	    57     4  recordCount           int32
//	    61     …  records               recordCount records, back to back
//
//	|<-- LengthFieldEnd (12) -->|<----------- batchLength ------------------>|
//	+------------+--------------+-----+-----+-----+-------- … ----+---------+
//	| baseOffset | batchLength  | ple |magic| crc | attributes …  | records |
//	+------------+--------------+-----+-----+-----+-------- … ----+---------+
//	                                              |<------ CRC range ------->|
//
// The total size of a batch is batchLength + LengthFieldEnd. baseOffset and
// partitionLeaderEpoch sit before the CRC range on purpose (this is Kafka's
// design): a broker assigns them when it appends the batch to its log, and
// doing so must not require recomputing the checksum. See SetBaseOffset and
// SetPartitionLeaderEpoch.
//
// Attributes (int16):
//
//	bits 0-2  compression  0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
//	bit  3    timestamp type  0 CreateTime, 1 LogAppendTime
//	bit  4    transactional
//	bit  5    control batch
//	bits 6-15 unused here; carried through unchanged
//
// # Record layout
//
// Every record is variable length. "varint" is a zigzag-encoded signed
// base-128 varint holding an int32, "varlong" the same holding an int64 (this
// is exactly Go's binary.AppendVarint / binary.Varint encoding).
//
//	length          varint   bytes that follow, up to the end of this record
//	attributes      int8     unused by Kafka; carried through
//	timestampDelta  varlong  record timestamp - baseTimestamp
//	offsetDelta     varint   record offset - baseOffset
//	keyLength       varint   -1 means a null key
//	key             keyLength bytes
//	valueLength     varint   -1 means a null value
//	value           valueLength bytes
//	headerCount     varint   >= 0
//	headers         headerCount times:
//	    headerKeyLength    varint  >= 0 (Kafka forbids null header keys)
//	    headerKey          headerKeyLength bytes
//	    headerValueLength  varint  -1 means a null value
//	    headerValue        headerValueLength bytes
//
// The smallest possible record is 7 bytes (every varint one byte, no key,
// value or headers); the decoder uses that to bound allocations.
//
// # Canonical form
//
// The decoder accepts only the canonical encoding: minimal-length varints,
// record lengths that match their contents, a recordCount that matches the
// records present and records that exactly fill batchLength. Everything it
// accepts therefore re-encodes to the identical bytes with Encode, which is
// what lets the storage engine treat a decoded batch and its bytes as
// interchangeable. Compressed batches are verified (header and CRC) but their
// records are not decoded; see ErrUnsupportedCompression.
package record
