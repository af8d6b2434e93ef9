package brokerpb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
)

func sampleReplicaRequest() ReplicaFetchRequest {
	return ReplicaFetchRequest{
		CorrelationID:    11,
		Topic:            "orders",
		TopicID:          "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab",
		Partition:        3,
		ReplicaID:        2,
		Seq:              42,
		Epoch:            6,
		FetchOffset:      1 << 40,
		DurableEnd:       1<<40 - 100,
		LastFetchedEpoch: 5,
		MaxBytes:         1 << 20,
		MaxWaitMs:        500,
	}
}

func sampleReplicaResponse() ReplicaFetchResponse {
	return ReplicaFetchResponse{
		CorrelationID:      11,
		Error:              ErrorCode_NONE,
		Seq:                42,
		Epoch:              7,
		ReplicaError:       0,
		DivergingEpoch:     0,
		DivergingEndOffset: -1,
		HighWatermark:      1<<40 - 10,
		LogStartOffset:     1000,
		LogEndOffset:       1<<40 + 500,
		ReadFrom:           1 << 40,
		RecordsLength:      4096,
	}
}

// TestReplicaFetchRequestLayout pins the wire layout byte by byte against
// the table in frame.go.
func TestReplicaFetchRequestLayout(t *testing.T) {
	r := ReplicaFetchRequest{
		CorrelationID:    0x01020304,
		Topic:            "ab",
		TopicID:          "xyz",
		Partition:        5,
		ReplicaID:        2,
		Seq:              0x1112131415161718,
		Epoch:            7,
		FetchOffset:      0x100,
		DurableEnd:       0xFF,
		LastFetchedEpoch: -1,
		MaxBytes:         0x10000,
		MaxWaitMs:        500,
	}
	want := []byte{
		0x53, 0x4C, 0x01, 0x03, 0x00, 0x00, 0x00, 56 + 2 + 3, // header: magic, version 1, type 3, body length
		0x01, 0x02, 0x03, 0x04, // correlationID
		0x00, 0x02, 'a', 'b', // topic
		0x00, 0x03, 'x', 'y', 'z', // topicID
		0x00, 0x00, 0x00, 0x05, // partition
		0x00, 0x00, 0x00, 0x02, // replicaID
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, // seq
		0x00, 0x00, 0x00, 0x07, // epoch
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, // fetchOffset
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, // durableEnd
		0xFF, 0xFF, 0xFF, 0xFF, // lastFetchedEpoch -1
		0x00, 0x01, 0x00, 0x00, // maxBytes
		0x00, 0x00, 0x01, 0xF4, // maxWaitMs
	}
	got := AppendReplicaFetchRequestFrame(nil, &r)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n%x\nwant\n%x", got, want)
	}
	dec, err := DecodeReplicaFetchRequest(want[FrameHeaderSize:])
	if err != nil || dec != r {
		t.Fatalf("decoded %+v, %v; want %+v", dec, err, r)
	}
}

func TestReplicaFetchResponseLayout(t *testing.T) {
	r := ReplicaFetchResponse{
		CorrelationID:      9,
		Error:              ErrorCode_BROKER_NOT_AVAILABLE,
		ErrorMessage:       "bye",
		Seq:                0x0102030405060708,
		Epoch:              3,
		ReplicaError:       4,
		DivergingEpoch:     2,
		DivergingEndOffset: -1,
		HighWatermark:      0x10,
		LogStartOffset:     0x01,
		LogEndOffset:       0x20,
		ReadFrom:           0x11,
		RecordsLength:      0xABCD,
	}
	want := []byte{
		0x53, 0x4C, 0x01, 0x04, 0x00, 0x00, 0x00, 74 + 3, // header: magic, version 1, type 4, body length
		0x00, 0x00, 0x00, 0x09, // correlationID
		0x00, 0x00, 0x00, 0x13, // error BROKER_NOT_AVAILABLE (19)
		0x00, 0x03, 'b', 'y', 'e', // errorMessage
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // seq
		0x00, 0x00, 0x00, 0x03, // epoch
		0x00, 0x00, 0x00, 0x04, // replicaError
		0x00, 0x00, 0x00, 0x02, // divergingEpoch
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // divergingEndOffset -1
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, // highWatermark
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // logStartOffset
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, // logEndOffset
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, // readFrom
		0x00, 0x00, 0xAB, 0xCD, // recordsLength
	}
	got := AppendReplicaFetchResponseFrame(nil, &r)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n%x\nwant\n%x", got, want)
	}
	dec, err := DecodeReplicaFetchResponse(want[FrameHeaderSize:])
	if err != nil || dec != r {
		t.Fatalf("decoded %+v, %v; want %+v", dec, err, r)
	}
}

