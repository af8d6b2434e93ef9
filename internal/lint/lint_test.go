package lint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// listedPackage is the part of `go list -json` output the checks use.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Error      *listError
}

type listError struct {
	Pos string
	Err string
}

// importRef is one import as seen from a package of module m.
type importRef struct {
	path string // full import path
	rel  string // path relative to the module root when ours, "" otherwise
	ours bool
	std  bool
}

func classify(module, path string) importRef {
	switch {
	case path == module:
		return importRef{path: path, ours: true}
	case strings.HasPrefix(path, module+"/"):
		return importRef{path: path, rel: strings.TrimPrefix(path, module+"/"), ours: true}
	}
	first, _, _ := strings.Cut(path, "/")
	return importRef{path: path, std: !strings.Contains(first, ".")}
}

// under reports whether the module-relative path rel is dir or inside it.
func under(rel string, dirs ...string) bool {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// knownTrees are the top-level directories of DESIGN.md §2 that may hold Go
// packages. A package elsewhere has no rules, so it is reported; extend this
// list and the rules together.
var knownTrees = []string{"engine", "replication", "broker", "loadgen", "linearizability", "cmd", "internal"}

// importRule is one rule of the import direction. A rule applies to the
// packages for which applies returns true; each of their imports must then
// satisfy allowed.
type importRule struct {
	name    string
	applies func(from string) bool
	allowed func(from string, imp importRef) bool
}

// inStrictSeam reports whether the package must reach files only through
// engine/vfs: the engine (except vfs itself) and replication.
func inStrictSeam(from string) bool {
	return (under(from, "engine") && !under(from, "engine/vfs")) || under(from, "replication")
}

var importRules = []importRule{
	{
		name:    "nothing imports cmd/...",
		applies: func(from string) bool { return !under(from, "cmd") },
		allowed: func(_ string, imp importRef) bool { return !imp.ours || !under(imp.rel, "cmd") },
	},
	{
		name:    "internal/cli is the CLI implementation, imported only by cmd/...",
		applies: func(from string) bool { return !under(from, "cmd", "internal/cli") },
		allowed: func(_ string, imp importRef) bool { return !imp.ours || !under(imp.rel, "internal/cli") },
	},
	{
		name:    "engine/... imports only std, ristretto, golang.org/x/sys (engine/vfs only), engine/... and internal/...",
		applies: func(from string) bool { return under(from, "engine") },
		allowed: func(from string, imp importRef) bool {
			switch {
			case imp.std:
				return true
			case imp.ours:
				return under(imp.rel, "engine", "internal")
			case under(imp.path, "github.com/dgraph-io/ristretto/v2"):
				return true
			case under(imp.path, "golang.org/x/sys"):
				return under(from, "engine/vfs")
			}
			return false
		},
	},
	{
		name:    "replication/... imports only engine/..., internal/... and replication/... of ours",
		applies: func(from string) bool { return under(from, "replication") },
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || under(imp.rel, "engine", "internal", "replication")
		},
	},
	{
		name:    "broker/brokerpb imports nothing of ours",
		applies: func(from string) bool { return under(from, "broker/brokerpb") },
		allowed: func(_ string, imp importRef) bool { return !imp.ours || under(imp.rel, "broker/brokerpb") },
	},
	{
		// engine/record is the batch wire format itself (the same bytes go
		// to disk, to followers and to consumers, DESIGN.md §3): a pure
		// codec with no engine behind it, so the client decodes batches with
		// it instead of carrying a second codec.
		name:    "broker/client imports only broker/brokerpb and engine/record of ours",
		applies: func(from string) bool { return under(from, "broker/client") },
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || under(imp.rel, "broker/client", "broker/brokerpb", "engine/record")
		},
	},
	{
		name: "broker/... imports only engine/..., replication/..., broker/... and internal/... of ours",
		applies: func(from string) bool {
			return under(from, "broker") && !under(from, "broker/brokerpb", "broker/client")
		},
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || under(imp.rel, "engine", "replication", "broker", "internal")
		},
	},
	{
		name:    "loadgen/... sees the system only through broker/client and broker/brokerpb (+ internal/...)",
		applies: func(from string) bool { return under(from, "loadgen") },
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || under(imp.rel, "loadgen", "broker/client", "broker/brokerpb", "internal")
		},
	},
	{
		name:    "linearizability/... sees the system only through broker/client and broker/brokerpb (+ internal/...)",
		applies: func(from string) bool { return under(from, "linearizability") },
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || under(imp.rel, "linearizability", "broker/client", "broker/brokerpb", "internal")
		},
	},
	{
		name:    "internal/... (except internal/cli) does not import replication, broker, loadgen or linearizability",
		applies: func(from string) bool { return under(from, "internal") && !under(from, "internal/cli") },
		allowed: func(_ string, imp importRef) bool {
			return !imp.ours || !under(imp.rel, "replication", "broker", "loadgen", "linearizability")
		},
	},
	{
		name:    "golang.org/x/sys/unix is imported only under engine/vfs",
		applies: func(from string) bool { return !under(from, "engine/vfs") },
		allowed: func(_ string, imp importRef) bool { return !under(imp.path, "golang.org/x/sys/unix") },
	},
	{
		name:    "engine/... and replication/... reach files only through engine/vfs (no io/ioutil)",
		applies: inStrictSeam,
		allowed: func(_ string, imp importRef) bool { return imp.path != "io/ioutil" },
	},
}

