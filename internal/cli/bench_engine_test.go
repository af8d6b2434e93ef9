package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/engine/enginebench"
	"github.com/sluice-mq/sluice/engine/vfs"
)

func TestBenchEngineUsage(t *testing.T) {
	code, out, errOut := run("bench", "engine", "-h")
	if code != exitOK || errOut != "" || !strings.Contains(out, "--quick") || !strings.Contains(out, "Usage: sluice bench engine") {
		t.Errorf("bench engine -h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"bench", "engine", "--bogus"},
		{"bench", "engine", "--only", "nope"},
		{"bench", "engine", "--runs", "-1"},
		{"bench", "engine", "extra"},
	} {
		code, out, errOut := run(args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "sluice: bench engine: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, out, errOut)
		}
	}
}

// TestBenchEngineReport runs every measurement in a tiny configuration
// (a few MiB, 100 ms per run) and prints it as a table and as JSON. It
// checks the shape and that no file is left behind, never a timing.
func TestBenchEngineReport(t *testing.T) {
	dir := t.TempDir()
	rep, err := enginebench.Run(enginebench.TinyConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printEngineReport(&b, rep)
	out := b.String()
	for _, want := range []string{"benchmark", "append sync=never", "16 appenders", "durable append latency p99",
		"sendfile read", "BlockCache", "preallocation", "zerofill", "raw overwrite", "winner"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, r := range rep.Rows {
		if r.Engine <= 0 || r.Baseline <= 0 {
			t.Errorf("row %q has a non-positive figure: %+v", r.Name, r)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
	names, err := vfs.Default.List(dir)
	if err != nil || len(names) != 0 {
		t.Errorf("left behind in %s: %v (%v)", dir, names, err)
	}
}
