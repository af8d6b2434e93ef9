package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo keeps the README's first command true: the demo starts a broker
// with an embedded etcd, round-trips messages and exits 0.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"demo", "--messages", "300", "--size", "100", "--partitions", "2", "--sync", "always"}, &out, &errb); code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errb.String(), out.String())
	}
	for _, want := range []string{"produced 300 messages", "consumed all 300 messages", "each exactly once"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
