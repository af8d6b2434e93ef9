package history

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sample has one operation of every kind, every outcome, and the values
// and times that are easy to get wrong in JSON (Infinity, ids above 2^53).
func sample() *History {
	big := NewValueID(MaxClientID, MaxSeq)
	return &History{
		Version: FormatVersion,
		Start:   time.Date(2026, 8, 1, 12, 0, 0, 123, time.UTC),
		Ops: []Op{
			{ID: 0, Client: 0, Worker: 0, Kind: Produce, Call: 1, Return: 5, Outcome: OK, Topic: "t", Partition: 2, Key: "k", Acks: AcksAll, Value: big, Offset: 0, LeaderEpoch: 3, Duplicate: true},
			{ID: 1, Client: 1, Worker: 1, Kind: Produce, Call: 2, Return: 9, Outcome: Unknown, Err: "timed out", Topic: "t", Acks: AcksLeader, Value: NewValueID(1, 1), Offset: -1},
			{ID: 2, Client: 2, Worker: 2, Kind: Read, Call: 3, Return: 4, Outcome: OK, Topic: "t", Offset: 0, Records: []Record{{Offset: 0, Value: big}, {Offset: 1, Corrupt: "bad crc"}}},
			{ID: 3, Client: 2, Worker: 2, Kind: HWM, Call: 6, Return: 7, Outcome: OK, Topic: "t", HWM: 1},
			{ID: 4, Client: 2, Worker: 2, Kind: Scan, Call: 8, Return: 10, Outcome: Fail, Topic: "t", HWM: 1, Records: []Record{{Offset: 0, Value: big}}},
			{ID: 5, Client: 3, Worker: 3, Kind: Poll, Group: "g", Call: 1, Return: 2, Outcome: OK, Records: []Record{{Topic: "t", Partition: 2, Offset: 0, Value: big}}},
			{ID: 6, Client: 3, Worker: 3, Kind: Commit, Group: "g", MemberEpoch: 4, Call: 3, Return: 4, Outcome: OK, Offsets: []TPOffset{{"t", 2, 1}}, Reset: true},
			{ID: 7, Client: 3, Worker: 3, Kind: FetchCommitted, Group: "g", Call: 5, Return: 6, Outcome: OK, Offsets: []TPOffset{{"t", 2, -1}}},
			{ID: 8, Client: 3, Worker: 3, Kind: Assign, Group: "g", MemberEpoch: 5, Call: 7, Return: 7, Outcome: OK, TPs: []TP{{"t", 2}}},
			{ID: 9, Client: 3, Worker: 3, Kind: Revoke, Group: "g", Call: 8, Return: 8, Outcome: OK, TPs: []TP{{"t", 2}}},
			{ID: 10, Client: 3, Worker: 3, Kind: Seek, Topic: "t", Partition: 2, Offset: 7, Call: 9, Return: 9, Outcome: OK},
			{ID: 11, Client: 4, Worker: 4, Kind: LeaderRead, Topic: "t", Call: 1, Return: 2, Outcome: OK, Leader: &LeaderRecord{Epoch: 2, Leader: 1, ISR: []int32{1, 2}}},
			{ID: 12, Client: 4, Worker: 4, Kind: LeaderCAS, Topic: "t", Call: 3, Return: 4, Outcome: OK, ExpectEpoch: -1, Leader: &LeaderRecord{Epoch: 3, Leader: 2, ISR: []int32{2}}},
		},
		Faults:       []Fault{{ID: 0, Kind: F1KillLeader, Target: "broker 1", Start: 2, End: 8, Detail: "SIGKILL"}, {ID: 1, Kind: F4IsolateLeader, Target: "broker 2", Start: 9, End: Infinity}},
		LeaderClaims: []LeaderClaim{{Time: 3, Broker: 2, Topic: "t", Partition: 2, Epoch: 4}},
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	h := sample()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", got, h, buf.String())
	}
	// One operation per line, readable.
	if n := strings.Count(buf.String(), "\n"); n < len(h.Ops) {
		t.Fatalf("%d lines for %d ops:\n%s", n, len(h.Ops), buf.String())
	}
	if !strings.Contains(buf.String(), `"value":"16777215:1099511627775"`) {
		t.Fatalf("value ids are not written as client:seq:\n%s", buf.String())
	}
}

func TestFinalJSONRoundTrip(t *testing.T) {
	f := &FinalReads{Partitions: []PartitionRead{{
		Topic: "t", Partition: 1, LogStartOffset: 0, HighWatermark: 2,
		Log: []Record{{Offset: 0, Value: NewValueID(1, 1)}, {Offset: 1, Value: NewValueID(2, 1)}},
		Replicas: []ReplicaRead{
			{Broker: 1, Source: "fetch", Records: []Record{{Offset: 0, Value: NewValueID(1, 1)}}},
			{Broker: 2, Source: "dump", Records: []Record{{Offset: 0, Control: true}, {Offset: 1, Corrupt: "crc"}}},
			{Broker: 3, Source: "fetch", Err: "connection refused"},
		},
	}}}
	dir := t.TempDir()
	path := filepath.Join(dir, "final.json")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFinalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, f)
	}
	hpath := filepath.Join(dir, "history.json")
	if err := WriteFile(hpath, sample()); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHistoryFile(hpath)
	if err != nil || !reflect.DeepEqual(h, sample()) {
		t.Fatalf("history file round trip: %v", err)
	}
}

func TestReadRefusesOtherVersions(t *testing.T) {
	if _, err := ReadHistory(strings.NewReader(`{"version": 2, "ops": []}`)); err == nil {
		t.Fatal("a version 2 history was read")
	}
	if _, err := ReadFinal(strings.NewReader(`{"partitions": []}`)); err == nil {
		t.Fatal("final reads without a version were read")
	}
}

func TestValidate(t *testing.T) {
	base := func() *History {
		return &History{Version: FormatVersion, Ops: []Op{
			{ID: 0, Client: 0, Kind: Produce, Topic: "t", Acks: AcksAll, Value: NewValueID(0, 1), Call: 0, Return: 10, Outcome: OK},
			{ID: 1, Client: 0, Kind: Produce, Topic: "t", Acks: AcksAll, Value: NewValueID(0, 2), Call: 11, Return: 20, Outcome: OK},
		}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid history: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(h *History)
		want   string
	}{
		{"overlap", func(h *History) { h.Ops[1].Call = 5 }, "overlap"},
		{"after unknown", func(h *History) { h.Ops[0].Outcome = Unknown }, "unknown"},
		{"value twice", func(h *History) { h.Ops[1].Value = h.Ops[0].Value }, "produced by ops"},
		{"no value", func(h *History) { h.Ops[1].Value = 0 }, "without a value"},
		{"returns before call", func(h *History) { h.Ops[1].Return = 1 }, "before its call"},
		{"kind", func(h *History) { h.Ops[1].Kind = "frobnicate" }, "unknown kind"},
		{"outcome", func(h *History) { h.Ops[1].Outcome = "maybe" }, "unknown outcome"},
		{"acks", func(h *History) { h.Ops[1].Acks = "some" }, "acks"},
		{"id", func(h *History) { h.Ops[1].ID = 0 }, "used twice"},
		{"event", func(h *History) {
			h.Ops = append(h.Ops, Op{ID: 2, Client: 1, Kind: Assign, Call: 3, Return: 4, Outcome: OK})
		}, "event"},
		{"fault", func(h *History) { h.Faults = []Fault{{Start: 5, End: 4}} }, "fault"},
		{"version", func(h *History) { h.Version = 0 }, "version"},
	} {
		h := base()
		tc.mutate(h)
		err := h.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}