// rawOSFileFuncs are the functions of package os that touch the file system.
// In engine/... (outside engine/vfs) and replication/... they are forbidden:
// a call there would bypass the crashable and error-injecting file systems.
var rawOSFileFuncs = map[string]bool{
	"Open": true, "OpenFile": true, "Create": true, "CreateTemp": true,
	"ReadFile": true, "WriteFile": true, "Remove": true, "RemoveAll": true,
	"Rename": true, "Mkdir": true, "MkdirAll": true, "MkdirTemp": true,
	"Truncate": true, "ReadDir": true, "Stat": true, "Lstat": true,
	"Chmod": true, "Chtimes": true, "Link": true, "Symlink": true,
	"Readlink": true, "NewFile": true, "DirFS": true, "OpenRoot": true,
}

const rawOSRule = "engine/... and replication/... reach files only through engine/vfs (no raw os file calls)"

// checkLayout reports a package outside the known trees.
func checkLayout(module string, p listedPackage) []string {
	ref := classify(module, p.ImportPath)
	if !ref.ours {
		return []string{fmt.Sprintf("%s is not in module %s", p.ImportPath, module)}
	}
	if !under(ref.rel, knownTrees...) {
		return []string{fmt.Sprintf("%s is outside the layout of DESIGN.md §2 (rule: packages live under %s; add new trees and their rules to internal/lint)",
			p.ImportPath, strings.Join(knownTrees, ", "))}
	}
	return nil
}

// checkImports applies importRules to the package's non-test imports.
func checkImports(module string, p listedPackage) []string {
	from := classify(module, p.ImportPath).rel
	var out []string
	for _, path := range p.Imports {
		if path == "C" {
			continue
		}
		imp := classify(module, path)
		for _, r := range importRules {
			if r.applies(from) && !r.allowed(from, imp) {
				out = append(out, fmt.Sprintf("%s imports %s (rule: %s)", p.ImportPath, path, r.name))
			}
		}
	}
	return out
}

// checkOSCalls parses the package's non-test files and reports every use of
// a raw file function of package os, under whatever name "os" is imported.
// Parse errors are returned separately: they are compile errors of code in
// progress, which the build gate reports; the partial syntax tree is still
// checked.
func checkOSCalls(module string, p listedPackage) (violations []string, parseErrs []error) {
	if !inStrictSeam(classify(module, p.ImportPath).rel) {
		return nil, nil
	}
	fset := token.NewFileSet()
	files := append(append([]string(nil), p.GoFiles...), p.CgoFiles...)
	for _, name := range files {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			parseErrs = append(parseErrs, err)
		}
		if f == nil {
			continue
		}
		osNames := map[string]bool{}
		for _, spec := range f.Imports {
			ip, err := strconv.Unquote(spec.Path.Value)
			if err != nil || ip != "os" {
				continue
			}
			switch {
			case spec.Name == nil:
				osNames["os"] = true
			case spec.Name.Name == ".":
				violations = append(violations, fmt.Sprintf("%s: %s dot-imports os (rule: %s)",
					p.ImportPath, fset.Position(spec.Pos()), rawOSRule))
			case spec.Name.Name != "_":
				osNames[spec.Name.Name] = true
			}
		}
		if len(osNames) == 0 {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if ok && osNames[id.Name] && rawOSFileFuncs[sel.Sel.Name] {
				violations = append(violations, fmt.Sprintf("%s: %s uses os.%s (rule: %s)",
					p.ImportPath, fset.Position(sel.Pos()), sel.Sel.Name, rawOSRule))
			}
			return true
		})
	}
	return violations, parseErrs
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod and returns it with the module path declared there.
func moduleRoot() (dir, module string, err error) {
	dir, err = os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(rest), `"`), nil
				}
			}
			return "", "", fmt.Errorf("%s/go.mod has no module line", dir)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// listModule runs `go list -e -json ./...` at the module root.
func listModule(root string) ([]listedPackage, error) {
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list -e -json ./...: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(&stdout)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return pkgs, nil
}

