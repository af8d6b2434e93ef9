// Package cli is the implementation of the sluice command: cmd/sluice's main
// is one line that calls Main. Keeping the code here makes every subcommand
// testable in process, with its output captured and its exit status checked.
//
// Conventions shared by every subcommand:
//   - one flag.FlagSet per subcommand; flags may come before or after the
//     positional arguments (`sluice dump PATH --verify`), `--` ends flags;
//   - `-h`/`--help` prints the subcommand's usage to stdout and exits 0;
//   - errors are one line, `sluice: <reason>`, on stderr;
//   - exit status 0 is success, 1 is a failure the command found or met
//     (corruption, I/O errors), 2 is a usage error or a command that is not
//     implemented yet.
//
// This package is the one place outside cmd/ allowed to import every tree of
// the repository (see internal/lint); nothing but cmd/... imports it.
package cli
