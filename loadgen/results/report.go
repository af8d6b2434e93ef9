package results

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// Redraw regenerates everything derived in a result directory from its
// stored files only (run.json, series.csv, hdr/*.hlog): the tables
// curve.csv, distribution.csv and, for a comparison, compare.csv; every
// chart (charts/*.svg, charts/*.png); and report.html. Write calls it too,
// so stored and redrawn figures are the same.
func Redraw(dir string) error {
	st, err := Read(dir)
	if err != nil {
		return err
	}
	if len(st.Steps) == 0 {
		return ErrNoSteps
	}
	var figs []curveFigures
	for _, c := range curvesOf(st) {
		figs = append(figs, figuresOf(c))
	}
	if err := writeCurves(filepath.Join(dir, CurveFile), figs); err != nil {
		return err
	}
	if err := writeDistribution(filepath.Join(dir, DistributionFile), st); err != nil {
		return err
	}
	if st.Info.Kind == KindCompare {
		rows, _ := comparisons(st.Info.Drivers, figs)
		if err := writeComparisons(filepath.Join(dir, CompareFile), rows); err != nil {
			return err
		}
	}
	charts, err := drawCharts(st)
	if err != nil {
		return err
	}
	cdir := filepath.Join(dir, ChartsDir)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	for _, c := range charts {
		for _, f := range []struct {
			ext  string
			data []byte
		}{{".svg", c.SVG}, {".png", c.PNG}} {
			if err := os.WriteFile(filepath.Join(cdir, c.Name+f.ext), f.data, 0o644); err != nil {
				return fmt.Errorf("results: %w", err)
			}
		}
	}
	html, err := renderReport(st, charts, figs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), html, 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// reportStep is one row of the report's table and its details section.
type reportStep struct {
	ID      string
	Driver  string
	Combo   string
	Kind    string
	Target  string
	Result  *loadgen.Result
	Stop    string
	Error   string
	Mapping loadgen.Mapping
	Charts  []reportChart
}

type reportChart struct {
	Title, Caption string
	Src            template.URL // data: URI of the SVG
	PNG            string       // file name, for a link
}

func embed(c chart) reportChart {
	return reportChart{
		Title: c.Title, Caption: c.Caption,
		Src: template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(c.SVG)),
		PNG: ChartsDir + "/" + c.Name + ".png",
	}
}

