package record

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests check the format against an independent implementation,
// franz-go's kmsg, in both directions, so that a misreading of the Kafka
// format shared by our encoder and decoder cannot pass.

// splitRecords cuts kmsg's raw records section into individual records using
// each one's varint length prefix.
func splitRecords(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		l, n := binary.Varint(b)
		if n <= 0 || l < 0 || int64(len(b)-n) < l {
			t.Fatalf("bad record length prefix in % x", b[:min(len(b), 10)])
		}
		out = append(out, b[:n+int(l)])
		b = b[n+int(l):]
	}
	return out
}

func TestKmsgDecodesOurBatches(t *testing.T) {
	r := newRand(t)
	for i := range 300 {
		want := randBatch(r, 15)
		enc := Encode(nil, want)

		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(enc); err != nil {
			t.Fatalf("batch %d: kmsg: %v", i, err)
		}
		h := want.Header
		if kb.FirstOffset != h.BaseOffset ||
			int(kb.Length) != len(enc)-LengthFieldEnd ||
			kb.PartitionLeaderEpoch != h.PartitionLeaderEpoch ||
			kb.Magic != h.Magic ||
			uint32(kb.CRC) != crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)) ||
			kb.Attributes != int16(h.Attributes) ||
			kb.LastOffsetDelta != h.LastOffsetDelta ||
			kb.FirstTimestamp != h.BaseTimestamp ||
			kb.MaxTimestamp != h.MaxTimestamp ||
			kb.ProducerID != h.ProducerID ||
			kb.ProducerEpoch != h.ProducerEpoch ||
			kb.FirstSequence != h.BaseSequence ||
			int(kb.NumRecords) != len(want.Records) {
			t.Fatalf("batch %d: kmsg header %+v\nwant %+v", i, kb, h)
		}
		raw := splitRecords(t, kb.Records)
		if len(raw) != len(want.Records) {
			t.Fatalf("batch %d: kmsg sees %d records, want %d", i, len(raw), len(want.Records))
		}
		for j, rb := range raw {
			var kr kmsg.Record
			if err := kr.ReadFrom(rb); err != nil {
				t.Fatalf("batch %d record %d: kmsg: %v", i, j, err)
			}
			w := want.Records[j]
			got := Record{
				Attributes:     kr.Attributes,
				TimestampDelta: kr.TimestampDelta64,
				OffsetDelta:    kr.OffsetDelta,
				Key:            kr.Key,
				Value:          kr.Value,
			}
			for _, kh := range kr.Headers {
				got.Headers = append(got.Headers, RecordHeader{Key: kh.Key, Value: kh.Value})
			}
			if d := diffRecord(got, w); d != "" {
				t.Fatalf("batch %d record %d via kmsg: %s", i, j, d)
			}
			if int(kr.Length) != w.bodyLen() {
				t.Fatalf("batch %d record %d: kmsg Length %d, want %d", i, j, kr.Length, w.bodyLen())
			}
			// kmsg's own encoding of the record must be the same bytes.
			if again := kr.AppendTo(nil); !bytes.Equal(again, rb) {
				t.Fatalf("batch %d record %d: kmsg re-encodes\n% x\nwe wrote\n% x", i, j, again, rb)
			}
		}
	}
}

// kmsgEncode builds the wire bytes of want with kmsg alone: record lengths,
// batch length and CRC computed here, not by this package.
func kmsgEncode(want *Batch) []byte {
	var records []byte
	for _, w := range want.Records {
		kr := kmsg.Record{
			Attributes:       w.Attributes,
			TimestampDelta64: w.TimestampDelta,
			OffsetDelta:      w.OffsetDelta,
			Key:              w.Key,
			Value:            w.Value,
		}
		for _, h := range w.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// Length counts the bytes after itself; encode once with a
		// one-byte placeholder of 0 to measure them.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		records = kr.AppendTo(records)
	}
	h := want.Header
	kb := kmsg.RecordBatch{
		FirstOffset:          h.BaseOffset,
		Length:               int32(49 + len(records)),
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                h.Magic,
		Attributes:           int16(h.Attributes),
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       h.BaseTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		FirstSequence:        h.BaseSequence,
		NumRecords:           int32(len(want.Records)),
		Records:              records,
	}
	// The CRC covers everything after the CRC field itself: bytes 21.. of
	// the encoded batch.
	kb.CRC = int32(crc32.Checksum(kb.AppendTo(nil)[21:], crc32.MakeTable(crc32.Castagnoli)))
	return kb.AppendTo(nil)
}

func TestWeDecodeKmsgBatches(t *testing.T) {
	r := newRand(t)
	for i := range 300 {
		want := randBatch(r, 15)
		enc := kmsgEncode(want)
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		checkBatch(t, got, want)
		if got.Size() != len(enc) || got.CRC != binary.BigEndian.Uint32(enc[17:]) {
			t.Fatalf("batch %d: size %d CRC %#x, kmsg wrote %d bytes CRC %#x", i, got.Size(), got.CRC, len(enc), binary.BigEndian.Uint32(enc[17:]))
		}
		if ours := Encode(nil, want); !bytes.Equal(ours, enc) {
			t.Fatalf("batch %d: our encoding differs from kmsg's", i)
		}
	}
}
