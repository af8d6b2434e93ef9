package record_test

import (
	"fmt"

	"github.com/sluice-mq/sluice/engine/record"
)

func Example() {
	// A producer builds a batch...
	b := record.NewBuilder(record.DefaultBuilderOptions())
	b.Append(1700000000000, []byte("user-1"), []byte("signed up"), nil)
	b.Append(1700000000250, nil, []byte("no key"), []record.RecordHeader{{Key: "trace", Value: []byte("abc")}})
	batch := b.Build()

	// ...the broker assigns its offset in place, without touching the CRC...
	record.SetBaseOffset(batch, 41)

	// ...and a consumer decodes it.
	dec, err := record.Decode(batch)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, offsets %d..%d, next %d\n", dec.Size(), dec.BaseOffset, dec.LastOffset(), dec.NextOffset())
	for _, r := range dec.Records {
		fmt.Printf("offset %d ts %d key %q (null %v) value %q headers %d\n",
			dec.BaseOffset+int64(r.OffsetDelta), dec.BaseTimestamp+r.TimestampDelta,
			r.Key, r.Key == nil, r.Value, len(r.Headers))
	}
	// Output:
	// 107 bytes, offsets 41..42, next 43
	// offset 41 ts 1700000000000 key "user-1" (null false) value "signed up" headers 0
	// offset 42 ts 1700000000250 key "" (null true) value "no key" headers 1
}

func ExampleVerify() {
	b := record.NewBuilder(record.DefaultBuilderOptions())
	b.Append(1, nil, []byte("v"), nil)
	batch := b.Build()

	_, err := record.Verify(batch[:len(batch)-1]) // a torn write
	fmt.Println(err)
	batch[len(batch)-2] ^= 0xff // a flipped byte
	_, err = record.Verify(batch)
	fmt.Println(err != nil)
	// Output:
	// record: truncated batch: batch declares 69 bytes, have 68
	// true
}
