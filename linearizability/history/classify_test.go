package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

// TestClassificationTableIsComplete fails when brokerpb grows an error code
// that the table does not classify, or the table names a code that no
// longer exists.
func TestClassificationTableIsComplete(t *testing.T) {
	for v, name := range brokerpb.ErrorCode_name {
		out, why, ok := CodeClass(brokerpb.ErrorCode(v))
		if !ok {
			t.Errorf("error code %s (%d) has no row in the classification table (history/classify.go)", name, v)
			continue
		}
		if out != Fail && out != Unknown {
			t.Errorf("error code %s classified %q: a non-nil error is Fail or Unknown", name, out)
		}
		if why == "" {
			t.Errorf("error code %s: no reason given", name)
		}
	}
	for c := range codeClasses {
		if _, ok := brokerpb.ErrorCode_name[int32(c)]; !ok {
			t.Errorf("the classification table has a row for code %d, which brokerpb does not define", c)
		}
	}
}

func TestClassify(t *testing.T) {
	definite := func(c brokerpb.ErrorCode) error { return &client.Error{Code: c, Leader: -1, LeaderEpoch: -1} }
	indefinite := func(c brokerpb.ErrorCode) error {
		return &client.Error{Code: c, Indefinite: true, Leader: -1, LeaderEpoch: -1}
	}
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, OK},
		{"not leader, before the append", definite(brokerpb.ErrorCode_NOT_LEADER), Fail},
		{"not leader, after the append", indefinite(brokerpb.ErrorCode_NOT_LEADER), Unknown},
		{"not enough replicas", definite(brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS), Fail},
		{"not enough replicas after append", definite(brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND), Unknown},
		{"timed out, not marked", definite(brokerpb.ErrorCode_REQUEST_TIMED_OUT), Unknown},
		{"storage error", definite(brokerpb.ErrorCode_STORAGE_ERROR), Unknown},
		{"disk full", definite(brokerpb.ErrorCode_DISK_FULL), Unknown},
		{"out of order sequence", definite(brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE), Fail},
		{"out of order sequence after an indefinite attempt", indefinite(brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE), Unknown},
		{"duplicate sequence", definite(brokerpb.ErrorCode_DUPLICATE_SEQUENCE), Unknown},
		{"fenced member epoch", definite(brokerpb.ErrorCode_FENCED_MEMBER_EPOCH), Fail},
		{"coordinator not available", definite(brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE), Unknown},
		{"broker not available, refused", definite(brokerpb.ErrorCode_BROKER_NOT_AVAILABLE), Fail},
		{"broker not available, connection broke after sending", indefinite(brokerpb.ErrorCode_BROKER_NOT_AVAILABLE), Unknown},
		{"wrapped", fmt.Errorf("send: %w", definite(brokerpb.ErrorCode_INVALID_RECORD)), Fail},
		{"offset out of range", &client.OffsetOutOfRangeError{Topic: "t", Offset: 9, LogStartOffset: 0, HighWatermark: 5}, Fail},
		{"client closed", client.ErrClosed, Fail},
		{"deadline", context.DeadlineExceeded, Unknown},
		{"cancelled, wrapped", fmt.Errorf("poll: %w", context.Canceled), Unknown},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection reset"), Unknown},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "deadline"), Unknown},
		{"grpc invalid argument", status.Error(codes.InvalidArgument, "bad"), Fail},
		{"grpc failed precondition", status.Error(codes.FailedPrecondition, "?"), Unknown},
		{"EOF", io.ErrUnexpectedEOF, Unknown},
		{"anything else", errors.New("boom"), Unknown},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
	// Every code, marked indefinite, is Unknown whatever its row says.
	for v := range brokerpb.ErrorCode_name {
		if got := Classify(indefinite(brokerpb.ErrorCode(v))); got != Unknown {
			t.Errorf("indefinite %v: %s, want unknown", brokerpb.ErrorCode(v), got)
		}
	}
}
