//go:build plantedbugs

package broker

import (
	"os"
	"sync/atomic"
)

// Planted bugs (TESTING.md §6): deliberate faults that prove the checkers
// can fail. They exist only in a binary built with -tags plantedbugs and
// only the one named by SLUICE_PLANTED_BUG is on:
//
//	ack-without-append  every 1000th produce is acknowledged, never appended (→ lost write)
//	append-twice        every 500th batch is appended twice, dedupe skipped (→ duplicate)
//	acks-all-local      acks=all is answered after the local append only (→ lost write
//	                    after the leader dies with its followers behind)
var plantedName = os.Getenv("SLUICE_PLANTED_BUG")

var plantedCount atomic.Int64

// planted reports whether bug name is on and this is its every-th turn.
func planted(name string, every int64) bool {
	if plantedName != name {
		return false
	}
	return plantedCount.Add(1)%every == 0
}
