package loadgen_test

import (
	"testing"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/drivertest"
)

// The in-memory twin passes the suite the real drivers pass.
func TestFakeConformance(t *testing.T) {
	f := loadgen.NewFake(loadgen.FakeOptions{ServiceTime: time.Millisecond})
	defer f.Close()
	drivertest.Run(t, f, drivertest.DefaultCases())
}
