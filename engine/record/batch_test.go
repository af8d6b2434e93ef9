package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTripHeaderFields(t *testing.T) {
	want := &Batch{Header: Header{
		BaseOffset:           0x0102030405060708,
		PartitionLeaderEpoch: -7,
		Magic:                Magic,
		Attributes:           AttrTimestampType | AttrTransactional | AttrControl | 0x7f00,
		LastOffsetDelta:      math.MaxInt32,
		BaseTimestamp:        math.MinInt64,
		MaxTimestamp:         math.MaxInt64,
		ProducerID:           -1,
		ProducerEpoch:        math.MinInt16,
		BaseSequence:         math.MaxInt32,
	}}
	enc := Encode(nil, want)
	if len(enc) != HeaderSize {
		t.Fatalf("empty batch is %d bytes, want %d", len(enc), HeaderSize)
	}
	// Check the fixed layout byte for byte rather than only through our own
	// decoder, so a symmetric mistake in both directions cannot hide.
	be := binary.BigEndian
	for _, c := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"baseOffset", be.Uint64(enc[0:]), 0x0102030405060708},
		{"batchLength", uint64(be.Uint32(enc[8:])), 49},
		{"partitionLeaderEpoch", uint64(be.Uint32(enc[12:])), uint64(uint32(0xfffffff9))},
		{"magic", uint64(enc[16]), 2},
		{"crc", uint64(be.Uint32(enc[17:])), uint64(Checksum(enc))},
		{"attributes", uint64(be.Uint16(enc[21:])), 0x7f38},
		{"lastOffsetDelta", uint64(be.Uint32(enc[23:])), math.MaxInt32},
		{"baseTimestamp", be.Uint64(enc[27:]), 1 << 63},
		{"maxTimestamp", be.Uint64(enc[35:]), math.MaxInt64},
		{"producerId", be.Uint64(enc[43:]), math.MaxUint64},
		{"producerEpoch", uint64(be.Uint16(enc[51:])), 0x8000},
		{"baseSequence", uint64(be.Uint32(enc[53:])), math.MaxInt32},
		{"recordCount", uint64(be.Uint32(enc[57:])), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, got, want)
	if got.BatchLength != 49 || got.RecordCount != 0 || got.CRC != Checksum(enc) {
		t.Fatalf("computed fields: %+v", got.Header)
	}
	if got.Size() != HeaderSize {
		t.Fatalf("Size %d", got.Size())
	}
}

func TestRoundTripRecordFields(t *testing.T) {
	recs := []Record{
		{}, // null key, null value, no headers
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("k"), Value: nil},
		{Key: nil, Value: []byte("v")},
		{Attributes: -1, TimestampDelta: -1, OffsetDelta: -1},
		{TimestampDelta: math.MinInt64, OffsetDelta: math.MinInt32},
		{TimestampDelta: math.MaxInt64, OffsetDelta: math.MaxInt32},
		{TimestampDelta: -1 << 40, OffsetDelta: 1 << 20, Key: bytes.Repeat([]byte{0xab}, 300)},
		{Value: bytes.Repeat([]byte{0xcd}, 70000)}, // 3-byte length varints
		{Headers: []RecordHeader{
			{Key: "null", Value: nil},
			{Key: "empty", Value: []byte{}},
			{Key: "", Value: []byte("empty key")},
			{Key: "k\x00\xff", Value: []byte{0, 1, 2}},
		}},
	}
	want := &Batch{Header: Header{Magic: Magic}, Records: recs}
	enc := Encode(nil, want)
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, got, want)

	// The null/empty split must be visible on the wire, not just survive
	// our own round trip: -1 is zigzag 0x01, 0 is 0x00.
	one := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: []Record{{Key: []byte{}}}})
	rec := one[HeaderSize:]
	// length, attrs, tsDelta, offsetDelta, keyLen, valueLen, headerCount
	if wantRec := []byte{6 << 1, 0, 0, 0, 0x00, 0x01, 0}; !bytes.Equal(rec, wantRec) {
		t.Fatalf("record bytes % x, want % x", rec, wantRec)
	}
}

