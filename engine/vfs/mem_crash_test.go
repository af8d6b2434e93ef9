package vfs_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// memFile creates name in m, writes data, syncs the file if syncFile and
// the directory if syncDir, and returns the still-open handle.
func memFile(t *testing.T, m *vfs.MemFS, name string, data string, syncFile, syncDir bool) vfs.File {
	t.Helper()
	f, err := m.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if syncDir {
		if err := m.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func newMemWithDir(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	if err := m.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	return m
}

// contents returns name's bytes in m, or nil and false if it is absent.
func contents(t *testing.T, m vfs.FS, name string) ([]byte, bool) {
	t.Helper()
	f, err := m.Open(name)
	if vfs.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); n < len(buf) {
		t.Fatal(err)
	}
	return buf, true
}

func TestCrashLosesUnsyncedData(t *testing.T) {
	m := newMemWithDir(t)
	f := memFile(t, m, "/d/f", "durable", true, true)
	if _, err := f.WriteAt([]byte(" and not"), 7); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if n, err := m.UnsyncedBytes("/d/f"); err != nil || n != 8 {
		t.Errorf("UnsyncedBytes = %d, %v; want 8", n, err)
	}

	after := m.Crash(vfs.CrashOptions{})
	got, ok := contents(t, after, "/d/f")
	if !ok || string(got) != "durable" {
		t.Errorf("after crash: %q (present %v), want %q", got, ok, "durable")
	}
	if n, err := after.UnsyncedBytes("/d/f"); err != nil || n != 0 {
		t.Errorf("UnsyncedBytes after crash = %d, %v; want 0", n, err)
	}
}

func TestCrashKeepsEverySyncedChange(t *testing.T) {
	// Random writes, truncates and syncs; a crash without tearing must give
	// exactly the bytes as of the last Sync, however they were built.
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		m := newMemWithDir(t)
		f := memFile(t, m, "/d/f", "", false, true)
		var model, synced []byte
		for range 40 {
			switch r.IntN(4) {
			case 0, 1:
				off := r.IntN(len(model) + 10)
				p := make([]byte, 1+r.IntN(20))
				for i := range p {
					p[i] = byte(1 + r.IntN(255))
				}
				if _, err := f.WriteAt(p, int64(off)); err != nil {
					t.Fatal(err)
				}
				if need := off + len(p); need > len(model) {
					model = append(model, make([]byte, need-len(model))...)
				}
				copy(model[off:], p)
			case 2:
				size := r.IntN(len(model) + 5)
				if err := f.Truncate(int64(size)); err != nil {
					t.Fatal(err)
				}
				if size < len(model) {
					model = model[:size]
				} else {
					model = append(model, make([]byte, size-len(model))...)
				}
			case 3:
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				synced = slices.Clone(model)
			}
		}
		if got, _ := contents(t, m, "/d/f"); !bytes.Equal(got, model) {
			t.Fatalf("seed %d: live file differs from model", seed)
		}
		got, ok := contents(t, m.Crash(vfs.CrashOptions{}), "/d/f")
		if !ok || !bytes.Equal(got, synced) {
			t.Fatalf("seed %d: after crash %x, want last synced %x", seed, got, synced)
		}
	}
}

func TestCrashDropsUnsyncedDirectoryEntries(t *testing.T) {
	m := newMemWithDir(t)
	memFile(t, m, "/d/kept", "k", true, true)
	// Synced data, but the directory never learned the name durably.
	memFile(t, m, "/d/lost", "l", true, false)

	after := m.Crash(vfs.CrashOptions{})
	if _, ok := contents(t, after, "/d/lost"); ok {
		t.Error("file whose directory was never synced survived the crash")
	}
	if got, ok := contents(t, after, "/d/kept"); !ok || string(got) != "k" {
		t.Errorf("kept file after crash = %q, %v", got, ok)
	}
	names, err := after.List("/d")
	if err != nil || !slices.Equal(names, []string{"kept"}) {
		t.Errorf("List after crash = %q, %v", names, err)
	}
}

func TestCrashMkdirAllIsDurable(t *testing.T) {
	m := vfs.NewMem()
	if err := m.MkdirAll("/a/b/c"); err != nil {
		t.Fatal(err)
	}
	after := m.Crash(vfs.CrashOptions{})
	if fi, err := after.Stat("/a/b/c"); err != nil || !fi.IsDir {
		t.Errorf("MkdirAll'd directory after crash: %+v, %v", fi, err)
	}
}

