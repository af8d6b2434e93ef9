package vfs_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// benchmarkSend sends 1 MiB per iteration over loopback TCP to a receiver
// that discards it.
func benchmarkSend(b *testing.B, wrap func(vfs.File) vfs.File) {
	const chunk = 1 << 20
	name := filepath.Join(b.TempDir(), "f")
	f, err := vfs.Default.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 8*chunk), 0); err != nil {
		b.Fatal(err)
	}
	ln, err := listen(b)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	conn, err := dial(ln)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	src := wrap(f)
	b.SetBytes(chunk)
	for i := 0; b.Loop(); i++ {
		if _, err := vfs.SendFile(conn, src, int64(i%8)*chunk, chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSendFile(b *testing.B) {
	benchmarkSend(b, func(f vfs.File) vfs.File { return f })
}

func BenchmarkCopyTo(b *testing.B) {
	// Hiding the Sender method forces the pooled-buffer fallback.
	benchmarkSend(b, func(f vfs.File) vfs.File { return struct{ vfs.File }{f} })
}
