package replication

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// interactionEnv is a small cluster under a script's control: replicas, a
// FIFO of messages in flight, and a controller that only does what the
// script says.
type interactionEnv struct {
	replicas []*replica // index = id-1
	queue    []envelope
	ctrl     struct {
		epoch    Epoch
		leader   BrokerID
		isr      []BrokerID
		version  int64
		replicas []BrokerID
	}
	nextValue int
	// soft is the last role line printed per replica: it is printed again
	// only when it changes.
	soft map[BrokerID]string
	out  strings.Builder
}

func newInteractionEnv() *interactionEnv { return &interactionEnv{soft: map[BrokerID]string{}} }

func (env *interactionEnv) handle(t *testing.T, d *datadriven.TestData) string {
	env.out.Reset()
	var err error
	switch d.Cmd {
	case "add-nodes":
		// add-nodes 3 mode=isr minisr=2 durable-hw=false lag=4 wait=2 backoff=1
		err = env.handleAddNodes(t, d)
	case "become-leader":
		// become-leader 1 epoch=1 [isr=(1,2,3)] [notify=(2,3)]
		err = env.handleBecomeLeader(t, d)
	case "become-follower":
		// become-follower 2 epoch=3 leader=1   (one replica only)
		err = env.handleBecomeFollower(t, d)
	case "propose":
		// propose 1 n=3   (the leader appends n records)
		err = env.handlePropose(t, d)
	case "sync":
		// sync 1 2
		err = env.handleSync(t, d)
	case "process-ready":
		// process-ready [1 2 ...]   (default: every running replica)
		err = env.handleProcessReady(t, d)
	case "deliver-msgs":
		// deliver-msgs [2 ...] [reverse=true]   (messages to these replicas; default all)
		err = env.handleDeliverMsgs(t, d)
	case "drop-msgs":
		// drop-msgs [2 ...] [from=1]
		err = env.handleDropMsgs(t, d)
	case "stabilize":
		// stabilize [1 2 ...]   (process-ready and deliver-msgs until quiet)
		err = env.handleStabilize(t, d)
	case "tick":
		// tick [1 2 ...] [n=5]
		err = env.handleTick(t, d)
	case "crash":
		// crash 2
		err = env.handleCrash(t, d)
	case "restart":
		// restart 2 [unclean=true]   (the controller tells it the current metadata)
		err = env.handleRestart(t, d)
	case "isr-cas":
		// isr-cas   (the controller applies the ISR proposals in flight, in order)
		err = env.handleISRCAS(t, d)
	case "status":
		// status [1 ...]
		err = env.handleStatus(t, d)
	case "log":
		// log [1 ...]
		err = env.handleLog(t, d)
	case "_breakpoint":
		// _breakpoint: set a debugger breakpoint here.
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	if err != nil {
		fmt.Fprintf(&env.out, "error: %v\n", err)
	}
	if env.out.Len() == 0 {
		return "ok"
	}
	return env.out.String()
}

// Arguments.

// ids returns the bare numeric arguments (replica ids), or all if none.
func (env *interactionEnv) ids(d *datadriven.TestData, all bool) []BrokerID {
	var ids []BrokerID
	for _, a := range d.CmdArgs {
		if len(a.Vals) != 0 {
			continue
		}
		if id, err := strconv.Atoi(a.Key); err == nil {
			ids = append(ids, BrokerID(id))
		}
	}
	if len(ids) == 0 && all {
		for _, r := range env.replicas {
			ids = append(ids, r.id)
		}
	}
	return ids
}

func arg(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0], true
		}
	}
	return "", false
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	s, ok := arg(d, key)
	if !ok {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

func boolArg(t *testing.T, d *datadriven.TestData, key string) bool {
	s, ok := arg(d, key)
	if !ok {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

// listArg parses key=(1,2,3); ok is false when the argument is absent.
func listArg(t *testing.T, d *datadriven.TestData, key string) ([]BrokerID, bool) {
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		ids := []BrokerID{}
		for _, v := range a.Vals {
			id, err := strconv.Atoi(v)
			if err != nil {
				d.Fatalf(t, "%s: %v", key, err)
			}
			ids = append(ids, BrokerID(id))
		}
		return ids, true
	}
	return nil, false
}

func (env *interactionEnv) replica(t *testing.T, d *datadriven.TestData, id BrokerID) *replica {
	if id < 1 || int(id) > len(env.replicas) {
		d.Fatalf(t, "no replica %d", id)
	}
	return env.replicas[id-1]
}

func (env *interactionEnv) running(t *testing.T, d *datadriven.TestData, id BrokerID) (*replica, error) {
	r := env.replica(t, d, id)
	if !r.up() {
		return nil, fmt.Errorf("%d is down", id)
	}
	return r, nil
}

// Handlers, one per command.

func (env *interactionEnv) handleAddNodes(t *testing.T, d *datadriven.TestData) error {
	ids := env.ids(d, false)
	if len(ids) != 1 {
		d.Fatalf(t, "add-nodes <count>")
	}
	mode := ModeISR
	if s, _ := arg(d, "mode"); s == "quorum" {
		mode = ModeQuorum
	}
	durable := boolArg(t, d, "durable-hw")
	for range int(ids[0]) {
		id := BrokerID(len(env.replicas) + 1)
		cfg := Config{
			ID: id, Mode: mode, MinISR: intArg(t, d, "minisr", 1), LagTicks: intArg(t, d, "lag", 4),
			FetchWaitTicks: intArg(t, d, "wait", 2), FetchBackoffTicks: intArg(t, d, "backoff", 1), DurableHW: durable,
		}
		env.replicas = append(env.replicas, newReplica(cfg, durable))
		env.ctrl.replicas = append(env.ctrl.replicas, id)
	}
	fmt.Fprintf(&env.out, "replicas %v mode=%s durable-hw=%v\n", env.ctrl.replicas, mode, durable)
	return nil
}

func (env *interactionEnv) handleBecomeLeader(t *testing.T, d *datadriven.TestData) error {
	ids := env.ids(d, false)
	if len(ids) != 1 {
		d.Fatalf(t, "become-leader <id> epoch=<e>")
	}
	leader := ids[0]
	env.ctrl.epoch = Epoch(intArg(t, d, "epoch", int(env.ctrl.epoch)+1))
	env.ctrl.leader = leader
	if isr, ok := listArg(t, d, "isr"); ok {
		env.ctrl.isr = isr
	} else if env.ctrl.isr == nil {
		env.ctrl.isr = slices.Clone(env.ctrl.replicas)
	}
	env.ctrl.version++
	notify, ok := listArg(t, d, "notify")
	if !ok {
		notify = env.ctrl.replicas
	}
	for _, id := range notify {
		env.tellMetadata(t, d, id)
	}
	return nil
}

// tellMetadata steps the controller's current state into replica id.
func (env *interactionEnv) tellMetadata(t *testing.T, d *datadriven.TestData, id BrokerID) {
	r := env.replica(t, d, id)
	if !r.up() {
		return
	}
	var m Message = BecomeFollower{Epoch: env.ctrl.epoch, Leader: env.ctrl.leader, Replicas: env.ctrl.replicas}
	if id == env.ctrl.leader {
		m = BecomeLeader{Epoch: env.ctrl.epoch, Replicas: env.ctrl.replicas, ISR: env.ctrl.isr, ISRVersion: env.ctrl.version}
	}
	fmt.Fprintf(&env.out, "%d: %v\n", id, m)
	if err := r.node.Step(m); err != nil {
		fmt.Fprintf(&env.out, "  error: %v\n", err)
	}
}

func (env *interactionEnv) handleBecomeFollower(t *testing.T, d *datadriven.TestData) error {
	ids := env.ids(d, false)
	if len(ids) != 1 {
		d.Fatalf(t, "become-follower <id> epoch=<e> leader=<l>")
	}
	r, err := env.running(t, d, ids[0])
	if err != nil {
		return err
	}
	m := BecomeFollower{Epoch: Epoch(intArg(t, d, "epoch", 0)), Leader: BrokerID(intArg(t, d, "leader", -1)), Replicas: env.ctrl.replicas}
	fmt.Fprintf(&env.out, "%d: %v\n", r.id, m)
	return r.node.Step(m)
}

func (env *interactionEnv) handlePropose(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, false) {
		r, err := env.running(t, d, id)
		if err != nil {
			return err
		}
		var values []string
		for range intArg(t, d, "n", 1) {
			env.nextValue++
			values = append(values, fmt.Sprintf("v%d", env.nextValue))
		}
		first, err := r.produce(values...)
		if err != nil {
			return err
		}
		fmt.Fprintf(&env.out, "%d: appended [%d,%d) in epoch %d\n", id, first, first+int64(len(values)), r.node.Status().Epoch)
	}
	return nil
}

func (env *interactionEnv) handleSync(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, true) {
		r, err := env.running(t, d, id)
		if err != nil {
			return err
		}
		if err := r.sync(); err != nil {
			return err
		}
		fmt.Fprintf(&env.out, "%d: durable through %d\n", id, r.store.DurableEndOffset())
	}
	return nil
}

