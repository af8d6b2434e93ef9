package anomaly

import (
	"slices"
	"testing"
)

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		found  []Location
		absent []int32
		want   string
	}{
		{nil, nil, "no replica reads"},
		{nil, []int32{1, 2, 3}, "on no replica"},
		{[]Location{{2, 17}}, []int32{3, 1}, "on replica 2 (offset 17); absent on 1, 3"},
		{[]Location{{1, 4}, {3, 4}}, nil, "on replicas 1 (offset 4), 3 (offset 4), on every replica read"},
	} {
		if got := Where(tc.found, tc.absent); got != tc.want {
			t.Errorf("Where(%v, %v) = %q, want %q", tc.found, tc.absent, got, tc.want)
		}
	}
}

func TestKindsAreDistinct(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range Kinds {
		if seen[k] || k == "" {
			t.Errorf("kind %q listed twice or empty", k)
		}
		seen[k] = true
	}
	if !slices.Contains(Kinds, LostWrite) || !slices.Contains(Kinds, InvalidHistory) {
		t.Fatal("Kinds is missing kinds")
	}
}
