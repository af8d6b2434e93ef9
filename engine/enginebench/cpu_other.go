//go:build !unix

package enginebench

import "time"

// selfCPU is unknown here; /proc/stat is missing too, so no load is
// computed from it.
func selfCPU() time.Duration { return 0 }
