package cli

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/sluice-mq/sluice/loadgen/results"
)

const chartDescription = `Redraws the charts (SVG, PNG) and report.html of a result directory that
'sluice bench run|sweep|compare' wrote, from its stored data only
(run.json, series.csv, the HDR logs): after an upgrade, or on a copy.`

func runChart(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("chart", "RESULT_DIR...", chartDescription)
	dirs, err := parseArgs(fs, args, stdout)
	if err != nil {
		return parseFailed(stderr, "chart", err)
	}
	if len(dirs) == 0 {
		return failf(stderr, exitUsage, "chart: name at least one result directory (results/<date>-<name>)")
	}
	for _, dir := range dirs {
		if err := results.Redraw(dir); err != nil {
			return failf(stderr, exitFailure, "chart: %v", err)
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, "report.html"))
	}
	return exitOK
}

// runRerun repeats a stored run: the same command and flags, the workload
// exactly as stored (defaults filled in), into a new result directory.
func runRerun(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		return failf(stderr, exitUsage, "bench --rerun: want one result directory (results/<date>-<name>)")
	}
	st, err := results.Read(args[0])
	if err != nil {
		return failf(stderr, exitFailure, "bench --rerun: %v", err)
	}
	rec := st.Info.Args
	if len(rec) == 0 {
		return failf(stderr, exitFailure, "bench --rerun: %s records no command", args[0])
	}
	kind := rec[0]
	if kind != "run" && kind != "sweep" && kind != "compare" {
		return failf(stderr, exitFailure, "bench --rerun: %s was made by %q, not bench run, sweep or compare", args[0], kind)
	}
	w := st.Info.Workload
	fmt.Fprintf(stderr, "rerun of %s: sluice bench %v (workload %s as stored)\n", args[0], rec, w.Name)
	return runLoad(kind, rec[1:], &w, stdout, stderr)
}
