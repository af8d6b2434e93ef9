package history

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FormatVersion is the version of history.json and final.json this package
// writes and reads.
const FormatVersion = 1

// History is everything recorded during a run, before the final drain.
type History struct {
	Version int `json:"version"`
	// Start is the wall-clock time of the base, for humans; all checking
	// uses the monotonic Times.
	Start        time.Time     `json:"start"`
	Ops          []Op          `json:"ops"`
	Faults       []Fault       `json:"faults"`
	LeaderClaims []LeaderClaim `json:"leader_claims,omitempty"`
}

// ErrInvalid is wrapped by the error Validate returns.
var ErrInvalid = errors.New("history: invalid history")

// ValidationError lists what is wrong with a history. Its Problems are
// harness bugs (overlapping operations of one client, a value produced
// twice, ...): checking such a history would give meaningless answers.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	const show = 10
	p := e.Problems
	more := ""
	if len(p) > show {
		more = fmt.Sprintf("; and %d more", len(p)-show)
		p = p[:show]
	}
	return fmt.Sprintf("history: invalid history: %s%s", strings.Join(p, "; "), more)
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validate checks the rules the checkers rely on: known kinds and outcomes,
// Return >= Call, events with Call == Return, the operations of one client
// disjoint in time with an Unknown one last, every produced value non-zero
// and produced once, and fault windows with End >= Start.
func (h *History) Validate() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if h.Version != FormatVersion {
		bad("version %d, want %d", h.Version, FormatVersion)
	}
	ids := map[int]bool{}
	values := map[ValueID]int{}
	byClient := map[ClientID][]*Op{}
	for i := range h.Ops {
		o := &h.Ops[i]
		if ids[o.ID] {
			bad("op id %d used twice", o.ID)
		}
		ids[o.ID] = true
		if !slices.Contains(Kinds, o.Kind) {
			bad("op %d: unknown kind %q", o.ID, o.Kind)
		}
		switch o.Outcome {
		case OK, Fail, Unknown:
		default:
			bad("op %d: unknown outcome %q", o.ID, o.Outcome)
		}
		if o.Return < o.Call {
			bad("op %d: returns at %v before its call at %v", o.ID, o.Return, o.Call)
		}
		if o.Kind.Event() && o.Return != o.Call {
			bad("op %d: event %s with call %v != return %v", o.ID, o.Kind, o.Call, o.Return)
		}
		switch o.Kind {
		case Produce:
			if o.Value == 0 {
				bad("op %d: produce without a value", o.ID)
			} else if prev, dup := values[o.Value]; dup {
				bad("value %v produced by ops %d and %d", o.Value, prev, o.ID)
			} else {
				values[o.Value] = o.ID
			}
			switch o.Acks {
			case AcksNone, AcksLeader, AcksAll:
			default:
				bad("op %d: produce with acks %q", o.ID, o.Acks)
			}
			fallthrough
		case Read, HWM, Scan, Seek, LeaderRead, LeaderCAS:
			if o.Topic == "" {
				bad("op %d: %s without a topic", o.ID, o.Kind)
			}
		case Poll:
			for _, r := range o.Records {
				if r.Topic == "" {
					bad("op %d: poll record at offset %d without a topic", o.ID, r.Offset)
					break
				}
			}
		case Commit, FetchCommitted, Assign, Revoke:
		}
		byClient[o.Client] = append(byClient[o.Client], o)
	}
	for c, ops := range byClient {
		slices.SortFunc(ops, func(a, b *Op) int { return cmpTime(a.Call, b.Call) })
		for i := 1; i < len(ops); i++ {
			prev, o := ops[i-1], ops[i]
			if prev.Outcome == Unknown {
				bad("client %d: op %d follows op %d, whose outcome is unknown (continue under a new client id)", c, o.ID, prev.ID)
			} else if o.Call < prev.Return {
				bad("client %d: ops %d [%v, %v] and %d [%v, %v] overlap", c, prev.ID, prev.Call, prev.Return, o.ID, o.Call, o.Return)
			}
		}
	}
	for _, f := range h.Faults {
		if f.End < f.Start {
			bad("fault %d ends at %v before it starts at %v", f.ID, f.End, f.Start)
		}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func cmpTime(a, b Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Op returns the operation with the given id, or nil.
func (h *History) Op(id int) *Op {
	// Recorders write ids in order; search, then fall back to a scan for
	// hand-made histories.
	if i, ok := slices.BinarySearchFunc(h.Ops, id, func(o Op, id int) int { return o.ID - id }); ok {
		return &h.Ops[i]
	}
	for i := range h.Ops {
		if h.Ops[i].ID == id {
			return &h.Ops[i]
		}
	}
	return nil
}

// End returns the latest finite time in the history: the last call or
// finite return, fault boundary or leader claim.
func (h *History) End() Time {
	var end Time
	bump := func(t Time) {
		if t != Infinity && t > end {
			end = t
		}
	}
	for i := range h.Ops {
		bump(h.Ops[i].Call)
		bump(h.Ops[i].Return)
	}
	for _, f := range h.Faults {
		bump(f.Start)
		bump(f.End)
	}
	for _, c := range h.LeaderClaims {
		bump(c.Time)
	}
	return end
}

// FaultsDuring returns the ids of the fault windows that overlap [from, to].
func (h *History) FaultsDuring(from, to Time) []int {
	var ids []int
	for _, f := range h.Faults {
		if f.Overlaps(from, to) {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// FaultKindsSeen returns the distinct kinds of the recorded fault windows.
func (h *History) FaultKindsSeen() []FaultKind {
	var ks []FaultKind
	for _, f := range h.Faults {
		if !slices.Contains(ks, f.Kind) {
			ks = append(ks, f.Kind)
		}
	}
	return ks
}

// TPs returns every partition an operation or leader claim names, sorted.
func (h *History) TPs() []TP {
	seen := map[TP]bool{}
	for i := range h.Ops {
		o := &h.Ops[i]
		switch o.Kind {
		case Poll:
			for _, r := range o.Records {
				seen[r.TP()] = true
			}
		case Commit, FetchCommitted:
			for _, off := range o.Offsets {
				seen[off.TP()] = true
			}
		case Assign, Revoke:
			for _, tp := range o.TPs {
				seen[tp] = true
			}
		default:
			seen[o.TP()] = true
		}
	}
	for _, c := range h.LeaderClaims {
		seen[c.TP()] = true
	}
	tps := make([]TP, 0, len(seen))
	for tp := range seen {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, CompareTP)
	return tps
}
