package enginebench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted, by the
// nearest-rank method; 0 when sorted is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median returns the median of xs (the mean of the middle two for an even
// count) and the minimum and maximum; zeros when xs is empty.

func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