func TestReplicaFetchRequestRoundTrip(t *testing.T) {
	cases := []ReplicaFetchRequest{
		sampleReplicaRequest(),
		{}, // zero values are all in bounds
		{ // empty log, first fetch
			CorrelationID: 1, Topic: "t", TopicID: "id", ReplicaID: 1, Epoch: 1,
			FetchOffset: 0, DurableEnd: 0, LastFetchedEpoch: -1, MaxBytes: 0, MaxWaitMs: 0,
		},
		{ // every field at its largest
			CorrelationID: math.MaxUint32, Topic: strings.Repeat("t", MaxTopicNameBytes),
			TopicID: strings.Repeat("i", MaxTopicIDBytes), Partition: math.MaxInt32,
			ReplicaID: math.MaxInt32, Seq: math.MaxUint64, Epoch: math.MaxInt32,
			FetchOffset: math.MaxInt64, DurableEnd: math.MaxInt64, LastFetchedEpoch: math.MaxInt32,
			MaxBytes: math.MaxInt32, MaxWaitMs: math.MaxInt32,
		},
		{ // unchecked fields at their smallest
			Partition: math.MinInt32, Epoch: math.MinInt32, LastFetchedEpoch: math.MinInt32,
		},
	}
	for _, want := range cases {
		frame := AppendReplicaFetchRequestFrame([]byte("prefix"), &want)
		if !bytes.HasPrefix(frame, []byte("prefix")) {
			t.Fatal("dst prefix lost")
		}
		frame = frame[len("prefix"):]
		if len(frame) != FrameHeaderSize+replicaFetchRequestFixedBytes+len(want.Topic)+len(want.TopicID) {
			t.Fatalf("frame of %d bytes", len(frame))
		}
		got, err := DecodeReplicaFetchRequest(readOne(t, frame, FrameReplicaFetchRequest))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

func TestReplicaFetchResponseRoundTrip(t *testing.T) {
	cases := []ReplicaFetchResponse{
		sampleReplicaResponse(),
		{}, // DivergingEndOffset 0 is a divergence at offset 0, which is valid
		{ // a divergence answer
			CorrelationID: 3, Seq: 9, Epoch: 8, ReplicaError: 0, DivergingEpoch: 5,
			DivergingEndOffset: 1234, HighWatermark: 1200, LogStartOffset: 0, LogEndOffset: 1300,
			ReadFrom: 1234, RecordsLength: 0,
		},
		{ // broker-level error with the longest message, unknown kinds, extremes
			CorrelationID: math.MaxUint32, Error: ErrorCode(12345),
			ErrorMessage: strings.Repeat("m", MaxErrorMessageBytes), Seq: math.MaxUint64,
			Epoch: math.MinInt32, ReplicaError: math.MaxInt32, DivergingEpoch: math.MinInt32,
			DivergingEndOffset: math.MaxInt64, HighWatermark: math.MinInt64,
			LogStartOffset: math.MaxInt64, LogEndOffset: -1, ReadFrom: math.MinInt64,
			RecordsLength: math.MaxUint32,
		},
	}
	for _, want := range cases {
		frame := AppendReplicaFetchResponseFrame(nil, &want)
		body := readOne(t, frame, FrameReplicaFetchResponse)
		if len(body) > MaxReplicaFetchResponseFrameBytes {
			t.Fatalf("body of %d bytes exceeds MaxReplicaFetchResponseFrameBytes", len(body))
		}
		got, err := DecodeReplicaFetchResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

func TestReplicaFetchResponseTruncatesMessage(t *testing.T) {
	// 1023 ASCII bytes then a 3-byte character straddling the limit: the
	// whole character goes.
	msg := strings.Repeat("a", MaxErrorMessageBytes-1) + "€" + "tail"
	r := ReplicaFetchResponse{ErrorMessage: msg, DivergingEndOffset: -1}
	frame := AppendReplicaFetchResponseFrame(nil, &r)
	got, err := DecodeReplicaFetchResponse(readOne(t, frame, FrameReplicaFetchResponse))
	if err != nil {
		t.Fatal(err)
	}
	if want := msg[:MaxErrorMessageBytes-1]; got.ErrorMessage != want {
		t.Fatalf("message of %d bytes, want %d", len(got.ErrorMessage), len(want))
	}
}

func TestAppendReplicaFetchRequestFramePanicsOnLongStrings(t *testing.T) {
	cases := map[string]ReplicaFetchRequest{
		"topic":   {Topic: strings.Repeat("x", MaxTopicNameBytes+1)},
		"topicID": {TopicID: strings.Repeat("x", MaxTopicIDBytes+1)},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			AppendReplicaFetchRequestFrame(nil, &r)
		})
	}
}

// replicaRequestBody encodes r without the panicking length checks, so
// tests can build bodies no valid encoder would produce.
func replicaRequestBody(r ReplicaFetchRequest) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, r.CorrelationID)
	b = appendString(b, r.Topic)
	b = appendString(b, r.TopicID)
	b = be.AppendUint32(b, uint32(r.Partition))
	b = be.AppendUint32(b, uint32(r.ReplicaID))
	b = be.AppendUint64(b, r.Seq)
	b = be.AppendUint32(b, uint32(r.Epoch))
	b = be.AppendUint64(b, uint64(r.FetchOffset))
	b = be.AppendUint64(b, uint64(r.DurableEnd))
	b = be.AppendUint32(b, uint32(r.LastFetchedEpoch))
	b = be.AppendUint32(b, uint32(r.MaxBytes))
	return be.AppendUint32(b, uint32(r.MaxWaitMs))
}

