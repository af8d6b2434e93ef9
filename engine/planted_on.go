//go:build plantedbugs

package engine

import "os"

// Planted bugs (TESTING.md §6) of the engine, in a binary built with
// -tags plantedbugs, switched by SLUICE_PLANTED_BUG:
//
//	torn-tail-kept   reading the log back (recovery, index rebuilds, the
//	                 producer-state scan) does not check CRCs, so a corrupted
//	                 tail batch is kept (→ a corrupt value or replicas that
//	                 disagree)
var plantedName = os.Getenv("SLUICE_PLANTED_BUG")

// planted reports whether bug name is on.
func planted(name string) bool { return plantedName == name }
