package record

import "testing"

// build64KiB returns a batch of 1 KiB values filling just under 64 KiB.
func build64KiB(b *Builder) []byte {
	value := make([]byte, 1024)
	for b.SizeBytes()+1024+16 <= 64<<10 {
		b.Append(1700000000000+int64(b.Len()), nil, value, nil)
	}
	return b.Build()
}

func BenchmarkVerify64KiB(b *testing.B) {
	batch := build64KiB(NewBuilder(DefaultBuilderOptions()))
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if _, err := Verify(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuilder(b *testing.B) {
	bl := NewBuilder(DefaultBuilderOptions())
	b.SetBytes(int64(len(build64KiB(bl))))
	b.ReportAllocs()
	for b.Loop() {
		bl.Reset()
		build64KiB(bl)
	}
}

func BenchmarkDecode64KiB(b *testing.B) {
	batch := build64KiB(NewBuilder(DefaultBuilderOptions()))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(batch); err != nil {
			b.Fatal(err)
		}
	}
}