func TestCrashRenameDurableOnlyAfterSyncDir(t *testing.T) {
	setup := func(t *testing.T) *vfs.MemFS {
		m := newMemWithDir(t)
		memFile(t, m, "/d/tmp", "new", true, true).Close()
		memFile(t, m, "/d/final", "old", true, true).Close()
		if err := m.Rename("/d/tmp", "/d/final"); err != nil {
			t.Fatal(err)
		}
		// Visible at once.
		if got, _ := contents(t, m, "/d/final"); string(got) != "new" {
			t.Fatalf("final before crash = %q", got)
		}
		return m
	}

	t.Run("NotSynced", func(t *testing.T) {
		after := setup(t).Crash(vfs.CrashOptions{})
		if got, ok := contents(t, after, "/d/final"); !ok || string(got) != "old" {
			t.Errorf("final = %q, %v; want the old file back", got, ok)
		}
		if got, ok := contents(t, after, "/d/tmp"); !ok || string(got) != "new" {
			t.Errorf("tmp = %q, %v; want it back", got, ok)
		}
	})
	t.Run("Synced", func(t *testing.T) {
		m := setup(t)
		if err := m.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
		after := m.Crash(vfs.CrashOptions{})
		if got, ok := contents(t, after, "/d/final"); !ok || string(got) != "new" {
			t.Errorf("final = %q, %v; want the renamed file", got, ok)
		}
		if _, ok := contents(t, after, "/d/tmp"); ok {
			t.Error("tmp survived a synced rename")
		}
	})
	t.Run("AcrossDirectories", func(t *testing.T) {
		m := newMemWithDir(t)
		if err := m.MkdirAll("/e"); err != nil {
			t.Fatal(err)
		}
		memFile(t, m, "/d/x", "x", true, true).Close()
		if err := m.Rename("/d/x", "/e/x"); err != nil {
			t.Fatal(err)
		}
		if err := m.SyncDir("/e"); err != nil {
			t.Fatal(err)
		}
		// Only the target directory was synced: the new name is durable
		// and so, until /d is synced, is the old one.
		after := m.Crash(vfs.CrashOptions{})
		for _, name := range []string{"/d/x", "/e/x"} {
			if got, ok := contents(t, after, name); !ok || string(got) != "x" {
				t.Errorf("%s = %q, %v", name, got, ok)
			}
		}
	})
}

func TestCrashRemoveDurableOnlyAfterSyncDir(t *testing.T) {
	m := newMemWithDir(t)
	memFile(t, m, "/d/f", "f", true, true).Close()
	if err := m.Remove("/d/f"); err != nil {
		t.Fatal(err)
	}
	if _, ok := contents(t, m.Crash(vfs.CrashOptions{}), "/d/f"); !ok {
		t.Error("unsynced remove was durable")
	}
	m = newMemWithDir(t)
	memFile(t, m, "/d/f", "f", true, true).Close()
	if err := m.Remove("/d/f"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if _, ok := contents(t, m.Crash(vfs.CrashOptions{}), "/d/f"); ok {
		t.Error("synced remove was undone by the crash")
	}
}

func TestCrashOldHandlesFail(t *testing.T) {
	m := newMemWithDir(t)
	f := memFile(t, m, "/d/f", "abc", true, true)
	after := m.Crash(vfs.CrashOptions{})

	buf := make([]byte, 3)
	checks := map[string]error{}
	_, checks["ReadAt"] = f.ReadAt(buf, 0)
	_, checks["WriteAt"] = f.WriteAt(buf, 0)
	_, checks["WritevAt"] = f.WritevAt([][]byte{buf}, 0)
	checks["Sync"] = f.Sync()
	checks["Truncate"] = f.Truncate(0)
	_, checks["Size"] = f.Size()
	checks["Preallocate"] = f.Preallocate(0, 10)
	_, _, checks["MapReadOnly"] = f.(vfs.Mapper).MapReadOnly(1)
	checks["Close"] = f.Close()
	_, checks["FS.Create"] = m.Create("/d/g")
	_, checks["FS.Open"] = m.Open("/d/f")
	_, checks["FS.OpenReadWrite"] = m.OpenReadWrite("/d/f")
	checks["FS.Remove"] = m.Remove("/d/f")
	checks["FS.Rename"] = m.Rename("/d/f", "/d/g")
	checks["FS.MkdirAll"] = m.MkdirAll("/x")
	_, checks["FS.List"] = m.List("/d")
	_, checks["FS.Stat"] = m.Stat("/d/f")
	checks["FS.SyncDir"] = m.SyncDir("/d")
	for name, err := range checks {
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Errorf("%s after crash = %v, want vfs.ErrCrashed", name, err)
		}
	}
	// SendFile on a stale handle fails before touching the connection.
	if _, err := vfs.SendFile(nil, f, 0, 1); !errors.Is(err, vfs.ErrCrashed) {
		t.Errorf("SendFile after crash = %v, want vfs.ErrCrashed", err)
	}

	// The new machine is untouched by all that.
	if got, ok := contents(t, after, "/d/f"); !ok || string(got) != "abc" {
		t.Errorf("file after crash = %q, %v", got, ok)
	}
	g, err := after.OpenReadWrite("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("z"), 3); err != nil {
		t.Errorf("writing on the rebooted FS: %v", err)
	}
}

