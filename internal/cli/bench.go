package cli

import (
	"fmt"
	"io"
	"sort"
)

// benchCommand is one `sluice bench <name>` benchmark.
type benchCommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// benchCommands is the registry of `sluice bench` subcommands. Each lives in
// its own file (bench_<name>.go); add it here.
var benchCommands = map[string]benchCommand{
	"engine": {
		summary: "engine append and read throughput as ratios against raw pwrite/fdatasync and read baselines",
		run:     runBenchEngine,
	},
}

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		benchUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		benchUsage(stdout)
		return exitOK
	case "--rerun", "-rerun":
		return runRerun(args[1:], stdout, stderr)
	}
	c, ok := benchCommands[args[0]]
	if !ok {
		return failf(stderr, exitUsage, "bench: unknown benchmark %q (run 'sluice bench -h')", args[0])
	}
	return c.run(args[1:], stdout, stderr)
}

func benchUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: sluice bench <benchmark> [flags]\n\n")
	fmt.Fprint(w, "Every figure is a ratio against a baseline measured in the same run (TESTING.md §8).\n\nBenchmarks:\n\n")
	names := make([]string, 0, len(benchCommands))
	for name := range benchCommands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "\t%-8s %s\n", name, benchCommands[name].summary)
	}
	fmt.Fprint(w, "\nRun 'sluice bench <benchmark> -h' for its flags; 'sluice bench --rerun results/<run>' repeats a stored run.\n")
}
