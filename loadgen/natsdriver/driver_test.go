package natsdriver

import (
	"errors"
	"os"
	"testing"

	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/drivertest"
)

// The conformance suite against the embedded nats-server; the sync policy
// change restarts it.
func TestConformanceEmbedded(t *testing.T) {
	d, err := New(Options{}) // embedded, in a temporary directory
	if err != nil {
		t.Fatal(err)
	}
	dir := d.opts.Dir
	defer func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("Close left %s behind: %v", dir, err)
		}
	}()
	cases := append(drivertest.DefaultCases(), drivertest.Case{
		Name: "sync=always", Change: func(w *loadgen.Workload) { w.SyncPolicy = loadgen.SyncAlways },
	})
	drivertest.Run(t, d, cases)
	if d.starts != 2 {
		t.Errorf("the embedded server was started %d times, want 2 (once per sync policy)", d.starts)
	}
}

// An external server is driven by URL; its sync setting must be declared.
func TestExternalServer(t *testing.T) {
	e, err := StartEmbedded(t.TempDir(), loadgen.SyncNever)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	d, err := New(Options{URL: e.URL(), ExternalSync: loadgen.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	drivertest.Run(t, d, drivertest.DefaultCases()[:1])

	w := drivertest.Workload().WithDefaults()
	w.SyncPolicy = loadgen.SyncAlways
	if _, err := d.Describe(w); !errors.Is(err, loadgen.ErrUnsupported) {
		t.Errorf("an undeclared sync policy on an external server: %v", err)
	}
}

// Settings JetStream has no counterpart for are refused, not mislabelled.
func TestUnsupportedSettings(t *testing.T) {
	embedded, _ := New(Options{Dir: t.TempDir()})
	external := &Driver{opts: Options{URL: "nats://127.0.0.1:1", ExternalSync: loadgen.SyncNever}}
	for _, c := range []struct {
		name   string
		d      *Driver
		change func(*loadgen.Workload)
		ok     bool
	}{
		{"embedded R=3", embedded, func(w *loadgen.Workload) { w.ReplicationFactor = 3 }, false},
		{"sync by bytes", embedded, func(w *loadgen.Workload) { w.SyncPolicy = "bytes=1048576" }, false},
		{"sync interval", embedded, func(w *loadgen.Workload) { w.SyncPolicy = "interval=50ms" }, true},
		{"acks=1 R=1", embedded, func(w *loadgen.Workload) { w.Acks = loadgen.Acks1 }, true},
		{"external R=3 quorum acks=all", external, func(w *loadgen.Workload) { w.ReplicationFactor, w.ReplicationMode = 3, loadgen.ModeQuorum }, true},
		{"external R=3 isr", external, func(w *loadgen.Workload) { w.ReplicationFactor = 3 }, false},
		{"external R=3 acks=1", external, func(w *loadgen.Workload) {
			w.ReplicationFactor, w.ReplicationMode, w.Acks = 3, loadgen.ModeQuorum, loadgen.Acks1
		}, false},
	} {
		w := drivertest.Workload().WithDefaults()
		c.change(&w)
		m, err := c.d.Describe(w)
		if c.ok && (err != nil || m.Acks == "" || m.Sync == "") {
			t.Errorf("%s: %+v, %v", c.name, m, err)
		}
		if !c.ok && !errors.Is(err, loadgen.ErrUnsupported) {
			t.Errorf("%s: want ErrUnsupported, got %v", c.name, err)
		}
	}
}
