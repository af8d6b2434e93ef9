package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Acks is the ack level a producer waits for: "0", "1" or "all". The
// meaning per system is the mapping table in doc.go. In a file it may be
// written as a number (0, 1) or a string.
type Acks string

const (
	// Acks0: the send completes when the message is handed to the
	// network; nothing is confirmed.
	Acks0 Acks = "0"
	// Acks1: the partition's leader has appended it.
	Acks1 Acks = "1"
	// AcksAll: it is committed under the topic's replication mode.
	AcksAll Acks = "all"
)

func (a Acks) check() error {
	switch a {
	case Acks0, Acks1, AcksAll:
		return nil
	}
	return fmt.Errorf("%q: want 0, 1 or all", string(a))
}

// UnmarshalJSON accepts 0, 1, "0", "1" and "all".
func (a *Acks) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*a = Acks(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("acks: want 0, 1 or all, got %s", b)
	}
	*a = Acks(s)
	return nil
}

// ReplicationMode is the topics' commit rule for acks=all: "isr" (every
// in-sync replica) or "quorum" (a majority of the replicas).
type ReplicationMode string

const (
	ModeISR    ReplicationMode = "isr"
	ModeQuorum ReplicationMode = "quorum"
)

func (m ReplicationMode) check() error {
	if m != ModeISR && m != ModeQuorum {
		return fmt.Errorf("%q: want isr or quorum", string(m))
	}
	return nil
}

// SyncPolicy is the topics' fsync policy, in the broker's syntax:
// "always", "never", "interval=<duration>" or "bytes=<n>".
type SyncPolicy string

// SyncNever and SyncAlways are the two policies without a parameter.
const (
	SyncNever  SyncPolicy = "never"
	SyncAlways SyncPolicy = "always"
)

// SyncKind is the kind of a SyncPolicy.
type SyncKind int

const (
	SyncKindNever SyncKind = iota
	SyncKindAlways
	SyncKindInterval
	SyncKindBytes
)

// SyncSpec is a parsed SyncPolicy.
type SyncSpec struct {
	Kind     SyncKind
	Interval time.Duration // SyncKindInterval
	Bytes    int64         // SyncKindBytes
}

// Parse checks p and returns its parts.
func (p SyncPolicy) Parse() (SyncSpec, error) {
	s := string(p)
	switch {
	case s == "always":
		return SyncSpec{Kind: SyncKindAlways}, nil
	case s == "never":
		return SyncSpec{Kind: SyncKindNever}, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return SyncSpec{}, fmt.Errorf("%q: the interval must be a positive duration such as 100ms", s)
		}
		return SyncSpec{Kind: SyncKindInterval, Interval: d}, nil
	case strings.HasPrefix(s, "bytes="):
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "bytes="), 10, 64)
		if err != nil || n <= 0 {
			return SyncSpec{}, fmt.Errorf("%q: bytes must be a positive integer", s)
		}
		return SyncSpec{Kind: SyncKindBytes, Bytes: n}, nil
	}
	return SyncSpec{}, fmt.Errorf("%q: want always, never, interval=<duration> or bytes=<n>", s)
}

// Duration is a time.Duration written as a string ("1.5s", "250ms") in
// workload and result files.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string; a bare number is refused
// because its unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"30s\" or \"250ms\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// DurationOf returns a pointer to d as a Duration (for Workload.WarmUp).
func DurationOf(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// SizeDist is the distribution of message sizes (bytes, header included).
// Exactly one of its fields is set. In a file it is a number (fixed) or an
// object with one of fixed, uniform or weighted.
type SizeDist struct {
	Fixed    int            `json:"fixed,omitempty"`
	Uniform  *SizeRange     `json:"uniform,omitempty"`
	Weighted []WeightedSize `json:"weighted,omitempty"`
}

// SizeRange is a uniform distribution over [Min, Max].
type SizeRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// WeightedSize is one entry of a discrete size distribution: Size is drawn
// with probability Weight / (sum of weights).
type WeightedSize struct {
	Size   int     `json:"size"`
	Weight float64 `json:"weight"`
}

func (s SizeDist) isZero() bool { return s.Fixed == 0 && s.Uniform == nil && s.Weighted == nil }

// UnmarshalJSON accepts a number or an object.
func (s *SizeDist) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*s = SizeDist{Fixed: n}
		return nil
	}
	type plain SizeDist
	var p plain
	if err := strictUnmarshal(b, &p); err != nil {
		return fmt.Errorf("messageSize: want a number or one of {fixed: n}, {uniform: {min, max}}, {weighted: [{size, weight}, ...]}: %w", err)
	}
	*s = SizeDist(p)
	return nil
}

