//go:build !plantedbugs

package broker

import "github.com/sluice-mq/sluice/engine/vfs"

// planted is always false in a normal build (planted_on.go has the bugs).
func planted(string, int64) bool { return false }

// plantedSpan is always false in a normal build.
func plantedSpan(string, int64, int64) bool { return false }

// plantedFS returns fs unchanged in a normal build.
func plantedFS(fs vfs.FS) vfs.FS { return fs }

// plantedCommitOffset returns off in a normal build.
func plantedCommitOffset(_, _ string, _, _ int32, off int64) int64 { return off }
