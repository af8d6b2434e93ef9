package vfstest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Run runs the suite. newFS returns a fresh FS and a directory in it for the
// test to use; the directory need not exist yet, and nothing else should
// write to it.
func Run(t *testing.T, newFS func(t *testing.T) (fs vfs.FS, dir string)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, fs vfs.FS, dir string)
	}{
		{"CreateExclusive", testCreateExclusive},
		{"Missing", testMissing},
		{"WriteReadAt", testWriteReadAt},
		{"ReadOnly", testReadOnly},
		{"WritevAt", testWritevAt},
		{"Truncate", testTruncate},
		{"ReadAtPastEOF", testReadAtPastEOF},
		{"Rename", testRename},
		{"Remove", testRemove},
		{"List", testList},
		{"Stat", testStat},
		{"Sync", testSync},
		{"Preallocate", testPreallocate},
		{"MapReadOnly", testMapReadOnly},
		{"StartWriteback", testStartWriteback},
		{"SendFile", testSendFile},
		{"Close", testClose},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, dir := newFS(t)
			if err := fs.MkdirAll(dir); err != nil {
				t.Fatalf("MkdirAll(%q): %v", dir, err)
			}
			tc.fn(t, fs, dir)
		})
	}
}

func testCreateExclusive(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "a")
	f := create(t, fs, name)
	if f.Name() != name {
		t.Errorf("Name() = %q, want %q", f.Name(), name)
	}
	mustClose(t, f)
	if _, err := fs.Create(name); !vfs.IsExist(err) {
		t.Errorf("second Create: got %v, want an error matching os.ErrExist", err)
	}
	if err := fs.MkdirAll(filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Create(filepath.Join(dir, "d")); !vfs.IsExist(err) {
		t.Errorf("Create over a directory: got %v, want os.ErrExist", err)
	}
	if _, err := fs.Create(filepath.Join(dir, "nodir", "a")); !vfs.IsNotExist(err) {
		t.Errorf("Create in a missing directory: got %v, want os.ErrNotExist", err)
	}
	// The failed Create must not have clobbered the first file.
	if got := readFile(t, fs, name); len(got) != 0 {
		t.Errorf("file holds %q after failed Create", got)
	}
}

func testMissing(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "missing")
	if _, err := fs.Open(name); !vfs.IsNotExist(err) {
		t.Errorf("Open: got %v, want os.ErrNotExist", err)
	}
	if _, err := fs.OpenReadWrite(name); !vfs.IsNotExist(err) {
		t.Errorf("OpenReadWrite: got %v, want os.ErrNotExist", err)
	}
	if _, err := fs.Stat(name); !vfs.IsNotExist(err) {
		t.Errorf("Stat: got %v, want os.ErrNotExist", err)
	}
	if err := fs.Remove(name); !vfs.IsNotExist(err) {
		t.Errorf("Remove: got %v, want os.ErrNotExist", err)
	}
	if err := fs.Rename(name, filepath.Join(dir, "b")); !vfs.IsNotExist(err) {
		t.Errorf("Rename: got %v, want os.ErrNotExist", err)
	}
	if _, err := fs.List(name); !vfs.IsNotExist(err) {
		t.Errorf("List: got %v, want os.ErrNotExist", err)
	}
	if err := fs.SyncDir(name); !vfs.IsNotExist(err) {
		t.Errorf("SyncDir: got %v, want os.ErrNotExist", err)
	}
}

func testWriteReadAt(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "f")
	f := create(t, fs, name)
	writeAt(t, f, []byte("hello"), 0)
	writeAt(t, f, []byte("world"), 10) // leaves a hole that reads as zeros
	writeAt(t, f, []byte("XY"), 1)     // overwrite inside
	want := []byte("hXYlo\x00\x00\x00\x00\x00world")
	if got := readAt(t, f, 0, len(want)); !bytes.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if got := readAt(t, f, 11, 3); string(got) != "orl" {
		t.Errorf("read at 11 = %q, want %q", got, "orl")
	}
	mustClose(t, f)

	// Reopened read-write, the bytes are there and writes extend them.
	f, err := fs.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, f, []byte("!"), int64(len(want)))
	mustClose(t, f)
	if got := readFile(t, fs, name); string(got) != string(want)+"!" {
		t.Errorf("after reopen: %q", got)
	}
}

func testReadOnly(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fs, name, []byte("abc"))
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on a read-only file succeeded")
	}
	if err := f.Truncate(0); err == nil {
		t.Error("Truncate on a read-only file succeeded")
	}
	if got := readAt(t, f, 0, 3); string(got) != "abc" {
		t.Errorf("read %q after refused writes", got)
	}
}

