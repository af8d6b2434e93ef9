// Command sluice is the one binary of Sluice: broker, client tools,
// benchmarks, checkers and the offline segment reader. The implementation is
// in internal/cli; run `sluice help` for the subcommands.
package main

import (
	"os"

	"github.com/sluice-mq/sluice/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
