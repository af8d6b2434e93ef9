package brokerpb

// Replica (follower) fetch frames: the replication fetch on the data plane.
// The layouts are in the table at the top of frame.go.

import (
	"encoding/binary"
	"fmt"
)

const (
	// FrameReplicaFetchRequest is the type of a ReplicaFetchRequest frame.
	FrameReplicaFetchRequest uint8 = 3 // format
	// FrameReplicaFetchResponse is the type of a ReplicaFetchResponse frame.
	FrameReplicaFetchResponse uint8 = 4 // format

	// MaxTopicIDBytes bounds ReplicaFetchRequest.TopicID.
	MaxTopicIDBytes = 64 // format

	// replicaFetchRequestFixedBytes is a request body without the bytes of
	// the topic and the topic id.
	replicaFetchRequestFixedBytes = 4 + 2 + 2 + 4 + 4 + 8 + 4 + 8 + 8 + 4 + 4 + 4 // format
	// replicaFetchResponseFixedBytes is a response body without the
	// message's bytes.
	replicaFetchResponseFixedBytes = 4 + 4 + 2 + 8 + 4 + 4 + 4 + 8*5 + 4 // format

	// MaxReplicaFetchResponseFrameBytes is the largest body of a valid
	// replica fetch response frame; a follower reads response frames with
	// this maxBody.
	MaxReplicaFetchResponseFrameBytes = replicaFetchResponseFixedBytes + MaxErrorMessageBytes
)

// ReplicaFetchRequest is a follower's fetch (replication.FetchRequest on the
// wire), the body of a FrameReplicaFetchRequest frame.
type ReplicaFetchRequest struct {
	CorrelationID uint32
	Topic         string // at most MaxTopicNameBytes bytes
	TopicID       string // at most MaxTopicIDBytes bytes: the incarnation of the topic
	Partition     int32
	ReplicaID     int32 // the follower's broker id, >= 0
	Seq           uint64
	Epoch         int32 // the follower's current leader epoch
	FetchOffset   int64 // >= 0
	// Invariant: 0 <= DurableEnd <= FetchOffset.
	DurableEnd       int64
	LastFetchedEpoch int32 // -1 for an empty log
	MaxBytes         int32 // >= 0
	MaxWaitMs        int32 // >= 0
}

// ReplicaFetchResponse is the body of a FrameReplicaFetchResponse frame.
// RecordsLength bytes of whole batches follow the frame on the connection,
// starting at offset ReadFrom; they are not part of the body.
type ReplicaFetchResponse struct {
	CorrelationID uint32
	// Error is a broker-level error (unknown topic, not a replica here,
	// shutting down); NONE otherwise. Replication outcomes are ReplicaError.
	Error        ErrorCode
	ErrorMessage string // at most MaxErrorMessageBytes bytes
	Seq          uint64
	Epoch        int32
	// ReplicaError is a replication.ErrorKind (brokerpb does not import
	// replication): 0 none, 1 fenced epoch, 2 unknown epoch, 3 not leader,
	// 4 offset out of range. Values this version does not know are
	// returned as is.
	ReplicaError       int32
	DivergingEpoch     int32
	DivergingEndOffset int64 // -1: no divergence; otherwise >= 0
	HighWatermark      int64
	LogStartOffset     int64
	LogEndOffset       int64
	ReadFrom           int64
	RecordsLength      uint32
}

// AppendReplicaFetchRequestFrame appends r as a complete frame (header and
// body) to dst and returns the extended slice. It panics if r.Topic is
// longer than MaxTopicNameBytes or r.TopicID longer than MaxTopicIDBytes:
// a silently shortened name or id would fetch another topic. It does not
// check the other fields; the receiving decoder rejects out-of-bounds values.
func AppendReplicaFetchRequestFrame(dst []byte, r *ReplicaFetchRequest) []byte {
	if len(r.Topic) > MaxTopicNameBytes {
		panic(fmt.Sprintf("brokerpb: topic name of %d bytes exceeds %d", len(r.Topic), MaxTopicNameBytes))
	}
	if len(r.TopicID) > MaxTopicIDBytes {
		panic(fmt.Sprintf("brokerpb: topic id of %d bytes exceeds %d", len(r.TopicID), MaxTopicIDBytes))
	}
	be := binary.BigEndian
	dst = appendFrameHeader(dst, FrameReplicaFetchRequest, replicaFetchRequestFixedBytes+len(r.Topic)+len(r.TopicID))
	dst = be.AppendUint32(dst, r.CorrelationID)
	dst = appendString(dst, r.Topic)
	dst = appendString(dst, r.TopicID)
	dst = be.AppendUint32(dst, uint32(r.Partition))
	dst = be.AppendUint32(dst, uint32(r.ReplicaID))
	dst = be.AppendUint64(dst, r.Seq)
	dst = be.AppendUint32(dst, uint32(r.Epoch))
	dst = be.AppendUint64(dst, uint64(r.FetchOffset))
	dst = be.AppendUint64(dst, uint64(r.DurableEnd))
	dst = be.AppendUint32(dst, uint32(r.LastFetchedEpoch))
	dst = be.AppendUint32(dst, uint32(r.MaxBytes))
	return be.AppendUint32(dst, uint32(r.MaxWaitMs))
}