func TestRoundTripManyRecords(t *testing.T) {
	want := &Batch{Header: Header{Magic: Magic, LastOffsetDelta: 9999}}
	for i := range 10000 {
		want.Records = append(want.Records, Record{
			OffsetDelta:    int32(i),
			TimestampDelta: int64(i) * 3,
			Key:            []byte{byte(i), byte(i >> 8)},
			Value:          bytes.Repeat([]byte{byte(i)}, i%50),
		})
	}
	enc := Encode(nil, want)
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, got, want)
}

func TestRoundTripRandom(t *testing.T) {
	r := newRand(t)
	for i := range 500 {
		want := randBatch(r, 20)
		prefix := []byte("prefix")
		enc := Encode(prefix, want)
		if !bytes.Equal(enc[:len(prefix)], []byte("prefix")) {
			t.Fatal("Encode clobbered dst")
		}
		enc = enc[len(prefix):]
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		checkBatch(t, got, want)
		if again := Encode(nil, got); !bytes.Equal(again, enc) {
			t.Fatalf("batch %d: re-encoding differs", i)
		}
	}
}

func TestDecodeIgnoresBytesAfterBatch(t *testing.T) {
	a := Encode(nil, &Batch{Header: Header{Magic: Magic, BaseOffset: 1}, Records: []Record{{Value: []byte("a")}}})
	b := Encode(nil, &Batch{Header: Header{Magic: Magic, BaseOffset: 2}, Records: []Record{{Value: []byte("b")}}})
	seg := append(append([]byte{}, a...), b...)
	got, err := Decode(seg)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseOffset != 1 || got.Size() != len(a) || string(got.Records[0].Value) != "a" {
		t.Fatalf("got %+v", got)
	}
	got, err = Decode(seg[got.Size():])
	if err != nil || got.BaseOffset != 2 {
		t.Fatalf("second batch: %+v, %v", got, err)
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: []Record{
		{Key: []byte("key"), Value: []byte("value"), Headers: []RecordHeader{{Key: "h", Value: []byte("hv")}}},
	}})
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	rec := got.Records[0]
	if cap(rec.Key) != len(rec.Key) || cap(rec.Value) != len(rec.Value) {
		t.Fatalf("capacity not clipped: key %d/%d value %d/%d", len(rec.Key), cap(rec.Key), len(rec.Value), cap(rec.Value))
	}
	i := bytes.Index(enc, []byte("value"))
	enc[i] = 'V'
	if string(rec.Value) != "Value" {
		t.Fatalf("Value %q does not alias the input", rec.Value)
	}
	// Appending to a decoded key must not write into the value behind it.
	_ = append(rec.Key, 'X')
	if string(rec.Value) != "Value" {
		t.Fatal("append to Key overwrote Value")
	}
}

func TestHeaderAccessors(t *testing.T) {
	h := Header{BaseOffset: 100, BatchLength: 49, LastOffsetDelta: 4}
	if h.Size() != 61 || h.LastOffset() != 104 || h.NextOffset() != 105 {
		t.Fatalf("Size %d LastOffset %d NextOffset %d", h.Size(), h.LastOffset(), h.NextOffset())
	}
	for _, c := range []struct {
		a             Attributes
		comp          Compression
		ts            TimestampType
		txn, ctrl     bool
		compressionOK string
	}{
		{0, None, TimestampCreateTime, false, false, "none"},
		{1, Gzip, TimestampCreateTime, false, false, "gzip"},
		{2 | 8, Snappy, TimestampLogAppendTime, false, false, "snappy"},
		{3 | 0x10, LZ4, TimestampCreateTime, true, false, "lz4"},
		{4 | 0x20, Zstd, TimestampCreateTime, false, true, "zstd"},
		{7 | 0x38, 7, TimestampLogAppendTime, true, true, "compression(7)"},
	} {
		if c.a.Compression() != c.comp || c.a.TimestampType() != c.ts || c.a.IsTransactional() != c.txn || c.a.IsControl() != c.ctrl {
			t.Errorf("attributes %#x: %v %v %v %v", uint16(c.a), c.a.Compression(), c.a.TimestampType(), c.a.IsTransactional(), c.a.IsControl())
		}
		if s := c.a.Compression().String(); s != c.compressionOK {
			t.Errorf("String %q, want %q", s, c.compressionOK)
		}
	}
}

