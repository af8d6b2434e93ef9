//go:build faultfs

package faultfs

import "testing"

// TestFaultBuildParsesTheList: known faults give a file layer, an unknown
// one is refused by name.
func TestFaultBuildParsesTheList(t *testing.T) {
	t.Setenv(EnvVar, "volatile, space")
	if fs, err := FromEnv(); fs == nil || err != nil {
		t.Fatalf("volatile,space: %v, %v", fs, err)
	}
	t.Setenv(EnvVar, "volatile,meteor")
	if _, err := FromEnv(); err == nil {
		t.Fatal("an unknown fault was accepted")
	}
}