func (env *interactionEnv) processReady(r *replica) {
	if !r.node.HasReady() {
		return
	}
	rd, out := r.processReady()
	fmt.Fprintf(&env.out, "> %d handling Ready\n", r.id)
	soft := fmt.Sprintf("%s epoch=%d leader=%d hw=%d min-isr=%v eligible=%v",
		rd.Role, rd.Epoch, rd.Leader, rd.HighWatermark, rd.MinISRSatisfied, rd.Eligible)
	if env.soft[r.id] != soft {
		env.soft[r.id] = soft
		fmt.Fprintf(&env.out, "  %s\n", soft)
	}
	if rd.Truncate != nil {
		fmt.Fprintf(&env.out, "  %v\n", *rd.Truncate)
	}
	if rd.EpochCache != nil {
		fmt.Fprintf(&env.out, "  persist epochs %v\n", rd.EpochCache)
	}
	for _, e := range out {
		fmt.Fprintf(&env.out, "  %v\n", e)
	}
	env.queue = append(env.queue, out...)
}

func (env *interactionEnv) handleProcessReady(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, true) {
		if r := env.replica(t, d, id); r.up() {
			env.processReady(r)
		}
	}
	return nil
}

// take removes and returns the queued envelopes matching keep.
func (env *interactionEnv) take(keep func(envelope) bool) []envelope {
	var taken, rest []envelope
	for _, e := range env.queue {
		if keep(e) {
			taken = append(taken, e)
		} else {
			rest = append(rest, e)
		}
	}
	env.queue = rest
	return taken
}

