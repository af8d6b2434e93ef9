package cli

import (
	"bytes"
	"strings"
	"testing"
)

// run calls Main and returns its exit status and output.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsSubcommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := run(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "\t"+c.name+" ") {
				t.Errorf("%v: help does not list %q:\n%s", args, c.name, out)
			}
		}
	}
	code, _, errOut := run()
	if code != exitUsage || !strings.Contains(errOut, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q; want usage and exit 2", code, errOut)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, exitUsage, `sluice: unknown command "frobnicate"`},
		{[]string{"check", "nope"}, exitUsage, `sluice: check: unknown subcommand "nope"`},
		{[]string{"check", "run", "--scenario", "nope"}, exitUsage, `sluice: check run: harness: no scenario "nope"`},
		{[]string{"check", "replay"}, exitUsage, "sluice: check replay: want one report directory"},
		{[]string{"group", "describe"}, exitUsage, "sluice: group describe: want exactly one group name"},
		{[]string{"group", "reset", "g", "--topic", "t"}, exitUsage, "sluice: group reset: give exactly one of"},
		{[]string{"consume", "t", "--group", "g", "--partition", "1"}, exitUsage, "sluice: consume: --group takes its partitions"},
		{[]string{"consume", "t", "--group", "g", "--delivery", "twice"}, exitUsage, `sluice: consume: delivery "twice"`},
		{[]string{"chart"}, exitUsage, "sluice: chart: name at least one result directory"},
		{[]string{"chart", "/does/not/exist"}, exitFailure, "sluice: chart: "},
		{[]string{"bench", "nope"}, exitUsage, `sluice: bench: unknown benchmark "nope"`},
		{[]string{"dump"}, exitUsage, "sluice: dump: want exactly one PATH"},
		{[]string{"dump", "a", "b"}, exitUsage, "sluice: dump: want exactly one PATH"},
		{[]string{"dump", "--bogus", "x"}, exitUsage, "sluice: dump: flag provided but not defined: -bogus"},
		{[]string{"dump", "/does/not/exist"}, exitFailure, "sluice: dump: "},
	}
	for _, tt := range tests {
		code, out, errOut := run(tt.args...)
		if code != tt.code || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 1 || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line starting %q",
				tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

func TestSubcommandHelp(t *testing.T) {
	for _, args := range [][]string{{"dump", "-h"}, {"help", "dump"}, {"dump", "x", "--help"}} {
		code, out, errOut := run(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage: sluice dump PATH") || !strings.Contains(out, "-verify") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	code, out, _ := run("bench", "-h")
	if code != 0 || !strings.Contains(out, "engine") {
		t.Errorf("bench -h: exit %d, stdout %q", code, out)
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	fs := newFlagSet("x", "", "")
	v := fs.Bool("v", false, "")
	n := fs.Int("n", 0, "")
	pos, err := parseArgs(fs, []string{"a", "-v", "b", "-n", "3", "--", "-c", "d"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !*v || *n != 3 || strings.Join(pos, ",") != "a,b,-c,d" {
		t.Errorf("v=%v n=%d positional=%q", *v, *n, pos)
	}
}
