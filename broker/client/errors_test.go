package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func withInfo(c codes.Code, reason string, md map[string]string) error {
	st, err := status.New(c, "broker says").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "sluice", Metadata: md})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestFromStatus(t *testing.T) {
	foreign, _ := status.New(codes.Unavailable, "x").WithDetails(&errdetails.ErrorInfo{Reason: "NOT_LEADER", Domain: "other"})
	cases := []struct {
		name       string
		err        error
		sent       bool
		code       brokerpb.ErrorCode
		retryable  bool
		indefinite bool
		leader     int32
		epoch      int32
		is         error // errors.Is target, if any
	}{
		{name: "not leader with hint", err: withInfo(codes.FailedPrecondition, "NOT_LEADER", map[string]string{"indefinite": "false", "leader": "3", "leader_epoch": "7"}),
			sent: true, code: brokerpb.ErrorCode_NOT_LEADER, retryable: true, leader: 3, epoch: 7},
		{name: "not leader, no hint", err: withInfo(codes.FailedPrecondition, "NOT_LEADER", nil),
			sent: true, code: brokerpb.ErrorCode_NOT_LEADER, retryable: true, leader: -1, epoch: -1},
		{name: "fenced epoch", err: withInfo(codes.FailedPrecondition, "FENCED_LEADER_EPOCH", map[string]string{"leader_epoch": "9"}),
			sent: true, code: brokerpb.ErrorCode_FENCED_LEADER_EPOCH, retryable: true, leader: -1, epoch: 9},
		{name: "timed out is indefinite by code", err: withInfo(codes.DeadlineExceeded, "REQUEST_TIMED_OUT", nil),
			sent: true, code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, retryable: true, indefinite: true, leader: -1, epoch: -1},
		{name: "after append, flagged", err: withInfo(codes.Unavailable, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", map[string]string{"indefinite": "true"}),
			sent: true, code: brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND, retryable: true, indefinite: true, leader: -1, epoch: -1},
		{name: "broker flag wins over code", err: withInfo(codes.DeadlineExceeded, "REQUEST_TIMED_OUT", map[string]string{"indefinite": "false"}),
			sent: true, code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, retryable: true, leader: -1, epoch: -1},
		{name: "not enough replicas before append", err: withInfo(codes.Unavailable, "NOT_ENOUGH_REPLICAS", map[string]string{"indefinite": "false"}),
			sent: true, code: brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS, retryable: true, leader: -1, epoch: -1},
		{name: "not coordinator", err: withInfo(codes.FailedPrecondition, "NOT_COORDINATOR", map[string]string{"leader": "2"}),
			sent: true, code: brokerpb.ErrorCode_NOT_COORDINATOR, retryable: true, leader: 2, epoch: -1},
		{name: "coordinator not available", err: withInfo(codes.Unavailable, "COORDINATOR_NOT_AVAILABLE", nil),
			sent: true, code: brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE, retryable: true, leader: -1, epoch: -1},
		{name: "stale member epoch", err: withInfo(codes.FailedPrecondition, "STALE_MEMBER_EPOCH", nil),
			sent: true, code: brokerpb.ErrorCode_STALE_MEMBER_EPOCH, retryable: true, leader: -1, epoch: -1},
		{name: "offset not available", err: withInfo(codes.Unavailable, "OFFSET_NOT_AVAILABLE", nil),
			sent: true, code: brokerpb.ErrorCode_OFFSET_NOT_AVAILABLE, retryable: true, leader: -1, epoch: -1},
		{name: "unknown member", err: withInfo(codes.NotFound, "UNKNOWN_MEMBER", nil),
			sent: true, code: brokerpb.ErrorCode_UNKNOWN_MEMBER, leader: -1, epoch: -1},
		{name: "fenced member epoch", err: withInfo(codes.FailedPrecondition, "FENCED_MEMBER_EPOCH", nil),
			sent: true, code: brokerpb.ErrorCode_FENCED_MEMBER_EPOCH, leader: -1, epoch: -1},
		{name: "disk full", err: withInfo(codes.ResourceExhausted, "DISK_FULL", nil),
			sent: true, code: brokerpb.ErrorCode_DISK_FULL, leader: -1, epoch: -1},
		{name: "invalid config", err: withInfo(codes.InvalidArgument, "INVALID_CONFIG", nil),
			sent: true, code: brokerpb.ErrorCode_INVALID_CONFIG, leader: -1, epoch: -1},
		{name: "unknown reason", err: withInfo(codes.Internal, "SOMETHING_NEW", nil),
			sent: true, code: brokerpb.ErrorCode_UNKNOWN, leader: -1, epoch: -1},
		{name: "foreign domain maps from code", err: foreign.Err(),
			sent: true, code: brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, retryable: true, indefinite: true, leader: -1, epoch: -1},
		{name: "unavailable before send", err: status.Error(codes.Unavailable, "connection refused"),
			sent: false, code: brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, retryable: true, leader: -1, epoch: -1},
		{name: "unavailable after send", err: status.Error(codes.Unavailable, "connection reset"),
			sent: true, code: brokerpb.ErrorCode_BROKER_NOT_AVAILABLE, retryable: true, indefinite: true, leader: -1, epoch: -1},
		{name: "deadline after send", err: status.Error(codes.DeadlineExceeded, "deadline"),
			sent: true, code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, retryable: true, indefinite: true, leader: -1, epoch: -1, is: context.DeadlineExceeded},
		{name: "cancelled after send", err: status.Error(codes.Canceled, "context canceled"),
			sent: true, code: brokerpb.ErrorCode_UNKNOWN, indefinite: true, leader: -1, epoch: -1, is: context.Canceled},
		{name: "unknown after send", err: status.Error(codes.Unknown, "?"),
			sent: true, code: brokerpb.ErrorCode_UNKNOWN, indefinite: true, leader: -1, epoch: -1},
		{name: "not found", err: status.Error(codes.NotFound, "no topic"),
			sent: true, code: brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION, retryable: true, leader: -1, epoch: -1},
		{name: "already exists", err: status.Error(codes.AlreadyExists, "dup"),
			sent: true, code: brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS, leader: -1, epoch: -1},
		{name: "invalid argument", err: status.Error(codes.InvalidArgument, "bad"),
			sent: true, code: brokerpb.ErrorCode_INVALID_REQUEST, leader: -1, epoch: -1},
		{name: "plain context error", err: fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
			sent: false, code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, retryable: true, leader: -1, epoch: -1, is: context.DeadlineExceeded},
		{name: "plain other error", err: io.ErrUnexpectedEOF,
			sent: true, code: brokerpb.ErrorCode_UNKNOWN, indefinite: true, leader: -1, epoch: -1, is: io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fromStatus(tc.err, tc.sent)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			if e.Code != tc.code || Code(err) != tc.code {
				t.Errorf("code %v, want %v", e.Code, tc.code)
			}
			if IsRetryable(err) != tc.retryable {
				t.Errorf("IsRetryable %v, want %v", IsRetryable(err), tc.retryable)
			}
			if IsIndefinite(err) != tc.indefinite {
				t.Errorf("IsIndefinite %v, want %v", IsIndefinite(err), tc.indefinite)
			}
			if e.Leader != tc.leader || e.LeaderEpoch != tc.epoch {
				t.Errorf("leader %d epoch %d, want %d %d", e.Leader, e.LeaderEpoch, tc.leader, tc.epoch)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if fromStatus(err, !tc.sent) != err {
				t.Error("a classified error is classified again")
			}
		})
	}
}

func TestFromStatusOffsetOutOfRange(t *testing.T) {
	err := fromStatus(withInfo(codes.OutOfRange, "OFFSET_OUT_OF_RANGE", map[string]string{"log_start_offset": "10", "high_watermark": "20"}), false)
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.LogStartOffset != 10 || oor.HighWatermark != 20 {
		t.Fatalf("%v: want range [10, 20]", err)
	}
	if Code(err) != brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE || IsRetryable(err) || IsIndefinite(err) {
		t.Fatalf("code %v retryable %v indefinite %v", Code(err), IsRetryable(err), IsIndefinite(err))
	}
	err = fromStatus(status.Error(codes.OutOfRange, "no detail"), false)
	if !errors.As(err, &oor) || oor.LogStartOffset != -1 || oor.HighWatermark != -1 {
		t.Fatalf("%v: want unknown range", err)
	}
}

func TestIsMembershipLost(t *testing.T) {
	for code, want := range map[brokerpb.ErrorCode]bool{
		brokerpb.ErrorCode_UNKNOWN_MEMBER:      true,
		brokerpb.ErrorCode_FENCED_MEMBER_EPOCH: true,
		brokerpb.ErrorCode_STALE_MEMBER_EPOCH:  false,
		brokerpb.ErrorCode_NOT_COORDINATOR:     false,
	} {
		if got := IsMembershipLost(newError(code, "x")); got != want {
			t.Errorf("IsMembershipLost(%v) = %v, want %v", code, got, want)
		}
	}
	if IsMembershipLost(nil) || IsMembershipLost(errors.New("x")) {
		t.Error("nil or foreign error classified as membership lost")
	}
}

func TestFromStatusNilAndOK(t *testing.T) {
	if fromStatus(nil, true) != nil || fromStatus(status.Error(codes.OK, ""), true) != nil {
		t.Fatal("no error became an error")
	}
	if Code(nil) != brokerpb.ErrorCode_NONE || Code(errors.New("x")) != brokerpb.ErrorCode_UNKNOWN {
		t.Fatal("Code of nil or a foreign error")
	}
	if IsRetryable(nil) || IsIndefinite(nil) || IsRetryable(errors.New("x")) {
		t.Fatal("nil or foreign error classified")
	}
}

func TestWithIndefinite(t *testing.T) {
	definite := newError(brokerpb.ErrorCode_NOT_LEADER, "moved")
	err := withIndefinite(definite)
	if !IsIndefinite(err) || IsIndefinite(definite) || Code(err) != brokerpb.ErrorCode_NOT_LEADER {
		t.Fatalf("withIndefinite: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 10 {
		d := backoff(defaultRetryBackoff, attempt)
		want := min(defaultRetryBackoff<<attempt, maxBackoff)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
		}
	}
}
