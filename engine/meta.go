package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"

	"github.com/sluice-mq/sluice/engine/vfs"
)

// Small metadata files (leader-epoch cache, high-watermark checkpoint,
// producer-state snapshot) are replaced atomically: write a temp file, fsync
// it, rename it over the old one, fsync the directory. A reader after any
// crash sees the old or the new contents, never a mix; the checksum catches
// a file damaged later.
//
// Format (format constants):
//
//	+-------------+-------------+------------------+------------+
//	| magic "SLMF"| length u32  | crc32c(data) u32 | data ...   |
//	+-------------+-------------+------------------+------------+
const (
	metaMagic      = "SLMF"
	metaHeaderSize = 12
	// MaxMetaBytes bounds one metadata file.
	MaxMetaBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrMetaCorrupt is returned by ReadMeta for a file that fails its checks.
var ErrMetaCorrupt = errors.New("engine: corrupt metadata file")

// WriteFileAtomic replaces dir/name with data durably.
func WriteFileAtomic(fs vfs.FS, dir, name string, data []byte) error {
	if len(data) > MaxMetaBytes {
		return fmt.Errorf("engine: metadata %s of %d bytes exceeds %d", name, len(data), MaxMetaBytes)
	}
	final := filepath.Join(dir, name)
	tmp := final + tmpSuffix
	if err := fs.Remove(tmp); err != nil && !vfs.IsNotExist(err) {
		return err
	}
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	buf := make([]byte, metaHeaderSize+len(data))
	copy(buf, metaMagic)
	binary.BigEndian.PutUint32(buf[4:8], uint32(len(data)))
	binary.BigEndian.PutUint32(buf[8:12], crc32.Checksum(data, castagnoli))
	copy(buf[metaHeaderSize:], data)
	if _, err := f.WriteAt(buf, 0); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, final); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

// ReadFileChecked reads a file written by WriteFileAtomic. A missing file
// gives an error for which vfs.IsNotExist holds.
func ReadFileChecked(fs vfs.FS, dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size < metaHeaderSize || size > metaHeaderSize+MaxMetaBytes {
		return nil, fmt.Errorf("%w: %s has size %d", ErrMetaCorrupt, path, size)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(buf[:4]) != metaMagic {
		return nil, fmt.Errorf("%w: %s has bad magic", ErrMetaCorrupt, path)
	}
	n := binary.BigEndian.Uint32(buf[4:8])
	if int64(n) != size-metaHeaderSize {
		return nil, fmt.Errorf("%w: %s declares %d bytes, holds %d", ErrMetaCorrupt, path, n, size-metaHeaderSize)
	}
	data := buf[metaHeaderSize:]
	if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(buf[8:12]) {
		return nil, fmt.Errorf("%w: %s fails its checksum", ErrMetaCorrupt, path)
	}
	return data, nil
}

// WriteMeta stores a named metadata file in the log's directory.
func (l *Log) WriteMeta(name string, data []byte) error {
	if err := checkMetaName(name); err != nil {
		return err
	}
	return WriteFileAtomic(l.fs, l.dir, name, data)
}

// ReadMeta reads a metadata file written by WriteMeta.
func (l *Log) ReadMeta(name string) ([]byte, error) {
	if err := checkMetaName(name); err != nil {
		return nil, err
	}
	return ReadFileChecked(l.fs, l.dir, name)
}

func checkMetaName(name string) error {
	bad := name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, logSuffix) || strings.HasSuffix(name, indexSuffix) ||
		strings.HasSuffix(name, timeIndexSuffix) || strings.HasSuffix(name, tmpSuffix) ||
		strings.Contains(name, tornSuffix)
	if bad {
		return fmt.Errorf("engine: %q is not a valid metadata file name", name)
	}
	return nil
}
