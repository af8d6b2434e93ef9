package results

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// series.csv holds every step's per-interval series, one row per step and
// interval; times are seconds from the step's start, latencies integer
// nanoseconds (the histograms' own unit, so the file round-trips exactly).
// The columns are format (see doc.go): add at the end, never reorder.
var seriesColumns = []string{
	"step", "start_s", "end_s", "phase",
	"scheduled", "sent", "acked", "errors", "received", "duplicates",
	"backlog", "in_flight", "pending_max", "send_lag_max_ns",
}

var latencyColumns = []string{"count", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"}

func seriesHeader() []string {
	h := append([]string{}, seriesColumns...)
	for _, p := range []string{"publish_", "e2e_"} {
		for _, c := range latencyColumns {
			h = append(h, p+c)
		}
	}
	return h
}

func latencyCells(l loadgen.Latency) []string {
	return []string{
		itoa(l.Count), itoa(int64(l.Mean)), itoa(int64(l.P50)), itoa(int64(l.P90)),
		itoa(int64(l.P99)), itoa(int64(l.P999)), itoa(int64(l.Max)),
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

func writeSeries(path string, infos []StepInfo, steps []loadgen.Step) error {
	var rows [][]string
	rows = append(rows, seriesHeader())
	for i, s := range steps {
		if s.Result == nil {
			continue
		}
		for _, iv := range s.Result.Intervals {
			row := []string{
				infos[i].ID, secs(iv.Start), secs(iv.End), iv.Phase,
				itoa(iv.Scheduled), itoa(iv.Sent), itoa(iv.Acked), itoa(iv.Errors), itoa(iv.Received), itoa(iv.Duplicates),
				itoa(iv.Backlog), itoa(iv.InFlight), itoa(iv.PendingMax), itoa(int64(iv.SendLagMax)),
			}
			row = append(row, latencyCells(iv.Publish)...)
			row = append(row, latencyCells(iv.EndToEnd)...)
			rows = append(rows, row)
		}
	}
	return writeCSV(path, rows)
}

// readSeries returns the intervals per step id.
func readSeries(path string) (map[string][]loadgen.Interval, error) {
	rows, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	want := seriesHeader()
	if len(rows) == 0 || len(rows[0]) < len(want) {
		return nil, fmt.Errorf("results: %s: want the header %v", path, want)
	}
	for i, c := range want {
		if rows[0][i] != c {
			return nil, fmt.Errorf("results: %s: column %d is %q, want %q", path, i+1, rows[0][i], c)
		}
	}
	out := map[string][]loadgen.Interval{}
	for n, row := range rows[1:] {
		p := cellParser{row: row}
		iv := loadgen.Interval{Start: p.secs(1), End: p.secs(2), Phase: row[3]}
		for i, dst := range []*int64{&iv.Scheduled, &iv.Sent, &iv.Acked, &iv.Errors, &iv.Received, &iv.Duplicates, &iv.Backlog, &iv.InFlight, &iv.PendingMax} {
			*dst = p.int(4 + i)
		}
		iv.SendLagMax = time.Duration(p.int(13))
		iv.Publish = p.latency(len(seriesColumns))
		iv.EndToEnd = p.latency(len(seriesColumns) + len(latencyColumns))
		if p.err != nil {
			return nil, fmt.Errorf("results: %s line %d: %w", path, n+2, p.err)
		}
		out[row[0]] = append(out[row[0]], iv)
	}
	return out, nil
}

// cellParser parses cells of a row, keeping the first error.
type cellParser struct {
	row []string
	err error
}

func (p *cellParser) int(i int) int64 {
	if p.err != nil {
		return 0
	}
	v, err := strconv.ParseInt(p.row[i], 10, 64)
	if err != nil {
		p.err = fmt.Errorf("column %d: %w", i+1, err)
	}
	return v
}

func (p *cellParser) secs(i int) time.Duration {
	if p.err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(p.row[i], 64)
	if err != nil {
		p.err = fmt.Errorf("column %d: %w", i+1, err)
	}
	return time.Duration(v*1e9 + 0.5)
}

func (p *cellParser) latency(i int) loadgen.Latency {
	return loadgen.Latency{
		Count: p.int(i), Mean: time.Duration(p.int(i + 1)), P50: time.Duration(p.int(i + 2)), P90: time.Duration(p.int(i + 3)),
		P99: time.Duration(p.int(i + 4)), P999: time.Duration(p.int(i + 5)), Max: time.Duration(p.int(i + 6)),
	}
}

// summary.csv has one row per step: what was asked, what was achieved and
// the cumulative latencies in milliseconds. It is derived from run.json
// and kept for spreadsheets and notebooks. Format, see doc.go.
var summaryHeader = []string{
	"step", "driver", "acks", "mode", "sync", "loop", "fraction", "target_rate", "achieved_rate", "sent_rate", "receive_rate",
	"publish_p50_ms", "publish_p99_ms", "publish_p999_ms", "publish_max_ms",
	"e2e_p50_ms", "e2e_p99_ms", "e2e_p999_ms", "e2e_max_ms",
	"errors", "unsent", "unacked", "missing", "duplicates", "load_others", "stop", "error",
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func rate(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) }

func writeSummary(path string, infos []StepInfo, steps []loadgen.Step) error {
	rows := [][]string{summaryHeader}
	for i, s := range steps {
		row := []string{infos[i].ID, infos[i].Driver, string(s.Combo.Acks), string(s.Combo.Mode), string(s.Combo.Sync)}
		if r := s.Result; r != nil {
			row = append(row, r.Loop, strconv.FormatFloat(s.Fraction, 'f', -1, 64), rate(r.TargetRate), rate(r.AchievedRate), rate(r.SentRate), rate(r.ReceiveRate),
				ms(r.Publish.P50), ms(r.Publish.P99), ms(r.Publish.P999), ms(r.Publish.Max),
				ms(r.EndToEnd.P50), ms(r.EndToEnd.P99), ms(r.EndToEnd.P999), ms(r.EndToEnd.Max),
				itoa(r.Counts.Errors), itoa(r.Counts.Unsent), itoa(r.Counts.Unacked), itoa(r.Counts.Missing), itoa(r.Counts.Duplicates),
				strconv.FormatFloat(r.Load.Others, 'f', 3, 64))
		} else {
			for len(row) < len(summaryHeader)-2 {
				row = append(row, "")
			}
		}
		row = append(row, s.Stop, s.Error)
		rows = append(rows, row)
	}
	return writeCSV(path, rows)
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	w := csv.NewWriter(f)
	werr := w.WriteAll(rows)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("results: write %s: %w", path, werr)
	}
	return nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("results: read %s: %w", path, err)
	}
	return rows, nil
}
