package enginebench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/engine"
	"github.com/sluice-mq/sluice/engine/vfs"
)

// ReadChunk is the size of one fetch of the read benchmarks.
const ReadChunk = 1 << 20

// ReadFixture is a preloaded, page-cached log and a loopback TCP
// connection to an in-process sink that discards what it receives. Its
// methods measure one run each; Close deletes the log.
type ReadFixture struct {
	dir     string
	segPath string
	size    int64
	conn    net.Conn
	ln      net.Listener
	sunk    chan error
}

// NewReadFixture preloads about preloadBytes of 64 KiB batches of 1 KiB
// records into a sync=never log in a new directory under parent, fdatasyncs
// it once (so every page is clean and cached), and connects to a sink on
// 127.0.0.1.
func NewReadFixture(parent string, preloadBytes int64) (_ *ReadFixture, err error) {
	dir, err := newRunDir(parent)
	if err != nil {
		return nil, err
	}
	f := &ReadFixture{dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close())
		}
	}()
	l, err := openLog(dir, vfs.Default, engine.SyncPolicyNever, engine.PreallocNone, nil)
	if err != nil {
		return nil, err
	}
	batches := makeBatches(16, BigBatchRecords)
	for i := 0; f.size < preloadBytes; i++ {
		b := batches[i%len(batches)]
		if _, err := l.Append(b); err != nil {
			return nil, errors.Join(err, l.Close())
		}
		f.size += int64(len(b))
	}
	if err := l.Sync(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	names, err := vfs.Default.List(dir)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".log") {
			if f.segPath != "" {
				return nil, fmt.Errorf("enginebench: preload made more than one segment in %s", dir)
			}
			f.segPath = filepath.Join(dir, name)
		}
	}
	if f.segPath == "" {
		return nil, fmt.Errorf("enginebench: no segment in %s", dir)
	}
	if f.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	f.sunk = make(chan error, 1)
	go func() {
		c, err := f.ln.Accept()
		if err != nil {
			f.sunk <- err
			return
		}
		defer c.Close()
		buf := make([]byte, ReadChunk)
		for {
			if _, err := c.Read(buf); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				f.sunk <- err
				return
			}
		}
	}()
	if f.conn, err = net.Dial("tcp", f.ln.Addr().String()); err != nil {
		return nil, err
	}
	return f, nil
}

// Size is the preloaded log's size in bytes.
func (f *ReadFixture) Size() int64 { return f.size }

// Close ends the connection and the sink and deletes the log.
func (f *ReadFixture) Close() error {
	var errs []error
	if f.conn != nil {
		errs = append(errs, f.conn.Close())
		if f.sunk != nil {
			errs = append(errs, <-f.sunk)
		}
	}
	if f.ln != nil {
		errs = append(errs, f.ln.Close())
	}
	return errors.Join(append(errs, RemoveDir(f.dir))...)
}

func (f *ReadFixture) open(cache *engine.BlockCache) (*engine.Log, error) {
	return openLog(f.dir, vfs.Default, engine.SyncPolicyNever, engine.PreallocNone, cache)
}

// SendfileEngine loops Log.ReadRegion(offset, 1 MiB) + Region.SendTo +
// Release over the log (wrapping at its end) for d.
func (f *ReadFixture) SendfileEngine(d time.Duration) (m Measurement, err error) {
	l, err := f.open(nil)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	off := l.LogStartOffset()
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		r, err := l.ReadRegion(off, ReadChunk, -1)
		if err != nil {
			return m, err
		}
		if r.Length == 0 {
			r.Release()
			off = l.LogStartOffset()
			continue
		}
		n, err := r.SendTo(f.conn)
		r.Release()
		m.Bytes += n
		m.Ops++
		if err != nil {
			return m, err
		}
		off = r.NextOffset
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// SendfileRaw is SendfileEngine's baseline: vfs.SendFile of the same
// segment file in 1 MiB chunks, wrapping at its end.
func (f *ReadFixture) SendfileRaw(d time.Duration) (m Measurement, err error) {
	file, err := vfs.Default.Open(f.segPath)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, file.Close()) }()
	pos := int64(0)
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		if pos >= f.size {
			pos = 0
		}
		n, err := vfs.SendFile(f.conn, file, pos, min(ReadChunk, f.size-pos))
		m.Bytes += n
		m.Ops++
		if err != nil {
			return m, err
		}
		pos += n
	}
	m.Elapsed = time.Since(start)
	return m, nil
}

// CopyEngine loops Log.Read(offset, 1 MiB) + conn.Write for d, through a
// fresh BlockCache of cacheBudget bytes when cacheBudget > 0 (cold at the
// start of the run; CacheHits/CacheMisses count its blocks).
func (f *ReadFixture) CopyEngine(d time.Duration, cacheBudget int64) (m Measurement, err error) {
	var cache *engine.BlockCache
	if cacheBudget > 0 {
		if cache, err = engine.NewBlockCache(cacheBudget); err != nil {
			return m, err
		}
		defer cache.Close()
	}
	l, err := f.open(cache)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	off := l.LogStartOffset()
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		r, err := l.Read(off, ReadChunk)
		if err != nil {
			return m, err
		}
		if len(r.Data) == 0 {
			off = r.LogStartOffset
			continue
		}
		n, err := f.conn.Write(r.Data)
		m.Bytes += int64(n)
		m.Ops++
		if err != nil {
			return m, err
		}
		off = r.NextOffset
	}
	m.Elapsed = time.Since(start)
	if cache != nil {
		st := cache.Stats()
		m.CacheHits, m.CacheMisses = st.Hits, st.Misses
	}
	return m, nil
}

// CopyRaw is CopyEngine's baseline: pread of 1 MiB into one reused buffer
// + conn.Write, wrapping at the end of the segment file.
func (f *ReadFixture) CopyRaw(d time.Duration) (m Measurement, err error) {
	file, err := vfs.Default.Open(f.segPath)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, file.Close()) }()
	buf := make([]byte, ReadChunk)
	pos := int64(0)
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		if pos >= f.size {
			pos = 0
		}
		k, err := file.ReadAt(buf[:min(ReadChunk, f.size-pos)], pos)
		if err != nil && !(errors.Is(err, io.EOF) && k > 0) {
			return m, err
		}
		n, err := f.conn.Write(buf[:k])
		m.Bytes += int64(n)
		m.Ops++
		if err != nil {
			return m, err
		}
		pos += int64(k)
	}
	m.Elapsed = time.Since(start)
	return m, nil
}