func TestSetBaseOffsetAndEpoch(t *testing.T) {
	r := newRand(t)
	for range 50 {
		enc := Encode(nil, randBatch(r, 5))
		before, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		orig := append([]byte(nil), enc...)
		off, epoch := interesting64(r), interesting32(r)
		SetBaseOffset(enc, off)
		SetPartitionLeaderEpoch(enc, epoch)
		h, err := Verify(enc)
		if err != nil {
			t.Fatalf("Verify after patch: %v", err)
		}
		want := before.Header
		want.BaseOffset, want.PartitionLeaderEpoch = off, epoch
		if h != want {
			t.Fatalf("header\n got %+v\nwant %+v", h, want)
		}
		// Only bytes [0,8) and [12,16) may differ.
		for i := range enc {
			if (i < 8 || (i >= 12 && i < 16)) || enc[i] == orig[i] {
				continue
			}
			t.Fatalf("byte %d changed", i)
		}
	}
}

func TestChecksum(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: []Record{{Value: []byte("x")}}})
	want := binary.BigEndian.Uint32(enc[offCRC:])
	if got := Checksum(enc); got != want {
		t.Fatalf("Checksum %#x, want %#x", got, want)
	}
	// Trailing data after the batch is excluded via batchLength.
	if got := Checksum(append(enc[:len(enc):len(enc)], 1, 2, 3)); got != want {
		t.Fatalf("Checksum with trailing bytes %#x, want %#x", got, want)
	}
	for n := range offAttributes + 1 {
		if got := Checksum(enc[:n]); got != 0 {
			t.Fatalf("Checksum of %d bytes = %#x", n, got)
		}
	}
}

func TestVerifyDetectsEveryFlippedBit(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic, ProducerID: 5}, Records: []Record{
		{Key: []byte("k"), Value: []byte("some value"), Headers: []RecordHeader{{Key: "h", Value: []byte("v")}}},
	}})
	for i := offCRC; i < len(enc); i++ {
		for bit := range 8 {
			b := append([]byte(nil), enc...)
			b[i] ^= 1 << bit
			_, err := Verify(b)
			if !errors.Is(err, ErrChecksum) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d: %v", i, bit, err)
			}
			if _, err := Decode(b); !errors.Is(err, ErrChecksum) {
				t.Fatalf("Decode byte %d bit %d: %v", i, bit, err)
			}
		}
	}
	// Bytes outside the CRC range other than magic and length are not
	// covered, by design.
	for _, i := range []int{0, 7, 12, 15} {
		b := append([]byte(nil), enc...)
		b[i] ^= 0xff
		if _, err := Verify(b); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
}

func TestBadMagic(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}})
	for _, m := range []int8{0, 1, 3, -1} {
		b := append([]byte(nil), enc...)
		b[offMagic] = byte(m)
		for name, f := range map[string]func([]byte) error{
			"ParseHeader": func(b []byte) error { _, err := ParseHeader(b); return err },
			"Verify":      func(b []byte) error { _, err := Verify(b); return err },
			"Decode":      func(b []byte) error { _, err := Decode(b); return err },
		} {
			if err := f(b); !errors.Is(err, ErrBadMagic) || !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) {
				t.Errorf("%s magic %d: %v", name, m, err)
			}
		}
	}
	// Encode writes Magic as given.
	if b := Encode(nil, &Batch{}); b[offMagic] != 0 {
		t.Fatal("Encode rewrote magic")
	}
}

