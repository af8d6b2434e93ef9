package benchutil

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// QuietOptions say when the machine counts as quiet enough to start a run
// and when a finished run counts as contaminated.
type QuietOptions struct {
	// Busy is the largest share of the machine (0..1) that processes other
	// than this one may use for the machine to count as quiet.
	Busy float64
	// Window is how long the machine must stay below Busy.
	Window time.Duration
	// Timeout bounds the wait; after it the run starts anyway and is marked.
	Timeout time.Duration
	// Contaminated is the share of the machine other processes may use
	// during a run before the run is discarded.
	Contaminated float64
	// Disabled skips waiting and accounting (tests, go test -bench).
	Disabled bool
}

// DefaultQuiet is TESTING.md §8's rule: under 10% for about a second before
// a run, discard runs where others used more than 20%.
var DefaultQuiet = QuietOptions{Busy: 0.10, Window: time.Second, Timeout: 2 * time.Second, Contaminated: 0.20}

// cpuSample is a reading of the machine's and this process's CPU time.
type cpuSample struct {
	at    time.Time
	busy  time.Duration // all CPUs: user+nice+system+steal
	total time.Duration // all CPUs, every state
	self  time.Duration // this process: user+system
	ok    bool
}

// Load is how busy the machine was during a run, apart from this process.
type Load struct {
	// Others is the share of the whole machine (all CPUs, 0..1) used by
	// other processes: user+nice+system+steal from /proc/stat minus this
	// process's user+system time (irq and softirq are left out: here they
	// are mostly our own loopback and disk traffic).
	Others float64 `json:"others"`
	// Self is this process's CPU time during the run (broker, NATS server
	// and clients together) as a share of the whole machine.
	Self float64 `json:"self"`
	// Known is false where /proc/stat is not available.
	Known bool `json:"known"`
	// NotQuiet says the pre-run wait timed out.
	NotQuiet bool `json:"not_quiet,omitempty"`
}

func (l Load) String() string {
	if !l.Known {
		return "load unknown"
	}
	s := fmt.Sprintf("others %.0f%%", 100*l.Others)
	if l.NotQuiet {
		s += " (started busy)"
	}
	return s
}

const userHZ = 100 // the unit of /proc/stat

func readCPU() cpuSample {
	s := cpuSample{at: time.Now(), self: SelfCPU()}
	buf, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(buf, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 8 || string(fields[0]) != "cpu" {
		return s
	}
	var ticks [10]int64
	for i := 1; i < len(fields) && i <= len(ticks); i++ {
		ticks[i-1], _ = strconv.ParseInt(string(fields[i]), 10, 64)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice.
	tick := time.Second / userHZ
	busy := ticks[0] + ticks[1] + ticks[2] + ticks[7]
	total := ticks[0] + ticks[1] + ticks[2] + ticks[3] + ticks[4] + ticks[5] + ticks[6] + ticks[7]
	s.busy, s.total = time.Duration(busy)*tick, time.Duration(total)*tick
	s.ok = true
	return s
}

// between returns the shares of the machine used by other processes and by
// this one between a and b.
func between(a, b cpuSample) (others, self float64, ok bool) {
	if !a.ok || !b.ok || b.total <= a.total {
		return 0, 0, false
	}
	capacity := max(b.total-a.total, time.Duration(runtime.NumCPU())*b.at.Sub(a.at))
	o := (b.busy - a.busy) - (b.self - a.self)
	return max(float64(o)/float64(capacity), 0), float64(b.self-a.self) / float64(capacity), true
}

// waitQuiet waits until other processes have used less than q.Busy of the
// machine for q.Window, or q.Timeout passes, and reports whether it was
// quiet.
func WaitQuiet(q QuietOptions) bool {
	if q.Disabled {
		return true
	}
	const step = 250 * time.Millisecond
	window := max(q.Window, step)
	deadline := time.Now().Add(max(q.Timeout, window))
	samples := []cpuSample{readCPU()}
	if !samples[0].ok {
		return true
	}
	for {
		time.Sleep(step)
		now := readCPU()
		samples = append(samples, now)
		i := len(samples) - 1
		for i > 0 && now.at.Sub(samples[i].at) < window {
			i--
		}
		if now.at.Sub(samples[i].at) >= window-step/10 {
			if others, _, ok := between(samples[i], now); ok && others < q.Busy {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// measureLoad runs fn between two readings and returns how busy others were.
func MeasureLoad(q QuietOptions, notQuiet bool, fn func() error) (Load, error) {
	if q.Disabled {
		return Load{}, fn()
	}
	a := readCPU()
	err := fn()
	b := readCPU()
	others, self, ok := between(a, b)
	return Load{Others: others, Self: self, Known: ok, NotQuiet: notQuiet}, err
}

// Measure waits for a quiet machine (WaitQuiet), then runs fn while
// measuring the load (MeasureLoad). quiet is false when the wait timed out.
func Measure(q QuietOptions, fn func() error) (load Load, quiet bool, err error) {
	quiet = WaitQuiet(q)
	load, err = MeasureLoad(q, !quiet, fn)
	return load, quiet, err
}
