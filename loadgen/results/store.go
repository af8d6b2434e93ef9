package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// SchemaVersion names the run.json format; bump it on any incompatible
// change (format, see doc.go).
const SchemaVersion = "sluice-loadgen-run/1"

// Kinds of result directories.
const (
	KindRun   = "run"
	KindSweep = "sweep"
	// KindCompare holds the sweeps of several drivers over one workload
	// (WriteCompare).
	KindCompare = "compare"
)

// Info is run.json: everything that describes a result directory except
// the per-interval series (series.csv) and the histograms (hdr/*.hlog).
type Info struct {
	Schema  string    `json:"schema"`
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Created time.Time `json:"created"`
	// Driver names the system measured; for a comparison, the drivers
	// joined by " vs ".
	Driver string `json:"driver"`
	// Drivers are the distinct step drivers in step order; in a
	// comparison the first is the reference (the numerator of its
	// ratios). Written since the compare kind; Read fills it in for older
	// directories.
	Drivers []string `json:"drivers,omitempty"`
	// Args are the command-line arguments (flags) the run was made with,
	// so it can be repeated.
	Args    []string `json:"args"`
	Quick   bool     `json:"quick"`
	Git     *Git     `json:"git"`
	Machine Machine  `json:"machine"`

	Workload loadgen.Workload   `json:"workload"`
	Sweep    *loadgen.SweepSpec `json:"sweep,omitempty"`
	Skipped  []Skipped          `json:"skipped,omitempty"`
	Steps    []StepInfo         `json:"steps"`
}

// Skipped is a combination a driver could not run honestly
// (loadgen.Skipped with the driver that refused it).
type Skipped struct {
	Driver string        `json:"driver,omitempty"`
	Combo  loadgen.Combo `json:"combo"`
	Reason string        `json:"reason"`
}

// StepInfo is one run of the directory. Result is stored without its
// intervals (they are in series.csv) and histograms (in HDRLog).
type StepInfo struct {
	ID string `json:"id"`
	// Driver ran the step: Result.Driver, or for a failed step the
	// driver of its sweep. Written since the compare kind; Read fills it
	// in for older directories.
	Driver   string          `json:"driver,omitempty"`
	Combo    loadgen.Combo   `json:"combo"`
	Probe    bool            `json:"probe"`
	Fraction float64         `json:"fraction"`
	Error    string          `json:"error,omitempty"`
	Stop     string          `json:"stop,omitempty"`
	HDRLog   string          `json:"hdrLog,omitempty"`
	Result   *loadgen.Result `json:"result,omitempty"`
}

// Header says who made a result directory; NewInfo completes it.
type Header struct {
	Name    string
	Driver  string
	Args    []string
	Quick   bool
	DataDir string // the system's data directory, "" when not known
}

// NewInfo returns an Info with the machine and source described.
func NewInfo(h Header) Info {
	return Info{
		Schema: SchemaVersion, Name: h.Name, Created: time.Now().UTC().Truncate(time.Second),
		Driver: h.Driver, Args: append([]string{}, h.Args...), Quick: h.Quick,
		Git: DescribeGit(), Machine: DescribeMachine(h.DataDir),
	}
}

// Stored is a result directory read back: run.json with every step's
// intervals and histograms restored.
type Stored struct {
	Dir   string
	Info  Info
	Steps []loadgen.Step
}

// File names inside a result directory (format, see doc.go).
const (
	RunFile          = "run.json"
	SummaryFile      = "summary.csv"
	SeriesFile       = "series.csv"
	CurveFile        = "curve.csv"        // derived (Redraw)
	CompareFile      = "compare.csv"      // derived (Redraw), compare directories only
	DistributionFile = "distribution.csv" // derived (Redraw)
	ReportFile       = "report.html"
	HDRDir           = "hdr"
	ChartsDir        = "charts"
)

// WriteRun stores one run in a new directory under parent and returns its
// path.
func WriteRun(parent string, info Info, res *loadgen.Result) (string, error) {
	info.Kind = KindRun
	info.Workload = res.Workload
	info.Drivers = nil
	if info.Driver == "" {
		info.Driver = res.Driver
	}
	steps := []loadgen.Step{{Combo: comboOf(res.Workload), Result: res, Probe: res.Loop == loadgen.LoopClosed}}
	return write(parent, info, steps, stepDrivers(steps, info.Driver))
}

