package brokerpb

// Fetch data plane frames.
//
// The data plane is a small framed TCP protocol beside gRPC (DESIGN.md §4):
// a client sends fetch request frames on one connection, sequentially, and
// the broker answers each with a response header frame followed directly by
// RecordsLength bytes of raw, whole record batches, which the broker writes
// with sendfile from its segment files. The records are not part of the
// frame body, so ReadFrame never reads them: the caller reads exactly
// RecordsLength bytes after the header frame.
//
// Every frame starts with the same 8-byte header. All integers are
// big-endian; strings are a u16 byte length followed by that many bytes
// (UTF-8 is not checked).
//
//	frame header (FrameHeaderSize = 8)
//	+--------+---------+------+----------------+
//	| magic  | version | type | body length    |
//	| u16    | u8      | u8   | u32            |
//	| 0x534C | 1       |      | bytes of body  |
//	+--------+---------+------+----------------+
//
//	FrameFetchRequest (type 1) body, 54 bytes + topic
//	  correlationID      u32
//	  topic              u16 length (<= MaxTopicNameBytes) + bytes
//	  partition          i32
//	  offset             i64
//	  maxBytes           i32
//	  maxWaitMs          i32
//	  minBytes           i32
//	  leaderEpoch        i32   -1 skips the check
//	  replicaID          i32   -1 for consumers
//	  replicaLogEnd      i64   -1 for consumers
//	  replicaDurableEnd  i64   -1 for consumers
//
//	FrameFetchResponse (type 2) body, 50 bytes + message, then the records
//	  correlationID      u32   echoes the request's
//	  error              i32   ErrorCode; NONE (0) on success
//	  errorMessage       u16 length (<= MaxErrorMessageBytes) + bytes
//	  highWatermark      i64
//	  logStartOffset     i64
//	  logEndOffset       i64
//	  nextOffset         i64
//	  leaderEpoch        i32
//	  recordsLength      u32   raw batch bytes that follow the frame
//
// A follower replicating a partition uses its own pair of types on the same
// connections (replica_frame.go), carrying replication.FetchRequest and its
// answer; its response header is likewise followed by recordsLength bytes of
// whole batches, the first at offset readFrom.
//
//	FrameReplicaFetchRequest (type 3) body, 56 bytes + topic + topicID
//	  correlationID      u32
//	  topic              u16 length (<= MaxTopicNameBytes) + bytes
//	  topicID            u16 length (<= MaxTopicIDBytes) + bytes; the topic's incarnation
//	  partition          i32
//	  replicaID          i32   the follower's broker id, >= 0
//	  seq                u64
//	  epoch              i32   the follower's current leader epoch
//	  fetchOffset        i64   >= 0
//	  durableEnd         i64   >= 0, <= fetchOffset
//	  lastFetchedEpoch   i32   -1 for an empty log
//	  maxBytes           i32   >= 0
//	  maxWaitMs          i32   >= 0
//
//	FrameReplicaFetchResponse (type 4) body, 74 bytes + message, then the records
//	  correlationID      u32   echoes the request's
//	  error              i32   ErrorCode, broker-level; NONE (0) otherwise
//	  errorMessage       u16 length (<= MaxErrorMessageBytes) + bytes
//	  seq                u64
//	  epoch              i32
//	  replicaError       i32   replication.ErrorKind; 0 none
//	  divergingEpoch     i32
//	  divergingEndOffset i64   -1: no divergence
//	  highWatermark      i64
//	  logStartOffset     i64
//	  logEndOffset       i64
//	  readFrom           i64   offset of the first record that follows
//	  recordsLength      u32   raw batch bytes that follow the frame
//
// The replica decoders also reject fields outside the bounds noted above
// with ErrFrameMalformed: only brokers send them.
//
// A body must be exactly as long as its fields: trailing bytes are
// ErrFrameMalformed. A new field means a new FrameVersion.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

