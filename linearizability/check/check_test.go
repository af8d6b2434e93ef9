package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/linearizability/anomaly"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
	"github.com/sluice-mq/sluice/linearizability/internal/fixture"
)

var (
	v0, v1, v2  = fixture.V(1, 1), fixture.V(1, 2), fixture.V(2, 1)
	ok, unknown = history.OK, history.Unknown
	R, PR, Off  = fixture.R, fixture.PR, fixture.Off
)

func healthy() (*fixture.B, *history.FinalReads) {
	b := fixture.New()
	b.Send(1, v0, 0, 10, ok, 0)
	b.Send(1, v1, 11, 20, ok, 1)
	b.Send(2, v2, 5, 15, unknown, 0) // written at 2 after all
	b.HWM(3, 21, 22, 3)
	b.Assign(4, "g", 1, 23)
	b.Poll(4, "g", 24, 25, PR(0, v0), PR(1, v1), PR(2, v2))
	b.Commit(4, "g", 1, 26, 27, ok, Off(3))
	b.Fetch(5, "g", 28, 29, Off(3))
	b.Fault(history.F1KillLeader, "broker 1", 12, 18)
	b.Claim(13, 2, 2)
	return b, fixture.Final(3, R(0, v0), R(1, v1), R(2, v2))
}

func strong() expect.Expectations {
	return expect.Expectations{Config: expect.Strong("kill-leader", expect.ModeISR, history.F1KillLeader)}
}

func TestCheckHealthyRunPasses(t *testing.T) {
	b, final := healthy()
	v := Check(b.History(), final, strong(), WithTimeout(10*time.Second))
	if !v.Pass || len(v.Anomalies) != 0 {
		t.Fatalf("healthy run:\n%s%v", v.Summary(), v.Anomalies)
	}
	if len(v.Linearizability) != 2 {
		t.Fatalf("models checked: %d, want log and group-offsets", len(v.Linearizability))
	}
	for _, r := range v.Linearizability {
		if r.Result != "Ok" {
			t.Errorf("%s: %s", r.Model, r.Result)
		}
	}
	if v.Ops.Total != 8 || v.Ops.ByKind[history.Produce][history.Unknown] != 1 || v.Ops.FaultKinds[history.F1KillLeader] != 1 {
		t.Fatalf("op stats %+v", v.Ops)
	}
}

func TestCheckFailsOnForbiddenAndReportsAllowed(t *testing.T) {
	b, final := healthy()
	lost := fixture.V(3, 1)
	b.SendAcks(3, history.AcksLeader, lost, 30, 40, ok, 3) // acknowledged by the leader, then lost
	h := b.History()

	// Under the strong promise (acks=all declared) the loss fails the run.
	v := Check(h, final, strong())
	if v.Pass || v.Count(anomaly.LostWrite) != 1 {
		t.Fatalf("strong config:\n%s", v.Summary())
	}
	// Declared acks=leader under a leader kill: the loss is expected,
	// reported with its count, and the run passes.
	exp := strong()
	exp.Config.Acks = history.AcksLeader
	v = Check(h, final, exp)
	if !v.Pass || v.Count(anomaly.LostWrite) != 1 || v.Allowed != 1 {
		t.Fatalf("acks=leader config:\n%s", v.Summary())
	}
	if !strings.Contains(v.Summary(), "allowed") || !strings.Contains(v.Summary(), "lost-write") {
		t.Fatalf("summary:\n%s", v.Summary())
	}
	a := v.Anomalies[0]
	if a.Where != "on no replica" || len(a.Faults) != 0 || a.Values[0] != lost {
		t.Fatalf("anomaly %+v", a)
	}
}

func TestCheckNonlinearizableLog(t *testing.T) {
	b, final := healthy()
	b.HWM(3, 40, 41, 2) // after everything: stale
	b.Read(3, 0, 42, 43, R(0, v1))
	v := Check(b.History(), final, strong())
	if v.Pass || v.Count(anomaly.Nonlinearizable) != 1 {
		t.Fatalf("%s%v", v.Summary(), v.Anomalies)
	}
}

