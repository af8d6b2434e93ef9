//go:build !faultfs

package faultfs

import (
	"fmt"
	"os"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Enabled reports whether this build carries the fault file layer.
const Enabled = false

// FromEnv returns nil (the real disk) unless SLUICE_FAULT_FS asks for
// faults this build does not have.
func FromEnv() (vfs.FS, error) {
	if v := os.Getenv(EnvVar); v != "" {
		return nil, fmt.Errorf("%s=%s needs a build with -tags faultfs (go build -tags faultfs ./cmd/sluice)", EnvVar, v)
	}
	return nil, nil
}
