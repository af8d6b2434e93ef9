package record

import (
	"encoding/binary"
	"math"
)

// minRecordSize is the smallest encoded record: a one-byte length, the
// attributes byte and five one-byte varints (timestampDelta, offsetDelta,
// keyLength, valueLength, headerCount).
const minRecordSize = 7 // format

// minHeaderSize is the smallest encoded record header: one-byte key and value
// lengths.
const minHeaderSize = 2 // format

// RecordHeader is a record's key/value header. A nil Value is encoded as null
// (-1); an empty non-nil Value as zero-length.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a batch. Key and Value distinguish nil (null, encoded
// as length -1) from empty (zero length).
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil = null key (encoded -1); empty non-nil = zero-length key
	Value          []byte // nil = null value
	Headers        []RecordHeader
}

// varintLen returns the encoded size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v)<<1 ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// bytesLen returns the encoded size of a nullable varint-length byte string.
func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bodyLen returns the encoded size of r after its length prefix.
func (r *Record) bodyLen() int {
	n := 1 + varintLen(r.TimestampDelta) + varintLen(int64(r.OffsetDelta)) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// encodedLen returns the full encoded size of r, length prefix included.
func (r *Record) encodedLen() int {
	n := r.bodyLen()
	return varintLen(int64(n)) + n
}

// appendRecord appends the encoding of r, length prefix included.
func appendRecord(dst []byte, r *Record) []byte {
	dst = binary.AppendVarint(dst, int64(r.bodyLen()))
	return appendRecordBody(dst, r.Attributes, r.TimestampDelta, r.OffsetDelta, r.Key, r.Value, r.Headers)
}

// appendRecordBody appends everything after the length prefix. It takes the
// fields separately so the Builder can encode without building a Record.
func appendRecordBody(dst []byte, attrs int8, tsDelta int64, offDelta int32, key, value []byte, headers []RecordHeader) []byte {
	dst = append(dst, byte(attrs))
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = binary.AppendVarint(dst, int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// reader is a cursor over one record's bytes. Any failure is reported as
// ErrMalformed: by the time records are parsed the batch has passed its CRC
// and length checks, so running short inside it is corruption, not a torn
// tail.
type reader struct {
	b   []byte
	off int
}

func (r *reader) remaining() int { return len(r.b) - r.off }

// varlong reads a zigzag varint and insists on the canonical (shortest)
// encoding, so that decoded batches re-encode to identical bytes.
func (r *reader) varlong(field string) (int64, error) {
	v, n := binary.Varint(r.b[r.off:])
	switch {
	case n == 0:
		return 0, malformed("%s: varint runs past end of record at byte %d", field, r.off)
	case n < 0:
		return 0, malformed("%s: varint overflows 64 bits at byte %d", field, r.off)
	case n > 1 && r.b[r.off+n-1] == 0:
		// A trailing zero group adds nothing: the encoding is padded.
		return 0, malformed("%s: non-minimal varint at byte %d", field, r.off)
	}
	r.off += n
	return v, nil
}

// varint reads a varlong that must fit an int32, as Kafka's int32 varints do.
func (r *reader) varint(field string) (int32, error) {
	v, err := r.varlong(field)
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, malformed("%s: %d overflows int32", field, v)
	}
	return int32(v), nil
}

// length reads a length prefix that must be in [minLen, remaining]; -1 is
// allowed only when minLen is -1. A length beyond the remaining bytes is rejected
// before anything is sliced or allocated.
func (r *reader) length(field string, minLen int32) (int, error) {
	n, err := r.varint(field)
	if err != nil {
		return 0, err
	}
	if n < minLen {
		return 0, malformed("%s: length %d", field, n)
	}
	if int(n) > r.remaining() {
		return 0, malformed("%s: length %d exceeds remaining %d bytes", field, n, r.remaining())
	}
	return int(n), nil
}

// bytes reads a nullable length-prefixed byte string, aliasing r.b. The
// capacity is clipped so that appending to the result cannot overwrite the
// bytes that follow it in the batch.
func (r *reader) bytes(field string) ([]byte, error) {
	n, err := r.length(field, -1)
	if err != nil || n < 0 {
		return nil, err
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v, nil
}

// decodeRecord decodes the record at the start of b and returns it with the
// number of bytes it occupied. Key, Value and header values alias b; header
// keys are copied (they are strings).
func decodeRecord(b []byte) (Record, int, error) {
	var rec Record
	lr := reader{b: b}
	n, err := lr.length("record length", 0)
	if err != nil {
		return rec, 0, err
	}
	total := lr.off + n
	r := reader{b: b[lr.off:total]}
	if r.remaining() < 1 {
		return rec, 0, malformed("record attributes: empty record")
	}
	rec.Attributes = int8(r.b[0])
	r.off++
	if rec.TimestampDelta, err = r.varlong("timestampDelta"); err != nil {
		return rec, 0, err
	}
	if rec.OffsetDelta, err = r.varint("offsetDelta"); err != nil {
		return rec, 0, err
	}
	if rec.Key, err = r.bytes("key"); err != nil {
		return rec, 0, err
	}
	if rec.Value, err = r.bytes("value"); err != nil {
		return rec, 0, err
	}
	count, err := r.varint("headerCount")
	if err != nil {
		return rec, 0, err
	}
	// Bound the allocation by what the remaining bytes could hold.
	if count < 0 || int(count) > r.remaining()/minHeaderSize {
		return rec, 0, malformed("headerCount %d with %d bytes left", count, r.remaining())
	}
	if count > 0 {
		rec.Headers = make([]RecordHeader, count)
		for i := range rec.Headers {
			h := &rec.Headers[i]
			kl, err := r.length("header key", 0)
			if err != nil {
				return rec, 0, err
			}
			h.Key = string(r.b[r.off : r.off+kl])
			r.off += kl
			if h.Value, err = r.bytes("header value"); err != nil {
				return rec, 0, err
			}
		}
	}
	if r.remaining() != 0 {
		return rec, 0, malformed("%d trailing bytes in record of length %d", r.remaining(), n)
	}
	return rec, total, nil
}
