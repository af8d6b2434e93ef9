package broker

import "testing"

// TestHWReadableWaitsForEpochStart: a new leader whose high watermark is
// still below the start of its epoch (it learned the high watermark one
// fetch late as a follower) refuses high-watermark reads with the
// retryable OFFSET_NOT_AVAILABLE, so a client never sees the high
// watermark go back; once it reaches the epoch start it answers.
func TestHWReadableWaitsForEpochStart(t *testing.T) {
	st := &replicaState{role: roleLeader, leaderEpoch: 3, highWatermark: 90, epochStartOffset: 100}
	if e := st.hwReadable("t", 0); e == nil || e.Code != codeOffsetNotAvailable || e.Indefinite {
		t.Fatalf("high watermark 90 below the epoch start 100: %v", e)
	}
	st.highWatermark = 100
	if e := st.hwReadable("t", 0); e != nil {
		t.Fatalf("high watermark at the epoch start: %v", e)
	}
	follower := &replicaState{role: roleFollower, highWatermark: 5, epochStartOffset: -1}
	if e := follower.hwReadable("t", 0); e != nil {
		t.Fatalf("a follower's state: %v", e)
	}
}