func TestDecodeReplicaFetchRequestErrors(t *testing.T) {
	good := sampleReplicaRequest()
	body := replicaRequestBody(good)
	if !bytes.Equal(body, AppendReplicaFetchRequestFrame(nil, &good)[FrameHeaderSize:]) {
		t.Fatal("replicaRequestBody disagrees with AppendReplicaFetchRequestFrame")
	}
	with := func(f func(r *ReplicaFetchRequest)) []byte {
		r := sampleReplicaRequest()
		f(&r)
		return replicaRequestBody(r)
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"short", body[:len(body)-1]},
		{"cut in topic", body[:8]},
		{"trailing", append(bytes.Clone(body), 0)},
		{"topic too long", with(func(r *ReplicaFetchRequest) { r.Topic = strings.Repeat("t", MaxTopicNameBytes+1) })},
		{"topicID too long", with(func(r *ReplicaFetchRequest) { r.TopicID = strings.Repeat("i", MaxTopicIDBytes+1) })},
		{"topic beyond body", binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(nil, 1), 200)},
		{"topicID beyond body", binary.BigEndian.AppendUint16(appendString(binary.BigEndian.AppendUint32(nil, 1), "t"), 60)},
		{"negative replicaID", with(func(r *ReplicaFetchRequest) { r.ReplicaID = -1 })},
		{"min replicaID", with(func(r *ReplicaFetchRequest) { r.ReplicaID = math.MinInt32 })},
		{"negative fetchOffset", with(func(r *ReplicaFetchRequest) { r.FetchOffset, r.DurableEnd = -1, -1 })},
		{"negative durableEnd", with(func(r *ReplicaFetchRequest) { r.DurableEnd = -1 })},
		{"durableEnd past fetchOffset", with(func(r *ReplicaFetchRequest) { r.DurableEnd = r.FetchOffset + 1 })},
		{"durableEnd past zero fetchOffset", with(func(r *ReplicaFetchRequest) { r.FetchOffset, r.DurableEnd = 0, 1 })},
		{"negative maxBytes", with(func(r *ReplicaFetchRequest) { r.MaxBytes = -1 })},
		{"negative maxWaitMs", with(func(r *ReplicaFetchRequest) { r.MaxWaitMs = math.MinInt32 })},
	}
	for _, c := range cases {
		if r, err := DecodeReplicaFetchRequest(c.body); !errors.Is(err, ErrFrameMalformed) || r != (ReplicaFetchRequest{}) {
			t.Errorf("%s: %+v, %v; want ErrFrameMalformed and a zero request", c.name, r, err)
		}
	}
}

