package history

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestValueIDLayout(t *testing.T) {
	v := NewValueID(MaxClientID, MaxSeq)
	if v.Client() != MaxClientID || v.Seq() != MaxSeq {
		t.Fatalf("round trip of the largest id: client %d seq %d", v.Client(), v.Seq())
	}
	v = NewValueID(3, 17)
	if v.Client() != 3 || v.Seq() != 17 || v.String() != "3:17" {
		t.Fatalf("NewValueID(3, 17) = %v (client %d seq %d)", v, v.Client(), v.Seq())
	}
	for _, bad := range []struct {
		c   ClientID
		seq uint64
	}{{0, 0}, {-1, 1}, {MaxClientID + 1, 1}, {0, MaxSeq + 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewValueID(%d, %d) did not panic", bad.c, bad.seq)
				}
			}()
			NewValueID(bad.c, bad.seq)
		}()
	}
}

func TestValueIDText(t *testing.T) {
	for _, v := range []ValueID{0, NewValueID(0, 1), NewValueID(12345, 1<<39), NewValueID(MaxClientID, MaxSeq)} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got ValueID
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if got != v {
			t.Errorf("%v -> %s -> %v", v, b, got)
		}
	}
	for _, bad := range []string{`"3"`, `"a:1"`, `"1:b"`, `"16777216:1"`, `"1:1099511627776"`} {
		var v ValueID
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("unmarshal %s: no error, got %v", bad, v)
		}
	}
}

func TestValueEncoding(t *testing.T) {
	for _, size := range []int{0, ValueOverhead, ValueOverhead + 1, 100, 4096} {
		id := NewValueID(7, uint64(size)+1)
		b := EncodeValue(id, size)
		if want := max(size, ValueOverhead); len(b) != want {
			t.Fatalf("EncodeValue(size %d): %d bytes, want %d", size, len(b), want)
		}
		got, err := DecodeValue(b)
		if err != nil || got != id {
			t.Fatalf("DecodeValue(EncodeValue(%v, %d)) = %v, %v", id, size, got, err)
		}
		if string(EncodeValue(id, size)) != string(b) {
			t.Fatalf("EncodeValue(%v, %d) is not deterministic", id, size)
		}
		// Every single-byte change is caught, as not a value (magic) or
		// corrupt (everything else).
		for i := range b {
			c := append([]byte(nil), b...)
			c[i] ^= 0x40
			_, err := DecodeValue(c)
			want := ErrCorruptValue
			if i < 4 {
				want = ErrNotValue
			}
			if !errors.Is(err, want) {
				t.Fatalf("size %d, byte %d flipped: error %v, want %v", size, i, err, want)
			}
		}
		if _, err := DecodeValue(b[:len(b)-1]); !errors.Is(err, ErrCorruptValue) && !errors.Is(err, ErrNotValue) {
			t.Fatalf("truncated value: error %v", err)
		}
	}
	if _, err := DecodeValue([]byte("hello, world, not a value")); !errors.Is(err, ErrNotValue) {
		t.Fatalf("foreign bytes: error %v, want ErrNotValue", err)
	}
}
