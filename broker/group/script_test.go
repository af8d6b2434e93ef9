package group

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestScripts runs the protocol scenarios in testdata/*.txt: one command a
// line, "----", and the expected output up to the next blank line. The
// harness checks the ownership invariants after every command. Run with
// -rewrite to update the expected output, then read the diff.
//
// Commands (aliases name members; the coordinator gives each the alias as
// its member id):
//
//	topic <name> <partitions>             set a partition count (0 deletes)
//	join <alias> <topic,...> [assignor=a]  heartbeat with epoch 0
//	hb <alias> [ack] [epoch=n] [owned=t/p,...] [topics=t,...]
//	                                      heartbeat; ack: Owned = last assignment
//	leave <alias>                         heartbeat with epoch -1
//	tick <duration>                       advance the clock, then Tick
//	commit <alias> [epoch=n]              ValidateCommit (default: its last epoch)
//	describe                              the group's state
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptMember struct {
	epoch      int32
	assignment []TopicPartition
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var nextAlias string
	h := newHarness(t, Config{})
	h.c.cfg.NewMemberID = func() string { return nextAlias }
	members := map[string]*scriptMember{}
	lines := strings.Split(string(data), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		h.where = fmt.Sprintf("%s:%d: %s", file, i+1, line)
		got := runCommand(t, h, members, &nextAlias, line)
		// Skip the old expected output.
		var want []string
		if i+1 < len(lines) && lines[i+1] == "----" {
			i++
			for i+1 < len(lines) && lines[i+1] != "" {
				i++
				want = append(want, lines[i])
			}
		}
		fmt.Fprintf(&out, "%s\n----\n%s", line, got)
		if !*rewrite && got != strings.Join(want, "\n")+"\n" && !(got == "" && len(want) == 0) {
			t.Errorf("%s:%d: %s\ngot:\n%swant:\n%s", file, i+1, line, got, strings.Join(want, "\n")+"\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCommand(t *testing.T, h *harness, members map[string]*scriptMember, nextAlias *string, line string) string {
	fields := strings.Fields(line)
	cmd, args := fields[0], fields[1:]
	opts := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			opts[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	need := func(n int) {
		if len(pos) < n {
			t.Fatalf("%s: want %d arguments", line, n)
		}
	}
	var b strings.Builder
	events := func(ch Changes) {
		for _, ev := range ch.Events {
			fmt.Fprintf(&b, "  %s\n", strings.TrimPrefix(ev.String(), "g "))
		}
	}
	respond := func(alias string, resp HeartbeatResponse, ch Changes) {
		if resp.Error != ErrNone {
			fmt.Fprintf(&b, "%s: error %s\n", alias, resp.Error)
		} else {
			m := members[alias]
			m.epoch, m.assignment = resp.MemberEpoch, resp.Assignment
			fmt.Fprintf(&b, "%s: epoch %d %v\n", alias, resp.MemberEpoch, resp.Assignment)
		}
		events(ch)
	}
	beat := func(alias string, req HeartbeatRequest) {
		req.Group = "g"
		h.t.Helper()
		resp, ch := h.c.Heartbeat(req, h.now)
		h.apply(ch)
		respond(alias, resp, ch)
	}
	switch cmd {
	case "topic":
		need(2)
		n, err := strconv.Atoi(pos[1])
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			delete(h.counts, pos[0])
		} else {
			h.counts[pos[0]] = int32(n)
		}
	case "join":
		need(2)
		*nextAlias = pos[0]
		if members[pos[0]] == nil {
			members[pos[0]] = &scriptMember{}
		}
		beat(pos[0], HeartbeatRequest{Topics: strings.Split(pos[1], ","), Assignor: opts["assignor"],
			SessionTimeout: 10 * time.Second, RebalanceTimeout: 5 * time.Second})
	case "hb":
		need(1)
		m := members[pos[0]]
		req := HeartbeatRequest{MemberID: MemberID(pos[0]), MemberEpoch: m.epoch}
		if e, ok := opts["epoch"]; ok {
			n, _ := strconv.Atoi(e)
			req.MemberEpoch = int32(n)
		}
		if len(pos) > 1 && pos[1] == "ack" {
			req.Owned = append([]TopicPartition{}, m.assignment...)
		}
		if o, ok := opts["owned"]; ok {
			req.Owned = parseTPs(t, o)
		}
		if ts, ok := opts["topics"]; ok {
			req.Topics = strings.Split(ts, ",")
		}
		beat(pos[0], req)
	case "leave":
		need(1)
		beat(pos[0], HeartbeatRequest{MemberID: MemberID(pos[0]), MemberEpoch: LeaveEpoch})
	case "tick":
		need(1)
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			t.Fatal(err)
		}
		h.advance(d)
		events(h.tick())
	case "commit":
		need(1)
		epoch := members[pos[0]].epoch
		if e, ok := opts["epoch"]; ok {
			n, _ := strconv.Atoi(e)
			epoch = int32(n)
		}
		fmt.Fprintf(&b, "%s\n", h.c.ValidateCommit("g", MemberID(pos[0]), epoch))
	case "describe":
		gs, ok := h.c.Describe("g")
		if !ok {
			return "no group\n"
		}
		fmt.Fprintf(&b, "group epoch %d, assignment epoch %d, %s, %s\n", gs.GroupEpoch, gs.AssignmentEpoch, gs.Assignor, h.c.List()[0].State)
		for _, m := range gs.Members {
			fmt.Fprintf(&b, "  %s@%d %s target %v assigned %v revoking %v\n", m.ID, m.Epoch, m.State, m.Target, m.Assigned, m.Revoking)
		}
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	return b.String()
}

func parseTPs(t *testing.T, s string) []TopicPartition {
	out := []TopicPartition{}
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		topic, p, ok := strings.Cut(f, "/")
		n, err := strconv.Atoi(p)
		if !ok || err != nil {
			t.Fatalf("bad partition %q", f)
		}
		out = append(out, TopicPartition{topic, int32(n)})
	}
	return out
}
