//go:build !plantedbugs

package broker

// planted is always false in a normal build (planted_on.go has the bugs).
func planted(string, int64) bool { return false }
