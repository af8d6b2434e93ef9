package vfs_test

import (
	"testing"

	"github.com/sluice-mq/sluice/engine/vfs"
	"github.com/sluice-mq/sluice/engine/vfs/vfstest"
)

func TestConformanceDefault(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.Default, t.TempDir()
	})
}

func TestConformanceMem(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.NewMem(), "/data/p0"
	})
}

func TestConformanceErrorsOverMem(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.WithErrors(vfs.NewMem(), &vfs.OpCounter{}), "/data"
	})
}

func TestConformanceErrorsOverDefault(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.WithErrors(vfs.Default, nil), t.TempDir()
	})
}
