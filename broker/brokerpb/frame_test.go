package brokerpb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func sampleRequest() DataFetchRequest {
	return DataFetchRequest{
		CorrelationID:     7,
		Topic:             "orders",
		Partition:         3,
		Offset:            1 << 40,
		MaxBytes:          1 << 20,
		MaxWaitMs:         500,
		MinBytes:          1,
		LeaderEpoch:       -1,
		ReplicaID:         -1,
		ReplicaLogEnd:     -1,
		ReplicaDurableEnd: -1,
	}
}

func sampleResponse() DataFetchResponse {
	return DataFetchResponse{
		CorrelationID:  7,
		Error:          ErrorCode_OFFSET_OUT_OF_RANGE,
		ErrorMessage:   "offset 9 is outside [10, 20]",
		HighWatermark:  20,
		LogStartOffset: 10,
		LogEndOffset:   22,
		NextOffset:     -1,
		LeaderEpoch:    4,
		RecordsLength:  math.MaxUint32,
	}
}

// readOne reads one frame from b and checks its type.
func readOne(t *testing.T, b []byte, wantType uint8) []byte {
	t.Helper()
	typ, body, err := ReadFrame(bytes.NewReader(b), MaxRequestFrameBytes, nil)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if typ != wantType {
		t.Fatalf("type %d, want %d", typ, wantType)
	}
	return body
}

