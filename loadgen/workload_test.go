package loadgen

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseWorkloadDefaults(t *testing.T) {
	w, err := ParseWorkload([]byte("name: minimal\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Workload{
		Name: "minimal", Topics: 1, Partitions: 1, ReplicationFactor: 1, ReplicationMode: ModeISR, SyncPolicy: SyncNever,
		MessageSize: SizeDist{Fixed: DefaultMessageSize}, Keys: KeyDist{Distribution: KeysNone}, Producers: 1,
		Acks: AcksAll, InFlight: DefaultInFlight, WarmUp: DurationOf(DefaultWarmUp), Duration: Duration(DefaultDuration),
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", w, want)
	}
	// An explicit zero warm-up is kept, not replaced by the default.
	w, err = ParseWorkload([]byte("name: x\nwarmUp: 0s\n"))
	if err != nil || w.WarmUpDuration() != 0 {
		t.Errorf("warmUp 0s: %v, %v", w.WarmUpDuration(), err)
	}
}

func TestParseWorkloadForms(t *testing.T) {
	w, err := ParseWorkload([]byte(`
name: forms
acks: 1
messageSize: {weighted: [{size: 100, weight: 3}, {size: 1000, weight: 1}]}
keys: {distribution: zipf, count: 100, s: 1.5}
syncPolicy: interval=5ms
sweep: {acks: [0, all], fractions: [0.5, 1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if w.Acks != Acks1 || len(w.MessageSize.Weighted) != 2 || w.MessageSize.Mean() != 325 || w.Keys.S != 1.5 {
		t.Errorf("parsed %+v", w)
	}
	if spec, _ := w.SyncPolicy.Parse(); spec.Kind != SyncKindInterval || spec.Interval != 5*time.Millisecond {
		t.Errorf("sync %+v", spec)
	}
	if w.Sweep == nil || !reflect.DeepEqual(w.Sweep.Acks, []Acks{Acks0, AcksAll}) || w.Sweep.MinAchieved != 0.95 {
		t.Errorf("sweep %+v", w.Sweep)
	}
	// What WithDefaults produced marshals and parses back to itself (run.json
	// stores it this way).
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseWorkload(data)
	if err != nil || !reflect.DeepEqual(back, w) {
		t.Errorf("JSON round trip:\n got %+v (%v)\nwant %+v\n%s", back, err, w, data)
	}
}

func TestParseWorkloadRejects(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"name: x\npartitons: 3\n", `unknown field "partitons"`},
		{"name: x\nmessageSize: {fixed: 100, extra: 1}\n", `unknown field "extra"`},
		{"name: x\nkeys: {distribution: zipf, count: 10, s: 2, hot: 1}\n", `unknown field "hot"`},
		{"name: x\nconsumers: {count: 1, grop: g}\n", `unknown field "grop"`},
		{"name: x\nsweep: {fractons: [1]}\n", `unknown field "fractons"`},
		{"name: x\nname: y\n", `key "name" already set`},
		{"name: x\nduration: 30\n", `want a string such as "30s"`},
		{"partitions: 1\n", "name: \"\""},
		{"name: a/b\n", `name: "a/b"`},
		{"name: x\npartitions: 2000\n", "partitions: 2000 is outside [1, 1024]"},
		{"name: x\nreplicationFactor: -1\n", "replicationFactor: -1 is outside [1, 16]"},
		{"name: x\nreplicationMode: raft\n", `replicationMode: "raft": want isr or quorum`},
		{"name: x\nacks: 2\n", `acks: "2": want 0, 1 or all`},
		{"name: x\nsyncPolicy: sometimes\n", `syncPolicy: "sometimes"`},
		{"name: x\nsyncPolicy: interval=0s\n", "the interval must be a positive duration"},
		{"name: x\nmessageSize: 10\n", "messageSize: fixed 10 is outside [28, 16777216]"},
		{"name: x\nmessageSize: {uniform: {min: 500, max: 100}}\n", "uniform.max 100 is below uniform.min 500"},
		{"name: x\nmessageSize: {fixed: 100, uniform: {min: 100, max: 200}}\n", "exactly one of fixed, uniform or weighted"},
		{"name: x\nmessageSize: {weighted: [{size: 100, weight: 0}]}\n", "weighted[0].weight 0"},
		{"name: x\nkeys: {distribution: zipf, count: 10, s: 1}\n", "zipf needs 1 < s <= 100"},
		{"name: x\nkeys: {distribution: uniform}\n", "count 0 is outside"},
		{"name: x\nkeys: {distribution: none, count: 3}\n", "count and s are only for"},
		{"name: x\nkeys: hashed\n", `distribution "hashed"`},
		{"name: x\ncompressibility: 1.5\n", "compressibility: 1.5 is outside [0, 1]"},
		{"name: x\nrate: -1\n", "rate: -1 is outside"},
		{"name: x\nlinger: -1ms\n", "linger: -1ms is outside"},
		{"name: x\nbatchBytes: 100\n", "batchBytes: 100 is outside"},
		{"name: x\ninFlight: 1000000\n", "inFlight: 1000000 is outside"},
		{"name: x\nconsumers: {group: g}\n", "consumers.group: set without consumers"},
		{"name: x\nduration: 500ms\n", "duration: 500ms is outside [1s, 24h0m0s]"},
		{"name: x\nsweep: {fractions: [0.5, 0.5]}\n", "sweep.fractions: want strictly ascending"},
		{"name: x\nsweep: {modes: [isr, paxos]}\n", `sweep.modes[1]: "paxos"`},
		{"name: x\nsweep: {p99Factor: 1}\n", "sweep.p99Factor"},
	} {
		_, err := ParseWorkload([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
	// Several problems are all reported.
	_, err := ParseWorkload([]byte("name: x\npartitions: -1\nproducers: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "partitions") || !strings.Contains(err.Error(), "producers") {
		t.Errorf("two bad fields: %v", err)
	}
}

// Every example workload parses, and the quick one fits its budget.
func TestExampleWorkloads(t *testing.T) {
	files, _ := filepath.Glob("workloads/*.yaml")
	json, _ := filepath.Glob("workloads/*.json")
	files = append(files, json...)
	if len(files) < 5 {
		t.Fatalf("example workloads: %v", files)
	}
	for _, f := range files {
		w, err := LoadWorkload(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if want := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".json"); !strings.HasPrefix(w.Name, want) {
			t.Errorf("%s: name %q differs from the file name", f, w.Name)
		}
	}
	w, err := LoadWorkload("workloads/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Measured time per combination: the probe and every step with its
	// warm-up, plus about half a second each for topic setup and drain.
	s := w.Sweep
	per := time.Duration(*s.StepWarmUp) + time.Duration(s.Probe) + 500*time.Millisecond
	per += time.Duration(len(s.Fractions)) * (time.Duration(*s.StepWarmUp) + time.Duration(s.StepDuration) + 500*time.Millisecond)
	if total := time.Duration(len(w.Combos())) * per; total > 2*time.Minute {
		t.Errorf("quick.yaml: %d combinations take up to %v; the budget is about 2 minutes", len(w.Combos()), total)
	}
}

func TestGeneratorDistributions(t *testing.T) {
	w := Workload{
		MessageSize:     SizeDist{Weighted: []WeightedSize{{Size: 100, Weight: 9}, {Size: 1000, Weight: 1}}},
		Keys:            KeyDist{Distribution: KeysZipf, Count: 1000, S: 1.5},
		Compressibility: 0.75,
	}
	g := newGenerator(w, 1, []string{"a", "b"})
	sizes := map[int]int{}
	keys := map[string]int{}
	topics := map[string]int{}
	const n = 20000
	for i := range n {
		m := g.message(Header{RunID: 7, Intended: 42, Producer: 3, Seq: uint64(i)})
		sizes[len(m.Value)]++
		keys[string(m.Key)]++
		topics[m.Topic]++
		h, err := DecodeHeader(m.Value)
		if err != nil || h != (Header{RunID: 7, Intended: 42, Producer: 3, Seq: uint64(i)}) {
			t.Fatalf("header %+v, %v", h, err)
		}
		body := m.Value[HeaderSize:]
		zeros := 0
		for _, b := range body {
			if b == 0 {
				zeros++
			}
		}
		// 75% of the body is the repeated byte (random bytes add ~1/256).
		if f := float64(zeros) / float64(len(body)); f < 0.74 || f > 0.80 {
			t.Fatalf("message %d: %.2f of the body is zero, want about 0.75", i, f)
		}
	}
	if f := float64(sizes[100]) / n; f < 0.88 || f > 0.92 || len(sizes) != 2 {
		t.Errorf("sizes %v: want 90%% of 100 bytes", sizes)
	}
	// Zipf with s=1.5: key 0 takes about 1/ζ(1.5) ≈ 38% of the draws.
	if f := float64(keys["key-0"]) / n; f < 0.33 || f > 0.43 {
		t.Errorf("hottest key share %.2f, want about 0.38", f)
	}
	if topics["a"] != n/2 || topics["b"] != n/2 {
		t.Errorf("topics %v: want round robin", topics)
	}
	if _, err := DecodeHeader([]byte("not a loadgen value at all......")); err != ErrNotLoadgen {
		t.Errorf("foreign value: %v", err)
	}
}