func TestDecodeReplicaFetchResponseErrors(t *testing.T) {
	resp := sampleReplicaResponse()
	resp.ErrorMessage = "message"
	body := AppendReplicaFetchResponseFrame(nil, &resp)[FrameHeaderSize:]
	long := make([]byte, 8, 8+2+MaxErrorMessageBytes+1+replicaFetchResponseFixedBytes)
	long = binary.BigEndian.AppendUint16(long, MaxErrorMessageBytes+1)
	long = append(long, make([]byte, MaxErrorMessageBytes+1+replicaFetchResponseFixedBytes-10)...)
	diverging := func(off int64) []byte {
		r := sampleReplicaResponse()
		r.DivergingEndOffset = off
		return AppendReplicaFetchResponseFrame(nil, &r)[FrameHeaderSize:]
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"short", body[:len(body)-1]},
		{"cut in message", body[:12]},
		{"trailing", append(bytes.Clone(body), 0)},
		{"message too long", long},
		{"message beyond body", binary.BigEndian.AppendUint16(make([]byte, 8), 200)},
		{"divergingEndOffset -2", diverging(-2)},
		{"divergingEndOffset min", diverging(math.MinInt64)},
	}
	for _, c := range cases {
		if r, err := DecodeReplicaFetchResponse(c.body); !errors.Is(err, ErrFrameMalformed) || r != (ReplicaFetchResponse{}) {
			t.Errorf("%s: %+v, %v; want ErrFrameMalformed and a zero response", c.name, r, err)
		}
	}
}

// TestReplicaFramesTruncatedAtEveryLength: every proper prefix of a valid
// body fails cleanly with ErrFrameMalformed and a zero value.
func TestReplicaFramesTruncatedAtEveryLength(t *testing.T) {
	req := sampleReplicaRequest()
	reqBody := AppendReplicaFetchRequestFrame(nil, &req)[FrameHeaderSize:]
	for n := range len(reqBody) {
		if r, err := DecodeReplicaFetchRequest(reqBody[:n]); !errors.Is(err, ErrFrameMalformed) || r != (ReplicaFetchRequest{}) {
			t.Errorf("request cut at %d of %d: %+v, %v", n, len(reqBody), r, err)
		}
	}
	resp := sampleReplicaResponse()
	resp.Error, resp.ErrorMessage = ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, "no such topic"
	respBody := AppendReplicaFetchResponseFrame(nil, &resp)[FrameHeaderSize:]
	for n := range len(respBody) {
		if r, err := DecodeReplicaFetchResponse(respBody[:n]); !errors.Is(err, ErrFrameMalformed) || r != (ReplicaFetchResponse{}) {
			t.Errorf("response cut at %d of %d: %+v, %v", n, len(respBody), r, err)
		}
	}
}

// TestReadFrameReplicaFrames: a leader reads replica requests with
// MaxRequestFrameBytes; a follower reads a response header with
// MaxReplicaFetchResponseFrameBytes, then exactly RecordsLength record
// bytes, and the next frame after them.
func TestReadFrameReplicaFrames(t *testing.T) {
	// The largest request fits a broker's request limit.
	bigReq := ReplicaFetchRequest{Topic: strings.Repeat("t", MaxTopicNameBytes), TopicID: strings.Repeat("i", MaxTopicIDBytes)}
	var reqStream []byte
	reqStream = AppendReplicaFetchRequestFrame(reqStream, &bigReq)
	req := sampleReplicaRequest()
	reqStream = AppendReplicaFetchRequestFrame(reqStream, &req)
	r := iotest.OneByteReader(bytes.NewReader(reqStream))
	buf := make([]byte, 0, 512)
	for _, want := range []ReplicaFetchRequest{bigReq, req} {
		typ, body, err := ReadFrame(r, MaxRequestFrameBytes, buf)
		if err != nil || typ != FrameReplicaFetchRequest {
			t.Fatalf("ReadFrame: type %d, %v", typ, err)
		}
		got, err := DecodeReplicaFetchRequest(body)
		if err != nil || got != want {
			t.Fatalf("got %+v, %v\nwant %+v", got, err, want)
		}
	}
	if _, _, err := ReadFrame(r, MaxRequestFrameBytes, buf); err != io.EOF {
		t.Fatalf("after the last request: %v, want io.EOF", err)
	}

	// The largest response is exactly the follower's limit.
	records := []byte("whole batches, not parsed here")
	first := sampleReplicaResponse()
	first.ErrorMessage = strings.Repeat("m", MaxErrorMessageBytes)
	first.RecordsLength = uint32(len(records))
	second := ReplicaFetchResponse{CorrelationID: 12, Error: ErrorCode_NOT_LEADER, DivergingEndOffset: -1}
	var respStream []byte
	respStream = AppendReplicaFetchResponseFrame(respStream, &first)
	if len(respStream) != FrameHeaderSize+MaxReplicaFetchResponseFrameBytes {
		t.Fatalf("largest response frame of %d bytes, want %d", len(respStream), FrameHeaderSize+MaxReplicaFetchResponseFrameBytes)
	}
	respStream = append(respStream, records...)
	respStream = AppendReplicaFetchResponseFrame(respStream, &second)
	r = bytes.NewReader(respStream)
	typ, body, err := ReadFrame(r, MaxReplicaFetchResponseFrameBytes, nil)
	if err != nil || typ != FrameReplicaFetchResponse {
		t.Fatalf("ReadFrame: type %d, %v", typ, err)
	}
	got, err := DecodeReplicaFetchResponse(body)
	if err != nil || got != first {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, first)
	}
	gotRecords := make([]byte, got.RecordsLength)
	if _, err := io.ReadFull(r, gotRecords); err != nil || !bytes.Equal(gotRecords, records) {
		t.Fatalf("records %q, %v", gotRecords, err)
	}
	typ, body, err = ReadFrame(r, MaxReplicaFetchResponseFrameBytes, nil)
	if err != nil || typ != FrameReplicaFetchResponse {
		t.Fatalf("ReadFrame: type %d, %v", typ, err)
	}
	if got, err := DecodeReplicaFetchResponse(body); err != nil || got != second {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, second)
	}
	if _, _, err := ReadFrame(r, MaxReplicaFetchResponseFrameBytes, nil); err != io.EOF {
		t.Fatalf("after the last response: %v, want io.EOF", err)
	}

	// A body one byte over the follower's limit is refused unread.
	over := header(FrameMagic, FrameVersion, FrameReplicaFetchResponse, MaxReplicaFetchResponseFrameBytes+1)
	if _, _, err := ReadFrame(bytes.NewReader(over), MaxReplicaFetchResponseFrameBytes, nil); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized response: %v, want ErrFrameTooLarge", err)
	}
}