func TestFetchRequestRoundTrip(t *testing.T) {
	cases := []DataFetchRequest{
		sampleRequest(),
		{}, // zero values, empty topic
		{CorrelationID: math.MaxUint32, Topic: strings.Repeat("t", MaxTopicNameBytes), Partition: math.MaxInt32,
			Offset: math.MinInt64, MaxBytes: math.MinInt32, MaxWaitMs: math.MaxInt32, MinBytes: -5,
			LeaderEpoch: 9, ReplicaID: 2, ReplicaLogEnd: math.MaxInt64, ReplicaDurableEnd: 12345},
	}
	for _, want := range cases {
		frame := AppendFetchRequestFrame([]byte("prefix"), &want)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatal("dst prefix lost")
		}
		frame = frame[len("prefix"):]
		if len(frame) != FrameHeaderSize+fetchRequestFixedBytes+len(want.Topic) {
			t.Fatalf("frame of %d bytes", len(frame))
		}
		got, err := DecodeFetchRequest(readOne(t, frame, FrameFetchRequest))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

func TestFetchResponseRoundTrip(t *testing.T) {
	cases := []DataFetchResponse{
		sampleResponse(),
		{},
		{Error: ErrorCode(12345), ErrorMessage: strings.Repeat("m", MaxErrorMessageBytes)},
	}
	for _, want := range cases {
		frame := AppendFetchResponseFrame(nil, &want)
		body := readOne(t, frame, FrameFetchResponse)
		if len(body) > MaxFetchResponseFrameBytes {
			t.Fatalf("body of %d bytes exceeds MaxFetchResponseFrameBytes", len(body))
		}
		got, err := DecodeFetchResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

func TestFetchResponseTruncatesMessage(t *testing.T) {
	// 1023 ASCII bytes then a 3-byte character straddling the limit: the
	// whole character goes.
	msg := strings.Repeat("a", MaxErrorMessageBytes-1) + "€" + "tail"
	r := DataFetchResponse{ErrorMessage: msg}
	got, err := DecodeFetchResponse(readOne(t, AppendFetchResponseFrame(nil, &r), FrameFetchResponse))
	if err != nil {
		t.Fatal(err)
	}
	if want := msg[:MaxErrorMessageBytes-1]; got.ErrorMessage != want {
		t.Fatalf("message of %d bytes, want %d", len(got.ErrorMessage), len(want))
	}
}

func TestAppendFetchRequestFramePanicsOnLongTopic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	r := DataFetchRequest{Topic: strings.Repeat("x", MaxTopicNameBytes+1)}
	AppendFetchRequestFrame(nil, &r)
}

func header(magic uint16, version, typ uint8, size uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, magic)
	b = append(b, version, typ)
	return binary.BigEndian.AppendUint32(b, size)
}

func TestReadFrameErrors(t *testing.T) {
	req := sampleRequest()
	good := AppendFetchRequestFrame(nil, &req)
	errBoom := errors.New("boom")
	cases := []struct {
		name string
		r    io.Reader
		max  int
		want error
	}{
		{"clean EOF", bytes.NewReader(nil), 100, io.EOF},
		{"short header", bytes.NewReader(good[:5]), 100, ErrFrameTruncated},
		{"bad magic", bytes.NewReader(header(0x4854, FrameVersion, 1, 0)), 100, ErrFrameMagic}, // "HT"TP
		{"bad version", bytes.NewReader(header(FrameMagic, 2, 1, 0)), 100, ErrFrameVersion},
		{"too large", bytes.NewReader(good), len(good) - FrameHeaderSize - 1, ErrFrameTooLarge},
		{"negative max", bytes.NewReader(good), -1, ErrFrameTooLarge},
		{"short body", bytes.NewReader(good[:len(good)-1]), 100, ErrFrameTruncated},
		{"no body", bytes.NewReader(good[:FrameHeaderSize]), 100, ErrFrameTruncated},
		{"reader error in header", iotest.ErrReader(errBoom), 100, errBoom},
		{"reader error in body", io.MultiReader(bytes.NewReader(good[:10]), iotest.ErrReader(errBoom)), 100, errBoom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, body, err := ReadFrame(c.r, c.max, nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if body != nil {
				t.Fatalf("body %q returned with error", body)
			}
		})
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	req := sampleRequest()
	var stream []byte
	stream = AppendFetchRequestFrame(stream, &req)
	req.Topic = "second"
	stream = AppendFetchRequestFrame(stream, &req)
	r := iotest.OneByteReader(bytes.NewReader(stream)) // short reads too
	buf := make([]byte, 0, 256)
	for _, topic := range []string{"orders", "second"} {
		_, body, err := ReadFrame(r, MaxRequestFrameBytes, buf)
		if err != nil {
			t.Fatal(err)
		}
		if &body[0] != &buf[:1][0] {
			t.Fatal("buf not reused")
		}
		got, err := DecodeFetchRequest(body)
		if err != nil || got.Topic != topic {
			t.Fatalf("got %q, %v", got.Topic, err)
		}
	}
	if _, _, err := ReadFrame(r, MaxRequestFrameBytes, buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadFrameHugeLengthNoAllocation: a header declaring a 4 GiB body is
// rejected after reading only the header, without allocating the body.
func TestReadFrameHugeLengthNoAllocation(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 100
	for range runs {
		// An endless stream, so a reader that tried to read the body would
		// succeed (and allocate) rather than fail early.
		cr := &countingReader{r: io.MultiReader(bytes.NewReader(header(FrameMagic, FrameVersion, FrameFetchRequest, math.MaxUint32)), zeros{})}
		_, _, err := ReadFrame(cr, MaxRequestFrameBytes, nil)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err %v, want ErrFrameTooLarge", err)
		}
		if cr.n != FrameHeaderSize {
			t.Fatalf("read %d bytes, want only the %d-byte header", cr.n, FrameHeaderSize)
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 4096 {
		t.Fatalf("%d bytes allocated per rejected frame", perRun)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestDecodeFetchRequestErrors(t *testing.T) {
	req := sampleRequest()
	body := AppendFetchRequestFrame(nil, &req)[FrameHeaderSize:]
	long := binary.BigEndian.AppendUint32(nil, 1)
	long = binary.BigEndian.AppendUint16(long, MaxTopicNameBytes+1)
	long = append(long, make([]byte, MaxTopicNameBytes+1+fetchRequestFixedBytes-6)...)
	cases := map[string][]byte{
		"empty":             nil,
		"short":             body[:len(body)-1],
		"cut in topic":      body[:8],
		"trailing":          append(bytes.Clone(body), 0),
		"topic too long":    long,
		"topic beyond body": binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(nil, 1), 200),
	}
	for name, b := range cases {
		if r, err := DecodeFetchRequest(b); !errors.Is(err, ErrFrameMalformed) || r != (DataFetchRequest{}) {
			t.Errorf("%s: %+v, %v; want ErrFrameMalformed and a zero request", name, r, err)
		}
	}
}

func TestDecodeFetchResponseErrors(t *testing.T) {
	resp := sampleResponse()
	body := AppendFetchResponseFrame(nil, &resp)[FrameHeaderSize:]
	long := make([]byte, 8, 8+2+MaxErrorMessageBytes+1+fetchResponseFixedBytes)
	long = binary.BigEndian.AppendUint16(long, MaxErrorMessageBytes+1)
	long = append(long, make([]byte, MaxErrorMessageBytes+1+fetchResponseFixedBytes-10)...)
	cases := map[string][]byte{
		"empty":            nil,
		"short":            body[:len(body)-1],
		"trailing":         append(bytes.Clone(body), 0),
		"message too long": long,
	}
	for name, b := range cases {
		if r, err := DecodeFetchResponse(b); !errors.Is(err, ErrFrameMalformed) || r != (DataFetchResponse{}) {
			t.Errorf("%s: %+v, %v; want ErrFrameMalformed and a zero response", name, r, err)
		}
	}
}

// FuzzDecodeFetchRequest: decoding never panics, and whatever decodes
// re-encodes to exactly the same bytes (the encoding is canonical).
func FuzzDecodeFetchRequest(f *testing.F) {
	req := sampleRequest()
	f.Add(AppendFetchRequestFrame(nil, &req)[FrameHeaderSize:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeFetchRequest(body)
		if err != nil {
			if !errors.Is(err, ErrFrameMalformed) {
				t.Fatalf("error %v does not wrap ErrFrameMalformed", err)
			}
			return
		}
		if again := AppendFetchRequestFrame(nil, &r)[FrameHeaderSize:]; !bytes.Equal(again, body) {
			t.Fatalf("re-encoded %x, decoded from %x", again, body)
		}
	})
}

// FuzzReadFrame: reading never panics or returns more than maxBody, and a
// body of a known type round-trips through its decoder.
func FuzzReadFrame(f *testing.F) {
	req := sampleRequest()
	resp := sampleResponse()
	f.Add(AppendFetchRequestFrame(nil, &req))
	f.Add(AppendFetchResponseFrame(nil, &resp))
	f.Add(header(FrameMagic, FrameVersion, FrameFetchRequest, math.MaxUint32))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxBody = 2048
		typ, body, err := ReadFrame(bytes.NewReader(data), maxBody, make([]byte, 0, 64))
		if err != nil {
			for _, want := range []error{io.EOF, ErrFrameMagic, ErrFrameVersion, ErrFrameTooLarge, ErrFrameTruncated} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if len(body) > maxBody {
			t.Fatalf("body of %d bytes > %d", len(body), maxBody)
		}
		switch typ {
		case FrameFetchRequest:
			if r, err := DecodeFetchRequest(body); err == nil {
				if again := AppendFetchRequestFrame(nil, &r); !bytes.Equal(again, data[:FrameHeaderSize+len(body)]) {
					t.Fatalf("request re-encoded differently")
				}
			}
		case FrameFetchResponse:
			if r, err := DecodeFetchResponse(body); err == nil {
				if again := AppendFetchResponseFrame(nil, &r); !bytes.Equal(again, data[:FrameHeaderSize+len(body)]) {
					t.Fatalf("response re-encoded differently")
				}
			}
		}
	})
}
