//go:build !unix

package benchutil

import "time"

// SelfCPU is not measured on this platform.
func SelfCPU() time.Duration { return 0 }
