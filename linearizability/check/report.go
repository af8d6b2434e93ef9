package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Files of a report directory (results/checks/<date>-<scenario>/). The
// harness adds the broker logs (and data directories on failure) beside
// them.
const (
	FileHistory      = "history.json"      // the operations, faults and leader claims
	FileFinal        = "final.json"        // the final reads, per partition and replica
	FileExpectations = "expectations.json" // the scenario's configuration and overrides
	FileVerdict      = "verdict.json"      // the judgement, Porcupine results, statistics; anomalies capped per kind
	FileAnomalies    = "anomalies.json"    // every anomaly
	FileTimeline     = "timeline.txt"      // faults, leader claims and anomalies in time order
	FileFaults       = "faults.json"       // the fault windows alone
	filePorcupine    = "porcupine-%s.html" // one per model: log, group-offsets, leadership
)

// MaxAnomaliesPerKind caps the anomalies of one kind in verdict.json (a
// run with acks=none can lose thousands of values); anomalies.json has
// them all.
const MaxAnomaliesPerKind = 100

// ReportDir returns root/<date>-<scenario>, the directory of one run's
// report (root is usually results/checks). The date is UTC, to the
// second, sortable.
func ReportDir(root, scenario string, t time.Time) string {
	name := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(scenario, "_")
	return filepath.Join(root, t.UTC().Format("2006-01-02T150405Z")+"-"+name)
}

// WriteReport writes the run's report into dir (created if needed):
// history.json, final.json, expectations.json (enough for Load and a
// replay), porcupine-<model>.html for every model checked (always, also
// when the check passed, with fault windows annotated), timeline.txt and
// faults.json, verdict.json and anomalies.json.
func (v *Verdict) WriteReport(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	write := func(name string, x any) {
		if err := history.WriteFile(filepath.Join(dir, name), x); err != nil {
			errs = append(errs, err)
		}
	}
	write(FileHistory, v.history)
	if v.final != nil {
		write(FileFinal, v.final)
	}
	write(FileExpectations, v.exp)
	write(FileFaults, v.history.Faults)
	write(FileAnomalies, v.Anomalies)
	capped := *v
	capped.Anomalies = capPerKind(v.Anomalies, MaxAnomaliesPerKind)
	write(FileVerdict, &capped)
	if err := os.WriteFile(filepath.Join(dir, FileTimeline), []byte(Timeline(v.history, v.Anomalies)), 0o644); err != nil {
		errs = append(errs, err)
	}
	for _, r := range v.Linearizability {
		path := filepath.Join(dir, fmt.Sprintf(filePorcupine, r.Model))
		f, err := os.Create(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = r.Visualize(f, v.history)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("check: writing %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}

func capPerKind(as []anomaly.Anomaly, n int) []anomaly.Anomaly {
	seen := map[anomaly.Kind]int{}
	var out []anomaly.Anomaly
	for _, a := range as {
		if seen[a.Kind] < n {
			out = append(out, a)
		}
		seen[a.Kind]++
	}
	return out
}

// Load reads what Check needs back from a report directory, for `sluice
// check replay DIR`. final.json may be missing (nil); the other two may
// not.
func Load(dir string) (*history.History, *history.FinalReads, expect.Expectations, error) {
	var exp expect.Expectations
	h, err := history.ReadHistoryFile(filepath.Join(dir, FileHistory))
	if err != nil {
		return nil, nil, exp, err
	}
	final, err := history.ReadFinalFile(filepath.Join(dir, FileFinal))
	if errors.Is(err, fs.ErrNotExist) {
		final, err = nil, nil
	}
	if err != nil {
		return nil, nil, exp, err
	}
	if err := readJSON(filepath.Join(dir, FileExpectations), &exp); err != nil {
		return nil, nil, exp, err
	}
	return h, final, exp, nil
}

// Timeline renders fault windows, leader claims and anomalies in time
// order, one line each, for a reader looking for what broke when.
func Timeline(h *history.History, anomalies []anomaly.Anomaly) string {
	type line struct {
		t    history.Time
		text string
	}
	var ls []line
	ls = append(ls, line{0, fmt.Sprintf("run start (%s); %d operations, last event at %v", h.Start.UTC().Format(time.RFC3339Nano), len(h.Ops), h.End())})
	for _, f := range h.Faults {
		detail := ""
		if f.Detail != "" {
			detail = ": " + f.Detail
		}
		ls = append(ls, line{f.Start, fmt.Sprintf("fault %d %s START on %s%s", f.ID, f.Kind, f.Target, detail)})
		if f.End != history.Infinity {
			ls = append(ls, line{f.End, fmt.Sprintf("fault %d %s END on %s (%v long)", f.ID, f.Kind, f.Target, (f.End - f.Start).Duration())})
		} else {
			ls = append(ls, line{h.End(), fmt.Sprintf("fault %d %s still open at the end of the run", f.ID, f.Kind)})
		}
	}
	for _, c := range h.LeaderClaims {
		ls = append(ls, line{c.Time, fmt.Sprintf("leader: broker %d leads %v in epoch %d", c.Broker, c.TP(), c.Epoch)})
	}
	for _, a := range anomalies {
		faults := ""
		if len(a.Faults) > 0 {
			faults = fmt.Sprintf(" (during faults %v)", a.Faults)
		}
		ls = append(ls, line{a.From, "ANOMALY " + a.String() + faults})
	}
	slices.SortStableFunc(ls, func(a, b line) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%14s  %s\n", l.t, l.text)
	}
	return b.String()
}
