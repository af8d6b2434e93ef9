package loadgen

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluice-mq/sluice/internal/benchutil"
)

// Loop modes of a run.
const (
	// LoopOpen: sends at scheduled times (Workload.Rate > 0); latency
	// from the intended send time.
	LoopOpen = "open"
	// LoopClosed: as fast as a fixed in-flight window allows (Rate 0);
	// each message is "intended" when a window slot frees, so the
	// latency is the service time under that window, not the latency a
	// user at a given rate would see.
	LoopClosed = "closed"
)

// Phases of a run, per interval.
const (
	PhaseWarmUp  = "warmup"
	PhaseMeasure = "measure"
	PhaseDrain   = "drain"
)

// Result is the outcome of one run. Latencies are in nanoseconds in JSON.
type Result struct {
	Driver   string   `json:"driver"`
	Workload Workload `json:"workload"`
	Mapping  Mapping  `json:"mapping"`
	// Loop is LoopOpen or LoopClosed; TargetRate is the open-loop rate
	// (0 in closed loop).
	Loop       string   `json:"loop"`
	TargetRate float64  `json:"targetRate"`
	RunID      uint32   `json:"runId"`
	Seed       uint64   `json:"seed"`
	Topics     []string `json:"topics"`

	// Start is when the first send was due; the warm-up, the measured
	// window (Duration long) and the drain follow. Elapsed is the wall
	// time from Start to the end of the drain.
	Start    time.Time     `json:"start"`
	WarmUp   time.Duration `json:"warmUp"`
	Duration time.Duration `json:"duration"`
	Elapsed  time.Duration `json:"elapsed"`

	// Rates over the measured window (events timed inside it, per
	// second): AchievedRate is acknowledgements, the system's throughput.
	AchievedRate float64 `json:"achievedRate"`
	SentRate     float64 `json:"sentRate"`
	ReceiveRate  float64 `json:"receiveRate"`

	Counts Counts `json:"counts"`

	// Publish, EndToEnd and SendLag summarise the cumulative histograms of
	// the messages intended in the measured window: ack − intended time,
	// consumer receipt − intended time, and actual − intended send time
	// (the generator's own lateness; large when the in-flight window was
	// full).
	Publish  Latency `json:"publish"`
	EndToEnd Latency `json:"endToEnd"`
	SendLag  Latency `json:"sendLag"`
	Clamped  Clamped `json:"clamped"`

	// Intervals is the per-interval series (throughput, backlog,
	// latency), warm-up and drain included.
	Intervals []Interval `json:"intervals"`

	ErrorSamples   []string `json:"errorSamples,omitempty"`
	ConsumerErrors []string `json:"consumerErrors,omitempty"`
	Notes          []string `json:"notes,omitempty"`
	// Load is how busy other processes kept the machine during the run.
	Load benchutil.Load `json:"load"`

	// Histograms holds every interval histogram and the two cumulative
	// ones, encoded (the HDR log's content). PublishHistogram and
	// E2EHistogram are the cumulative ones decoded.
	Histograms       []TaggedHistogram `json:"-"`
	PublishHistogram *hdr.Histogram    `json:"-"`
	E2EHistogram     *hdr.Histogram    `json:"-"`
}

// Counts are whole-run message counts.
type Counts struct {
	// Scheduled is the number of sends the schedule called for (open
	// loop); Sent were handed to the driver; Unsent were due but never
	// sent (the run hit its time bound first).
	Scheduled int64 `json:"scheduled"`
	Sent      int64 `json:"sent"`
	Unsent    int64 `json:"unsent"`
	// Acked succeeded, Errors failed, Unacked had no outcome when the run
	// ended.
	Acked   int64 `json:"acked"`
	Errors  int64 `json:"errors"`
	Unacked int64 `json:"unacked"`
	// Received counts distinct messages read by consumers, Duplicates
	// further copies, Missing acknowledged messages never received (only
	// with consumers), Foreign values without this run's header.
	Received   int64 `json:"received"`
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	Foreign    int64 `json:"foreign"`
}

// Interval is one entry of the per-interval series.
type Interval struct {
	// Start and End are offsets from Result.Start.
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	Phase string        `json:"phase"`
	// Scheduled sends fell due, Sent were handed over, Acked and Errors
	// completed, Received and Duplicates arrived in this interval.
	Scheduled  int64 `json:"scheduled"`
	Sent       int64 `json:"sent"`
	Acked      int64 `json:"acked"`
	Errors     int64 `json:"errors"`
	Received   int64 `json:"received"`
	Duplicates int64 `json:"duplicates"`
	// Backlog (due but not sent) and InFlight (sent, no outcome yet) at
	// the end of the interval: a stalled system shows here first.
	Backlog  int64 `json:"backlog"`
	InFlight int64 `json:"inFlight"`
	// PendingMax is the largest number of sends due and not yet
	// completed seen during the interval (sampled 50 times per interval):
	// backlog and in-flight together, so a stall shorter than the
	// interval shows too.
	PendingMax int64 `json:"pendingMax"`
	// Publish and EndToEnd are this interval's latencies (by completion
	// time), SendLagMax its largest send lag.
	Publish    Latency       `json:"publish"`
	EndToEnd   Latency       `json:"endToEnd"`
	SendLagMax time.Duration `json:"sendLagMax"`
}

// Seconds is the interval's length in seconds.
func (iv Interval) Seconds() float64 { return (iv.End - iv.Start).Seconds() }
