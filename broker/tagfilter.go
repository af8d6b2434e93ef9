package broker

import (
	"fmt"
	"strings"

	"github.com/sluice-mq/sluice/engine/record"
)

// Tag filters select records by their headers, on the broker, for members
// of a consumer group that subscribe with one (DESIGN.md §1, tags).
//
// Syntax: terms joined by && (and) and || (or), && binding tighter, no
// parentheses:
//
//	k=v    a header k with value v
//	k!=v   no header k with value v
//	k      a header k
//	!k     no header k
//
// Example: "region=eu && priority=high || audit".
const (
	maxTagFilterLen   = 1024
	maxTagFilterTerms = 32
)

type tagTerm struct {
	key, value string
	hasValue   bool
	negate     bool
}

// tagFilter is an OR of ANDs of terms.
type tagFilter [][]tagTerm

func parseTagFilter(s string) (tagFilter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > maxTagFilterLen {
		return nil, fmt.Errorf("longer than %d bytes", maxTagFilterLen)
	}
	var f tagFilter
	terms := 0
	for _, alt := range strings.Split(s, "||") {
		var conj []tagTerm
		for _, raw := range strings.Split(alt, "&&") {
			t, err := parseTagTerm(strings.TrimSpace(raw))
			if err != nil {
				return nil, err
			}
			conj = append(conj, t)
			if terms++; terms > maxTagFilterTerms {
				return nil, fmt.Errorf("more than %d terms", maxTagFilterTerms)
			}
		}
		f = append(f, conj)
	}
	return f, nil
}

func parseTagTerm(s string) (tagTerm, error) {
	var t tagTerm
	switch {
	case s == "":
		return t, fmt.Errorf("empty term")
	case strings.Contains(s, "!="):
		k, v, _ := strings.Cut(s, "!=")
		t = tagTerm{key: strings.TrimSpace(k), value: strings.TrimSpace(v), hasValue: true, negate: true}
	case strings.Contains(s, "="):
		k, v, _ := strings.Cut(s, "=")
		t = tagTerm{key: strings.TrimSpace(k), value: strings.TrimSpace(v), hasValue: true}
	case strings.HasPrefix(s, "!"):
		t = tagTerm{key: strings.TrimSpace(s[1:]), negate: true}
	default:
		t = tagTerm{key: s}
	}
	if t.key == "" || strings.ContainsAny(t.key, "=!&|") {
		return t, fmt.Errorf("bad term %q", s)
	}
	return t, nil
}

func (t tagTerm) matches(hs []record.RecordHeader) bool {
	found := false
	for _, h := range hs {
		if h.Key == t.key && (!t.hasValue || string(h.Value) == t.value) {
			found = true
			break
		}
	}
	return found != t.negate
}

func (f tagFilter) matches(hs []record.RecordHeader) bool {
	if len(f) == 0 {
		return true
	}
	for _, conj := range f {
		all := true
		for _, t := range conj {
			if !t.matches(hs) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// filterBatches keeps, in each batch of data, only the records f selects.
// A batch keeps its base offset and last offset delta (so offsets and the
// consumer's next position are unchanged; the gaps look like a compacted
// batch to a Kafka-style decoder) and gets a new CRC; batches left with no
// record are dropped.
func filterBatches(data []byte, f tagFilter) ([]byte, error) {
	if len(f) == 0 {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	for pos := 0; pos < len(data); {
		b, err := record.Decode(data[pos:])
		if err != nil {
			return nil, err
		}
		pos += b.Size()
		kept := b.Records[:0]
		for _, r := range b.Records {
			if f.matches(r.Headers) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			continue
		}
		if len(kept) == len(b.Records) {
			out = append(out, data[pos-b.Size():pos]...)
			continue
		}
		b.Records = kept
		out = record.Encode(out, b)
	}
	return out, nil
}