// renderReport writes report.html: self-contained (charts inlined as data
// URIs, styles inline, no scripts), so it opens offline and can be mailed.
func renderReport(st *Stored, charts []chart, figs []curveFigures) ([]byte, error) {
	multi := len(st.Info.Drivers) > 1
	var top []reportChart
	perStep := map[string][]reportChart{}
	for _, c := range charts {
		if c.StepID == "" {
			top = append(top, embed(c))
		} else {
			perStep[c.StepID] = append(perStep[c.StepID], embed(c))
		}
	}
	var steps []reportStep
	mappings := map[string]loadgen.Mapping{}
	var mappingOrder []string
	for i, si := range st.Info.Steps {
		s := st.Steps[i]
		rs := reportStep{ID: si.ID, Driver: si.Driver, Combo: comboLabel(si.Combo), Result: s.Result, Stop: s.Stop, Error: s.Error, Charts: perStep[si.ID]}
		switch {
		case s.Result == nil:
			rs.Kind = "failed"
		case s.Result.Loop == loadgen.LoopClosed:
			rs.Kind, rs.Target = "probe (closed loop)", "max"
		default:
			rs.Kind = "open loop"
			rs.Target = fmt.Sprintf("%.0f", s.Result.TargetRate)
			if s.Fraction > 0 {
				rs.Target += fmt.Sprintf(" (%.0f%%)", 100*s.Fraction)
			}
		}
		if s.Result != nil {
			rs.Mapping = s.Result.Mapping
			key := rs.Combo
			if multi {
				key = si.Driver + ": " + key
			}
			if _, ok := mappings[key]; !ok {
				mappingOrder = append(mappingOrder, key)
				mappings[key] = s.Result.Mapping
			}
		}
		steps = append(steps, rs)
	}
	type mappingRow struct {
		Combo   string
		Mapping loadgen.Mapping
	}
	var mrows []mappingRow
	for _, c := range mappingOrder {
		mrows = append(mrows, mappingRow{c, mappings[c]})
	}
	wl, err := json.MarshalIndent(st.Info.Workload, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	type curveRow struct {
		Driver, Combo, Bracket string
		Fig                    curveFigures
	}
	var curves []curveRow
	for _, f := range figs {
		curves = append(curves, curveRow{Driver: f.Driver, Combo: comboLabel(f.Combo), Bracket: f.bracketLabel(), Fig: f})
	}
	type compareRow struct {
		Combo string
		C     comparison
	}
	var compares []compareRow
	var lone []string
	if multi {
		rows, loneKeys := comparisons(st.Info.Drivers, figs)
		for _, r := range rows {
			compares = append(compares, compareRow{Combo: comboLabel(r.Combo), C: r})
		}
		for _, k := range loneKeys {
			lone = append(lone, k.Driver+": "+comboLabel(k.Combo))
		}
	}
	heading := fmt.Sprintf("%s: %s with the %s driver", st.Info.Name, st.Info.Kind, st.Info.Driver)
	if st.Info.Kind == KindCompare {
		heading = fmt.Sprintf("%s: %s compared", st.Info.Name, strings.Join(st.Info.Drivers, " and "))
	}
	ref := ""
	if len(st.Info.Drivers) > 0 {
		ref = st.Info.Drivers[0]
	}
	data := map[string]any{
		"Info": st.Info, "Workload": string(wl), "Top": top, "Steps": steps, "Mappings": mrows,
		"Heading": heading, "Multi": multi, "Curves": curves, "Compares": compares, "Lone": lone, "Ref": ref,
		"Compare": st.Info.Kind == KindCompare,
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("results: report: %w", err)
	}
	return b.Bytes(), nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string {
		if d == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f", float64(d)/1e6)
	},
	"rate": func(r float64) string { return fmt.Sprintf("%.0f", r) },
	"pct":  func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Heading}} — sluice loadgen</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}
