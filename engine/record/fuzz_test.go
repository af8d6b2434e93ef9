package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// checkDecode asserts the decoder's contract on arbitrary input: no panic, a
// known error class, agreement between Verify, Decode and ForEachRecord, and
// that anything accepted re-encodes to exactly the input bytes.
func checkDecode(t *testing.T, data []byte) {
	h, verr := Verify(data)
	batch, err := Decode(data)
	n := 0
	ferr := ForEachRecord(data, func(Record) error { n++; return nil })
	if err != nil {
		if batch != nil {
			t.Fatalf("Decode returned a batch and %v", err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("unclassified error %v", err)
		}
		if ferr == nil || ferr.Error() != err.Error() {
			t.Fatalf("ForEachRecord: %v, Decode: %v", ferr, err)
		}
		if verr != nil && verr.Error() != err.Error() {
			t.Fatalf("Verify: %v, Decode: %v", verr, err)
		}
		return
	}
	if verr != nil || ferr != nil {
		t.Fatalf("Decode ok but Verify: %v, ForEachRecord: %v", verr, ferr)
	}
	if batch.Header != h || n != len(batch.Records) || int(h.RecordCount) != n {
		t.Fatalf("header %+v vs %+v, %d/%d records", batch.Header, h, n, len(batch.Records))
	}
	if enc := Encode(nil, batch); !bytes.Equal(enc, data[:h.Size()]) {
		t.Fatalf("re-encoding differs\n got % x\nwant % x", enc, data[:h.Size()])
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// Random mutations almost never carry a matching CRC, which would
		// keep the fuzzer out of the record decoder. Also try the input
		// with its CRC made valid.
		if h, err := ParseHeader(data); err == nil && len(data) >= h.Size() {
			fixed := append([]byte(nil), data...)
			binary.BigEndian.PutUint32(fixed[offCRC:], Checksum(fixed))
			checkDecode(t, fixed)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if len(data) < HeaderSize {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%d bytes: %v", len(data), err)
			}
			return
		}
		// Whatever the verdict, the fields are the bytes as read.
		if got := appendHeader(nil, &h); !bytes.Equal(got, data[:HeaderSize]) {
			t.Fatalf("fields do not re-encode\n got % x\nwant % x", got, data[:HeaderSize])
		}
		switch {
		case h.Magic != Magic:
			if !errors.Is(err, ErrBadMagic) {
				t.Fatalf("magic %d: %v", h.Magic, err)
			}
		case h.Size() < HeaderSize || h.Size() > MaxBatchSize:
			if !errors.Is(err, ErrBadLength) {
				t.Fatalf("size %d: %v", h.Size(), err)
			}
		default:
			if err != nil {
				t.Fatalf("valid header rejected: %v", err)
			}
			vh, verr := Verify(data)
			if vh != h {
				t.Fatalf("Verify header %+v, ParseHeader %+v", vh, h)
			}
			if len(data) < h.Size() && !errors.Is(verr, ErrTruncated) {
				t.Fatalf("short batch: %v", verr)
			}
		}
	})
}

// fuzzSeeds are the in-code seeds; testdata/fuzz holds the same kinds of
// input as checked-in files.
func fuzzSeeds() [][]byte {
	full := Encode(nil, &Batch{Header: Header{Magic: Magic, BaseOffset: 10, ProducerID: -1}, Records: []Record{
		{Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: nil}, {Key: "", Value: []byte{}}}},
		{TimestampDelta: -3, OffsetDelta: 1, Key: []byte{}},
	}})
	b := NewBuilder(DefaultBuilderOptions())
	b.Append(1700000000000, nil, []byte("hello"), nil)
	b.Append(1700000000005, []byte("key"), bytes.Repeat([]byte{'x'}, 200), nil)
	badCRC := append([]byte(nil), full...)
	badCRC[len(badCRC)-1] ^= 1
	return [][]byte{
		Encode(nil, &Batch{Header: Header{Magic: Magic}}),
		full,
		b.Build(),
		full[:len(full)-5],
		badCRC,
	}
}