func TestCrashOpenHandleOfRemovedFileIsGone(t *testing.T) {
	// Removed-but-open files live until close on POSIX, but not across a
	// reboot once the removal is durable.
	m := newMemWithDir(t)
	f := memFile(t, m, "/d/f", "abc", true, true)
	if err := m.Remove("/d/f"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("more"), 3); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	after := m.Crash(vfs.CrashOptions{})
	if names, _ := after.List("/d"); len(names) != 0 {
		t.Errorf("directory after crash lists %q", names)
	}
}

func TestCrashTornWritesArePrefixesInOpOrder(t *testing.T) {
	// The file is "AAAA", synced, then truncated to 2 and extended in two
	// writes. Replaying any prefix of those ops, the last possibly cut,
	// gives exactly these images; anything else (say "AAAACC": the third
	// op without the first) would mean a crash invented an ordering or
	// bytes that never existed.
	allowed := map[string]bool{
		"AAAA": true, "AA": true, "AAB": true, "AABB": true, "AABBC": true, "AABBCC": true,
	}
	seen := map[string]bool{}
	for seed := range uint64(300) {
		m := newMemWithDir(t)
		f := memFile(t, m, "/d/f", "AAAA", true, true)
		if err := f.Truncate(2); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("BB"), 2); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WritevAt([][]byte{[]byte("C"), []byte("C")}, 4); err != nil {
			t.Fatal(err)
		}
		after := m.Crash(vfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(seed, 7))})
		got, ok := contents(t, after, "/d/f")
		if !ok || !allowed[string(got)] {
			t.Fatalf("seed %d: torn crash left %q (present %v)", seed, got, ok)
		}
		seen[string(got)] = true
	}
	for img := range allowed {
		if !seen[img] {
			t.Errorf("no seed produced %q; the tear is not exploring every prefix", img)
		}
	}
}

func TestCrashTornAppendsKeepSyncedAndInventNothing(t *testing.T) {
	// An append-only log: each write carries bytes found nowhere else, so
	// the surviving file must be the synced part plus a prefix of what
	// followed, byte for byte.
	var full []byte
	for i := range 2000 {
		full = append(full, byte(1+i%251))
	}
	const synced = 500
	var tornMidOp, keptAll, keptNone bool
	for seed := range uint64(200) {
		m := newMemWithDir(t)
		f := memFile(t, m, "/d/log", string(full[:synced]), true, true)
		for off := synced; off < len(full); off += 100 {
			if _, err := f.WriteAt(full[off:off+100], int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		after := m.Crash(vfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(seed, 3))})
		got, _ := contents(t, after, "/d/log")
		if len(got) < synced || !bytes.Equal(got, full[:len(got)]) {
			t.Fatalf("seed %d: %d bytes survived that are not a prefix covering the synced %d", seed, len(got), synced)
		}
		switch {
		case len(got) == synced:
			keptNone = true
		case len(got) == len(full):
			keptAll = true
		case (len(got)-synced)%100 != 0:
			tornMidOp = true
		}
	}
	if !tornMidOp || !keptAll || !keptNone {
		t.Errorf("outcomes seen: torn mid-write %v, all kept %v, none kept %v; want all three", tornMidOp, keptAll, keptNone)
	}
}

func TestCrashWithoutTornWritesIgnoresRand(t *testing.T) {
	m := newMemWithDir(t)
	f := memFile(t, m, "/d/f", "ab", true, true)
	if _, err := f.WriteAt([]byte("cd"), 2); err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(20) {
		after := m.Crash(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 0))})
		if got, _ := contents(t, after, "/d/f"); string(got) != "ab" {
			t.Fatalf("seed %d: %q survived without TornWrites", seed, got)
		}
	}
}

func TestCrashIsRepeatableFromTheSameMoment(t *testing.T) {
	m := newMemWithDir(t)
	f := memFile(t, m, "/d/f", "", true, true)
	for i := range 50 {
		if _, err := f.WriteAt([]byte{byte('a' + i%26)}, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	image := func(seed uint64) string {
		got, _ := contents(t, m.Crash(vfs.CrashOptions{TornWrites: true, Rand: rand.New(rand.NewPCG(seed, 9))}), "/d/f")
		return string(got)
	}
	if a, b := image(1), image(1); a != b {
		t.Errorf("same seed gave %q and %q", a, b)
	}
	distinct := map[string]bool{}
	for seed := range uint64(20) {
		distinct[image(seed)] = true
	}
	if len(distinct) < 2 {
		t.Error("crashing one frozen state with different seeds always gives the same image")
	}
}