td.l,th.l{text-align:left}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:85%}
figure{margin:1em 0}
figcaption{font-size:85%;color:#555}
img{max-width:100%;height:auto;border:1px solid #eee}
.warn{color:#a40}
details{margin:.5em 0}
</style></head><body>
<h1>{{.Heading}}</h1>
<p>Created {{.Info.Created.Format "2006-01-02 15:04:05 MST"}}{{if .Info.Quick}} (quick){{end}}.
Latencies are measured from each message's <em>intended</em> send time (open loop), in milliseconds;
publish = acknowledgement − intended time, end-to-end = consumer receipt − intended time.
Closed-loop probes measure service time under a fixed window instead.</p>

<h2>Machine and source</h2>
<table>
<tr><th class="l">CPU</th><td class="l">{{.Info.Machine.CPUModel}} × {{.Info.Machine.CPUs}}</td></tr>
<tr><th class="l">Kernel / OS</th><td class="l">{{.Info.Machine.Kernel}} ({{.Info.Machine.OS}}/{{.Info.Machine.Arch}})</td></tr>
<tr><th class="l">Data directory</th><td class="l">{{.Info.Machine.DataDir}} ({{.Info.Machine.FileSystem}})</td></tr>
<tr><th class="l">Go</th><td class="l">{{.Info.Machine.GoVersion}}</td></tr>
<tr><th class="l">Git</th><td class="l">{{with .Info.Git}}{{.Revision}}{{if .Dirty}} <span class="warn">(uncommitted changes)</span>{{end}}{{else}}unknown{{end}}</td></tr>
<tr><th class="l">Arguments</th><td class="l">{{range .Info.Args}}{{.}} {{end}}</td></tr>
</table>

{{with .Mappings}}<h2>What the settings mean on this system</h2>
<table><tr><th class="l">combination</th><th class="l">acks</th><th class="l">sync</th><th class="l">replication</th><th class="l">fetch</th><th class="l">notes</th></tr>
{{range .}}<tr><td class="l">{{.Combo}}</td><td class="l">{{.Mapping.Acks}}</td><td class="l">{{.Mapping.Sync}}</td><td class="l">{{.Mapping.Replication}}</td><td class="l">{{.Mapping.Fetch}}</td><td class="l">{{range .Mapping.Notes}}{{.}} {{end}}</td></tr>
{{end}}</table>{{end}}

{{with .Info.Skipped}}<h2>Skipped combinations</h2><ul>
{{range .}}<li>{{if $.Multi}}{{.Driver}}: {{end}}{{.Combo.Acks}} / {{.Combo.Mode}} / {{.Combo.Sync}}: {{.Reason}}</li>{{end}}
</ul>{{end}}

{{if .Multi}}<h2>Comparison at equal durability</h2>
<p>For each combination (acks × replication mode × sync policy) that {{.Ref}} and another driver both ran, on the same workload:
max = the highest achieved throughput (acknowledgements/s) of any of the combination's steps, closed-loop probe included;
ratio = {{.Ref}}'s max ÷ the other's; p99 at 50% = the publish p99 at half of that driver's own max, interpolated linearly
in achieved rate between the two open-loop steps whose achieved rates are nearest below and above it (– where no steps lie on
both sides: nothing is extrapolated). Also in compare.csv.</p>
{{with .Compares}}<table>
<tr><th class="l">combination</th><th class="l">driver</th><th>max msgs/s</th><th class="l">other</th><th>max msgs/s</th><th>ratio</th>
<th>publish p99 at 50% (ms), {{$.Ref}}</th><th>other</th></tr>
{{range .}}<tr><td class="l">{{.Combo}}</td><td class="l">{{.C.Ref.Driver}}</td><td>{{rate .C.Ref.MaxRate}}</td>
<td class="l">{{.C.Other.Driver}}</td><td>{{rate .C.Other.MaxRate}}</td><td>{{if .C.Ratio}}{{printf "%.2f" .C.Ratio}}×{{else}}–{{end}}</td>
<td>{{ms .C.Ref.PublishP99}}</td><td>{{ms .C.Other.PublishP99}}</td></tr>
{{end}}</table>{{else}}<p class="warn">No combination was run by {{.Ref}} and another driver.</p>{{end}}
{{with .Lone}}<p>Run by one driver only: {{range $i, $c := .}}{{if $i}}; {{end}}{{$c}}{{end}}.</p>{{end}}
{{end}}

{{with .Curves}}<h2>p99 at 50% of max load</h2>
<p>Per {{if $.Multi}}driver and {{end}}combination: max = the highest achieved throughput of any of its steps, closed-loop probe
included; the publish and end-to-end p99 at half of it are interpolated linearly in achieved rate between the two open-loop
steps nearest below and above (named), – where there are none on both sides. Also in curve.csv.</p>
<table>
<tr>{{if $.Multi}}<th class="l">driver</th>{{end}}<th class="l">combination</th><th>max msgs/s</th><th>step</th><th>50% msgs/s</th>
<th>publish p99 (ms)</th><th>e2e p99 (ms)</th><th class="l">from</th></tr>
{{range .}}<tr>{{if $.Multi}}<td class="l">{{.Driver}}</td>{{end}}<td class="l">{{.Combo}}</td><td>{{rate .Fig.MaxRate}}</td><td>{{.Fig.MaxStep}}</td>
<td>{{rate .Fig.HalfRate}}</td><td>{{ms .Fig.PublishP99}}</td><td>{{ms .Fig.E2EP99}}</td><td class="l">{{.Bracket}}</td></tr>
{{end}}</table>{{end}}

<h2>Summary</h2>
<table>
<tr><th>step</th>{{if .Multi}}<th class="l">driver</th>{{end}}<th class="l">combination</th><th class="l">kind</th><th>target msgs/s</th><th>achieved msgs/s</th>
<th>publish p50</th><th>p99</th><th>p99.9</th><th>max</th><th>e2e p50</th><th>p99</th><th>p99.9</th><th>max</th>
<th>errors</th><th>unsent</th><th>missing</th><th>others' CPU</th><th class="l">curve stopped</th></tr>
{{range .Steps}}<tr><td>{{.ID}}</td>{{if $.Multi}}<td class="l">{{.Driver}}</td>{{end}}<td class="l">{{.Combo}}</td><td class="l">{{.Kind}}</td><td>{{.Target}}</td>
{{with .Result}}<td>{{rate .AchievedRate}}</td>
<td>{{ms .Publish.P50}}</td><td>{{ms .Publish.P99}}</td><td>{{ms .Publish.P999}}</td><td>{{ms .Publish.Max}}</td>
<td>{{ms .EndToEnd.P50}}</td><td>{{ms .EndToEnd.P99}}</td><td>{{ms .EndToEnd.P999}}</td><td>{{ms .EndToEnd.Max}}</td>
<td>{{.Counts.Errors}}</td><td>{{.Counts.Unsent}}</td><td>{{.Counts.Missing}}</td><td>{{if .Load.Known}}{{pct .Load.Others}}{{else}}?{{end}}</td>
{{else}}<td colspan="13" class="l warn">no result</td>{{end}}
<td class="l">{{.Stop}}{{if .Error}} <span class="warn">{{.Error}}</span>{{end}}</td></tr>
{{end}}</table>

{{range .Top}}<figure><img src="{{.Src}}" alt="{{.Title}}"><figcaption>{{.Caption}} (<a href="{{.PNG}}">PNG</a>)</figcaption></figure>
{{end}}

<h2>Steps</h2>
{{range .Steps}}<details><summary>Step {{.ID}}: {{if $.Multi}}{{.Driver}}, {{end}}{{.Combo}}, {{.Kind}}{{if .Target}}, target {{.Target}}{{end}}</summary>
{{with .Result}}{{range .Notes}}<p class="warn">{{.}}</p>{{end}}
{{range .ErrorSamples}}<p class="warn">error: {{.}}</p>{{end}}
{{range .ConsumerErrors}}<p class="warn">consumer: {{.}}</p>{{end}}
<p>Counts: scheduled {{.Counts.Scheduled}}, sent {{.Counts.Sent}}, acked {{.Counts.Acked}}, errors {{.Counts.Errors}},
unacked {{.Counts.Unacked}}, received {{.Counts.Received}}, duplicates {{.Counts.Duplicates}}, missing {{.Counts.Missing}};
latencies clamped: {{.Clamped.Low}} low, {{.Clamped.High}} high; send lag p99 {{ms .SendLag.P99}} ms, max {{ms .SendLag.Max}} ms.</p>{{end}}
{{range .Charts}}<figure><img src="{{.Src}}" alt="{{.Title}}"><figcaption>{{.Caption}} (<a href="{{.PNG}}">PNG</a>)</figcaption></figure>
{{end}}</details>
{{end}}

<h2>Workload</h2>
<pre>{{.Workload}}</pre>
<p>Data: run.json, summary.csv, series.csv, hdr/*.hlog (HdrHistogram interval logs, ns). The charts, this report and the derived
tables curve.csv, distribution.csv (cumulative latency percentiles per step){{if .Compare}} and compare.csv{{end}} are made from those
files alone (results.Redraw).</p>
</body></html>
`))