const (
	// FrameMagic opens every frame: "SL".
	FrameMagic uint16 = 0x534C // format
	// FrameVersion is the version of the frame layouts in this file.
	FrameVersion uint8 = 1 // format
	// FrameHeaderSize is the size of the header before every frame body:
	// magic u16 | version u8 | type u8 | body length u32, big-endian.
	FrameHeaderSize = 8 // format
	// MaxRequestFrameBytes bounds the body of a request frame a broker
	// reads (pass it to ReadFrame as maxBody).
	MaxRequestFrameBytes = 64 << 10
	// MaxTopicNameBytes bounds a topic name, as Kafka does.
	MaxTopicNameBytes = 249
	// MaxErrorMessageBytes bounds DataFetchResponse.ErrorMessage.
	// AppendFetchResponseFrame truncates a longer message.
	MaxErrorMessageBytes = 1024

	// FrameFetchRequest is the type of a DataFetchRequest frame.
	FrameFetchRequest uint8 = 1 // format
	// FrameFetchResponse is the type of a DataFetchResponse frame.
	FrameFetchResponse uint8 = 2 // format

	// fetchRequestFixedBytes is a request body without the topic's bytes.
	fetchRequestFixedBytes = 4 + 2 + 4 + 8 + 4*4 + 4 + 8 + 8 // format
	// fetchResponseFixedBytes is a response body without the message's bytes.
	fetchResponseFixedBytes = 4 + 4 + 2 + 8*4 + 4 + 4 // format

	// MaxFetchResponseFrameBytes is the largest body of a valid fetch
	// response frame; a client reads response frames with this maxBody.
	MaxFetchResponseFrameBytes = fetchResponseFixedBytes + MaxErrorMessageBytes
)

// Frame errors. Returned errors wrap one of these with detail; test with
// errors.Is.
var (
	// ErrFrameMagic is returned by ReadFrame when a frame does not start
	// with FrameMagic: the peer does not speak this protocol, or the stream
	// lost its framing.
	ErrFrameMagic = errors.New("brokerpb: bad frame magic")
	// ErrFrameVersion is returned by ReadFrame for a frame whose version is
	// not FrameVersion.
	ErrFrameVersion = errors.New("brokerpb: unsupported frame version")
	// ErrFrameTooLarge is returned by ReadFrame when the header declares a
	// body larger than maxBody; the body is neither read nor allocated.
	// Clients also wrap it when a response declares more record bytes than
	// they accept.
	ErrFrameTooLarge = errors.New("brokerpb: frame too large")
	// ErrFrameTruncated is returned by ReadFrame when the stream ends inside
	// a frame (after at least one byte of it).
	ErrFrameTruncated = errors.New("brokerpb: truncated frame")
	// ErrFrameMalformed is returned by the decoders when a body does not
	// hold exactly the fields of its type within their bounds.
	ErrFrameMalformed = errors.New("brokerpb: malformed frame")
)

// DataFetchRequest is the body of a FrameFetchRequest frame.
type DataFetchRequest struct {
	CorrelationID uint32
	Topic         string // at most MaxTopicNameBytes bytes
	Partition     int32
	Offset        int64
	MaxBytes      int32 // at least one whole batch is returned regardless
	MaxWaitMs     int32 // long poll
	MinBytes      int32
	LeaderEpoch   int32 // -1 skips the check
	// ReplicaID is -1 for consumers and a follower's broker id for
	// replication fetches.
	ReplicaID int32
	// ReplicaLogEnd and ReplicaDurableEnd are a follower's log end and
	// fsynced offsets; -1 for consumers.
	ReplicaLogEnd     int64
	ReplicaDurableEnd int64
}

// DataFetchResponse is the body of a FrameFetchResponse frame. RecordsLength
// bytes of raw whole batches follow the frame on the connection (sent with
// sendfile by the broker); they are not part of the body.
type DataFetchResponse struct {
	CorrelationID  uint32
	Error          ErrorCode
	ErrorMessage   string // at most MaxErrorMessageBytes bytes
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	NextOffset     int64
	LeaderEpoch    int32
	RecordsLength  uint32
}