func (s SizeDist) check() error {
	set := 0
	if s.Fixed != 0 {
		set++
	}
	if s.Uniform != nil {
		set++
	}
	if s.Weighted != nil {
		set++
	}
	if set != 1 {
		return errors.New("set exactly one of fixed, uniform or weighted")
	}
	size := func(what string, n int) error {
		if n < HeaderSize || n > MaxMessageBytes {
			return fmt.Errorf("%s %d is outside [%d, %d] (the lower bound is the payload header)", what, n, HeaderSize, MaxMessageBytes)
		}
		return nil
	}
	switch {
	case s.Fixed != 0:
		return size("fixed", s.Fixed)
	case s.Uniform != nil:
		if err := size("uniform.min", s.Uniform.Min); err != nil {
			return err
		}
		if err := size("uniform.max", s.Uniform.Max); err != nil {
			return err
		}
		if s.Uniform.Max < s.Uniform.Min {
			return fmt.Errorf("uniform.max %d is below uniform.min %d", s.Uniform.Max, s.Uniform.Min)
		}
	default:
		if len(s.Weighted) == 0 {
			return errors.New("weighted: want at least one {size, weight}")
		}
		for i, e := range s.Weighted {
			if err := size(fmt.Sprintf("weighted[%d].size", i), e.Size); err != nil {
				return err
			}
			if !(e.Weight > 0) || e.Weight > 1e9 {
				return fmt.Errorf("weighted[%d].weight %v: want a number in (0, 1e9]", i, e.Weight)
			}
		}
	}
	return nil
}

// Mean is the expected message size.
func (s SizeDist) Mean() float64 {
	switch {
	case s.Uniform != nil:
		return float64(s.Uniform.Min+s.Uniform.Max) / 2
	case s.Weighted != nil:
		var sum, w float64
		for _, e := range s.Weighted {
			sum += float64(e.Size) * e.Weight
			w += e.Weight
		}
		return sum / w
	}
	return float64(s.Fixed)
}

// MaxSize is the largest size the distribution can draw.
func (s SizeDist) MaxSize() int {
	switch {
	case s.Uniform != nil:
		return s.Uniform.Max
	case s.Weighted != nil:
		m := 0
		for _, e := range s.Weighted {
			m = max(m, e.Size)
		}
		return m
	}
	return s.Fixed
}

// KeyDist says which key each message carries.
type KeyDist struct {
	// Distribution is none (no key: the system spreads messages itself),
	// uniform (each of Count keys equally likely) or zipf (key k with
	// probability proportional to (1+k)^-S, over Count keys; S > 1).
	Distribution string  `json:"distribution"`
	Count        int     `json:"count,omitempty"`
	S            float64 `json:"s,omitempty"`
}

// Key distributions.
const (
	KeysNone    = "none"
	KeysUniform = "uniform"
	KeysZipf    = "zipf"
)

// UnmarshalJSON accepts "none" as well as the object form.
func (k *KeyDist) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*k = KeyDist{Distribution: s}
		return nil
	}
	type plain KeyDist
	var p plain
	if err := strictUnmarshal(b, &p); err != nil {
		return fmt.Errorf("keys: want none or {distribution, count, s}: %w", err)
	}
	*k = KeyDist(p)
	return nil
}

func (k KeyDist) check() error {
	switch k.Distribution {
	case KeysNone:
		if k.Count != 0 || k.S != 0 {
			return errors.New("count and s are only for the uniform and zipf distributions")
		}
	case KeysUniform, KeysZipf:
		if k.Count < 1 || k.Count > MaxKeys {
			return fmt.Errorf("count %d is outside [1, %d]", k.Count, MaxKeys)
		}
		if k.Distribution == KeysUniform && k.S != 0 {
			return errors.New("s is only for the zipf distribution")
		}
		if k.Distribution == KeysZipf && !(k.S > 1 && k.S <= 100) {
			return fmt.Errorf("s %v: zipf needs 1 < s <= 100", k.S)
		}
	default:
		return fmt.Errorf("distribution %q: want none, uniform or zipf", k.Distribution)
	}
	return nil
}
