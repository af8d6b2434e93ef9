package record

import (
	"bytes"
	"errors"
	"testing"
)

func TestBuilder(t *testing.T) {
	opts := BuilderOptions{ProducerID: 42, ProducerEpoch: 3, BaseSequence: 100, PartitionLeaderEpoch: 9,
		Attributes: AttrTransactional | Attributes(Zstd)}
	b := NewBuilder(opts)
	if b.Len() != 0 || b.SizeBytes() != HeaderSize {
		t.Fatalf("empty builder: Len %d SizeBytes %d", b.Len(), b.SizeBytes())
	}
	key := []byte("key")
	hdrs := []RecordHeader{{Key: "h", Value: []byte("hv")}, {Key: "null"}}
	b.Append(1000, key, []byte("v0"), hdrs)
	b.Append(990, nil, nil, nil) // earlier than the first: negative delta
	b.Append(1500, []byte{}, []byte{}, nil)
	b.Append(1200, nil, []byte("v3"), nil)
	// Append must have copied: scribbling on the inputs changes nothing.
	key[0] = 'X'
	hdrs[0].Value[0] = 'X'

	if b.Len() != 4 {
		t.Fatalf("Len %d", b.Len())
	}
	out := b.Build()
	if len(out) != b.SizeBytes() {
		t.Fatalf("Build %d bytes, SizeBytes %d", len(out), b.SizeBytes())
	}
	got, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	want := &Batch{
		Header: Header{
			BaseOffset: 0, PartitionLeaderEpoch: 9, Magic: Magic,
			Attributes:      AttrTransactional, // compression bits cleared
			LastOffsetDelta: 3, BaseTimestamp: 1000, MaxTimestamp: 1500,
			ProducerID: 42, ProducerEpoch: 3, BaseSequence: 100,
		},
		Records: []Record{
			{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("key"), Value: []byte("v0"),
				Headers: []RecordHeader{{Key: "h", Value: []byte("hv")}, {Key: "null"}}},
			{OffsetDelta: 1, TimestampDelta: -10},
			{OffsetDelta: 2, TimestampDelta: 500, Key: []byte{}, Value: []byte{}},
			{OffsetDelta: 3, TimestampDelta: 200, Value: []byte("v3")},
		},
	}
	checkBatch(t, got, want)
	if got.NextOffset() != 4 {
		t.Fatalf("NextOffset %d", got.NextOffset())
	}

	// Build does not consume: appending more and building again extends.
	b.Append(2000, nil, []byte("v4"), nil)
	out2 := b.Build()
	if len(out2) != b.SizeBytes() || !bytes.Equal(out2[HeaderSize:len(out)], out[HeaderSize:]) {
		t.Fatal("second Build did not extend the first")
	}
	if &out2[0] == &out[0] {
		t.Fatal("Build returned a shared slice")
	}

	b.Reset()
	if b.Len() != 0 || b.SizeBytes() != HeaderSize {
		t.Fatalf("after Reset: Len %d SizeBytes %d", b.Len(), b.SizeBytes())
	}
	b.Append(-5, nil, []byte("x"), nil)
	got, err = Decode(b.Build())
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseTimestamp != -5 || got.MaxTimestamp != -5 || got.LastOffsetDelta != 0 || len(got.Records) != 1 || got.Records[0].TimestampDelta != 0 {
		t.Fatalf("after Reset: %+v", got)
	}
}

func TestBuilderDefaultsAndEmpty(t *testing.T) {
	b := NewBuilder(DefaultBuilderOptions())
	got, err := Decode(b.Build())
	if err != nil {
		t.Fatal(err)
	}
	want := Header{BatchLength: 49, PartitionLeaderEpoch: -1, Magic: Magic, CRC: got.CRC,
		LastOffsetDelta: -1, BaseTimestamp: -1, MaxTimestamp: -1,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if got.Header != want || len(got.Records) != 0 {
		t.Fatalf("empty default batch %+v", got.Header)
	}

	// The zero Builder works, with zero options taken as given.
	var zb Builder
	if zb.SizeBytes() != HeaderSize {
		t.Fatalf("zero Builder SizeBytes %d", zb.SizeBytes())
	}
	zb.Append(7, []byte("k"), nil, nil)
	got, err = Decode(zb.Build())
	if err != nil {
		t.Fatal(err)
	}
	if got.ProducerID != 0 || got.BaseTimestamp != 7 || len(got.Records) != 1 {
		t.Fatalf("zero Builder batch %+v", got)
	}
}

func TestBuilderSizeBytesExact(t *testing.T) {
	r := newRand(t)
	b := NewBuilder(DefaultBuilderOptions())
	for range 200 {
		rec := randRecord(r)
		b.Append(interesting64(r), rec.Key, rec.Value, rec.Headers)
		if out := b.Build(); len(out) != b.SizeBytes() {
			t.Fatalf("SizeBytes %d, Build %d", b.SizeBytes(), len(out))
		}
	}
	if _, err := Decode(b.Build()); err != nil {
		t.Fatal(err)
	}
}

func TestSetProducer(t *testing.T) {
	b := NewBuilder(DefaultBuilderOptions())
	b.Append(1, []byte("k"), []byte("v"), nil)
	b.Append(2, nil, []byte("w"), nil)
	batch := b.Build()
	if err := SetProducer(batch, 42, 3, 17); err != nil {
		t.Fatal(err)
	}
	h, err := Verify(batch)
	if err != nil {
		t.Fatalf("stamped batch fails its CRC: %v", err)
	}
	if h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 17 || h.RecordCount != 2 {
		t.Fatalf("header after SetProducer: %+v", h)
	}
	if err := SetProducer(batch[:30], 1, 1, 1); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short batch: %v", err)
	}
}

func TestTakeEqualsBuild(t *testing.T) {
	b := NewBuilder(DefaultBuilderOptions())
	for round := range 3 {
		for i := range 5 + round {
			b.Append(int64(100+i), []byte("k"), bytes.Repeat([]byte{byte('a' + i)}, 50+i), []RecordHeader{{Key: "h", Value: []byte("v")}})
		}
		want := b.Build()
		got := b.Take()
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: Take differs from Build", round)
		}
		if b.Len() != 0 {
			t.Fatalf("Take did not reset the builder")
		}
		if _, err := Decode(got); err != nil {
			t.Fatal(err)
		}
		// The taken batch must not share memory with the next one.
		b.Append(1, nil, []byte("next"), nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: building on after Take changed the taken batch", round)
		}
		b.Reset()
	}
}
