package record

import (
	"encoding/binary"
	"hash/crc32"
)

// BuilderOptions are the header fields a Builder copies into every batch it
// builds. Kafka uses -1 for "none" in the producer and leader-epoch fields,
// so the zero value is NOT the neutral choice: start from
// DefaultBuilderOptions.
type BuilderOptions struct {
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Attributes           Attributes
	PartitionLeaderEpoch int32
}

// DefaultBuilderOptions returns the options of a non-idempotent producer:
// ProducerID, ProducerEpoch, BaseSequence and PartitionLeaderEpoch -1, no
// attributes.
func DefaultBuilderOptions() BuilderOptions {
	return BuilderOptions{
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		PartitionLeaderEpoch: -1,
	}
}

// Builder builds an uncompressed batch incrementally, as a producer does.
// Records are encoded as they are appended, so SizeBytes is exact and Build is
// a copy plus a CRC. Record i gets OffsetDelta i and a TimestampDelta relative
// to the first record's timestamp. A Builder is not safe for concurrent use.
type Builder struct {
	opts  BuilderOptions
	buf   []byte // header placeholder followed by the encoded records
	n     int
	first int64
	maxTS int64
}

// NewBuilder returns a Builder that uses opts exactly as given (see
// DefaultBuilderOptions for the usual values).
func NewBuilder(opts BuilderOptions) *Builder {
	b := &Builder{opts: opts}
	b.Reset()
	return b
}

// Append adds a record. key, value and header values keep their nil (null)
// versus empty distinction. They are copied, so the caller may reuse them.
func (b *Builder) Append(timestampMs int64, key, value []byte, headers []RecordHeader) {
	if b.n == 0 {
		b.first, b.maxTS = timestampMs, timestampMs
	} else if timestampMs > b.maxTS {
		b.maxTS = timestampMs
	}
	r := Record{
		TimestampDelta: timestampMs - b.first,
		OffsetDelta:    int32(b.n),
		Key:            key,
		Value:          value,
		Headers:        headers,
	}
	b.init()
	b.buf = appendRecord(b.buf, &r)
	b.n++
}

// Len returns the number of records appended since the last Reset.
func (b *Builder) Len() int { return b.n }

// SizeBytes returns the exact size of the batch Build would return now.
func (b *Builder) SizeBytes() int { return max(len(b.buf), HeaderSize) }

// Build returns a fresh slice holding the finished batch: base offset 0,
// LastOffsetDelta Len()-1, BaseTimestamp the first record's timestamp and
// MaxTimestamp the largest (both -1, Kafka's "no timestamp", when there are no
// records), and the remaining fields from the options. The compression bits
// of the options' Attributes are cleared, because the Builder never
// compresses and a batch that claims a codec it does not use is corrupt. The
// Builder is unchanged and may keep appending.
func (b *Builder) Build() []byte {
	out := make([]byte, 0, len(b.buf))
	return b.finish(out)
}

// Take returns the finished batch in the builder's own buffer, without
// copying it, and resets the builder with a fresh buffer: for producers that
// seal a batch and never touch the builder's bytes again.
func (b *Builder) Take() []byte {
	b.init()
	out := b.finishInPlace()
	size := cap(out)
	b.buf = make([]byte, 0, size)
	b.Reset()
	return out
}

// finishInPlace writes the header over the reserved space in b.buf.
func (b *Builder) finishInPlace() []byte {
	h := b.header()
	out := appendHeader(b.buf[:0], &h)
	out = out[:len(b.buf)]
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

func (b *Builder) finish(out []byte) []byte {
	b.init()
	h := b.header()
	out = appendHeader(out, &h)
	out = append(out, b.buf[HeaderSize:]...)
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

func (b *Builder) header() Header {
	h := Header{
		BatchLength:          int32(len(b.buf) - LengthFieldEnd),
		PartitionLeaderEpoch: b.opts.PartitionLeaderEpoch,
		Magic:                Magic,
		Attributes:           b.opts.Attributes &^ AttrCompressionMask,
		LastOffsetDelta:      int32(b.n - 1),
		BaseTimestamp:        -1,
		MaxTimestamp:         -1,
		ProducerID:           b.opts.ProducerID,
		ProducerEpoch:        b.opts.ProducerEpoch,
		BaseSequence:         b.opts.BaseSequence,
		RecordCount:          int32(b.n),
	}
	if b.n > 0 {
		h.BaseTimestamp, h.MaxTimestamp = b.first, b.maxTS
	}
	return h
}

// Reset discards the appended records, keeping the buffer and options.
func (b *Builder) Reset() {
	b.buf = b.buf[:0]
	b.init()
	b.n = 0
	b.first, b.maxTS = 0, 0
}

// init reserves the header placeholder, which also makes a zero Builder
// (zero options, used as given) usable.
func (b *Builder) init() {
	if len(b.buf) < HeaderSize {
		b.buf = append(b.buf[:0], make([]byte, HeaderSize)...)
	}
}
