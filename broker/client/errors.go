package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrClosed is returned by operations on a closed Client, Producer or
// Consumer.
var ErrClosed = errors.New("sluice: closed")

// errNotInMetadata is the cause of the UNKNOWN_TOPIC_OR_PARTITION errors the
// client determines itself, from metadata it has just refreshed: retrying
// would only ask again, so they are not retryable.
var errNotInMetadata = errors.New("not in the cluster metadata")

// errorDomain is the google.rpc.ErrorInfo domain of the broker's errors.
const errorDomain = "sluice"

// Error is an error reported by a broker, or a transport failure classified
// the same way. Test for it with errors.As, or use Code, IsRetryable and
// IsIndefinite.
type Error struct {
	Code    brokerpb.ErrorCode
	Message string
	// Indefinite reports that the request may have taken effect although it
	// failed: the broker timed out waiting for replicas, lost leadership
	// after appending, or the connection or context ended after the request
	// was sent. A retry of an indefinite produce may duplicate records.
	Indefinite bool
	// Leader and LeaderEpoch are the partition's leader and epoch as the
	// broker knew them (NOT_LEADER and epoch errors), or -1.
	Leader      int32
	LeaderEpoch int32

	cause error // context or network error underneath, for errors.Is
}

func (e *Error) Error() string {
	s := "sluice: " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Indefinite {
		s += " (indefinite)"
	}
	return s
}

// Unwrap returns the context or network error underneath, if any, so that
// errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.cause }

// OffsetOutOfRangeError is returned by Consumer.Poll when a partition's
// position is outside the range the broker can serve: below LogStartOffset
// (deleted by retention) or above HighWatermark. Seek to a valid offset to
// continue. Code(err) is OFFSET_OUT_OF_RANGE.
type OffsetOutOfRangeError struct {
	Topic     string
	Partition int32
	Offset    int64 // the requested offset
	// LogStartOffset and HighWatermark bound the valid offsets
	// [LogStartOffset, HighWatermark]; -1 when the broker did not say.
	LogStartOffset int64
	HighWatermark  int64
	Message        string
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("sluice: OFFSET_OUT_OF_RANGE: %s/%d offset %d outside [%d, %d]",
		e.Topic, e.Partition, e.Offset, e.LogStartOffset, e.HighWatermark)
}

// Unwrap makes Code and errors.As(*Error) see OFFSET_OUT_OF_RANGE.
func (e *OffsetOutOfRangeError) Unwrap() error {
	return &Error{Code: brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE, Message: e.Message, Leader: -1, LeaderEpoch: -1}
}

// Code returns the broker error code in err's chain: NONE for nil, UNKNOWN
// for an error that carries none.
func Code(err error) brokerpb.ErrorCode {
	if err == nil {
		return brokerpb.ErrorCode_NONE
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return brokerpb.ErrorCode_UNKNOWN
}

// retryableCodes are the conditions that a later attempt, usually after a
// metadata refresh, can clear. DISK_FULL, STORAGE_ERROR and validation
// errors are not in it: repeating the request would fail the same way until
// an operator acts.
var retryableCodes = map[brokerpb.ErrorCode]bool{
	brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION:       true, // metadata not propagated yet, or stale
	brokerpb.ErrorCode_NOT_LEADER:                       true,
	brokerpb.ErrorCode_LEADER_NOT_AVAILABLE:             true,
	brokerpb.ErrorCode_FENCED_LEADER_EPOCH:              true,
	brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH:             true,
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS:              true,
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND: true,
	brokerpb.ErrorCode_REQUEST_TIMED_OUT:                true,
	brokerpb.ErrorCode_BROKER_NOT_AVAILABLE:             true,
	brokerpb.ErrorCode_NOT_COORDINATOR:                  true,
	brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE:        true,
	brokerpb.ErrorCode_STALE_MEMBER_EPOCH:               true, // heartbeat, then commit again
	brokerpb.ErrorCode_OFFSET_NOT_AVAILABLE:             true, // above the high watermark, not yet committed
}

// IsRetryable reports whether err is a transient condition that the same
// request may overcome later: leadership moving (NOT_LEADER,
// LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH), stale
// metadata (UNKNOWN_TOPIC_OR_PARTITION from a broker; not when the client's
// freshly refreshed metadata lacks the topic), too few in-sync replicas
// (NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND), timeouts
// (REQUEST_TIMED_OUT), unreachable brokers (BROKER_NOT_AVAILABLE, which
// is also what a broken connection maps to), records not committed yet
// (OFFSET_NOT_AVAILABLE), a group coordinator that moved or is starting
// (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) and an offset commit made
// with an older member epoch (STALE_MEMBER_EPOCH: heartbeat, then commit
// again). UNKNOWN_MEMBER and FENCED_MEMBER_EPOCH are not retryable as
// such: the member must drop its partitions and rejoin, which a group
// Consumer does by itself (see IsMembershipLost). A cancelled context is not
// retryable. Whether a retry may duplicate is IsIndefinite's question.
func IsRetryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if errors.Is(e.cause, context.Canceled) || errors.Is(e.cause, errNotInMetadata) {
		return false
	}
	return retryableCodes[e.Code]
}