// appendFrameHeader appends a frame header for a body of bodyLen bytes.
func appendFrameHeader(dst []byte, typ uint8, bodyLen int) []byte {
	dst = binary.BigEndian.AppendUint16(dst, FrameMagic)
	dst = append(dst, FrameVersion, typ)
	return binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// AppendFetchRequestFrame appends r as a complete frame (header and body) to
// dst and returns the extended slice. It panics if r.Topic is longer than
// MaxTopicNameBytes: callers validate topic names first, and a silently
// shortened name would fetch another topic.
func AppendFetchRequestFrame(dst []byte, r *DataFetchRequest) []byte {
	if len(r.Topic) > MaxTopicNameBytes {
		panic(fmt.Sprintf("brokerpb: topic name of %d bytes exceeds %d", len(r.Topic), MaxTopicNameBytes))
	}
	be := binary.BigEndian
	dst = appendFrameHeader(dst, FrameFetchRequest, fetchRequestFixedBytes+len(r.Topic))
	dst = be.AppendUint32(dst, r.CorrelationID)
	dst = appendString(dst, r.Topic)
	dst = be.AppendUint32(dst, uint32(r.Partition))
	dst = be.AppendUint64(dst, uint64(r.Offset))
	dst = be.AppendUint32(dst, uint32(r.MaxBytes))
	dst = be.AppendUint32(dst, uint32(r.MaxWaitMs))
	dst = be.AppendUint32(dst, uint32(r.MinBytes))
	dst = be.AppendUint32(dst, uint32(r.LeaderEpoch))
	dst = be.AppendUint32(dst, uint32(r.ReplicaID))
	dst = be.AppendUint64(dst, uint64(r.ReplicaLogEnd))
	return be.AppendUint64(dst, uint64(r.ReplicaDurableEnd))
}

// AppendFetchResponseFrame appends the header frame of r to dst and returns
// the extended slice; the caller then writes r.RecordsLength record bytes.
// An ErrorMessage longer than MaxErrorMessageBytes is cut at a UTF-8
// character boundary at or below the limit.
func AppendFetchResponseFrame(dst []byte, r *DataFetchResponse) []byte {
	msg := truncateUTF8(r.ErrorMessage, MaxErrorMessageBytes)
	be := binary.BigEndian
	dst = appendFrameHeader(dst, FrameFetchResponse, fetchResponseFixedBytes+len(msg))
	dst = be.AppendUint32(dst, r.CorrelationID)
	dst = be.AppendUint32(dst, uint32(r.Error))
	dst = appendString(dst, msg)
	dst = be.AppendUint64(dst, uint64(r.HighWatermark))
	dst = be.AppendUint64(dst, uint64(r.LogStartOffset))
	dst = be.AppendUint64(dst, uint64(r.LogEndOffset))
	dst = be.AppendUint64(dst, uint64(r.NextOffset))
	dst = be.AppendUint32(dst, uint32(r.LeaderEpoch))
	return be.AppendUint32(dst, r.RecordsLength)
}

// truncateUTF8 returns s cut to at most n bytes without splitting a
// multi-byte character (invalid bytes count as one-byte characters).
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// ReadFrame reads one frame from r: the header, then the body, which it
// returns with the frame's type. The body is read into buf when cap(buf) is
// large enough, else into a new slice; it aliases buf then, so it is only
// valid until buf is reused. A header declaring a body larger than maxBody
// yields ErrFrameTooLarge before anything is read or allocated for the body
// (the stream is then out of step: close it). ReadFrame returns io.EOF when
// r ends cleanly before the first header byte, ErrFrameTruncated when it
// ends inside the frame, and r's own error otherwise. It does not check the
// type: the caller knows which types it expects.
func ReadFrame(r io.Reader, maxBody int, buf []byte) (typ uint8, body []byte, err error) {
	// The header is read into buf's space when there is room: the body
	// overwrites it only after it has been parsed.
	var hdrArray [FrameHeaderSize]byte
	hdr := hdrArray[:]
	if cap(buf) >= FrameHeaderSize {
		hdr = buf[:FrameHeaderSize]
	}
	if n, err := io.ReadFull(r, hdr); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: header: %d of %d bytes", ErrFrameTruncated, n, FrameHeaderSize)
		}
		return 0, nil, err // io.EOF at a frame boundary, or r's error
	}
	be := binary.BigEndian
	if m := be.Uint16(hdr[0:]); m != FrameMagic {
		return 0, nil, fmt.Errorf("%w: %#04x, want %#04x", ErrFrameMagic, m, FrameMagic)
	}
	if v := hdr[2]; v != FrameVersion {
		return 0, nil, fmt.Errorf("%w: %d, want %d", ErrFrameVersion, v, FrameVersion)
	}
	typ = hdr[3]
	size := be.Uint32(hdr[4:])
	if maxBody < 0 {
		maxBody = 0
	}
	if uint64(size) > uint64(maxBody) {
		return typ, nil, fmt.Errorf("%w: type %d declares %d bytes, limit %d", ErrFrameTooLarge, typ, size, maxBody)
	}
	if cap(buf) >= int(size) {
		body = buf[:size]
	} else {
		body = make([]byte, size)
	}
	if n, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return typ, nil, fmt.Errorf("%w: type %d body: %d of %d bytes", ErrFrameTruncated, typ, n, size)
		}
		return typ, nil, err
	}
	return typ, body, nil
}

