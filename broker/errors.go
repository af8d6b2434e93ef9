package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/record"
)

// Short names for the codes used in this package.
const (
	codeUnknownTopic         = brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION
	codeNotLeader            = brokerpb.ErrorCode_NOT_LEADER
	codeFencedEpoch          = brokerpb.ErrorCode_FENCED_LEADER_EPOCH
	codeUnknownEpoch         = brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH
	codeOutOfRange           = brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE
	codeOffsetNotAvailable   = brokerpb.ErrorCode_OFFSET_NOT_AVAILABLE
	codeInvalidRecord        = brokerpb.ErrorCode_INVALID_RECORD
	codeCorrupt              = brokerpb.ErrorCode_CORRUPT_MESSAGE
	codeTooLarge             = brokerpb.ErrorCode_MESSAGE_TOO_LARGE
	codeNotEnoughReplicas    = brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS
	codeNotEnoughAfterAppend = brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND
	codeTimedOut             = brokerpb.ErrorCode_REQUEST_TIMED_OUT
	codeStorage              = brokerpb.ErrorCode_STORAGE_ERROR
	codeDiskFull             = brokerpb.ErrorCode_DISK_FULL
	codeInvalidTopic         = brokerpb.ErrorCode_INVALID_TOPIC
	codeTopicExists          = brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS
	codeInvalidConfig        = brokerpb.ErrorCode_INVALID_CONFIG
	codeInvalidPartitions    = brokerpb.ErrorCode_INVALID_PARTITIONS
	codeInvalidRequest       = brokerpb.ErrorCode_INVALID_REQUEST
	codeBrokerNotAvailable   = brokerpb.ErrorCode_BROKER_NOT_AVAILABLE
	codeLeaderNotAvailable   = brokerpb.ErrorCode_LEADER_NOT_AVAILABLE
	codeUnknown              = brokerpb.ErrorCode_UNKNOWN
)

// Error is a broker error with its protocol code. Indefinite says the
// request may have taken effect (a write that was appended but whose
// acknowledgement could not be given): the client must not assume either.
type Error struct {
	Code        brokerpb.ErrorCode
	Msg         string
	Indefinite  bool
	Leader      int32 // -1 when unknown
	LeaderEpoch int32 // -1 when unknown
	Meta        map[string]string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Msg }

func errf(code brokerpb.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Leader: -1, LeaderEpoch: -1}
}

// errOrNil converts a possibly nil *Error to an error without creating a
// non-nil interface that holds a nil pointer.
func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func (e *Error) indefinite() *Error { e.Indefinite = true; return e }

// grpcCodes is the one table from protocol codes to gRPC codes (DESIGN.md
// §4). The gRPC code tells a generic client what kind of failure it is;
// the ErrorInfo detail carries the precise protocol code.
var grpcCodes = map[brokerpb.ErrorCode]codes.Code{
	brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION:       codes.NotFound,
	brokerpb.ErrorCode_NOT_LEADER:                       codes.FailedPrecondition,
	brokerpb.ErrorCode_FENCED_LEADER_EPOCH:              codes.FailedPrecondition,
	brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH:             codes.Unavailable,
	brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE:              codes.OutOfRange,
	brokerpb.ErrorCode_OFFSET_NOT_AVAILABLE:             codes.Unavailable,
	brokerpb.ErrorCode_INVALID_RECORD:                   codes.InvalidArgument,
	brokerpb.ErrorCode_CORRUPT_MESSAGE:                  codes.InvalidArgument,
	brokerpb.ErrorCode_MESSAGE_TOO_LARGE:                codes.InvalidArgument,
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS:              codes.Unavailable,
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND: codes.Unavailable,
	brokerpb.ErrorCode_REQUEST_TIMED_OUT:                codes.DeadlineExceeded,
	brokerpb.ErrorCode_STORAGE_ERROR:                    codes.Unavailable,
	brokerpb.ErrorCode_DISK_FULL:                        codes.ResourceExhausted,
	brokerpb.ErrorCode_INVALID_TOPIC:                    codes.InvalidArgument,
	brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS:             codes.AlreadyExists,
	brokerpb.ErrorCode_INVALID_CONFIG:                   codes.InvalidArgument,
	brokerpb.ErrorCode_INVALID_PARTITIONS:               codes.InvalidArgument,
	brokerpb.ErrorCode_INVALID_REQUEST:                  codes.InvalidArgument,
	brokerpb.ErrorCode_BROKER_NOT_AVAILABLE:             codes.Unavailable,
	brokerpb.ErrorCode_LEADER_NOT_AVAILABLE:             codes.Unavailable,
	brokerpb.ErrorCode_DUPLICATE_SEQUENCE:               codes.AlreadyExists,
	brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE:            codes.FailedPrecondition,
	brokerpb.ErrorCode_INVALID_PRODUCER_EPOCH:           codes.FailedPrecondition,
	brokerpb.ErrorCode_UNKNOWN_PRODUCER_ID:              codes.FailedPrecondition,
	brokerpb.ErrorCode_UNKNOWN_MEMBER:                   codes.NotFound,
	brokerpb.ErrorCode_FENCED_MEMBER_EPOCH:              codes.FailedPrecondition,
	brokerpb.ErrorCode_NOT_COORDINATOR:                  codes.FailedPrecondition,
	brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE:        codes.Unavailable,
	brokerpb.ErrorCode_GROUP_NOT_EMPTY:                  codes.FailedPrecondition,
	brokerpb.ErrorCode_UNKNOWN_GROUP:                    codes.NotFound,
	brokerpb.ErrorCode_POLICY_VIOLATION:                 codes.FailedPrecondition,
	brokerpb.ErrorCode_UNKNOWN:                          codes.Internal,
	brokerpb.ErrorCode_STALE_MEMBER_EPOCH:               codes.FailedPrecondition,
	brokerpb.ErrorCode_GROUP_MAX_SIZE_REACHED:           codes.ResourceExhausted,
	brokerpb.ErrorCode_NO_REASSIGNMENT_IN_PROGRESS:      codes.FailedPrecondition,
}