// IsMembershipLost reports whether err says the consumer-group member is no
// longer in the group (UNKNOWN_MEMBER: it left, expired or was removed) or
// acts for an epoch the group has fenced (FENCED_MEMBER_EPOCH). Its
// partitions may already belong to another member: a group Consumer drops
// them (OnRevoked with lost=true) and rejoins with epoch 0.
func IsMembershipLost(err error) bool {
	c := Code(err)
	return c == brokerpb.ErrorCode_UNKNOWN_MEMBER || c == brokerpb.ErrorCode_FENCED_MEMBER_EPOCH
}

// IsIndefinite reports whether the failed request may nevertheless have
// taken effect (see Error.Indefinite). A definite error guarantees that
// nothing was written.
func IsIndefinite(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Indefinite
}

// indefiniteCodes are written-but-not-confirmed outcomes even when the
// broker's ErrorInfo does not say so.
func indefiniteByCode(c brokerpb.ErrorCode) bool {
	return c == brokerpb.ErrorCode_REQUEST_TIMED_OUT || c == brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND
}

// grpcCodeMap maps the gRPC code of a status without a sluice ErrorInfo.
// indefiniteIfSent marks codes after which a sent request may have run.
var grpcCodeMap = map[codes.Code]struct {
	code             brokerpb.ErrorCode
	indefiniteIfSent bool
}{
	codes.Unavailable:        {brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, true},
	codes.DeadlineExceeded:   {brokerpb.ErrorCode_REQUEST_TIMED_OUT, true},
	codes.Canceled:           {brokerpb.ErrorCode_UNKNOWN, true},
	codes.Unknown:            {brokerpb.ErrorCode_UNKNOWN, true},
	codes.Internal:           {brokerpb.ErrorCode_UNKNOWN, true},
	codes.Aborted:            {brokerpb.ErrorCode_UNKNOWN, true},
	codes.DataLoss:           {brokerpb.ErrorCode_CORRUPT_MESSAGE, true},
	codes.NotFound:           {brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, false},
	codes.AlreadyExists:      {brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS, false},
	codes.InvalidArgument:    {brokerpb.ErrorCode_INVALID_REQUEST, false},
	codes.OutOfRange:         {brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE, false},
	codes.Unimplemented:      {brokerpb.ErrorCode_INVALID_REQUEST, false},
	codes.FailedPrecondition: {brokerpb.ErrorCode_UNKNOWN, false},
	codes.ResourceExhausted:  {brokerpb.ErrorCode_UNKNOWN, false},
	codes.PermissionDenied:   {brokerpb.ErrorCode_POLICY_VIOLATION, false},
	codes.Unauthenticated:    {brokerpb.ErrorCode_POLICY_VIOLATION, false},
}