// TestRepository is the lint itself: it checks every package of the module.
func TestRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("lists the whole module")
	}
	root, module, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := listModule(root)
	if err != nil {
		t.Fatal(err)
	}
	var violations []string
	for _, p := range pkgs {
		if p.Error != nil {
			switch {
			case strings.Contains(p.Error.Err, "import cycle not allowed"):
				violations = append(violations, fmt.Sprintf("%s: %s (rule: imports go one way)", p.ImportPath, p.Error.Err))
			case strings.Contains(p.Error.Err, "build constraints exclude all Go files"):
			default:
				t.Logf("note: %s does not load cleanly (checking the imports go list could read): %s", p.ImportPath, p.Error.Err)
			}
		}
		violations = append(violations, checkLayout(module, p)...)
		violations = append(violations, checkImports(module, p)...)
		v, parseErrs := checkOSCalls(module, p)
		violations = append(violations, v...)
		for _, err := range parseErrs {
			t.Logf("note: %v (checked the partial syntax tree)", err)
		}
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("checked %d packages of %s", len(pkgs), module)
}

const fakeModule = "github.com/sluice-mq/sluice"

// TestImportRulesCatchViolations proves every import rule can fail, and that
// the edges DESIGN.md §2 allows pass.
func TestImportRulesCatchViolations(t *testing.T) {
	m := func(rel string) string { return fakeModule + "/" + rel }
	tests := []struct {
		from    string // module-relative
		imports string
		want    string // substring of the rule name; "" means allowed
	}{
		// engine
		{"engine", "github.com/dgraph-io/ristretto/v2", ""},
		{"engine", "sync", ""},
		{"engine", m("engine/record"), ""},
		{"engine", m("engine/vfs"), ""},
		{"engine/record", m("internal/invariants"), ""},
		{"engine/vfs", "golang.org/x/sys/unix", ""},
		{"engine", "golang.org/x/sys/unix", "golang.org/x/sys/unix is imported only under engine/vfs"},
		{"engine/record", "golang.org/x/sys/cpu", "engine/... imports only"},
		{"engine", m("replication"), "engine/... imports only"},
		{"engine/record", m("broker/brokerpb"), "engine/... imports only"},
		{"engine", "github.com/twmb/franz-go/pkg/kmsg", "engine/... imports only"},
		{"engine", "io/ioutil", "no io/ioutil"},
		{"engine", m("internal/cli"), "internal/cli is the CLI implementation"},
		// replication
		{"replication", m("engine"), ""},
		{"replication/sim", m("internal/testutil"), ""},
		{"replication", "github.com/some/lib", ""},
		{"replication", m("broker"), "replication/... imports only"},
		{"replication", m("loadgen"), "replication/... imports only"},
		{"replication", "golang.org/x/sys/unix", "golang.org/x/sys/unix"},
		{"replication", "io/ioutil", "no io/ioutil"},
		// broker
		{"broker/brokerpb", "google.golang.org/protobuf/proto", ""},
		{"broker/brokerpb", m("internal/invariants"), "broker/brokerpb imports nothing of ours"},
		{"broker/brokerpb", m("engine/record"), "broker/brokerpb imports nothing of ours"},
		{"broker/client", m("broker/brokerpb"), ""},
		{"broker/client", m("engine/record"), ""},
		{"broker/client", m("engine"), "broker/client imports only broker/brokerpb"},
		{"broker/client", m("internal/invariants"), "broker/client imports only broker/brokerpb"},
		{"broker/client", m("broker"), "broker/client imports only broker/brokerpb"},
		{"broker", m("engine"), ""},
		{"broker/group", m("replication"), ""},
		{"broker", m("broker/brokerpb"), ""},
		{"broker", m("loadgen"), "broker/... imports only"},
		{"broker", m("linearizability/porcupine"), "broker/... imports only"},
		{"broker", "golang.org/x/sys/unix", "golang.org/x/sys/unix"},
		// loadgen, linearizability
		{"loadgen", m("broker/client"), ""},
		{"loadgen/driver", m("broker/brokerpb"), ""},
		{"loadgen", m("internal/testutil"), ""},
		{"loadgen", "github.com/nats-io/nats.go", ""},
		{"loadgen", m("broker"), "loadgen/... sees the system only"},
		{"loadgen", m("engine"), "loadgen/... sees the system only"},
		{"loadgen", m("linearizability"), "loadgen/... sees the system only"},
		{"linearizability/nemesis", m("broker/client"), ""},
		{"linearizability", m("replication"), "linearizability/... sees the system only"},
		{"linearizability", m("engine/record"), "linearizability/... sees the system only"},
		{"linearizability", m("loadgen"), "linearizability/... sees the system only"},
		// cmd, internal
		{"cmd/sluice", m("internal/cli"), ""},
		{"internal/cli", m("broker"), ""},
		{"internal/cli", m("loadgen"), ""},
		{"internal/cli", m("engine/vfs"), ""},
		{"internal/cli", "golang.org/x/sys/unix", "golang.org/x/sys/unix"},
		{"internal/testutil", m("engine"), ""},
		{"internal/testutil", m("broker"), "internal/... (except internal/cli)"},
		{"internal/invariants", m("replication"), "internal/... (except internal/cli)"},
		{"internal/testutil", m("loadgen"), "internal/... (except internal/cli)"},
		{"broker", m("cmd/sluice"), "nothing imports cmd/..."},
		{"internal/cli", m("cmd/sluice"), "nothing imports cmd/..."},
		{"loadgen", m("internal/cli"), "internal/cli is the CLI implementation"},
	}
	for _, tt := range tests {
		p := listedPackage{ImportPath: m(tt.from), Imports: []string{tt.imports}}
		got := checkImports(fakeModule, p)
		if tt.want == "" {
			if len(got) != 0 {
				t.Errorf("%s -> %s: want allowed, got %q", tt.from, tt.imports, got)
			}
			continue
		}
		found := false
		for _, v := range got {
			prefix := fmt.Sprintf("%s imports %s (rule: ", m(tt.from), tt.imports)
			if strings.HasPrefix(v, prefix) && strings.Contains(v, tt.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s -> %s: want a violation of %q, got %q", tt.from, tt.imports, tt.want, got)
		}
	}
}

func TestLayoutRuleCatchesUnknownTree(t *testing.T) {
	for rel, bad := range map[string]bool{
		"engine": false, "engine/vfs": false, "cmd/sluice": false, "internal/lint": false,
		"tools/gen": true, "enginex": true, "": true,
	} {
		path := fakeModule
		if rel != "" {
			path += "/" + rel
		}
		got := checkLayout(fakeModule, listedPackage{ImportPath: path})
		if bad != (len(got) > 0) {
			t.Errorf("checkLayout(%q) = %q, want violation: %v", rel, got, bad)
		}
	}
}

// TestOSCallRuleCatchesViolations writes synthetic packages to disk and
// checks that raw os file calls are found under any import name, only in the
// strict trees.
func TestOSCallRuleCatchesViolations(t *testing.T) {
	const bad = `package x

import (
	"fmt"
	stdos "os"
)

func f() {
	_, _ = stdos.Open("a")             // call
	g := stdos.Rename                  // value
	_ = g
	_ = func() error { return stdos.WriteFile("b", nil, 0o644) }()
	_ = stdos.ErrNotExist              // not a file function
	_ = stdos.Getpid()                 // not a file function
	fmt.Println(stdos.Args)
}
`
	const clean = `package x

import "os"

func g() error { _ = os.Getenv("HOME"); return os.ErrNotExist }
`
	const dot = `package x

import . "os"

var _ = Getpid
`
	const broken = `package x

import "os"

func h() { os.Remove("a") ; this is not Go
`
	write := func(files map[string]string) string {
		dir := t.TempDir()
		for name, src := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	badDir := write(map[string]string{"bad.go": bad, "clean.go": clean, "dot.go": dot, "broken.go": broken})
	pkg := func(rel string) listedPackage {
		return listedPackage{
			ImportPath: fakeModule + "/" + rel,
			Dir:        badDir,
			GoFiles:    []string{"bad.go", "broken.go", "clean.go", "dot.go"},
		}
	}
	for _, rel := range []string{"engine", "engine/record", "replication", "replication/sim"} {
		got, parseErrs := checkOSCalls(fakeModule, pkg(rel))
		want := []string{"uses os.Open", "uses os.Rename", "uses os.WriteFile", "dot-imports os", "uses os.Remove"}
		if len(got) != len(want) {
			t.Errorf("%s: got %d violations, want %d: %q", rel, len(got), len(want), got)
		}
		for _, w := range want {
			found := false
			for _, v := range got {
				if strings.Contains(v, w) && strings.Contains(v, "(rule: "+rawOSRule+")") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no violation %q in %q", rel, w, got)
			}
		}
		if len(parseErrs) != 1 {
			t.Errorf("%s: want the parse error of broken.go reported, got %v", rel, parseErrs)
		}
	}
	for _, rel := range []string{"engine/vfs", "engine/vfs/errorfs", "broker", "loadgen", "linearizability", "internal/cli", "cmd/sluice"} {
		if got, _ := checkOSCalls(fakeModule, pkg(rel)); len(got) != 0 {
			t.Errorf("%s: raw os calls are allowed there, got %q", rel, got)
		}
	}
}
