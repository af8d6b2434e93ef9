package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Workload is one load-generator workload: what to create, what to send,
// how fast and for how long. It is read from a YAML or JSON file
// (LoadWorkload, ParseWorkload); every field is described in doc.go and in
// workloads/README.md. The zero value of a field means "the default" except
// where noted; WithDefaults fills them in and Validate checks the result.
type Workload struct {
	// Name identifies the workload in results (directory names, charts).
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`

	// Topics, Partitions (per topic), ReplicationFactor and
	// ReplicationMode describe the topics a run creates (fresh ones for
	// every run, deleted afterwards).
	Topics            int             `json:"topics,omitempty"`
	Partitions        int             `json:"partitions,omitempty"`
	ReplicationFactor int             `json:"replicationFactor,omitempty"`
	ReplicationMode   ReplicationMode `json:"replicationMode,omitempty"`
	// SyncPolicy is the topics' fsync policy.
	SyncPolicy SyncPolicy `json:"syncPolicy,omitempty"`

	// MessageSize is the size of each message value, header included.
	MessageSize SizeDist `json:"messageSize"`
	// Keys says which key each message carries.
	Keys KeyDist `json:"keys"`
	// Compressibility is the fraction (0..1) of each payload after the
	// header that is a repeated byte; the rest is random.
	Compressibility float64 `json:"compressibility,omitempty"`

	// Producers send; Rate (messages/s, all producers together, each
	// taking an equal share) is the open-loop target. Rate 0 means "as
	// fast as possible": closed loop, each producer keeping InFlight
	// messages outstanding.
	Producers int     `json:"producers,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	// Acks is the ack level producers wait for.
	Acks Acks `json:"acks,omitempty"`
	// BatchBytes and Linger are the producer batching knobs (0: the
	// driver's default).
	BatchBytes int      `json:"batchBytes,omitempty"`
	Linger     Duration `json:"linger,omitempty"`
	// InFlight bounds the messages one producer has sent and not yet seen
	// acknowledged. A send that finds the window full waits, and the wait
	// is part of its latency (it is measured from the intended time).
	InFlight int `json:"inFlight,omitempty"`

	// Consumers read the topics; Count 0 means no consumers (no
	// end-to-end latency).
	Consumers Consumers `json:"consumers"`

	// WarmUp runs first and is left out of the cumulative figures;
	// Duration is the measured part after it. Omitted WarmUp takes the
	// default; write 0s for none.
	WarmUp   *Duration `json:"warmUp,omitempty"`
	Duration Duration  `json:"duration,omitempty"`

	// Sweep lists the settings `sweep` runs through; Run ignores it.
	Sweep *SweepSpec `json:"sweep,omitempty"`
}

// Consumers describe the consuming side.
type Consumers struct {
	// Count consumers share the topics' partitions. 0: none.
	Count int `json:"count,omitempty"`
	// Group, when set, makes them members of the system's consumer group
	// of that name, which assigns the partitions; when empty the load
	// generator splits the partitions itself (partition p of every topic
	// to consumer p mod Count) and no offsets are committed.
	Group string `json:"group,omitempty"`
}

// SweepSpec is the sweep section of a workload: the settings crossed
// (every ack level × replication mode × sync policy listed; an empty list
// means the workload's own value) and how each curve is walked.
type SweepSpec struct {
	Acks         []Acks            `json:"acks,omitempty"`
	Modes        []ReplicationMode `json:"modes,omitempty"`
	SyncPolicies []SyncPolicy      `json:"syncPolicies,omitempty"`
	// Fractions of the probed maximum rate, ascending, run as open-loop
	// steps until one saturates.
	Fractions []float64 `json:"fractions,omitempty"`
	// Probe is the measured length of the closed-loop max-rate probe.
	Probe Duration `json:"probe,omitempty"`
	// StepWarmUp and StepDuration replace the workload's WarmUp and
	// Duration for each step (and the probe's warm-up).
	StepWarmUp   *Duration `json:"stepWarmUp,omitempty"`
	StepDuration Duration  `json:"stepDuration,omitempty"`
	// MinAchieved: a step whose achieved rate is below this fraction of
	// its target saturated the system and ends the curve (default 0.95).
	MinAchieved float64 `json:"minAchieved,omitempty"`
	// P99Factor: a step whose publish p99 exceeds this multiple of the
	// first step's (and 5 ms) ends the curve (default 10).
	P99Factor float64 `json:"p99Factor,omitempty"`
}

