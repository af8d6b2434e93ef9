package vfs_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
	"github.com/sluice-mq/sluice/engine/vfs/vfstest"
)

func TestConformanceVolatile(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.Volatile(vfs.Default), t.TempDir()
	})
}

// TestVolatileKeepsUnsyncedInMemory: what a process wrote reads back
// through the volatile FS at once, but the disk (the inner FS, which is
// what a killed process leaves) holds only what was synced; bytes written
// again after a sync are volatile again, and a truncate hides dirty bytes
// past the new end.
func TestVolatileKeepsUnsyncedInMemory(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Volatile(vfs.Default)
	name := filepath.Join(dir, "seg")
	f, err := fs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	onDisk := func() []byte {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := bytes.Repeat([]byte("a"), 5000) // crosses a page
	if _, err := f.WriteAt(a, 0); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); !bytes.Equal(got, a) {
		t.Fatalf("read back %d bytes, want the %d written", len(got), len(a))
	}
	if fi, err := fs.Stat(name); err != nil || fi.Size != 5000 {
		t.Fatalf("Stat = %+v, %v; want size 5000", fi, err)
	}
	if b := onDisk(); len(b) != 0 {
		t.Fatalf("the disk holds %d unsynced bytes", len(b))
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if b := onDisk(); !bytes.Equal(b, a) {
		t.Fatalf("after Sync the disk holds %d bytes, want %d", len(b), len(a))
	}
	// Overwrite part of a synced page and append: both volatile.
	if _, err := f.WritevAt([][]byte{[]byte("bb"), []byte("cc")}, 4998); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, a[:4998]...), "bbcc"...)
	if got := readAll(t, f); !bytes.Equal(got, want) {
		t.Fatalf("read %q at the end, want %q", got[4990:], want[4990:])
	}
	if b := onDisk(); !bytes.Equal(b, a) {
		t.Fatal("unsynced overwrite reached the disk")
	}
	if err := f.Truncate(4999); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); !bytes.Equal(got, want[:4999]) {
		t.Fatalf("after truncate read %d bytes, want 4999", len(got))
	}
	// A write past the end leaves a hole of zeros.
	if _, err := f.WriteAt([]byte("z"), 9000); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, f)
	if len(got) != 9001 || got[4999] != 0 || got[8999] != 0 || got[9000] != 'z' || got[4998] != 'b' {
		t.Fatalf("hole: len %d, bytes %q %q %q", len(got), got[4998], got[8999], got[9000])
	}
	// A second handle shares the unsynced bytes; a read-only one cannot write.
	g, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got2 := readAll(t, g); !bytes.Equal(got2, got) {
		t.Fatal("a second handle does not see the first one's unsynced writes")
	}
	if _, err := g.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("a read-only handle wrote")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if b := onDisk(); !bytes.Equal(b, got) {
		t.Fatal("after the second Sync the disk differs from what reads returned")
	}
}

// TestVolatileRenameCarriesDirtyPages: a file renamed before its sync
// keeps its unsynced bytes under the new name (write temp, rename,
// sync-later must not silently lose or resurrect data).
func TestVolatileRenameCarriesDirtyPages(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.Volatile(vfs.Default)
	tmp, final := filepath.Join(dir, "x.tmp"), filepath.Join(dir, "x")
	f, err := fs.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	g, err := fs.Open(final)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := readAll(t, g); string(got) != "hello" {
		t.Fatalf("renamed file reads %q", got)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != "hello" {
		t.Fatalf("disk after sync: %q, %v", b, err)
	}
}

func readAll(t *testing.T, f vfs.File) []byte {
	t.Helper()
	n, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}
