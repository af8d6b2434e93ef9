package broker

import (
	"testing"

	"github.com/sluice-mq/sluice/engine/record"
)

func TestTagFilterExpressions(t *testing.T) {
	hs := func(kv ...string) []record.RecordHeader {
		var out []record.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, record.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	cases := []struct {
		expr    string
		headers []record.RecordHeader
		want    bool
	}{
		{"", hs(), true},
		{"region=eu", hs("region", "eu"), true},
		{"region=eu", hs("region", "us"), false},
		{"region!=eu", hs("region", "us"), true},
		{"region!=eu", hs("region", "eu"), false},
		{"audit", hs("audit", ""), true},
		{"!audit", hs("region", "eu"), true},
		{"!audit", hs("audit", "1"), false},
		{"region=eu && priority=high", hs("region", "eu", "priority", "low"), false},
		{"region=eu && priority=high || audit", hs("audit", "1"), true},
		{"region=eu && priority=high || audit", hs("region", "eu", "priority", "high"), true},
	}
	for _, c := range cases {
		f, err := parseTagFilter(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		if got := f.matches(c.headers); got != c.want {
			t.Errorf("%q on %v = %v", c.expr, c.headers, got)
		}
	}
	for _, bad := range []string{"a=1 &&", "=x", "||", "!", "a!=1&&!"} {
		if _, err := parseTagFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
