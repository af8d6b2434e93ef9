package history

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
)

// errorClass is one row of the classification table: the outcome a
// definite (not client.IsIndefinite) error with that code means, and why.
type errorClass struct {
	outcome Outcome
	why     string
}

// codeClasses is THE table from broker error codes to outcomes
// (reliability.md §6.0 rule 3). Every brokerpb.ErrorCode has a row; a test
// fails when the enum grows and this table does not.
//
// The rows are for errors the broker or client did not mark indefinite;
// Classify answers Unknown for indefinite ones before looking here. Fail
// is given only to codes the broker returns before it writes anything
// (validation, leadership and epoch checks, the ISR check, sequence and
// member-epoch checks); codes that can come after a write, or that hide
// where the request got to, are Unknown even when marked definite.
var codeClasses = map[brokerpb.ErrorCode]errorClass{
	brokerpb.ErrorCode_NONE:                             {Unknown, "a non-nil error carrying NONE is malformed: assume nothing"},
	brokerpb.ErrorCode_UNKNOWN_TOPIC_OR_PARTITION:       {Fail, "partition lookup precedes any write"},
	brokerpb.ErrorCode_NOT_LEADER:                       {Fail, "leadership check precedes the append; leadership lost after the append is marked indefinite"},
	brokerpb.ErrorCode_FENCED_LEADER_EPOCH:              {Fail, "epoch check precedes the append"},
	brokerpb.ErrorCode_UNKNOWN_LEADER_EPOCH:             {Fail, "epoch check precedes the append"},
	brokerpb.ErrorCode_OFFSET_OUT_OF_RANGE:              {Fail, "reads only: nothing to apply"},
	brokerpb.ErrorCode_INVALID_RECORD:                   {Fail, "batch validation precedes the append"},
	brokerpb.ErrorCode_CORRUPT_MESSAGE:                  {Fail, "CRC validation precedes the append; a DataLoss transport failure is marked indefinite"},
	brokerpb.ErrorCode_MESSAGE_TOO_LARGE:                {Fail, "size validation precedes the append"},
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS:              {Fail, "the ISR check precedes the append"},
	brokerpb.ErrorCode_NOT_ENOUGH_REPLICAS_AFTER_APPEND: {Unknown, "appended, committed with too small an ISR: may be visible"},
	brokerpb.ErrorCode_REQUEST_TIMED_OUT:                {Unknown, "timed out waiting for replicas, or on the way: may be applied later"},
	brokerpb.ErrorCode_STORAGE_ERROR:                    {Unknown, "the write may have reached the file before the log was poisoned"},
	brokerpb.ErrorCode_DISK_FULL:                        {Unknown, "ENOSPC can strike mid-write; the broker calls it definite, the checker does not rely on it"},
	brokerpb.ErrorCode_INVALID_TOPIC:                    {Fail, "validation"},
	brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS:             {Fail, "admin: nothing of ours applied"},
	brokerpb.ErrorCode_INVALID_CONFIG:                   {Fail, "validation"},
	brokerpb.ErrorCode_INVALID_PARTITIONS:               {Fail, "validation"},
	brokerpb.ErrorCode_INVALID_REQUEST:                  {Fail, "validation"},
	brokerpb.ErrorCode_BROKER_NOT_AVAILABLE:             {Fail, "the serving check (shutting down, fenced, starting) precedes the work; transport failures after sending are marked indefinite"},
	brokerpb.ErrorCode_LEADER_NOT_AVAILABLE:             {Fail, "no leader to write to"},
	brokerpb.ErrorCode_DUPLICATE_SEQUENCE:               {Unknown, "an earlier copy of the batch was written, at an offset this answer does not give"},
	brokerpb.ErrorCode_OUT_OF_ORDER_SEQUENCE:            {Fail, "sequence check precedes the append; an earlier attempt that may have landed is marked indefinite"},
	brokerpb.ErrorCode_INVALID_PRODUCER_EPOCH:           {Fail, "producer epoch check precedes the append"},
	brokerpb.ErrorCode_UNKNOWN_PRODUCER_ID:              {Fail, "producer id check precedes the append"},
	brokerpb.ErrorCode_UNKNOWN_MEMBER:                   {Fail, "commit refused by member validation"},
	brokerpb.ErrorCode_FENCED_MEMBER_EPOCH:              {Fail, "commit refused by member-epoch fencing"},
	brokerpb.ErrorCode_NOT_COORDINATOR:                  {Fail, "refused before the etcd transaction, or its claim comparison failed"},
	brokerpb.ErrorCode_COORDINATOR_NOT_AVAILABLE:        {Unknown, "the etcd transaction failed in a way that may have applied it"},
	brokerpb.ErrorCode_GROUP_NOT_EMPTY:                  {Fail, "admin validation"},
	brokerpb.ErrorCode_UNKNOWN_GROUP:                    {Fail, "admin validation"},
	brokerpb.ErrorCode_POLICY_VIOLATION:                 {Fail, "refused by policy before any work"},
	brokerpb.ErrorCode_UNKNOWN:                          {Unknown, "an unclassified failure: assume nothing"},
	brokerpb.ErrorCode_OFFSET_NOT_AVAILABLE:             {Fail, "reads only: above the high watermark"},
	brokerpb.ErrorCode_STALE_MEMBER_EPOCH:               {Fail, "commit refused by member-epoch check"},
	brokerpb.ErrorCode_GROUP_MAX_SIZE_REACHED:           {Fail, "join refused"},
	brokerpb.ErrorCode_NO_REASSIGNMENT_IN_PROGRESS:      {Fail, "admin validation"},
}

// definiteGRPC are the gRPC codes that, on a status without the broker's
// ErrorInfo, still say the request was refused before it ran. Everything
// else (Unavailable, DeadlineExceeded, Canceled, Internal, Unknown,
// Aborted, DataLoss, ResourceExhausted, FailedPrecondition) is Unknown.
var definiteGRPC = map[codes.Code]bool{
	codes.InvalidArgument:  true,
	codes.NotFound:         true,
	codes.AlreadyExists:    true,
	codes.PermissionDenied: true,
	codes.Unauthenticated:  true,
	codes.Unimplemented:    true,
	codes.OutOfRange:       true,
}

// CodeClass returns the outcome a definite error with code c means and the
// reason, from the classification table; ok is false for a code the table
// lacks (Classify then answers Unknown).
func CodeClass(c brokerpb.ErrorCode) (out Outcome, why string, ok bool) {
	cl, ok := codeClasses[c]
	if !ok {
		return Unknown, "code not in the classification table", false
	}
	return cl.outcome, cl.why, true
}

// Classify returns the outcome of a request that returned err:
//
//   - nil: OK;
//   - a *client.Error (or *client.OffsetOutOfRangeError) that
//     client.IsIndefinite calls indefinite: Unknown; otherwise its code's
//     row in the table (CodeClass);
//   - client.ErrClosed: Fail (the client refused before sending);
//   - a context deadline or cancellation: Unknown (the request may be on
//     its way);
//   - a bare gRPC status: Fail for the codes that mean "refused before
//     running", Unknown otherwise (transport errors included);
//   - anything else: Unknown.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		if client.IsIndefinite(err) {
			return Unknown
		}
		out, _, _ := CodeClass(ce.Code)
		return out
	}
	if errors.Is(err, client.ErrClosed) {
		return Fail
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Unknown
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		if definiteGRPC[st.Code()] {
			return Fail
		}
		return Unknown
	}
	return Unknown
}