// AppendReplicaFetchResponseFrame appends the header frame of r to dst and
// returns the extended slice; the caller then writes r.RecordsLength record
// bytes. An ErrorMessage longer than MaxErrorMessageBytes is cut at a UTF-8
// character boundary at or below the limit, as AppendFetchResponseFrame does.
func AppendReplicaFetchResponseFrame(dst []byte, r *ReplicaFetchResponse) []byte {
	msg := truncateUTF8(r.ErrorMessage, MaxErrorMessageBytes)
	be := binary.BigEndian
	dst = appendFrameHeader(dst, FrameReplicaFetchResponse, replicaFetchResponseFixedBytes+len(msg))
	dst = be.AppendUint32(dst, r.CorrelationID)
	dst = be.AppendUint32(dst, uint32(r.Error))
	dst = appendString(dst, msg)
	dst = be.AppendUint64(dst, r.Seq)
	dst = be.AppendUint32(dst, uint32(r.Epoch))
	dst = be.AppendUint32(dst, uint32(r.ReplicaError))
	dst = be.AppendUint32(dst, uint32(r.DivergingEpoch))
	dst = be.AppendUint64(dst, uint64(r.DivergingEndOffset))
	dst = be.AppendUint64(dst, uint64(r.HighWatermark))
	dst = be.AppendUint64(dst, uint64(r.LogStartOffset))
	dst = be.AppendUint64(dst, uint64(r.LogEndOffset))
	dst = be.AppendUint64(dst, uint64(r.ReadFrom))
	return be.AppendUint32(dst, r.RecordsLength)
}

func (d *frameDecoder) u64(field string) uint64 {
	if p := d.take(field, 8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// DecodeReplicaFetchRequest decodes the body of a FrameReplicaFetchRequest
// frame. It returns ErrFrameMalformed when the body is short, has trailing
// bytes, declares a topic longer than MaxTopicNameBytes or a topic id longer
// than MaxTopicIDBytes, or holds a negative ReplicaID, FetchOffset,
// DurableEnd, MaxBytes or MaxWaitMs, or a DurableEnd past FetchOffset.
// Unlike DecodeFetchRequest it checks these bounds: only followers send this
// frame, so a value out of bounds is a broken peer, not a user's mistake
// that deserves a precise error code.
func DecodeReplicaFetchRequest(body []byte) (ReplicaFetchRequest, error) {
	d := frameDecoder{b: body}
	r := ReplicaFetchRequest{
		CorrelationID:    d.u32("correlationID"),
		Topic:            d.str("topic", MaxTopicNameBytes),
		TopicID:          d.str("topicID", MaxTopicIDBytes),
		Partition:        d.i32("partition"),
		ReplicaID:        d.i32("replicaID"),
		Seq:              d.u64("seq"),
		Epoch:            d.i32("epoch"),
		FetchOffset:      d.i64("fetchOffset"),
		DurableEnd:       d.i64("durableEnd"),
		LastFetchedEpoch: d.i32("lastFetchedEpoch"),
		MaxBytes:         d.i32("maxBytes"),
		MaxWaitMs:        d.i32("maxWaitMs"),
	}
	if err := d.finish("replica fetch request"); err != nil {
		return ReplicaFetchRequest{}, err
	}
	var err error
	switch {
	case r.ReplicaID < 0:
		err = fmt.Errorf("%w: replica fetch request: negative replicaID %d", ErrFrameMalformed, r.ReplicaID)
	case r.FetchOffset < 0:
		err = fmt.Errorf("%w: replica fetch request: negative fetchOffset %d", ErrFrameMalformed, r.FetchOffset)
	case r.DurableEnd < 0 || r.DurableEnd > r.FetchOffset:
		err = fmt.Errorf("%w: replica fetch request: durableEnd %d outside [0, fetchOffset %d]", ErrFrameMalformed, r.DurableEnd, r.FetchOffset)
	case r.MaxBytes < 0:
		err = fmt.Errorf("%w: replica fetch request: negative maxBytes %d", ErrFrameMalformed, r.MaxBytes)
	case r.MaxWaitMs < 0:
		err = fmt.Errorf("%w: replica fetch request: negative maxWaitMs %d", ErrFrameMalformed, r.MaxWaitMs)
	}
	if err != nil {
		return ReplicaFetchRequest{}, err
	}
	return r, nil
}

// DecodeReplicaFetchResponse decodes the body of a FrameReplicaFetchResponse
// frame. It returns ErrFrameMalformed when the body is short, has trailing
// bytes, declares a message longer than MaxErrorMessageBytes, or holds a
// DivergingEndOffset below -1. Error codes and replica error kinds this
// version does not know are returned as is.
func DecodeReplicaFetchResponse(body []byte) (ReplicaFetchResponse, error) {
	d := frameDecoder{b: body}
	r := ReplicaFetchResponse{
		CorrelationID:      d.u32("correlationID"),
		Error:              ErrorCode(d.i32("error")),
		ErrorMessage:       d.str("errorMessage", MaxErrorMessageBytes),
		Seq:                d.u64("seq"),
		Epoch:              d.i32("epoch"),
		ReplicaError:       d.i32("replicaError"),
		DivergingEpoch:     d.i32("divergingEpoch"),
		DivergingEndOffset: d.i64("divergingEndOffset"),
		HighWatermark:      d.i64("highWatermark"),
		LogStartOffset:     d.i64("logStartOffset"),
		LogEndOffset:       d.i64("logEndOffset"),
		ReadFrom:           d.i64("readFrom"),
		RecordsLength:      d.u32("recordsLength"),
	}
	if err := d.finish("replica fetch response"); err != nil {
		return ReplicaFetchResponse{}, err
	}
	if r.DivergingEndOffset < -1 {
		return ReplicaFetchResponse{}, fmt.Errorf("%w: replica fetch response: divergingEndOffset %d below -1", ErrFrameMalformed, r.DivergingEndOffset)
	}
	return r, nil
}
