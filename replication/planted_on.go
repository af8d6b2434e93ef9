//go:build plantedbugs

package replication

import "os"

// Planted bugs (TESTING.md §6) of the replication state machine, in a
// binary built with -tags plantedbugs, switched by SLUICE_PLANTED_BUG:
//
//	hw-early   the ISR-mode leader advances the high watermark to its own
//	           log end, before the ISR has the data (→ a committed record
//	           vanishes, an acknowledged write is lost after a leader kill)
//	no-epoch-check  a follower fetches without its last epoch, so a log that
//	           diverged under an old leader is never truncated (→ replicas that
//	           disagree below the high watermark)
var plantedName = os.Getenv("SLUICE_PLANTED_BUG")

// planted reports whether bug name is on.
func planted(name string) bool { return plantedName == name }