// GRPCCode returns the gRPC code for a protocol code.
func GRPCCode(c brokerpb.ErrorCode) codes.Code {
	if g, ok := grpcCodes[c]; ok {
		return g
	}
	return codes.Internal
}

// asError turns any error from the broker's core into an *Error.
func asError(err error) *Error {
	var be *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &be):
		return be
	case errors.Is(err, context.DeadlineExceeded):
		return errf(codeTimedOut, "%v", err).indefinite()
	case errors.Is(err, context.Canceled):
		return errf(codeTimedOut, "request cancelled: %v", err).indefinite()
	}
	return storageError(err)
}

// storageError maps an engine error from an append or read.
func storageError(err error) *Error {
	var re *engine.OffsetRangeError
	switch {
	case errors.As(err, &re):
		e := errf(codeOutOfRange, "offset %d is outside the log [%d, %d]", re.Requested, re.LogStartOffset, re.LogEndOffset)
		e.Meta = map[string]string{"log_start_offset": strconv.FormatInt(re.LogStartOffset, 10), "high_watermark": strconv.FormatInt(re.LogEndOffset, 10)}
		return e
	case errors.Is(err, engine.ErrDiskFull):
		return errf(codeDiskFull, "%v", err)
	case errors.Is(err, engine.ErrInvalidBatch) && errors.Is(err, record.ErrCorrupt):
		return errf(codeCorrupt, "%v", err)
	case errors.Is(err, engine.ErrInvalidBatch), errors.Is(err, engine.ErrBatchTooLarge):
		return errf(codeInvalidRecord, "%v", err)
	case errors.Is(err, engine.ErrPoisoned), errors.Is(err, engine.ErrCorrupt):
		return errf(codeStorage, "%v", err)
	case errors.Is(err, engine.ErrClosed):
		return errf(codeNotLeader, "partition is closing: %v", err)
	}
	return errf(codeStorage, "%v", err)
}

// toStatus renders an error for gRPC: the code from the table, and an
// ErrorInfo detail with the protocol code and its metadata.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isBrokerError(err) {
		return err
	}
	e := asError(err)
	meta := map[string]string{"indefinite": strconv.FormatBool(e.Indefinite)}
	if e.Leader >= 0 {
		meta["leader"] = strconv.Itoa(int(e.Leader))
	}
	if e.LeaderEpoch >= 0 {
		meta["leader_epoch"] = strconv.Itoa(int(e.LeaderEpoch))
	}
	for k, v := range e.Meta {
		meta[k] = v
	}
	st := status.New(GRPCCode(e.Code), e.Error())
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: e.Code.String(), Domain: "sluice", Metadata: meta}); derr == nil {
		st = d
	}
	return st.Err()
}

func isBrokerError(err error) bool {
	var be *Error
	return errors.As(err, &be)
}
