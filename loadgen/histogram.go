package loadgen

import (
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms record nanoseconds, the unit HdrHistogram's log format
// assumes (its max column is written in milliseconds = ns / 1e6), with a
// lowest discernible value of 1µs so the bucket count stays that of a
// microsecond histogram. Values outside [LatencyMin, LatencyMax] are
// clamped into it and counted (Clamped), never dropped: a 90 s stall
// still shows as 60 s.
const (
	LatencyMin     = time.Microsecond
	LatencyMax     = 60 * time.Second
	LatencySigFigs = 3
)

// NewHistogram returns an empty latency histogram with the load
// generator's range and precision.
func NewHistogram() *hdr.Histogram {
	return hdr.New(int64(LatencyMin), int64(LatencyMax), LatencySigFigs)
}

// Clamped counts values moved into the histogram range.
type Clamped struct {
	Low  int64 `json:"low"`  // below LatencyMin (recorded as LatencyMin)
	High int64 `json:"high"` // above LatencyMax (recorded as LatencyMax)
}

// record clamps v into range and records it.
func record(h *hdr.Histogram, v time.Duration, c *Clamped) {
	switch {
	case v < LatencyMin:
		v = LatencyMin
		c.Low++
	case v > LatencyMax:
		v = LatencyMax
		c.High++
	}
	if err := h.RecordValue(int64(v)); err != nil {
		// Unreachable after clamping; a failure here is a bug.
		panic(fmt.Sprintf("loadgen: record %v: %v", v, err))
	}
}

// Latency summarises a histogram.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean"`
	P50   time.Duration `json:"p50"`
	P90   time.Duration `json:"p90"`
	P99   time.Duration `json:"p99"`
	P999  time.Duration `json:"p999"`
	Max   time.Duration `json:"max"`
}

var summaryQuantiles = []float64{50, 90, 99, 99.9}

// Summarize computes the percentiles of h (zeros when it is empty).
func Summarize(h *hdr.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	q := h.ValueAtPercentilesSlice(summaryQuantiles)
	return Latency{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean()),
		P50:   time.Duration(q[0]),
		P90:   time.Duration(q[1]),
		P99:   time.Duration(q[2]),
		P999:  time.Duration(q[3]),
		Max:   time.Duration(h.Max()),
	}
}

// TaggedHistogram is one histogram of a run in the form the HDR log stores
// it: tag, time range (Unix ms) and the V2 compressed, base64 payload.
// Interval histograms are tagged TagPublish or TagE2E; the cumulative ones
// (measured part only) TagPublishCumulative and TagE2ECumulative.
type TaggedHistogram struct {
	Tag     string
	StartMs int64
	EndMs   int64
	V2      []byte
}

// Histogram tags in HDR logs.
const (
	TagPublish           = "publish"
	TagE2E               = "e2e"
	TagPublishCumulative = "publish-cumulative"
	TagE2ECumulative     = "e2e-cumulative"
)

// encodeTagged snapshots h with its tag and time range.
func encodeTagged(tag string, h *hdr.Histogram, start, end time.Time) (TaggedHistogram, error) {
	v2, err := h.EncodeV2()
	if err != nil {
		return TaggedHistogram{}, fmt.Errorf("loadgen: encode %s histogram: %w", tag, err)
	}
	return TaggedHistogram{Tag: tag, StartMs: start.UnixMilli(), EndMs: end.UnixMilli(), V2: v2}, nil
}

// Decode returns the histogram, with its tag and times set.
func (t TaggedHistogram) Decode() (*hdr.Histogram, error) {
	h, err := hdr.Decode(t.V2)
	if err != nil {
		return nil, fmt.Errorf("loadgen: decode %s histogram: %w", t.Tag, err)
	}
	h.SetTag(t.Tag)
	h.SetStartTimeMs(t.StartMs)
	h.SetEndTimeMs(t.EndMs)
	return h, nil
}
