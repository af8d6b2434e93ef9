package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// castagnoli is the CRC-32C table. crc32 uses the SSE4.2/ARMv8 instructions
// for this polynomial, which is why Kafka chose it for v2.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch is a decoded batch: its header and its records.
type Batch struct {
	Header
	Records []Record
}

// Checksum computes the CRC-32C the header of the batch at the start of b
// should carry: over the bytes from the attributes field to the end of the
// batch. The end is taken from b's batchLength field when that lies within b,
// and is the end of b otherwise (so b may be followed by further batches, or
// be a batch whose length field is not filled in yet). It returns 0 when b is
// too short to reach the attributes field.
func Checksum(b []byte) uint32 {
	if len(b) <= offAttributes {
		return 0
	}
	end := len(b)
	if n := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + LengthFieldEnd; n >= offAttributes && n <= int64(len(b)) {
		end = int(n)
	}
	return crc32.Checksum(b[offAttributes:end], castagnoli)
}

// Verify checks the batch at the start of b without decoding its records:
// ParseHeader, then that b holds all h.Size() bytes (else ErrTruncated), then
// the CRC (else ErrChecksum). Bytes of b past h.Size() are ignored; they are
// typically the next batch.
func Verify(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if len(b) < h.Size() {
		return h, fmt.Errorf("%w: batch declares %d bytes, have %d", ErrTruncated, h.Size(), len(b))
	}
	if got := crc32.Checksum(b[offAttributes:h.Size()], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: header says %#08x, computed %#08x", ErrChecksum, h.CRC, got)
	}
	return h, nil
}

// Decode verifies the batch at the start of b (see Verify) and decodes all of
// its records. The number of records must equal RecordCount and they must
// exactly fill the batch, else ErrMalformed. A compressed batch yields
// ErrUnsupportedCompression. Record keys, values and header values alias b;
// header keys are copied. Bytes of b past the batch are ignored.
func Decode(b []byte) (*Batch, error) {
	h, body, err := verifyRecords(b)
	if err != nil {
		return nil, err
	}
	// verifyRecords bounded RecordCount by len(body)/minRecordSize, so a
	// lying count cannot make this allocation larger than the input.
	batch := &Batch{Header: h}
	if h.RecordCount > 0 {
		batch.Records = make([]Record, 0, h.RecordCount)
	}
	err = eachRecord(h, body, func(r Record) error {
		batch.Records = append(batch.Records, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

// ForEachRecord verifies the batch at the start of b like Decode and calls fn
// with each record in order, without building a slice of them. Records alias
// b as in Decode. It stops at, and returns unchanged, the first error fn
// returns. Structural errors found after some records were delivered (a short
// record count, trailing bytes) are still returned, so a caller that must not
// act on a bad batch should buffer until ForEachRecord returns nil.
func ForEachRecord(b []byte, fn func(Record) error) error {
	h, body, err := verifyRecords(b)
	if err != nil {
		return err
	}
	return eachRecord(h, body, fn)
}

// verifyRecords runs Verify and the cheap checks that must pass before any
// record is decoded. It returns the header and the records section.
func verifyRecords(b []byte) (Header, []byte, error) {
	h, err := Verify(b)
	if err != nil {
		return h, nil, err
	}
	if c := h.Attributes.Compression(); c != None {
		return h, nil, fmt.Errorf("%w: %v (attributes %#04x)", ErrUnsupportedCompression, c, uint16(h.Attributes))
	}
	body := b[HeaderSize:h.Size()]
	if h.RecordCount < 0 || int(h.RecordCount) > len(body)/minRecordSize {
		return h, nil, malformed("recordCount %d cannot fit in %d bytes of records", h.RecordCount, len(body))
	}
	return h, body, nil
}

func eachRecord(h Header, body []byte, fn func(Record) error) error {
	off := 0
	for i := int32(0); i < h.RecordCount; i++ {
		if off == len(body) {
			return malformed("recordCount %d but batch holds %d records", h.RecordCount, i)
		}
		rec, n, err := decodeRecord(body[off:])
		if err != nil {
			return fmt.Errorf("%w (record %d at batch byte %d)", err, i, HeaderSize+off)
		}
		off += n
		if err := fn(rec); err != nil {
			return err
		}
	}
	if off != len(body) {
		return malformed("%d trailing bytes after %d records", len(body)-off, h.RecordCount)
	}
	return nil
}

// Encode appends the encoding of b to dst and returns the extended slice. It
// computes BatchLength, RecordCount (len(b.Records)) and CRC; every other
// header field, Magic included, is written exactly as given, so the caller
// must set Magic to Magic for the result to verify. Encode does not check
// limits: a batch larger than MaxBatchSize encodes but will not verify.
func Encode(dst []byte, b *Batch) []byte {
	size := HeaderSize
	for i := range b.Records {
		size += b.Records[i].encodedLen()
	}
	dst = slices.Grow(dst, size)
	start := len(dst)
	h := b.Header
	h.BatchLength = int32(size - LengthFieldEnd)
	h.RecordCount = int32(len(b.Records))
	h.CRC = 0
	dst = appendHeader(dst, &h)
	for i := range b.Records {
		dst = appendRecord(dst, &b.Records[i])
	}
	binary.BigEndian.PutUint32(dst[start+offCRC:], crc32.Checksum(dst[start+offAttributes:], castagnoli))
	return dst
}