func TestCheckInvalidHistoryFails(t *testing.T) {
	b, final := healthy()
	b.Send(1, fixture.V(1, 9), 15, 16, ok, 3) // client 1 is busy until 20
	v := Check(b.History(), final, strong())
	if v.Pass || v.Count(anomaly.InvalidHistory) == 0 {
		t.Fatalf("%s", v.Summary())
	}
}

// WriteReport writes every file of the layout; Load reads back what Check
// needs, and re-checking it gives the same verdict (sluice check replay).
func TestWriteReportAndReplay(t *testing.T) {
	b, final := healthy()
	for i := range 150 { // more than MaxAnomaliesPerKind lost writes
		b.SendAcks(7, history.AcksNone, fixture.V(7, i+1), history.Time(100+2*i), history.Time(101+2*i), ok, -1)
	}
	h := b.History()
	exp := expect.Expectations{Config: expect.Config{Scenario: "acks0 kill/leader", Acks: history.AcksNone, Sync: expect.SyncAlways, Replication: expect.ModeISR, Idempotence: true, Delivery: expect.DeliveryAtLeastOnce}}
	v := Check(h, final, exp)
	if !v.Pass || v.Count(anomaly.LostWrite) != 150 {
		t.Fatalf("%s", v.Summary())
	}
	dir := ReportDir(t.TempDir(), exp.Config.Scenario, time.Date(2026, 8, 1, 12, 30, 5, 0, time.UTC))
	if filepath.Base(dir) != "2026-08-01T123005Z-acks0_kill_leader" {
		t.Fatalf("report dir %s", dir)
	}
	if err := v.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileHistory, FileFinal, FileExpectations, FileVerdict, FileAnomalies, FileTimeline, FileFaults, "porcupine-log.html", "porcupine-group-offsets.html"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "porcupine-log.html"))
	if !strings.Contains(string(html), "F1 broker 1") {
		t.Error("the HTML does not annotate the fault window")
	}
	timeline, _ := os.ReadFile(filepath.Join(dir, FileTimeline))
	for _, want := range []string{"fault 0 F1 START on broker 1", "fault 0 F1 END", "leader: broker 2 leads t/0 in epoch 2", "ANOMALY lost-write"} {
		if !strings.Contains(string(timeline), want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	var verdict struct {
		Pass      bool
		Anomalies []anomaly.Anomaly
		Kinds     []expect.KindCount
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FileVerdict))
	if err := json.Unmarshal(raw, &verdict); err != nil {
		t.Fatal(err)
	}
	if !verdict.Pass || len(verdict.Anomalies) != MaxAnomaliesPerKind || verdict.Kinds[0].Count != 150 {
		t.Fatalf("verdict.json: pass %v, %d anomalies, kinds %+v", verdict.Pass, len(verdict.Anomalies), verdict.Kinds)
	}
	var all []anomaly.Anomaly
	raw, _ = os.ReadFile(filepath.Join(dir, FileAnomalies))
	if err := json.Unmarshal(raw, &all); err != nil || len(all) != 150 {
		t.Fatalf("anomalies.json: %d, %v", len(all), err)
	}

	h2, final2, exp2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h2.Ops, h.Ops) || !reflect.DeepEqual(final2, final) {
		t.Fatal("Load does not return what was checked")
	}
	v2 := Check(h2, final2, exp2)
	if v2.Pass != v.Pass || !reflect.DeepEqual(v2.Kinds, v.Kinds) {
		t.Fatalf("replay differs:\n%s\n%s", v.Summary(), v2.Summary())
	}
}

// A run that recorded nothing still writes a report, and a replay of it
// without final.json works.
func TestEmptyRun(t *testing.T) {
	h := &history.History{Version: history.FormatVersion}
	v := Check(h, nil, strong())
	if !v.Pass {
		t.Fatalf("%s", v.Summary())
	}
	dir := t.TempDir()
	if err := v.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "porcupine-log.html")); err != nil {
		t.Fatal(err)
	}
	h2, final, _, err := Load(dir)
	if err != nil || final != nil || !reflect.DeepEqual(h2, h) {
		t.Fatalf("Load: %v, final %v, history %+v", err, final, h2)
	}
}
