// Package lint holds the repository's structural checks, written as Go
// tests so that `go test ./internal/lint/` (part of `make check`) fails on a
// forbidden edge. It has no non-test code.
//
// The checks enforce DESIGN.md §2 and STYLE.md habit 2:
//
//   - Import direction, one way: engine ← replication ← broker; the public
//     client sees only brokerpb; loadgen and linearizability see the system
//     only through broker/client (and brokerpb); nothing imports cmd/...;
//     internal/... stays below the product trees, except internal/cli, the
//     CLI implementation, which may import anything and is imported only by
//     cmd/.... Every package must sit in one of the known top-level trees,
//     so a new tree cannot silently escape the rules.
//   - Third-party imports of engine/...: only the standard library,
//     ristretto, and golang.org/x/sys (in engine/vfs only).
//   - The syscall seam: golang.org/x/sys/unix is imported only under
//     engine/vfs; in engine/... (outside engine/vfs) and replication/... the
//     raw file functions of package os (os.Open, os.Rename, os.ReadFile, …)
//     and io/ioutil are not used either — the disk is reached only through
//     vfs.FS, so that crash and fault tests see every operation.
//
// Scope: the rules apply to the non-test files of each package for the
// current GOOS/GOARCH, as `go list` reports them. Test files are exempt on
// purpose: test harnesses legitimately reach across trees (an in-process
// broker under broker/client's conformance tests, franz-go's kmsg as an
// independent codec in engine/record's tests).
//
// Load errors: the module is listed with `go list -e -json ./...`. A failure
// of `go list` itself fails the test. Per-package errors that are compile
// errors (syntax errors, unresolved imports of half-written code) are logged
// and the imports `go list` could still read are checked, because the build
// and vet gates report those errors anyway; an import cycle is a violation.
//
// Each rule has a unit test feeding it a synthetic violation, so the lint is
// known to be able to fail.
package lint
