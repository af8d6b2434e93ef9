// Package vfstest is the conformance suite every vfs.FS must pass. The
// engine's crash and fault tests run on vfs.MemFS and vfs.WithErrors; they
// only mean something for the real disk if those behave like vfs.Default in
// everything but durability, and this suite is where that is checked.
package vfstest