// Defaults and bounds. They are documented in doc.go and
// workloads/README.md; change them there too.
const (
	DefaultDuration    = 60 * time.Second
	DefaultWarmUp      = 10 * time.Second
	DefaultInFlight    = 1000
	DefaultMessageSize = 1024

	MaxTopics            = 64
	MaxPartitions        = 1024
	MaxReplicationFactor = 16
	MaxProducers         = 1024
	MaxConsumers         = 1024
	MaxRate              = 10_000_000
	MaxInFlight          = 100_000
	MaxMessageBytes      = 16 << 20
	MaxBatchBytes        = 64 << 20
	MaxLinger            = 10 * time.Second
	MaxKeys              = 10_000_000
	MaxDuration          = 24 * time.Hour
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// LoadWorkload reads and checks a workload file (YAML or JSON).
func LoadWorkload(path string) (Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Workload{}, fmt.Errorf("loadgen: workload: %w", err)
	}
	w, err := ParseWorkload(data)
	if err != nil {
		return Workload{}, fmt.Errorf("loadgen: workload %s: %w", filepath.Base(path), err)
	}
	return w, nil
}

// ParseWorkload decodes a workload strictly (an unknown or duplicated field
// is an error, so a typo cannot silently fall back to a default), fills in
// the defaults and validates it.
func ParseWorkload(data []byte) (Workload, error) {
	var w Workload
	if err := yaml.UnmarshalStrict(data, &w); err != nil {
		return Workload{}, cleanDecodeError(err)
	}
	w = w.WithDefaults()
	if err := w.Validate(); err != nil {
		return Workload{}, err
	}
	return w, nil
}

// cleanDecodeError strips the layers of "error unmarshaling JSON: while
// decoding JSON:" that sigs.k8s.io/yaml adds, keeping the cause.
func cleanDecodeError(err error) error {
	msg := err.Error()
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return errors.New(msg)
}

// WithDefaults returns w with every unset field given its default.
func (w Workload) WithDefaults() Workload {
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&w.Topics, 1)
	setInt(&w.Partitions, 1)
	setInt(&w.ReplicationFactor, 1)
	setInt(&w.Producers, 1)
	setInt(&w.InFlight, DefaultInFlight)
	if w.ReplicationMode == "" {
		w.ReplicationMode = ModeISR
	}
	if w.SyncPolicy == "" {
		w.SyncPolicy = SyncNever
	}
	if w.Acks == "" {
		w.Acks = AcksAll
	}
	if w.MessageSize.isZero() {
		w.MessageSize = SizeDist{Fixed: DefaultMessageSize}
	}
	if w.Keys.Distribution == "" {
		w.Keys.Distribution = KeysNone
	}
	if w.Duration == 0 {
		w.Duration = Duration(DefaultDuration)
	}
	if w.WarmUp == nil {
		d := Duration(DefaultWarmUp)
		w.WarmUp = &d
	} else {
		d := *w.WarmUp // own copy: the caller's pointer stays theirs
		w.WarmUp = &d
	}
	if w.Sweep != nil {
		s := w.Sweep.withDefaults()
		w.Sweep = &s
	}
	return w
}

// WarmUpDuration is the warm-up (the default when unset).
func (w Workload) WarmUpDuration() time.Duration {
	if w.WarmUp == nil {
		return DefaultWarmUp
	}
	return time.Duration(*w.WarmUp)
}