func testWritevAt(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	n, err := f.WritevAt([][]byte{[]byte("ab"), nil, []byte("cde"), {}}, 3)
	if err != nil || n != 5 {
		t.Fatalf("WritevAt = %d, %v; want 5, nil", n, err)
	}
	if got := readAt(t, f, 0, 8); string(got) != "\x00\x00\x00abcde" {
		t.Errorf("read %q", got)
	}

	// More buffers than one pwritev takes (IOV_MAX is 1024 on Linux).
	var bufs [][]byte
	var want []byte
	for i := range 3000 {
		b := []byte{byte(i), byte(i >> 8)}[:1+i%2]
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	n, err = f.WritevAt(bufs, 100)
	if err != nil || n != len(want) {
		t.Fatalf("WritevAt(3000 bufs) = %d, %v; want %d, nil", n, err, len(want))
	}
	if got := readAt(t, f, 100, len(want)); !bytes.Equal(got, want) {
		t.Error("3000-buffer WritevAt wrote the wrong bytes")
	}
	if size := size(t, f); size != int64(100+len(want)) {
		t.Errorf("Size = %d, want %d", size, 100+len(want))
	}
}

func testTruncate(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	writeAt(t, f, []byte("abcdef"), 0)
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if s := size(t, f); s != 3 {
		t.Errorf("Size after shrink = %d, want 3", s)
	}
	if err := f.Truncate(6); err != nil {
		t.Fatal(err)
	}
	// The cut bytes must not come back: growth reads as zeros.
	if got := readAt(t, f, 0, 6); string(got) != "abc\x00\x00\x00" {
		t.Errorf("after shrink and grow: %q", got)
	}
	if s := size(t, f); s != 6 {
		t.Errorf("Size after grow = %d, want 6", s)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if s := size(t, f); s != 0 {
		t.Errorf("Size after truncate to 0 = %d", s)
	}
}

func testReadAtPastEOF(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	writeAt(t, f, []byte("0123456789"), 0)
	buf := make([]byte, 20)
	n, err := f.ReadAt(buf, 5)
	if n != 5 || err != io.EOF || string(buf[:n]) != "56789" {
		t.Errorf("ReadAt across EOF = %d, %v, %q; want 5, io.EOF, %q", n, err, buf[:n], "56789")
	}
	for _, off := range []int64{10, 1000} {
		if n, err := f.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt(%d) = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	if n, err := f.ReadAt(buf[:10], 0); n != 10 || (err != nil && err != io.EOF) {
		t.Errorf("ReadAt ending exactly at EOF = %d, %v", n, err)
	}
}

func testRename(t *testing.T, fs vfs.FS, dir string) {
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, fs, a, []byte("new"))
	writeFile(t, fs, b, []byte("old"))
	old, err := fs.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := fs.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(a); !vfs.IsNotExist(err) {
		t.Errorf("old name after rename: Stat = %v, want os.ErrNotExist", err)
	}
	if got := readFile(t, fs, b); string(got) != "new" {
		t.Errorf("renamed file holds %q, want %q", got, "new")
	}
	// A handle on the replaced file still reads its bytes.
	if got := readAt(t, old, 0, 3); string(got) != "old" {
		t.Errorf("replaced file's open handle reads %q, want %q", got, "old")
	}
	// Across directories.
	sub := filepath.Join(dir, "sub")
	if err := fs.MkdirAll(sub); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(b, filepath.Join(sub, "c")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fs, filepath.Join(sub, "c")); string(got) != "new" {
		t.Errorf("moved file holds %q", got)
	}
	if names := list(t, fs, dir); !slices.Equal(names, []string{"sub"}) {
		t.Errorf("List after moves = %q, want [sub]", names)
	}
}

func testRemove(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fs, name, []byte("still here"))
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fs.Remove(name); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(name); !vfs.IsNotExist(err) {
		t.Errorf("Stat after Remove = %v, want os.ErrNotExist", err)
	}
	if got := readAt(t, f, 0, 10); string(got) != "still here" {
		t.Errorf("removed file's open handle reads %q", got)
	}
	// The name is free again.
	mustClose(t, create(t, fs, name))

	sub := filepath.Join(dir, "sub")
	if err := fs.MkdirAll(sub); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fs, filepath.Join(sub, "x"), nil)
	if err := fs.Remove(sub); err == nil {
		t.Error("Remove of a non-empty directory succeeded")
	}
	if err := fs.Remove(filepath.Join(sub, "x")); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(sub); err != nil {
		t.Errorf("Remove of an empty directory: %v", err)
	}
}