// FuzzDecodeReplicaFetchRequest: decoding never panics, errors wrap
// ErrFrameMalformed, and whatever decodes re-encodes to exactly the same
// bytes (the encoding is canonical).
func FuzzDecodeReplicaFetchRequest(f *testing.F) {
	req := sampleReplicaRequest()
	f.Add(AppendReplicaFetchRequestFrame(nil, &req)[FrameHeaderSize:])
	f.Add(AppendReplicaFetchRequestFrame(nil, &ReplicaFetchRequest{LastFetchedEpoch: -1})[FrameHeaderSize:])
	req.DurableEnd = req.FetchOffset + 1
	f.Add(replicaRequestBody(req))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeReplicaFetchRequest(body)
		if err != nil {
			if !errors.Is(err, ErrFrameMalformed) {
				t.Fatalf("error %v does not wrap ErrFrameMalformed", err)
			}
			return
		}
		if r.ReplicaID < 0 || r.FetchOffset < 0 || r.DurableEnd < 0 || r.DurableEnd > r.FetchOffset || r.MaxBytes < 0 || r.MaxWaitMs < 0 {
			t.Fatalf("decoded out-of-bounds request %+v", r)
		}
		if again := AppendReplicaFetchRequestFrame(nil, &r)[FrameHeaderSize:]; !bytes.Equal(again, body) {
			t.Fatalf("re-encoded %x, decoded from %x", again, body)
		}
	})
}

// FuzzDecodeReplicaFetchResponse: as FuzzDecodeReplicaFetchRequest, for
// responses.
func FuzzDecodeReplicaFetchResponse(f *testing.F) {
	resp := sampleReplicaResponse()
	f.Add(AppendReplicaFetchResponseFrame(nil, &resp)[FrameHeaderSize:])
	resp.Error, resp.ErrorMessage = ErrorCode_BROKER_NOT_AVAILABLE, "shutting down"
	f.Add(AppendReplicaFetchResponseFrame(nil, &resp)[FrameHeaderSize:])
	resp.DivergingEndOffset = -2
	f.Add(AppendReplicaFetchResponseFrame(nil, &resp)[FrameHeaderSize:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeReplicaFetchResponse(body)
		if err != nil {
			if !errors.Is(err, ErrFrameMalformed) {
				t.Fatalf("error %v does not wrap ErrFrameMalformed", err)
			}
			return
		}
		if r.DivergingEndOffset < -1 {
			t.Fatalf("decoded divergingEndOffset %d", r.DivergingEndOffset)
		}
		if again := AppendReplicaFetchResponseFrame(nil, &r)[FrameHeaderSize:]; !bytes.Equal(again, body) {
			t.Fatalf("re-encoded %x, decoded from %x", again, body)
		}
	})
}
