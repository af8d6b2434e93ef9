package replication

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the protocol scripts in testdata/. Each command is
// handled by one method of interactionEnv (interaction_env_test.go), which
// lists them with an example line.
//
// To update the expected output after a deliberate change, run
//
//	go test ./replication -run TestInteraction -rewrite
//
// and commit the diff only if you understand every line of it.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := newInteractionEnv()
		datadriven.RunTest(t, path, env.handle)
	})
}
