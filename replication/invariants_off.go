//go:build !invariants && !race

package replication

// invariantsEnabled is false in production builds: see invariants_on.go.
const invariantsEnabled = false

func assertf(bool, string, ...any) {}
