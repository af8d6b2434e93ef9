//go:build faultfs

package faultfs

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Enabled reports whether this build carries the fault file layer.
const Enabled = true

// FromEnv returns the FS SLUICE_FAULT_FS selects over the real disk, or
// nil when it is unset.
func FromEnv() (vfs.FS, error) {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return nil, nil
	}
	fs := vfs.Default
	for _, f := range strings.Split(spec, ",") {
		switch strings.TrimSpace(f) {
		case "volatile":
			fs = vfs.Volatile(fs)
		case "space":
			// The budget is spent only while enabled: SIGUSR1 empties it
			// and enables it, SIGUSR2 disables it again.
			inj := vfs.ENOSPCAfter(0)
			inj.Disable()
			fs = vfs.WithErrors(fs, inj)
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
			go func() {
				for s := range sigs {
					if s == syscall.SIGUSR1 {
						inj.SetBudget(0)
						inj.Enable()
						fmt.Fprintln(os.Stderr, "faultfs: disk full")
					} else {
						inj.Disable()
						fmt.Fprintln(os.Stderr, "faultfs: disk space back")
					}
				}
			}()
		case "":
		default:
			return nil, fmt.Errorf("%s: unknown fault %q (have volatile, space)", EnvVar, f)
		}
	}
	return fs, nil
}