func TestBadLength(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}})
	for _, l := range []int32{math.MinInt32, -1, 0, HeaderSize - LengthFieldEnd - 1, MaxBatchSize - LengthFieldEnd + 1, math.MaxInt32} {
		b := append([]byte(nil), enc...)
		binary.BigEndian.PutUint32(b[offBatchLength:], uint32(l))
		if _, err := ParseHeader(b); !errors.Is(err, ErrBadLength) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("ParseHeader length %d: %v", l, err)
		}
		if _, err := Verify(b); !errors.Is(err, ErrBadLength) {
			t.Errorf("Verify length %d: %v", l, err)
		}
	}
	// The largest legal length parses; the buffer is then merely short.
	b := append([]byte(nil), enc...)
	binary.BigEndian.PutUint32(b[offBatchLength:], MaxBatchSize-LengthFieldEnd)
	h, err := ParseHeader(b)
	if err != nil || h.Size() != MaxBatchSize {
		t.Fatalf("max length: %v, size %d", err, h.Size())
	}
	if _, err := Verify(b); !errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify max length on short buffer: %v", err)
	}
}

func TestTruncatedAtEveryLength(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: []Record{
		{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("second")},
	}})
	for n := range len(enc) {
		b := enc[:n:n]
		if n < HeaderSize {
			if _, err := ParseHeader(b); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ParseHeader len %d: %v", n, err)
			}
		}
		_, err := Verify(b)
		if !errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("Verify len %d: %v", n, err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Decode len %d: %v", n, err)
		}
		if err := ForEachRecord(b, func(Record) error { return nil }); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ForEachRecord len %d: %v", n, err)
		}
	}
}

func TestRecordCountMismatch(t *testing.T) {
	// Values long enough that a count of 4 passes the cheap bytes-per-record
	// bound and the decoder has to run out of records to notice.
	v := bytes.Repeat([]byte("v"), 20)
	recs := []Record{{Value: v}, {Value: v}, {Value: v}}
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: recs})
	for _, count := range []int32{0, 2, 4, -1, math.MaxInt32, math.MinInt32} {
		b := append([]byte(nil), enc...)
		binary.BigEndian.PutUint32(b[offRecordCount:], uint32(count))
		fixup(b)
		if _, err := Verify(b); err != nil {
			t.Fatalf("count %d: Verify: %v", count, err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("count %d: Decode: %v", count, err)
		}
		if err := ForEachRecord(b, func(Record) error { return nil }); !errors.Is(err, ErrMalformed) {
			t.Errorf("count %d: ForEachRecord: %v", count, err)
		}
	}
}

func TestTrailingGarbageInsideBatch(t *testing.T) {
	enc := Encode(nil, &Batch{Header: Header{Magic: Magic}, Records: []Record{{Value: []byte("a")}}})
	for _, garbage := range [][]byte{{0}, {1, 2, 3}, make([]byte, 100)} {
		b := fixup(append(append([]byte(nil), enc...), garbage...))
		if _, err := Verify(b); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("garbage % x: %v", garbage, err)
		}
	}
}

