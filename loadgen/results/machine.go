package results

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Machine describes where a run was made. Fields that cannot be found out
// are "unknown" (never left empty, so a reader can tell "not found" from
// "not written").
type Machine struct {
	CPUModel  string `json:"cpuModel"`
	CPUs      int    `json:"cpus"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"goVersion"`
	// DataDir is the system under test's data directory when the load
	// generator knows it (an embedded cluster), and FileSystem its file
	// system type from /proc/self/mountinfo; "unknown" for an external
	// cluster.
	DataDir    string `json:"dataDir"`
	FileSystem string `json:"fileSystem"`
}

// Git is the source revision the load generator was built from.
type Git struct {
	Revision string `json:"revision"`
	// Dirty reports uncommitted changes in the working tree.
	Dirty bool `json:"dirty"`
}

const unknown = "unknown"

// DescribeMachine collects the machine description; dataDir may be "".
func DescribeMachine(dataDir string) Machine {
	m := Machine{
		CPUModel: cpuModel(), CPUs: runtime.NumCPU(), Kernel: kernel(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(),
		DataDir: unknown, FileSystem: unknown,
	}
	if dataDir != "" {
		if abs, err := filepath.Abs(dataDir); err == nil {
			m.DataDir = abs
			m.FileSystem = fileSystemOf(abs)
		}
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return unknown
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		// x86 says "model name"; many ARM kernels only "Model" or
		// "Hardware".
		switch strings.TrimSpace(k) {
		case "model name", "Model", "Hardware":
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return unknown
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return unknown
	}
	return strings.TrimSpace(string(b))
}

// fileSystemOf returns the type of the file system holding path: the
// mount in /proc/self/mountinfo with the longest mount point that
// contains it.
func fileSystemOf(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return unknown
	}
	defer f.Close()
	best, fsType := "", unknown
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 1 {
			continue
		}
		mp := unescapeMount(fields[4])
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, fsType = mp, tail[0]
		}
	}
	return fsType
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// DescribeGit returns the revision the binary was built from (Go's build
// stamp) or, for `go run` and tests, `git rev-parse HEAD` in the current
// directory; nil when neither is available.
func DescribeGit() *Git {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var g Git
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				g.Revision = s.Value
			case "vcs.modified":
				g.Dirty = s.Value == "true"
			}
		}
		if g.Revision != "" {
			return &g
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return nil
	}
	g := &Git{Revision: strings.TrimSpace(string(out))}
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		g.Dirty = len(strings.TrimSpace(string(st))) > 0
	}
	return g
}