// WriteSweep stores a sweep in a new directory under parent and returns
// its path.
func WriteSweep(parent string, info Info, sw *loadgen.SweepResult) (string, error) {
	info.Kind = KindSweep
	info.Workload = sw.Workload
	spec := sw.Spec
	info.Sweep = &spec
	info.Quick = info.Quick || sw.Quick
	info.Drivers = nil
	if info.Driver == "" {
		info.Driver = sweepDriver(sw)
	}
	info.Skipped = skippedBy(sw.Skipped, info.Driver)
	return write(parent, info, sw.Steps, stepDrivers(sw.Steps, info.Driver))
}

// WriteCompare stores the sweeps of several drivers over the same workload
// (e.g. sluice and nats) in one new directory under parent, kind
// "compare", and returns its path. The first sweep's driver is the
// reference: compare.csv and the report give the others' figures as
// ratios to it. The steps are numbered across the sweeps in the order
// given.
//
// A sweep's driver is its results' Result.Driver; info.Drivers, when set,
// must name them in order, and is needed only for a sweep without any
// result (every run failed). The drivers must be distinct, and the sweeps
// must have run the same workload and sweep section, or the comparison
// would not be like for like. info.Driver becomes the drivers joined by
// " vs ".
func WriteCompare(parent string, info Info, sweeps []*loadgen.SweepResult) (string, error) {
	if len(sweeps) < 2 {
		return "", fmt.Errorf("results: a comparison needs at least two sweeps, got %d", len(sweeps))
	}
	if len(info.Drivers) != 0 && len(info.Drivers) != len(sweeps) {
		return "", fmt.Errorf("results: %d drivers named for %d sweeps", len(info.Drivers), len(sweeps))
	}
	first := sweeps[0]
	drivers := make([]string, len(sweeps))
	var steps []loadgen.Step
	var stepDriver []string
	var skipped []Skipped
	for i, sw := range sweeps {
		d := sweepDriver(sw)
		switch {
		case len(info.Drivers) != 0 && d != "" && d != info.Drivers[i]:
			return "", fmt.Errorf("results: sweep %d was run by the %s driver, not %s", i+1, d, info.Drivers[i])
		case len(info.Drivers) != 0:
			d = info.Drivers[i]
		case d == "":
			return "", fmt.Errorf("results: sweep %d has no result to name its driver; set Info.Drivers", i+1)
		}
		if slices.Contains(drivers[:i], d) {
			return "", fmt.Errorf("results: two sweeps of the %s driver; a comparison needs distinct drivers", d)
		}
		drivers[i] = d
		if !reflect.DeepEqual(sw.Workload, first.Workload) || !reflect.DeepEqual(sw.Spec, first.Spec) {
			return "", fmt.Errorf("results: the %s sweep ran another workload or sweep section than the %s sweep", d, drivers[0])
		}
		steps = append(steps, sw.Steps...)
		stepDriver = append(stepDriver, stepDrivers(sw.Steps, d)...)
		skipped = append(skipped, skippedBy(sw.Skipped, d)...)
		info.Quick = info.Quick || sw.Quick
	}
	info.Kind = KindCompare
	info.Workload = first.Workload
	spec := first.Spec
	info.Sweep = &spec
	info.Driver = strings.Join(drivers, " vs ")
	info.Drivers = drivers
	info.Skipped = skipped
	return write(parent, info, steps, stepDriver)
}

// sweepDriver is the driver of a sweep's first result, "" without any.
func sweepDriver(sw *loadgen.SweepResult) string {
	for _, s := range sw.Steps {
		if s.Result != nil && s.Result.Driver != "" {
			return s.Result.Driver
		}
	}
	return ""
}

// stepDrivers names each step's driver: its result's, or def for a step
// without one.
func stepDrivers(steps []loadgen.Step, def string) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = def
		if s.Result != nil && s.Result.Driver != "" {
			out[i] = s.Result.Driver
		}
	}
	return out
}

func skippedBy(sk []loadgen.Skipped, driver string) []Skipped {
	var out []Skipped
	for _, s := range sk {
		out = append(out, Skipped{Driver: driver, Combo: s.Combo, Reason: s.Reason})
	}
	return out
}

