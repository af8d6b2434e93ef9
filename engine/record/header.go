package record

import (
	"encoding/binary"
	"fmt"
)

const (
	// HeaderSize is the size of the fixed batch header.
	HeaderSize = 61 // format

	// Magic is the magic byte of a v2 record batch.
	Magic int8 = 2 // format

	// LengthFieldEnd is where batchLength's count starts: baseOffset (8) +
	// batchLength (4). The total size of a batch is BatchLength + 12.
	LengthFieldEnd = 12 // format

	// MaxBatchSize bounds the total size a header may declare. It is not a
	// Kafka limit but a sanity bound: a corrupt length field must not make
	// a reader wait for, or allocate, gigabytes.
	MaxBatchSize = 256 << 20

	// minBatchLength is the smallest legal batchLength: the header after
	// the length field, with no records.
	minBatchLength = HeaderSize - LengthFieldEnd

	// maxBatchLength is the largest batchLength that keeps the total size
	// within MaxBatchSize.
	maxBatchLength = MaxBatchSize - LengthFieldEnd
)

// Field offsets within the header.
const (
	offBaseOffset           = 0  // format
	offBatchLength          = 8  // format
	offPartitionLeaderEpoch = 12 // format
	offMagic                = 16 // format
	offCRC                  = 17 // format
	offAttributes           = 21 // format; the CRC range starts here
	offLastOffsetDelta      = 23 // format
	offBaseTimestamp        = 27 // format
	offMaxTimestamp         = 35 // format
	offProducerID           = 43 // format
	offProducerEpoch        = 51 // format
	offBaseSequence         = 53 // format
	offRecordCount          = 57 // format
)

// Attribute bits.
const (
	AttrCompressionMask Attributes = 0x07 // format
	AttrTimestampType   Attributes = 0x08 // format: set = LogAppendTime
	AttrTransactional   Attributes = 0x10 // format
	AttrControl         Attributes = 0x20 // format
)

// Attributes is the batch attributes field.
type Attributes int16

// Compression returns the codec named by the low three bits. Values above
// Zstd are not valid codecs but are reported as they are.
func (a Attributes) Compression() Compression { return Compression(a & AttrCompressionMask) }

// TimestampType reports whether record timestamps were set by the producer
// (TimestampCreateTime) or by the broker on append (TimestampLogAppendTime).
func (a Attributes) TimestampType() TimestampType {
	if a&AttrTimestampType != 0 {
		return TimestampLogAppendTime
	}
	return TimestampCreateTime
}

// IsTransactional reports whether the batch belongs to a transaction.
func (a Attributes) IsTransactional() bool { return a&AttrTransactional != 0 }

// IsControl reports whether the batch holds control records (transaction
// markers) rather than user data.
func (a Attributes) IsControl() bool { return a&AttrControl != 0 }

// TimestampType is the meaning of a batch's timestamps.
type TimestampType int8

const (
	TimestampCreateTime    TimestampType = 0 // format
	TimestampLogAppendTime TimestampType = 1 // format
)

// Compression is the codec of a batch's records section.
type Compression int8

const (
	None   Compression = 0 // format
	Gzip   Compression = 1 // format
	Snappy Compression = 2 // format
	LZ4    Compression = 3 // format
	Zstd   Compression = 4 // format
)

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// Header is the fixed 61-byte header of a batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the batchLength field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           Attributes
	LastOffsetDelta      int32
	BaseTimestamp        int64 // ms
	MaxTimestamp         int64 // ms
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size returns the total number of bytes of the batch, header included.
func (h Header) Size() int { return int(h.BatchLength) + LengthFieldEnd }

// LastOffset returns the offset of the last record the batch accounts for.
// After compaction this may be past the last record actually present.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset returns the offset just after the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// ParseHeader decodes the fixed header from b. It returns ErrTruncated if b is
// shorter than HeaderSize, ErrBadMagic if the magic byte is not Magic and
// ErrBadLength if BatchLength is outside [HeaderSize-12, MaxBatchSize-12]. It
// does not check the CRC or that b holds the whole batch; see Verify. With
// ErrBadMagic or ErrBadLength the returned Header still holds the fields as
// read, for diagnostics.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderSize, len(b))
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offPartitionLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           Attributes(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(be.Uint32(b[offRecordCount:])),
	}
	// Magic first: it sits at the same offset in the older message formats,
	// so it is the one field that says whether the rest can be trusted.
	if h.Magic != Magic {
		return h, fmt.Errorf("%w: magic %d, want %d", ErrBadMagic, h.Magic, Magic)
	}
	if h.BatchLength < minBatchLength || h.BatchLength > maxBatchLength {
		return h, fmt.Errorf("%w: batchLength %d outside [%d, %d]", ErrBadLength, h.BatchLength, minBatchLength, maxBatchLength)
	}
	return h, nil
}

// appendHeader appends the 61-byte encoding of h, every field as given.
func appendHeader(dst []byte, h *Header) []byte {
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(h.BaseOffset))
	dst = be.AppendUint32(dst, uint32(h.BatchLength))
	dst = be.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, byte(h.Magic))
	dst = be.AppendUint32(dst, h.CRC)
	dst = be.AppendUint16(dst, uint16(h.Attributes))
	dst = be.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = be.AppendUint64(dst, uint64(h.BaseTimestamp))
	dst = be.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = be.AppendUint64(dst, uint64(h.ProducerID))
	dst = be.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(h.BaseSequence))
	dst = be.AppendUint32(dst, uint32(h.RecordCount))
	return dst
}

// SetBaseOffset overwrites the baseOffset of the batch at the start of b in
// place. The field is outside the CRC range, so the batch stays valid. It
// panics if len(b) < 8, like any out-of-range slice index: that is a caller
// bug, not an input condition.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the partitionLeaderEpoch of the batch at
// the start of b in place. The field is outside the CRC range, so the batch
// stays valid. It panics if len(b) < 16, like SetBaseOffset.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(epoch))
}

// SetProducer stamps an idempotent producer's id, epoch and base sequence on
// a whole batch and recomputes its CRC (these fields are inside the CRC
// range). A producer stamps a batch once, before its first send; retries
// resend the same bytes, which is what lets the broker recognise them.
func SetProducer(b []byte, producerID int64, producerEpoch int16, baseSequence int32) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if len(b) < h.Size() {
		return fmt.Errorf("%w: batch of %d bytes holds %d", ErrTruncated, h.Size(), len(b))
	}
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(producerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(baseSequence))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b[:h.Size()]))
	return nil
}