// frameDecoder reads fields from a body, remembering the first failure so
// the decoders read straight through and check once.
type frameDecoder struct {
	b   []byte
	off int
	err error
}

func (d *frameDecoder) fail(field string, need int) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s needs %d bytes at %d, body has %d", ErrFrameMalformed, field, need, d.off, len(d.b))
	}
}

func (d *frameDecoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.fail(field, n)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *frameDecoder) u32(field string) uint32 {
	if p := d.take(field, 4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *frameDecoder) i32(field string) int32 { return int32(d.u32(field)) }

func (d *frameDecoder) i64(field string) int64 {
	if p := d.take(field, 8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

// str reads a u16-length string of at most maxLen bytes. The length is
// checked against maxLen and the remaining body before any allocation, so
// the copy is never larger than the body.
func (d *frameDecoder) str(field string, maxLen int) string {
	p := d.take(field+" length", 2)
	if p == nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(p))
	if n > maxLen {
		if d.err == nil {
			d.err = fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrFrameMalformed, field, n, maxLen)
		}
		return ""
	}
	return string(d.take(field, n))
}

// finish returns the first error, or ErrFrameMalformed for trailing bytes.
func (d *frameDecoder) finish(what string) error {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("%w: %d trailing bytes after %s", ErrFrameMalformed, len(d.b)-d.off, what)
	}
	return d.err
}

// DecodeFetchRequest decodes the body of a FrameFetchRequest frame. It
// returns ErrFrameMalformed when the body is short, has trailing bytes or
// declares a topic longer than MaxTopicNameBytes. It does not validate the
// values (an empty topic, a negative offset): that is the broker's job, with
// a precise error code.
func DecodeFetchRequest(body []byte) (DataFetchRequest, error) {
	d := frameDecoder{b: body}
	r := DataFetchRequest{
		CorrelationID:     d.u32("correlationID"),
		Topic:             d.str("topic", MaxTopicNameBytes),
		Partition:         d.i32("partition"),
		Offset:            d.i64("offset"),
		MaxBytes:          d.i32("maxBytes"),
		MaxWaitMs:         d.i32("maxWaitMs"),
		MinBytes:          d.i32("minBytes"),
		LeaderEpoch:       d.i32("leaderEpoch"),
		ReplicaID:         d.i32("replicaID"),
		ReplicaLogEnd:     d.i64("replicaLogEnd"),
		ReplicaDurableEnd: d.i64("replicaDurableEnd"),
	}
	if err := d.finish("fetch request"); err != nil {
		return DataFetchRequest{}, err
	}
	return r, nil
}

// DecodeFetchResponse decodes the body of a FrameFetchResponse frame. It
// returns ErrFrameMalformed when the body is short, has trailing bytes or
// declares a message longer than MaxErrorMessageBytes. An error code this
// version does not know is returned as is.
func DecodeFetchResponse(body []byte) (DataFetchResponse, error) {
	d := frameDecoder{b: body}
	r := DataFetchResponse{
		CorrelationID:  d.u32("correlationID"),
		Error:          ErrorCode(d.i32("error")),
		ErrorMessage:   d.str("errorMessage", MaxErrorMessageBytes),
		HighWatermark:  d.i64("highWatermark"),
		LogStartOffset: d.i64("logStartOffset"),
		LogEndOffset:   d.i64("logEndOffset"),
		NextOffset:     d.i64("nextOffset"),
		LeaderEpoch:    d.i32("leaderEpoch"),
		RecordsLength:  d.u32("recordsLength"),
	}
	if err := d.finish("fetch response"); err != nil {
		return DataFetchResponse{}, err
	}
	return r, nil
}
