//go:build plantedbugs

package broker

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Planted bugs (TESTING.md §6): deliberate faults that prove the checkers
// can fail. They exist only in a binary built with -tags plantedbugs and
// only the one named by SLUICE_PLANTED_BUG is on:
//
//	ack-without-append  every 1000th produce is acknowledged, never appended (→ lost write)
//	append-twice        every 500th batch is appended twice, dedupe skipped (→ duplicate)
//	acks-all-local      acks=all is answered after the local append only (→ lost write
//	                    after the leader dies with its followers behind)
//	fetch-skip          a consumer fetch whose records pass a multiple of 700 served
//	                    starts one offset late (→ a read or poll that misses a record)
//	elect-outside-isr   the controller elects a live replica outside the ISR when
//	                    there is one (→ lost write after a follower fell behind)
//	commit-older-offset the first commit of a partition after a rebalance (a new member
//	                    epoch) stores an offset 10 lower (→ offset regression)
//	skip-fsync          segment files never fsync, whatever sync.policy says (→ lost
//	                    write after a power loss; needs the faultfs volatile layer)
//
// The replication package plants hw-early, the engine torn-tail-kept.
var plantedName = os.Getenv("SLUICE_PLANTED_BUG")

var plantedCount atomic.Int64

// planted reports whether bug name is on and this is its every-th turn.
func planted(name string, every int64) bool {
	if plantedName != name {
		return false
	}
	return plantedCount.Add(1)%every == 0
}

// plantedSpan reports whether bug name is on and n more units (records
// served) carry its counter past a multiple of every.
func plantedSpan(name string, n, every int64) bool {
	if plantedName != name || n <= 0 {
		return false
	}
	after := plantedCount.Add(n)
	return after/every != (after-n)/every
}

// plantedFS wraps the broker's file layer for skip-fsync.
func plantedFS(fs vfs.FS) vfs.FS {
	if plantedName != "skip-fsync" {
		return fs
	}
	return noSyncFS{fs}
}

// noSyncFS hands out segment files whose Sync does nothing.
type noSyncFS struct{ vfs.FS }

func (n noSyncFS) Create(name string) (vfs.File, error) { return noSync(n.FS.Create(name)) }
func (n noSyncFS) OpenReadWrite(name string) (vfs.File, error) {
	return noSync(n.FS.OpenReadWrite(name))
}

func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(f.Name(), ".log") {
		return f, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

// plantedCommits remembers the member epoch of each partition's last
// commit (commit-older-offset).
var plantedCommits sync.Map

// plantedCommitOffset is the offset a commit stores.
func plantedCommitOffset(group, topic string, part, epoch int32, off int64) int64 {
	if plantedName != "commit-older-offset" {
		return off
	}
	prev, loaded := plantedCommits.Swap(fmt.Sprintf("%s/%s/%d", group, topic, part), epoch)
	if loaded && prev.(int32) != epoch {
		return max(0, off-10)
	}
	return off
}
