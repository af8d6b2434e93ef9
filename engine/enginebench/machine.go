package enginebench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/engine/vfs"
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

// DefaultQuiet is TESTING.md §8's rule: under 10% for about a second
// before a run, discard runs where others used more than 20%.
var DefaultQuiet = QuietOptions{Busy: 0.10, Window: time.Second, Timeout: 2 * time.Second, Contaminated: 0.20}

// cpuSample is a reading of the machine's and this process's CPU time.
type cpuSample struct {
	at    time.Time
	busy  time.Duration // all CPUs: user+nice+system+steal (not irq/softirq, see Load)
	total time.Duration // all CPUs, every state
	self  time.Duration // this process: user+system
	ok    bool
}

// Load is how busy the machine was during a run, apart from this process.
type Load struct {
	// Others is the share of the whole machine (all CPUs, 0..1) used by
	// other processes: user+nice+system+steal time from /proc/stat minus
	// this process's user+system time. Interrupt and softirq time are left
	// out: on this workload they are mostly our own disk and loopback
	// traffic, which the kernel does not charge to the process.
	Others float64
	// Known is false where /proc/stat is not available.
	Known bool
	// NotQuiet says the pre-run wait timed out: the run started on a busy
	// machine.
	NotQuiet bool
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

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux port Go
// supports).
const userHZ = 100

func readCPU() cpuSample {
	s := cpuSample{at: time.Now(), self: selfCPU()}
	f, err := vfs.Default.Open("/proc/stat")
	if err != nil {
		return s
	}
	defer f.Close()
	buf := make([]byte, 8<<10)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) && n == 0 {
		return s
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 8 || string(fields[0]) != "cpu" {
		return s
	}
	var ticks [10]int64
	for i := 1; i < len(fields) && i <= len(ticks); i++ {
		ticks[i-1], _ = strconv.ParseInt(string(fields[i]), 10, 64)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user.
	tick := time.Second / userHZ
	busy := ticks[0] + ticks[1] + ticks[2] + ticks[7]
	total := ticks[0] + ticks[1] + ticks[2] + ticks[3] + ticks[4] + ticks[5] + ticks[6] + ticks[7]
	s.busy, s.total = time.Duration(busy)*tick, time.Duration(total)*tick
	s.ok = true
	return s
}

// othersBetween is the share of the machine used by other processes
// between a and b.
func othersBetween(a, b cpuSample) (float64, bool) {
	if !a.ok || !b.ok || b.total <= a.total {
		return 0, false
	}
	// /proc/stat ticks are coarse; use wall time x CPUs as the capacity
	// when it is the larger (more conservative) figure.
	capacity := max(b.total-a.total, time.Duration(runtime.NumCPU())*b.at.Sub(a.at))
	others := (b.busy - a.busy) - (b.self - a.self)
	return max(float64(others)/float64(capacity), 0), true
}

// waitQuiet waits until other processes have used less than q.Busy of the
// machine for q.Window, or q.Timeout passes. It reports whether the machine
// was quiet.
func waitQuiet(q QuietOptions) bool {
	if q.Disabled {
		return true
	}
	const step = 250 * time.Millisecond
	window := max(q.Window, step)
	deadline := time.Now().Add(max(q.Timeout, window))
	var samples []cpuSample
	samples = append(samples, readCPU())
	if !samples[0].ok {
		return true // nothing to go by
	}
	for {
		time.Sleep(step)
		now := readCPU()
		samples = append(samples, now)
		// The oldest sample at least window ago.
		i := len(samples) - 1
		for i > 0 && now.at.Sub(samples[i].at) < window {
			i--
		}
		if now.at.Sub(samples[i].at) >= window-step/10 {
			if others, ok := othersBetween(samples[i], now); ok && others < q.Busy {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// measureLoad runs fn between two readings and returns how busy others were.
func measureLoad(q QuietOptions, notQuiet bool, fn func() error) (Load, error) {
	if q.Disabled {
		return Load{}, fn()
	}
	a := readCPU()
	err := fn()
	b := readCPU()
	others, ok := othersBetween(a, b)
	return Load{Others: others, Known: ok, NotQuiet: notQuiet}, err
}
