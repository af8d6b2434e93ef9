package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// newRand returns a seeded generator and logs the seed; set RECORD_SEED to
// replay a failure.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RECORD_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RECORD_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with RECORD_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// interesting64 picks values that stress varint widths and signs.
func interesting64(r *rand.Rand) int64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return int64(r.IntN(128)) - 64
	case 2:
		return math.MinInt64
	case 3:
		return math.MaxInt64
	case 4:
		return -int64(r.Uint64() >> r.IntN(64))
	default:
		return int64(r.Uint64() >> r.IntN(64))
	}
}

func interesting32(r *rand.Rand) int32 {
	switch r.IntN(6) {
	case 0:
		return math.MinInt32
	case 1:
		return math.MaxInt32
	case 2:
		return -1
	default:
		return int32(r.Uint32() >> r.IntN(32))
	}
}

// randBytes returns nil, empty or random bytes, so both null and zero-length
// are exercised.
func randBytes(r *rand.Rand, maxLen int) []byte {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randRecord(r *rand.Rand) Record {
	rec := Record{
		Attributes:     int8(r.Uint32()),
		TimestampDelta: interesting64(r),
		OffsetDelta:    interesting32(r),
		Key:            randBytes(r, 40),
		Value:          randBytes(r, 300),
	}
	if n := r.IntN(4); n > 0 {
		rec.Headers = make([]RecordHeader, n)
		for i := range rec.Headers {
			rec.Headers[i] = RecordHeader{Key: string(randBytes(r, 12)), Value: randBytes(r, 20)}
		}
	}
	return rec
}

// randBatch returns an uncompressed batch with random header fields and
// between 0 and maxRecords records.
func randBatch(r *rand.Rand, maxRecords int) *Batch {
	b := &Batch{Header: Header{
		BaseOffset:           interesting64(r),
		PartitionLeaderEpoch: interesting32(r),
		Magic:                Magic,
		Attributes:           Attributes(r.Uint32()) &^ AttrCompressionMask,
		LastOffsetDelta:      interesting32(r),
		BaseTimestamp:        interesting64(r),
		MaxTimestamp:         interesting64(r),
		ProducerID:           interesting64(r),
		ProducerEpoch:        int16(r.Uint32()),
		BaseSequence:         interesting32(r),
	}}
	n := r.IntN(maxRecords + 1)
	for range n {
		b.Records = append(b.Records, randRecord(r))
	}
	return b
}

// nilEq reports whether a and b are equal including the nil/empty split.
func nilEq(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// diffRecord describes how got differs from want, or returns "".
func diffRecord(got, want Record) string {
	switch {
	case got.Attributes != want.Attributes:
		return fmt.Sprintf("Attributes %d, want %d", got.Attributes, want.Attributes)
	case got.TimestampDelta != want.TimestampDelta:
		return fmt.Sprintf("TimestampDelta %d, want %d", got.TimestampDelta, want.TimestampDelta)
	case got.OffsetDelta != want.OffsetDelta:
		return fmt.Sprintf("OffsetDelta %d, want %d", got.OffsetDelta, want.OffsetDelta)
	case !nilEq(got.Key, want.Key):
		return fmt.Sprintf("Key %#v, want %#v", got.Key, want.Key)
	case !nilEq(got.Value, want.Value):
		return fmt.Sprintf("Value %#v, want %#v", got.Value, want.Value)
	case len(got.Headers) != len(want.Headers):
		return fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		g, w := got.Headers[i], want.Headers[i]
		if g.Key != w.Key || !nilEq(g.Value, w.Value) {
			return fmt.Sprintf("header %d = {%q %#v}, want {%q %#v}", i, g.Key, g.Value, w.Key, w.Value)
		}
	}
	return ""
}

// checkBatch fails t unless got has want's header fields (ignoring the
// computed BatchLength, RecordCount and CRC) and records.
func checkBatch(t testing.TB, got, want *Batch) {
	t.Helper()
	gh, wh := got.Header, want.Header
	gh.BatchLength, gh.RecordCount, gh.CRC = 0, 0, 0
	wh.BatchLength, wh.RecordCount, wh.CRC = 0, 0, 0
	if gh != wh {
		t.Fatalf("header\n got %+v\nwant %+v", gh, wh)
	}
	if int(got.RecordCount) != len(want.Records) || len(got.Records) != len(want.Records) {
		t.Fatalf("RecordCount %d, %d records, want %d", got.RecordCount, len(got.Records), len(want.Records))
	}
	for i := range want.Records {
		if d := diffRecord(got.Records[i], want.Records[i]); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
	}
}

// fixup rewrites the batchLength to len(b)-12 and the CRC to match, so tests
// can hand-edit a batch and still reach the checks after Verify.
func fixup(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LengthFieldEnd))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// rawBatch builds a batch around hand-written record bytes and a given record
// count, with valid length and CRC.
func rawBatch(count int32, records ...[]byte) []byte {
	b := Encode(nil, &Batch{Header: Header{Magic: Magic}})
	for _, r := range records {
		b = append(b, r...)
	}
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(count))
	return fixup(b)
}