// Validate checks w (with defaults filled in) and reports the first
// problem, naming the field.
func (w Workload) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	intIn := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(field, "%d is outside [%d, %d]", v, lo, hi)
		}
	}
	if !namePattern.MatchString(w.Name) {
		bad("name", "%q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", w.Name)
	}
	intIn("topics", w.Topics, 1, MaxTopics)
	intIn("partitions", w.Partitions, 1, MaxPartitions)
	intIn("replicationFactor", w.ReplicationFactor, 1, MaxReplicationFactor)
	if err := w.ReplicationMode.check(); err != nil {
		bad("replicationMode", "%v", err)
	}
	if _, err := w.SyncPolicy.Parse(); err != nil {
		bad("syncPolicy", "%v", err)
	}
	if err := w.MessageSize.check(); err != nil {
		bad("messageSize", "%v", err)
	}
	if err := w.Keys.check(); err != nil {
		bad("keys", "%v", err)
	}
	if !(w.Compressibility >= 0 && w.Compressibility <= 1) {
		bad("compressibility", "%v is outside [0, 1]", w.Compressibility)
	}
	intIn("producers", w.Producers, 1, MaxProducers)
	if !(w.Rate >= 0 && w.Rate <= MaxRate) {
		bad("rate", "%v is outside [0, %d] messages/s (0: as fast as possible)", w.Rate, MaxRate)
	}
	if err := w.Acks.check(); err != nil {
		bad("acks", "%v", err)
	}
	if w.BatchBytes != 0 {
		intIn("batchBytes", w.BatchBytes, 1<<10, MaxBatchBytes)
	}
	if w.Linger < 0 || time.Duration(w.Linger) > MaxLinger {
		bad("linger", "%v is outside [0s, %v]", w.Linger, MaxLinger)
	}
	intIn("inFlight", w.InFlight, 1, MaxInFlight)
	intIn("consumers.count", w.Consumers.Count, 0, MaxConsumers)
	if w.Consumers.Group != "" && !namePattern.MatchString(w.Consumers.Group) {
		bad("consumers.group", "%q: want 1-64 letters, digits, '.', '_' or '-'", w.Consumers.Group)
	}
	if w.Consumers.Group != "" && w.Consumers.Count == 0 {
		bad("consumers.group", "set without consumers (count is 0)")
	}
	if d := time.Duration(w.Duration); d < time.Second || d > MaxDuration {
		bad("duration", "%v is outside [1s, %v]", d, MaxDuration)
	}
	if d := w.WarmUpDuration(); d < 0 || d > MaxDuration {
		bad("warmUp", "%v is outside [0s, %v]", d, MaxDuration)
	}
	if w.Sweep != nil {
		if err := w.Sweep.check(); err != nil {
			errs = append(errs, fmt.Errorf("sweep.%w", err))
		}
	}
	return errors.Join(errs...)
}

func (s SweepSpec) withDefaults() SweepSpec {
	if len(s.Fractions) == 0 {
		s.Fractions = []float64{0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25}
	}
	if s.Probe == 0 {
		s.Probe = Duration(10 * time.Second)
	}
	if s.StepDuration == 0 {
		s.StepDuration = Duration(20 * time.Second)
	}
	if s.StepWarmUp == nil {
		d := Duration(5 * time.Second)
		s.StepWarmUp = &d
	} else {
		d := *s.StepWarmUp
		s.StepWarmUp = &d
	}
	if s.MinAchieved == 0 {
		s.MinAchieved = 0.95
	}
	if s.P99Factor == 0 {
		s.P99Factor = 10
	}
	return s
}

func (s SweepSpec) check() error {
	for i, a := range s.Acks {
		if err := a.check(); err != nil {
			return fmt.Errorf("acks[%d]: %w", i, err)
		}
	}
	for i, m := range s.Modes {
		if err := m.check(); err != nil {
			return fmt.Errorf("modes[%d]: %w", i, err)
		}
	}
	for i, p := range s.SyncPolicies {
		if _, err := p.Parse(); err != nil {
			return fmt.Errorf("syncPolicies[%d]: %w", i, err)
		}
	}
	for i, f := range s.Fractions {
		if !(f > 0 && f <= 10) {
			return fmt.Errorf("fractions[%d]: %v is outside (0, 10]", i, f)
		}
		if i > 0 && f <= s.Fractions[i-1] {
			return fmt.Errorf("fractions: want strictly ascending, got %v after %v", f, s.Fractions[i-1])
		}
	}
	if d := time.Duration(s.Probe); d < 0 || d > MaxDuration {
		return fmt.Errorf("probe: %v is outside [0s, %v]", d, MaxDuration)
	}
	if d := time.Duration(s.StepDuration); d < time.Second || d > MaxDuration {
		return fmt.Errorf("stepDuration: %v is outside [1s, %v]", d, MaxDuration)
	}
	if s.StepWarmUp != nil && (*s.StepWarmUp < 0 || time.Duration(*s.StepWarmUp) > MaxDuration) {
		return fmt.Errorf("stepWarmUp: %v is outside [0s, %v]", *s.StepWarmUp, MaxDuration)
	}
	if !(s.MinAchieved > 0 && s.MinAchieved <= 1) {
		return fmt.Errorf("minAchieved: %v is outside (0, 1]", s.MinAchieved)
	}
	if !(s.P99Factor > 1) || math.IsInf(s.P99Factor, 0) {
		return fmt.Errorf("p99Factor: %v: want a finite number above 1", s.P99Factor)
	}
	return nil
}

// strictUnmarshal decodes an object with unknown fields refused, for the
// custom UnmarshalJSON methods below (the outer decoder's strictness does
// not reach inside them).
func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}
