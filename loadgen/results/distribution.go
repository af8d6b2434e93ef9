package results

import (
	"strconv"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// distribution.csv holds every step's cumulative latency distributions as
// percentile rows, so tools without an HdrHistogram decoder (pandas) can
// draw latency CDFs. It is derived from the cumulative histograms of
// hdr/*.hlog (Redraw rewrites it). Format, see doc.go.
var distributionHeader = []string{"step", "driver", "acks", "mode", "sync", "fraction", "kind", "percentile", "value_ns"}

// distributionPercentiles are the rows per histogram (format): the
// deciles, then the tail.
var distributionPercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

// Kinds of distribution.csv rows.
const (
	distPublish = "publish"
	distE2E     = "e2e"
)

// writeDistribution writes distribution.csv from the decoded cumulative
// histograms; an empty histogram (no consumers, nothing acknowledged) has
// no rows.
func writeDistribution(path string, st *Stored) error {
	rows := [][]string{distributionHeader}
	for i, si := range st.Info.Steps {
		res := st.Steps[i].Result
		if res == nil {
			continue
		}
		for _, k := range []struct {
			kind string
			h    *hdr.Histogram
		}{{distPublish, res.PublishHistogram}, {distE2E, res.E2EHistogram}} {
			if k.h == nil || k.h.TotalCount() == 0 {
				continue
			}
			for _, p := range distributionPercentiles {
				rows = append(rows, []string{
					si.ID, si.Driver, string(si.Combo.Acks), string(si.Combo.Mode), string(si.Combo.Sync),
					strconv.FormatFloat(si.Fraction, 'f', -1, 64), k.kind,
					strconv.FormatFloat(p, 'f', -1, 64), itoa(k.h.ValueAtQuantile(p)),
				})
			}
		}
	}
	return writeCSV(path, rows)
}
