//go:build !faultfs

package faultfs

import (
	"strings"
	"testing"
)

// TestNormalBuildRefusesFaults: a broker built without the fault layer
// must not silently run on the real disk when a test asked for faults.
func TestNormalBuildRefusesFaults(t *testing.T) {
	t.Setenv(EnvVar, "")
	if fs, err := FromEnv(); fs != nil || err != nil {
		t.Fatalf("unset: %v, %v; want the real disk (nil, nil)", fs, err)
	}
	t.Setenv(EnvVar, "volatile")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "-tags faultfs") {
		t.Fatalf("volatile in a normal build: %v; want an error naming the build tag", err)
	}
}