func testList(t *testing.T, fs vfs.FS, dir string) {
	if names := list(t, fs, dir); len(names) != 0 {
		t.Errorf("empty directory lists %q", names)
	}
	for _, n := range []string{"b", "a", "c10", "c2"} {
		writeFile(t, fs, filepath.Join(dir, n), nil)
	}
	if err := fs.MkdirAll(filepath.Join(dir, "d", "e")); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c10", "c2", "d"}
	if names := list(t, fs, dir); !slices.Equal(names, want) {
		t.Errorf("List = %q, want %q", names, want)
	}
	if _, err := fs.List(filepath.Join(dir, "a")); err == nil {
		t.Error("List of a file succeeded")
	}
}

func testStat(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "f")
	writeFile(t, fs, name, []byte("12345"))
	fi, err := fs.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi != (vfs.FileInfo{Name: "f", Size: 5}) {
		t.Errorf("Stat(file) = %+v", fi)
	}
	fi, err = fs.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir || fi.Name != filepath.Base(dir) {
		t.Errorf("Stat(dir) = %+v", fi)
	}
}

func testSync(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	writeAt(t, f, []byte("data"), 0)
	if err := f.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync with nothing new: %v", err)
	}
	mustClose(t, f)
	if err := fs.SyncDir(dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
}

func testPreallocate(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	writeAt(t, f, []byte("abc"), 0)
	if err := f.Preallocate(0, 1<<20); err != nil {
		t.Fatalf("Preallocate: %v", err)
	}
	if err := f.Preallocate(0, 0); err != nil {
		t.Errorf("Preallocate of nothing: %v", err)
	}
	if s := size(t, f); s != 3 {
		t.Errorf("Size after Preallocate = %d, want 3 (KEEP_SIZE)", s)
	}
	writeAt(t, f, []byte("xyz"), 4096)
	if s := size(t, f); s != 4099 {
		t.Errorf("Size after writing into the reservation = %d, want 4099", s)
	}
}

func testMapReadOnly(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	m, ok := f.(vfs.Mapper)
	if !ok {
		t.Skip("file is not a vfs.Mapper")
	}
	want := randomBytes(3*4096 + 17)
	writeAt(t, f, want, 0)

	data, unmap, err := m.MapReadOnly(int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Error("mapping differs from the file")
	}
	if err := unmap(); err != nil {
		t.Errorf("unmap: %v", err)
	}

	data, unmap, err = m.MapReadOnly(100)
	if err != nil || !bytes.Equal(data, want[:100]) {
		t.Errorf("MapReadOnly(100) = %d bytes, %v", len(data), err)
	}
	if err == nil {
		if err := unmap(); err != nil {
			t.Errorf("unmap: %v", err)
		}
	}

	data, unmap, err = m.MapReadOnly(0)
	if err != nil || data == nil || len(data) != 0 {
		t.Errorf("MapReadOnly(0) = %v (nil %v), %v; want empty non-nil", data, data == nil, err)
	}
	if err == nil {
		if err := unmap(); err != nil {
			t.Errorf("unmap of an empty mapping: %v", err)
		}
	}

	if _, _, err := m.MapReadOnly(int64(len(want)) + 1); err == nil {
		t.Error("mapping past the end of the file succeeded")
	}
}

func testStartWriteback(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	r, ok := f.(vfs.RangeSyncer)
	if !ok {
		t.Skip("file is not a vfs.RangeSyncer")
	}
	writeAt(t, f, randomBytes(8192), 0)
	if err := r.StartWriteback(0, 8192); err != nil {
		t.Errorf("StartWriteback: %v", err)
	}
}

// hiddenFile hides a file's optional capabilities, so SendFile takes its
// copy fallback whatever the FS.
type hiddenFile struct{ vfs.File }

// plainConn hides the socket's descriptor (syscall.Conn), as a TLS
// connection would.
type plainConn struct{ net.Conn }

