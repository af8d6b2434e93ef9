package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of Main.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the command ran and found or met a failure
	exitUsage   = 2 // bad arguments, or a command that is not implemented yet
)

// command is one subcommand of sluice.
type command struct {
	name    string
	summary string
	// run executes the subcommand with the arguments after its name. nil
	// means not implemented yet.
	run func(args []string, stdout, stderr io.Writer) int
}

// commands returns the subcommands in the order `sluice help` lists them.
// It is a function, not a package variable, so that commands may refer back
// to the table (help) without an initialization cycle.
func commands() []command {
	return []command{
		{name: "demo", summary: "start a broker with embedded etcd and show a produce/consume round trip", run: runDemo},
		{name: "serve", summary: "run a broker", run: runServe},
		{name: "topic", summary: "create, list, describe, delete and alter topics", run: runTopic},
		{name: "produce", summary: "send messages to a topic (one per stdin line)", run: runProduce},
		{name: "consume", summary: "read messages from a topic", run: runConsume},
		{name: "group", summary: "list, describe, reset and delete consumer groups", run: runGroup},
		{name: "cluster", summary: "describe the cluster: brokers, controller, under-replicated and offline partitions", run: runCluster},
		{name: "etcd", summary: "run a single-member etcd on loopback for a local cluster", run: runEtcd},
		{name: "bench", summary: "run benchmarks against raw baselines (sluice bench -h)", run: runBench},
		{name: "check", summary: "run the delivery and linearizability checkers against a cluster under faults", run: runCheck},
		{name: "chart", summary: "redraw the charts and report of a results/ directory from its data", run: runChart},
		{name: "dump", summary: "print and verify the batches of segment files, offline", run: runDump},
	}
}

// Main runs the sluice command line. args excludes the program name. It
// returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && name == "help" {
			// `sluice help dump` is `sluice dump -h`.
			return Main([]string{rest[0], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if c.run == nil {
			return notImplemented(stderr, name)
		}
		return c.run(rest, stdout, stderr)
	}
	return failf(stderr, exitUsage, "unknown command %q (run 'sluice help')", name)
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Sluice is a storage-engine-first log broker and benchmarking toolkit.\n\n")
	fmt.Fprint(w, "Usage:\n\n\tsluice <command> [arguments]\n\nCommands:\n\n")
	for _, c := range commands() {
		note := ""
		if c.run == nil {
			note = " (not implemented yet)"
		}
		fmt.Fprintf(w, "\t%-8s %s%s\n", c.name, c.summary, note)
	}
	fmt.Fprint(w, "\nRun 'sluice help <command>' or 'sluice <command> -h' for a command's usage.\n")
}

// failf prints the one-line error `sluice: <reason>` and returns code.
func failf(stderr io.Writer, code int, format string, args ...any) int {
	fmt.Fprintf(stderr, "sluice: "+format+"\n", args...)
	return code
}

func notImplemented(stderr io.Writer, name string) int {
	return failf(stderr, exitUsage, "%s is not implemented yet (see issues)", name)
}

// newFlagSet returns a FlagSet for `sluice <name>` whose usage text is the
// synopsis, the description and the flag defaults. Parse errors are not
// printed by the FlagSet: parseArgs turns them into one line.
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: sluice %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// errHelp is returned by parseArgs after printing the usage for -h.
var errHelp = flag.ErrHelp

// parseArgs parses args with fs, allowing flags after positional arguments
// (the standard flag package stops at the first non-flag). Everything after
// "--" is positional. For -h it prints the usage to stdout and returns
// errHelp.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				fs.SetOutput(io.Discard)
				return nil, errHelp
			}
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseFailed maps a parseArgs error to the exit status, printing the one-line
// error for anything but -h.
func parseFailed(stderr io.Writer, name string, err error) int {
	if errors.Is(err, errHelp) {
		return exitOK
	}
	return failf(stderr, exitUsage, "%s: %v (run 'sluice %s -h')", name, err, name)
}