func (env *interactionEnv) deliver(e envelope) {
	r := env.replicas[e.to-1]
	if !r.up() || r.stale(e) {
		fmt.Fprintf(&env.out, "%v (dropped: %d is down or restarted)\n", e, e.to)
		return
	}
	fmt.Fprintf(&env.out, "%v\n", e)
	note, err := r.deliver(e)
	if note != "" {
		fmt.Fprintf(&env.out, "  %d: %s\n", e.to, note)
	}
	if err != nil {
		fmt.Fprintf(&env.out, "  error: %v\n", err)
	}
}

func (env *interactionEnv) handleDeliverMsgs(t *testing.T, d *datadriven.TestData) error {
	to := env.ids(d, true)
	msgs := env.take(func(e envelope) bool { return e.to != controllerID && slices.Contains(to, e.to) })
	if boolArg(t, d, "reverse") {
		slices.Reverse(msgs)
	}
	for _, e := range msgs {
		env.deliver(e)
	}
	return nil
}

func (env *interactionEnv) handleDropMsgs(t *testing.T, d *datadriven.TestData) error {
	to := env.ids(d, true)
	from := intArg(t, d, "from", -1)
	for _, e := range env.take(func(e envelope) bool {
		return e.to != controllerID && slices.Contains(to, e.to) && (from < 0 || e.from == BrokerID(from))
	}) {
		fmt.Fprintf(&env.out, "dropped %v\n", e)
	}
	return nil
}

func (env *interactionEnv) handleStabilize(t *testing.T, d *datadriven.TestData) error {
	ids := env.ids(d, true)
	for range 100 {
		for _, id := range ids {
			if r := env.replica(t, d, id); r.up() {
				env.processReady(r)
			}
		}
		msgs := env.take(func(e envelope) bool { return e.to != controllerID && slices.Contains(ids, e.to) })
		if len(msgs) == 0 {
			return nil
		}
		for _, e := range msgs {
			env.deliver(e)
		}
	}
	return fmt.Errorf("not stable after 100 rounds")
}

func (env *interactionEnv) handleTick(t *testing.T, d *datadriven.TestData) error {
	for range intArg(t, d, "n", 1) {
		for _, id := range env.ids(d, true) {
			if r := env.replica(t, d, id); r.up() {
				r.node.Tick()
			}
		}
	}
	return nil
}

