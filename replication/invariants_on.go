//go:build invariants || race

package replication

import "fmt"

// invariantsEnabled turns on the assertions that check the invariants
// documented next to the fields they constrain (STYLE rule 12). They are
// compiled in for `go test -tags invariants` and for every -race build.
const invariantsEnabled = true

// assertf panics: a failed assertion is a bug in this package, never an
// operating condition.
func assertf(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("replication: invariant violated: "+format, args...))
	}
}
