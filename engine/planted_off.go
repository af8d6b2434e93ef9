//go:build !plantedbugs

package engine

// planted is always false in a normal build (planted_on.go has the bugs).
func planted(string) bool { return false }
