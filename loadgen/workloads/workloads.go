// Package workloads holds the example workload files (README.md documents
// every field) built into the sluice binary, so `sluice bench sweep
// --quick` runs with no file at hand and `sluice bench run quick` names one.
package workloads

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed *.yaml *.json
var files embed.FS

// Names lists the built-in workloads (file names without extension).
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	slices.Sort(out)
	return out
}

// Lookup returns the built-in workload file called name (with or without
// its extension).
func Lookup(name string) ([]byte, bool) {
	for _, ext := range []string{"", ".yaml", ".json"} {
		if data, err := files.ReadFile(name + ext); err == nil {
			return data, true
		}
	}
	return nil, false
}
