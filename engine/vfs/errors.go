package vfs

import "errors"

// ErrCrashed is returned by every operation on a MemFS after Crash, and by
// every File opened from it. A crash ends the old machine; code that keeps
// using a handle from before the crash is a bug the tests must see.
var ErrCrashed = errors.New("vfs: file system crashed")