// TestMalformedRecords feeds hand-written record bytes through a batch with a
// valid header and CRC.
func TestMalformedRecords(t *testing.T) {
	ok := []byte{6 << 1, 0, 0, 0, 1, 1, 0} // minimal record: null key/value
	if _, err := Decode(rawBatch(1, ok)); err != nil {
		t.Fatalf("minimal record: %v", err)
	}
	// Each record is at least 7 bytes so that the cheap record-count bound
	// passes and the record decoder itself has to find the problem; want is
	// a fragment of the detail, to prove which check fired.
	for _, c := range []struct {
		name, want string
		rec        []byte
	}{
		{"empty record", "empty record", []byte{0, 0, 0, 0, 0, 0, 0}},
		{"negative record length", "record length: length -1", []byte{1, 0, 0, 0, 1, 1, 0}},
		{"record length past batch", "record length: length 7 exceeds", []byte{7 << 1, 0, 0, 0, 1, 1, 0}},
		{"record length short of fields", "headerCount: varint runs past end", []byte{5 << 1, 0, 0, 0, 1, 1, 0}},
		{"record length beyond fields", "1 trailing bytes in record", []byte{7 << 1, 0, 0, 0, 1, 1, 0, 0}},
		{"non-minimal record length", "record length: non-minimal varint", []byte{0x8c, 0x00, 0, 0, 0, 1, 1, 0}},
		{"non-minimal timestampDelta", "timestampDelta: non-minimal varint", []byte{7 << 1, 0, 0x80, 0x00, 0, 1, 1, 0}},
		{"timestampDelta overflows 64 bits", "timestampDelta: varint overflows 64 bits", []byte{15 << 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 1, 1, 0}},
		{"offsetDelta overflows int32", "offsetDelta: 2147483648 overflows int32", []byte{10 << 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1, 0}},
		{"key length -2", "key: length -2", []byte{6 << 1, 0, 0, 0, 3, 1, 0}},
		{"key length past record", "key: length 3 exceeds remaining 2", []byte{6 << 1, 0, 0, 0, 6, 1, 0}},
		{"huge key length", "key: length 2147483647 exceeds", []byte{10 << 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 0}},
		{"value length -2", "value: length -2", []byte{6 << 1, 0, 0, 0, 1, 3, 0}},
		{"value length past record", "value: length 2 exceeds", []byte{6 << 1, 0, 0, 0, 1, 4, 0}},
		{"negative header count", "headerCount -1", []byte{6 << 1, 0, 0, 0, 1, 1, 1}},
		{"header count past record", "headerCount 1 with 0 bytes", []byte{6 << 1, 0, 0, 0, 1, 1, 2}},
		{"huge header count", "headerCount 2147483647", []byte{10 << 1, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{"null header key", "header key: length -1", []byte{8 << 1, 0, 0, 0, 1, 1, 2, 1, 1}},
		{"header value -2", "header value: length -2", []byte{8 << 1, 0, 0, 0, 1, 1, 2, 0, 3}},
		{"varint runs past record", "offsetDelta: varint runs past end", []byte{3 << 1, 0, 0, 0x80, 0, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, b := range [][]byte{rawBatch(1, c.rec), rawBatch(2, ok, c.rec)} {
				_, err := Decode(b)
				if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Decode: %v", err)
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Decode: %v, want detail %q", err, c.want)
				}
			}
		})
	}
}

func TestDecodeAllocationBounded(t *testing.T) {
	// A record count of 2^31-1 and a header count of 2^31-1 in a small
	// batch must be rejected without allocating for the claimed counts.
	hugeHeaders := []byte{10 << 1, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}
	inputs := [][]byte{
		rawBatch(math.MaxInt32, bytes.Repeat([]byte{6 << 1, 0, 0, 0, 1, 1, 0}, 100)),
		rawBatch(1, hugeHeaders),
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("input %d: %v", i, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Fatalf("input %d (%d bytes) allocated %d bytes", i, len(in), n)
		}
	}
}

func TestCompressedBatch(t *testing.T) {
	for _, c := range []Compression{Gzip, Snappy, LZ4, Zstd, 5, 7} {
		b := Encode(nil, &Batch{Header: Header{Magic: Magic, Attributes: Attributes(c)}, Records: []Record{{Value: []byte("x")}}})
		if _, err := Verify(b); err != nil {
			t.Fatalf("%v: Verify: %v", c, err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrUnsupportedCompression) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: Decode: %v", c, err)
		}
		if err := ForEachRecord(b, func(Record) error { return nil }); !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("%v: ForEachRecord: %v", c, err)
		}
	}
}

func TestForEachRecord(t *testing.T) {
	want := &Batch{Header: Header{Magic: Magic}}
	for i := range 10 {
		want.Records = append(want.Records, Record{OffsetDelta: int32(i), Value: []byte{byte(i)}})
	}
	enc := Encode(nil, want)
	var got []Record
	if err := ForEachRecord(enc, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	h, err := Verify(enc)
	if err != nil {
		t.Fatal(err)
	}
	checkBatch(t, &Batch{Header: h, Records: got}, want)

	stop := errors.New("stop")
	calls := 0
	err = ForEachRecord(enc, func(r Record) error {
		calls++
		if r.OffsetDelta == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 4 {
		t.Fatalf("err %v after %d calls, want stop after 4", err, calls)
	}
}