// fromStatus converts an error returned by a gRPC call into an *Error (or an
// *OffsetOutOfRangeError), from the status's google.rpc.ErrorInfo when it
// has one in the "sluice" domain and from its gRPC code otherwise. sent
// reports whether the request may have reached the broker: transport and
// context failures are indefinite only then. nil stays nil; errors that are
// already classified pass through.
func fromStatus(err error, sent bool) error {
	if err == nil {
		return nil
	}
	var already *Error
	var oor *OffsetOutOfRangeError
	if errors.As(err, &already) || errors.As(err, &oor) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not a status: a context error raised before the call, or a
		// transport error from elsewhere.
		e := &Error{Code: brokerpb.ErrorCode_UNKNOWN, Message: err.Error(), Indefinite: sent, Leader: -1, LeaderEpoch: -1, cause: err}
		if errors.Is(err, context.DeadlineExceeded) {
			e.Code = brokerpb.ErrorCode_REQUEST_TIMED_OUT
		}
		return e
	}
	if st.Code() == codes.OK {
		return nil
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		return fromErrorInfo(st, info)
	}
	m, ok := grpcCodeMap[st.Code()]
	if !ok {
		m.code = brokerpb.ErrorCode_UNKNOWN
	}
	e := &Error{
		Code:        m.code,
		Message:     st.Code().String() + ": " + st.Message(),
		Indefinite:  sent && m.indefiniteIfSent,
		Leader:      -1,
		LeaderEpoch: -1,
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		e.cause = context.DeadlineExceeded
	case codes.Canceled:
		e.cause = context.Canceled
	}
	if e.Code == brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE {
		return &OffsetOutOfRangeError{Offset: -1, LogStartOffset: -1, HighWatermark: -1, Message: e.Message}
	}
	return e
}

// fromErrorInfo builds the error from the broker's ErrorInfo detail.
func fromErrorInfo(st *status.Status, info *errdetails.ErrorInfo) error {
	md := info.GetMetadata()
	code := brokerpb.ErrorCode_UNKNOWN
	if v, ok := brokerpb.ErrorCode_value[info.GetReason()]; ok {
		code = brokerpb.ErrorCode(v)
	}
	e := &Error{
		Code:        code,
		Message:     st.Message(),
		Indefinite:  indefiniteByCode(code),
		Leader:      int32(metaInt(md, "leader", -1)),
		LeaderEpoch: int32(metaInt(md, "leader_epoch", -1)),
	}
	if v, ok := md["indefinite"]; ok {
		e.Indefinite = v == "true"
	}
	if code == brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE {
		return &OffsetOutOfRangeError{
			Offset:         -1,
			LogStartOffset: metaInt(md, "log_start_offset", -1),
			HighWatermark:  metaInt(md, "high_watermark", -1),
			Message:        e.Message,
		}
	}
	return e
}

func metaInt(md map[string]string, key string, def int64) int64 {
	v, ok := md[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}

// fromDataPlane classifies a data-plane transport failure: the connection
// broke or timed out. A fetch changes nothing, so it is never indefinite.
func fromDataPlane(addr string, err error) error {
	e := &Error{Code: brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, Message: "data plane " + addr + ": " + err.Error(), Leader: -1, LeaderEpoch: -1, cause: err}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Code = brokerpb.ErrorCode_REQUEST_TIMED_OUT
	}
	return e
}

// withIndefinite returns err marked indefinite (a copy), for a request whose
// earlier attempt may have been written even though the last one failed
// definitely.
func withIndefinite(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Indefinite {
		return err
	}
	c := *e
	c.Indefinite = true
	c.Message += "; an earlier attempt may have been written"
	return &c
}

// newError builds a client-side *Error.
func newError(code brokerpb.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Leader: -1, LeaderEpoch: -1}
}
