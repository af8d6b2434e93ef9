package harness

import (
	"slices"
	"testing"

	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// TestRandomStrong: the seed alone decides the faults (a rerun is the
// same scenario), two to four kinds, the promise is the strong one, and
// without the fault file layer F6 and F8 are never drawn.
func TestRandomStrong(t *testing.T) {
	drawn := map[history.FaultKind]bool{}
	for seed := range uint64(200) {
		a, b := RandomStrong(expect.ModeQuorum, seed, true), RandomStrong(expect.ModeQuorum, seed, true)
		if !slices.Equal(a.Faults, b.Faults) {
			t.Fatalf("seed %d: %v then %v", seed, a.Faults, b.Faults)
		}
		if n := len(a.Faults); n < 2 || n > 4 {
			t.Fatalf("seed %d: %d fault kinds", seed, n)
		}
		c := a.Config()
		if a.Mode != expect.ModeQuorum || c.Acks != history.AcksAll || c.Sync != expect.SyncAlways || !c.Idempotence || c.Unclean || c.MinISR != 2 || c.RF != 3 {
			t.Fatalf("seed %d: not the strong configuration: %+v", seed, c)
		}
		for _, k := range a.Faults {
			drawn[k] = true
		}
		if hasF11 := slices.Contains(a.Faults, history.F11ConsumerFault); hasF11 != (a.Consumers > 0) {
			t.Fatalf("seed %d: faults %v with %d consumers", seed, a.Faults, a.Consumers)
		}
		for _, k := range RandomStrong(expect.ModeISR, seed, false).Faults {
			if k == history.F6DiskFull || k == history.F8aPowerLossOne || k == history.F8bPowerLossAll {
				t.Fatalf("seed %d drew %s without the fault file layer", seed, k)
			}
		}
	}
	for _, k := range randomPool {
		if !drawn[k] {
			t.Errorf("200 seeds never drew %s", k)
		}
	}
}
