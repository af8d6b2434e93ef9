package enginebench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
)

var dirSeq atomic.Int64

// NewTempDir makes a fresh directory for a benchmark under parent (the
// system temp dir when empty), through vfs.Default. RemoveDir deletes it.
func NewTempDir(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	dir := filepath.Join(parent, fmt.Sprintf("sluice-enginebench-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), dirSeq.Add(1)))
	if err := vfs.Default.MkdirAll(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// newRunDir makes a fresh directory for one run under parent.
func newRunDir(parent string) (string, error) {
	dir := filepath.Join(parent, fmt.Sprintf("run-%d", dirSeq.Add(1)))
	if err := vfs.Default.MkdirAll(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// RemoveDir deletes dir and everything below it, through vfs.Default. A
// missing dir is not an error.
func RemoveDir(dir string) error {
	names, err := vfs.Default.List(dir)
	if err != nil {
		if vfs.IsNotExist(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, name := range names {
		p := filepath.Join(dir, name)
		info, err := vfs.Default.Stat(p)
		if err == nil && info.IsDir {
			errs = append(errs, RemoveDir(p))
			continue
		}
		if err := vfs.Default.Remove(p); err != nil && !vfs.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if err := vfs.Default.Remove(dir); err != nil && !vfs.IsNotExist(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncTimer records how long each fdatasync of a timedFS takes.
type syncTimer struct {
	mu  sync.Mutex
	lat []time.Duration
	on  bool
}

func (t *syncTimer) record(d time.Duration) {
	t.mu.Lock()
	if t.on {
		t.lat = append(t.lat, d)
	}
	t.mu.Unlock()
}

func (t *syncTimer) start() {
	t.mu.Lock()
	t.on, t.lat = true, t.lat[:0]
	t.mu.Unlock()
}

// stop ends recording and returns the latencies, sorted.
func (t *syncTimer) stop() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = false
	return sortDurations(append([]time.Duration(nil), t.lat...))
}

// timedFS is vfs.FS whose files time their Sync calls.
type timedFS struct {
	vfs.FS
	t *syncTimer
}

func (fs timedFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &timedFile{File: f, t: fs.t}, nil
}

func (fs timedFS) Create(name string) (vfs.File, error) { return fs.wrap(fs.FS.Create(name)) }
func (fs timedFS) Open(name string) (vfs.File, error)   { return fs.wrap(fs.FS.Open(name)) }
func (fs timedFS) OpenReadWrite(name string) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name))
}

type timedFile struct {
	vfs.File
	t *syncTimer
}

func (f *timedFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.t.record(time.Since(start))
	return err
}

// MapReadOnly keeps the engine's mmapped indexes (vfs.Mapper).
func (f *timedFile) MapReadOnly(size int64) ([]byte, func() error, error) {
	if m, ok := f.File.(vfs.Mapper); ok {
		return m.MapReadOnly(size)
	}
	return nil, nil, errors.New("enginebench: file cannot be mapped")
}