// distinct returns the non-empty strings of ss once each, in order.
func distinct(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func comboOf(w loadgen.Workload) loadgen.Combo {
	return loadgen.Combo{Acks: w.Acks, Mode: w.ReplicationMode, Sync: w.SyncPolicy}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// DirName is the directory a result gets: <UTC date and time>-<name>.
func DirName(created time.Time, name string) string {
	return created.UTC().Format("2006-01-02-150405") + "-" + unsafeName.ReplaceAllString(name, "_")
}

// write stores the data files, then draws the charts and the report from
// what it stored (Redraw), so the figures never show anything the files do
// not hold. drivers[i] names the driver of steps[i].
func write(parent string, info Info, steps []loadgen.Step, drivers []string) (string, error) {
	if info.Schema == "" {
		info.Schema = SchemaVersion
	}
	if info.Created.IsZero() {
		info.Created = time.Now().UTC().Truncate(time.Second)
	}
	if info.Name == "" {
		info.Name = info.Workload.Name
	}
	if info.Driver == "" {
		info.Driver = strings.Join(distinct(drivers), " vs ")
	}
	if len(info.Drivers) == 0 {
		info.Drivers = distinct(drivers)
	}
	info.Steps = nil
	dir := filepath.Join(parent, DirName(info.Created, info.Name))
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("results: %s exists", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, HDRDir), 0o755); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	for i, s := range steps {
		si := StepInfo{ID: fmt.Sprintf("%03d", i+1), Driver: drivers[i], Combo: s.Combo, Probe: s.Probe, Fraction: s.Fraction, Error: s.Error, Stop: s.Stop}
		if s.Result != nil {
			si.HDRLog = filepath.ToSlash(filepath.Join(HDRDir, si.ID+".hlog"))
			if err := writeHDRLog(filepath.Join(dir, si.HDRLog), s.Result); err != nil {
				return "", err
			}
			r := *s.Result
			r.Intervals = nil
			si.Result = &r
		}
		info.Steps = append(info.Steps, si)
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: encode %s: %w", RunFile, err)
	}
	if err := ValidateRunJSON(data); err != nil {
		return "", err // a bug: what we write must pass our own check
	}
	if err := os.WriteFile(filepath.Join(dir, RunFile), append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	if err := writeSeries(filepath.Join(dir, SeriesFile), info.Steps, steps); err != nil {
		return "", err
	}
	if err := writeSummary(filepath.Join(dir, SummaryFile), info.Steps, steps); err != nil {
		return "", err
	}
	return dir, Redraw(dir)
}

// Read loads a result directory: run.json (validated), the series and the
// HDR logs. A directory written before steps recorded their driver gets
// them filled in (the result's driver, else Info.Driver), and Info.Drivers
// too.
func Read(dir string) (*Stored, error) {
	data, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if err := ValidateRunJSON(data); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	st := &Stored{Dir: dir}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&st.Info); err != nil {
		return nil, fmt.Errorf("results: %s: %w", RunFile, err)
	}
	st.Info.fillDrivers()
	series, err := readSeries(filepath.Join(dir, SeriesFile))
	if err != nil {
		return nil, err
	}
	for _, si := range st.Info.Steps {
		s := loadgen.Step{Combo: si.Combo, Probe: si.Probe, Fraction: si.Fraction, Error: si.Error, Stop: si.Stop, Result: si.Result}
		if s.Result != nil {
			s.Result.Intervals = series[si.ID]
			if si.HDRLog == "" {
				return nil, fmt.Errorf("results: step %s has a result but no HDR log", si.ID)
			}
			if err := readHDRLog(filepath.Join(dir, filepath.FromSlash(si.HDRLog)), s.Result); err != nil {
				return nil, err
			}
		}
		st.Steps = append(st.Steps, s)
	}
	return st, nil
}

// fillDrivers completes what older directories did not record: every
// step's driver and Info.Drivers.
func (info *Info) fillDrivers() {
	var names []string
	for i := range info.Steps {
		si := &info.Steps[i]
		if si.Driver == "" && si.Result != nil {
			si.Driver = si.Result.Driver
		}
		if si.Driver == "" {
			si.Driver = info.Driver
		}
		names = append(names, si.Driver)
	}
	if len(info.Drivers) == 0 {
		info.Drivers = distinct(names)
		if len(info.Drivers) == 0 {
			info.Drivers = []string{info.Driver}
		}
	}
	if info.Kind != KindCompare {
		for i := range info.Skipped {
			if info.Skipped[i].Driver == "" {
				info.Skipped[i].Driver = info.Driver
			}
		}
	}
}

// ErrNoSteps is returned by Redraw for a directory without any run.
var ErrNoSteps = errors.New("results: no steps to draw")
