package results

import (
	"bufio"
	"fmt"
	"os"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluice-mq/sluice/loadgen"
)

// writeHDRLog writes a run's histograms in the HdrHistogram interval log
// format (version 1.3, what HistogramLogAnalyzer and hdrhistogram-go read):
// the per-interval histograms tagged publish and e2e, then the cumulative
// ones tagged publish-cumulative and e2e-cumulative. Values are
// nanoseconds, timestamps relative to the BaseTime line.
func writeHDRLog(path string, res *loadgen.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	bw := bufio.NewWriter(f)
	lw := hdr.NewHistogramLogWriter(bw)
	startMs := res.Start.UnixMilli()
	// The log writes BaseTime in whole seconds; the relative timestamps
	// must use the same base.
	base := startMs / 1000 * 1000
	lw.SetBaseTime(base)
	werr := lw.OutputLogFormatVersion()
	if werr == nil {
		werr = lw.OutputComment(fmt.Sprintf("[sluice loadgen: driver %s, workload %s, values in ns, tags %s %s %s %s]",
			res.Driver, res.Workload.Name, loadgen.TagPublish, loadgen.TagE2E, loadgen.TagPublishCumulative, loadgen.TagE2ECumulative))
	}
	if werr == nil {
		werr = lw.OutputStartTime(startMs)
	}
	if werr == nil {
		werr = lw.OutputBaseTime(base)
	}
	if werr == nil {
		werr = lw.OutputLegend()
	}
	for _, th := range res.Histograms {
		if werr != nil {
			break
		}
		var h *hdr.Histogram
		if h, werr = th.Decode(); werr == nil {
			werr = lw.OutputIntervalHistogram(h)
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("results: write %s: %w", path, werr)
	}
	return nil
}

// readHDRLog reads a log written by writeHDRLog into res.Histograms and
// the cumulative histograms.
func readHDRLog(path string, res *loadgen.Result) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	lr := hdr.NewHistogramLogReader(bufio.NewReader(f))
	res.Histograms = nil
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return fmt.Errorf("results: read %s: %w", path, err)
		}
		if h == nil {
			break
		}
		v2, err := h.EncodeV2()
		if err != nil {
			return fmt.Errorf("results: read %s: %w", path, err)
		}
		res.Histograms = append(res.Histograms, loadgen.TaggedHistogram{Tag: h.Tag(), StartMs: h.StartTimeMs(), EndMs: h.EndTimeMs(), V2: v2})
		switch h.Tag() {
		case loadgen.TagPublishCumulative:
			res.PublishHistogram = h
		case loadgen.TagE2ECumulative:
			res.E2EHistogram = h
		}
	}
	return nil
}

// intervalHistograms decodes a step's interval histograms of one tag, in
// log order.
func intervalHistograms(res *loadgen.Result, tag string) ([]*hdr.Histogram, error) {
	var out []*hdr.Histogram
	for _, th := range res.Histograms {
		if th.Tag != tag {
			continue
		}
		h, err := th.Decode()
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}
