package vfs

import (
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
)

// CrashOptions chooses how much unsynced data a MemFS crash keeps.
type CrashOptions struct {
	// TornWrites keeps, for each file, a random prefix of the writes and
	// truncates made since its last Sync, replayed in the order they were
	// made, the last one possibly cut part-way through its bytes. Without
	// it a crash keeps exactly the synced bytes. Disks write back in no
	// promised order; a prefix in op order is the model here, which is
	// what a log-structured engine must tolerate at its tail.
	TornWrites bool
	// Rand drives the torn-write choices; a seeded generator makes a
	// failing crash reproducible. Nil uses math/rand/v2's global source.
	Rand *rand.Rand
}

// Crash models power loss now. It returns a new MemFS holding what the
// disk would hold at reboot: each directory's entries as of its last
// SyncDir (MkdirAll'd directories always), each file's bytes as of its last
// Sync plus, with TornWrites, a torn prefix of what followed.
//
// m is dead afterwards: it and every File opened from it fail with
// ErrCrashed, so code that carries a handle across the crash is caught.
// Crash may be called again on a dead MemFS; it sees the same frozen state
// and, with TornWrites, may tear it differently, which lets a test try
// several outcomes of one crash.
func (m *MemFS) Crash(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	c := crasher{
		opts:   opts,
		dirs:   map[*memDir]*memDir{},
		inodes: map[*memInode]*memInode{},
	}
	return &MemFS{root: c.dir(m.root)}
}

// crasher builds the post-crash tree. The maps keep one new node per old
// one: after unsynced renames across directories the durable views can name
// a node twice, and the reboot should see one file, not two copies.
type crasher struct {
	opts   CrashOptions
	dirs   map[*memDir]*memDir
	inodes map[*memInode]*memInode
}

func (c *crasher) dir(d *memDir) *memDir {
	if nd, ok := c.dirs[d]; ok {
		return nd
	}
	nd := newMemDir()
	c.dirs[d] = nd
	// Sorted, so a seeded Rand tears the same files the same way.
	for _, name := range slices.Sorted(maps.Keys(d.durable)) {
		switch n := d.durable[name].(type) {
		case *memDir:
			nd.entries[name] = c.dir(n)
		case *memInode:
			nd.entries[name] = c.inode(n)
		}
	}
	nd.durable = maps.Clone(nd.entries)
	return nd
}

func (c *crasher) inode(ino *memInode) *memInode {
	if ni, ok := c.inodes[ino]; ok {
		return ni
	}
	data := slices.Clone(ino.synced)
	if c.opts.TornWrites && len(ino.log) > 0 {
		k := c.intN(len(ino.log) + 1)
		for _, op := range ino.log[:k] {
			data = op.apply(data)
		}
		// A truncate is a metadata change: it happens whole or not at
		// all, so only a write can be cut.
		if k < len(ino.log) && !ino.log[k].truncate {
			op := ino.log[k]
			if cut := c.intN(len(op.data) + 1); cut > 0 {
				data = memOp{off: op.off, data: op.data[:cut]}.apply(data)
			}
		}
	}
	ni := &memInode{data: data, synced: slices.Clone(data)}
	c.inodes[ino] = ni
	return ni
}

func (c *crasher) intN(n int) int {
	if c.opts.Rand != nil {
		return c.opts.Rand.IntN(n)
	}
	return rand.IntN(n)
}

// UnsyncedBytes reports how many bytes have been written to name since its
// last Sync: what a crash without TornWrites would lose from it. Rewrites of
// the same range count each time.
func (m *MemFS) UnsyncedBytes(name string) (int, error) {
	if err := m.begin("stat", name); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	_, _, node, err := m.lookup(name)
	ino, ok := node.(*memInode)
	switch {
	case err != nil:
	case node == nil:
		err = syscall.ENOENT
	case !ok:
		err = syscall.EISDIR
	}
	if err != nil {
		return 0, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	n := 0
	for _, op := range ino.log {
		n += len(op.data)
	}
	return n, nil
}
