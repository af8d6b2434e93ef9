package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerbench"
)

func TestBenchBrokerUsage(t *testing.T) {
	code, out, errOut := run("bench", "broker", "-h")
	if code != exitOK || errOut != "" || !strings.Contains(out, "--quick") || !strings.Contains(out, "Usage: sluice bench broker") {
		t.Errorf("bench broker -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = run("bench", "-h")
	if code != exitOK || !strings.Contains(out, "broker") {
		t.Errorf("bench -h does not list broker: %q", out)
	}
	for _, args := range [][]string{
		{"bench", "broker", "--bogus"},
		{"bench", "broker", "--only", "nope"},
		{"bench", "broker", "--runs", "-1"},
		{"bench", "broker", "extra"},
	} {
		code, out, errOut := run(args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "sluice: bench broker: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
	}
}

// TestBenchBrokerReport runs the whole benchmark in a tiny configuration
// and prints it as a table and as JSON; it checks the shape, never a
// timing.
func TestBenchBrokerReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and two nats-servers")
	}
	rep, err := brokerbench.Run(brokerbench.TinyConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printBrokerReport(&b, rep)
	out := b.String()
	for _, want := range []string{"benchmark", "produce acks=1, window 4096", "NATS async", "sync=always", "raw pwrite+fdatasync",
		"fetch data plane vs gRPC", "NATS ordered consumer", "CPU per GB", "setup:", "sync_interval"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
}