func testSendFile(t *testing.T, fs vfs.FS, dir string) {
	name := filepath.Join(dir, "f")
	content := randomBytes(3<<20 + 12345)
	writeFile(t, fs, name, content)
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	paths := []struct {
		name string
		file vfs.File
		conn func(net.Conn) net.Conn
	}{
		{"native", f, func(c net.Conn) net.Conn { return c }},
		{"copy", hiddenFile{f}, func(c net.Conn) net.Conn { return c }},
		{"notSocket", f, func(c net.Conn) net.Conn { return plainConn{c} }},
	}
	ranges := []struct{ off, n int64 }{
		{0, int64(len(content))}, // whole file, several chunks
		{1234, 2<<20 + 77},       // unaligned middle
		{5, 100},                 // small
		{int64(len(content)), 0}, // nothing
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			for _, r := range ranges {
				got, n, err := sendOverTCP(t, func(c net.Conn) (int64, error) {
					return vfs.SendFile(p.conn(c), p.file, r.off, r.n)
				})
				if err != nil || n != r.n {
					t.Errorf("SendFile(%d, %d) = %d, %v", r.off, r.n, n, err)
				}
				if !bytes.Equal(got, content[r.off:r.off+r.n]) {
					t.Errorf("SendFile(%d, %d): receiver got %d bytes, not the file's", r.off, r.n, len(got))
				}
			}
			// Asking for more than the file holds sends what there is
			// and says the file was short.
			off := int64(len(content) - 1000)
			got, n, err := sendOverTCP(t, func(c net.Conn) (int64, error) {
				return vfs.SendFile(p.conn(c), p.file, off, 5000)
			})
			if !errors.Is(err, io.ErrUnexpectedEOF) || n != 1000 {
				t.Errorf("SendFile past EOF = %d, %v; want 1000, io.ErrUnexpectedEOF", n, err)
			}
			if !bytes.Equal(got, content[off:]) {
				t.Errorf("SendFile past EOF delivered %d wrong bytes", len(got))
			}
		})
	}
}

// sendOverTCP runs send on the client end of a loopback connection and
// returns everything the server end received.
func sendOverTCP(t *testing.T, send func(net.Conn) (int64, error)) ([]byte, int64, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		data []byte
		err  error
	}
	received := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- result{err: err}
			return
		}
		defer c.Close()
		data, err := io.ReadAll(c)
		received <- result{data, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// A deadline, not a sleep: a broken sender fails instead of hanging.
	c.SetDeadline(time.Now().Add(time.Minute))
	n, sendErr := send(c)
	c.Close()
	r := <-received
	if r.err != nil {
		t.Fatalf("receiver: %v", r.err)
	}
	return r.data, n, sendErr
}

func testClose(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	writeAt(t, f, []byte("abc"), 0)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v, want os.ErrClosed", err)
	}
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want os.ErrClosed", err)
	}
	if _, err := f.WriteAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close = %v, want os.ErrClosed", err)
	}
	if _, err := f.WritevAt([][]byte{buf}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WritevAt after Close = %v, want os.ErrClosed", err)
	}
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Sync after Close = %v, want os.ErrClosed", err)
	}
	if _, err := f.Size(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Size after Close = %v, want os.ErrClosed", err)
	}
	if err := f.Truncate(0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Truncate after Close = %v, want os.ErrClosed", err)
	}
	// Closing a handle does not touch the file.
	if got := readFile(t, fs, filepath.Join(dir, "f")); string(got) != "abc" {
		t.Errorf("file holds %q after Close", got)
	}
}

func testConcurrent(t *testing.T, fs vfs.FS, dir string) {
	f := create(t, fs, filepath.Join(dir, "f"))
	defer f.Close()
	const workers, blocks, blockSize = 4, 16, 4096
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			block := bytes.Repeat([]byte{byte('a' + w)}, blockSize)
			got := make([]byte, blockSize)
			for b := range blocks {
				off := int64((b*workers + w) * blockSize)
				if _, err := f.WriteAt(block, off); err != nil {
					errs <- err
					return
				}
				if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, block) {
					errs <- errors.New("read back another writer's bytes")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := size(t, f); s != workers*blocks*blockSize {
		t.Errorf("Size = %d, want %d", s, workers*blocks*blockSize)
	}
}

// Helpers.

func create(t *testing.T, fs vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := fs.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return f
}

func mustClose(t *testing.T, f vfs.File) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func writeAt(t *testing.T, f vfs.File, p []byte, off int64) {
	t.Helper()
	if n, err := f.WriteAt(p, off); err != nil || n != len(p) {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
	}
}

func readAt(t *testing.T, f vfs.File, off int64, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, off)
	if got < n {
		t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
	}
	return buf
}

func size(t *testing.T, f vfs.File) int64 {
	t.Helper()
	s, err := f.Size()
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return s
}

func writeFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f := create(t, fs, name)
	if len(data) > 0 {
		writeAt(t, f, data, 0)
	}
	mustClose(t, f)
}

func readFile(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer f.Close()
	return readAt(t, f, 0, int(size(t, f)))
}

func list(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return names
}

// randomBytes returns n bytes that no off-by-one copy can reproduce by
// accident; the seed keeps failures repeatable.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