func (env *interactionEnv) handleCrash(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, false) {
		r := env.replica(t, d, id)
		r.crash()
		env.take(func(e envelope) bool { return e.to == id })
		fmt.Fprintf(&env.out, "%d: crashed, log end %d (durable)\n", id, r.store.LogEndOffset())
	}
	return nil
}

func (env *interactionEnv) handleRestart(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, false) {
		r := env.replica(t, d, id)
		r.start(boolArg(t, d, "unclean"))
		delete(env.soft, id)
		st := r.node.Status()
		fmt.Fprintf(&env.out, "%d: restarted, hw=%d log=[%d,%d) epochs=%v eligible=%v\n",
			id, st.HighWatermark, st.LogStartOffset, st.LogEndOffset, st.EpochCache, st.Eligible)
		if !boolArg(t, d, "no-metadata") {
			env.tellMetadata(t, d, id)
		}
	}
	return nil
}

func (env *interactionEnv) handleISRCAS(t *testing.T, d *datadriven.TestData) error {
	for _, e := range env.take(func(e envelope) bool { return e.to == controllerID }) {
		p := e.msg.(ISRProposal)
		ok := p.Epoch == env.ctrl.epoch && p.Version == env.ctrl.version && e.from == env.ctrl.leader
		if ok {
			env.ctrl.isr, env.ctrl.version = slices.Clone(p.ISR), env.ctrl.version+1
			fmt.Fprintf(&env.out, "%d: %v applied: isr=%v version=%d\n", e.from, p, env.ctrl.isr, env.ctrl.version)
		} else {
			fmt.Fprintf(&env.out, "%d: %v refused: epoch=%d version=%d leader=%d\n", e.from, p, env.ctrl.epoch, env.ctrl.version, env.ctrl.leader)
		}
		r := env.replicas[e.from-1]
		if !r.up() {
			continue
		}
		if err := r.node.Step(ISRChanged{Epoch: env.ctrl.epoch, ISR: slices.Clone(env.ctrl.isr), Version: env.ctrl.version}); err != nil {
			fmt.Fprintf(&env.out, "  error: %v\n", err)
		}
	}
	return nil
}

func (env *interactionEnv) handleStatus(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, true) {
		r := env.replica(t, d, id)
		if !r.up() {
			fmt.Fprintf(&env.out, "%d: down\n", id)
			continue
		}
		s := r.node.Status()
		fmt.Fprintf(&env.out, "%d: %s epoch=%d leader=%d hw=%d log=[%d,%d) durable=%d last-epoch=%d epochs=%v eligible=%v",
			id, s.Role, s.Epoch, s.Leader, s.HighWatermark, s.LogStartOffset, s.LogEndOffset, s.DurableEndOffset,
			s.LastEpoch, s.EpochCache, s.Eligible)
		if s.Role == RoleLeader {
			fmt.Fprintf(&env.out, " isr=%v v%d min-isr=%v", s.ISR, s.ISRVersion, s.MinISRSatisfied)
			if s.ProposedISR != nil {
				fmt.Fprintf(&env.out, " proposed=%v", s.ProposedISR)
			}
		}
		if s.TruncatedBelowHW > 0 {
			fmt.Fprintf(&env.out, " truncated-below-hw=%d", s.TruncatedBelowHW)
		}
		fmt.Fprintln(&env.out)
		for _, f := range s.Followers {
			known := "unknown"
			if f.Fetched {
				known = fmt.Sprintf("log-end=%d durable=%d", f.LogEndOffset, f.DurableEndOffset)
			}
			fmt.Fprintf(&env.out, "  follower %d: %s caught-up@%d in-isr=%v parked=%v\n", f.ID, known, f.LastCaughtUpTick, f.InISR, f.Parked)
		}
	}
	return nil
}

func (env *interactionEnv) handleLog(t *testing.T, d *datadriven.TestData) error {
	for _, id := range env.ids(d, true) {
		r := env.replica(t, d, id)
		var parts []string
		for _, e := range r.store.Entries(0, r.store.LogEndOffset()) {
			parts = append(parts, e.String())
		}
		fmt.Fprintf(&env.out, "%d: durable=%d [%s]\n", id, r.store.DurableEndOffset(), strings.Join(parts, " "))
	}
	return nil
}
