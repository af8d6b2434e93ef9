package replication

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The seeded simulation: a cluster of 3–5 replicas over MemoryStores, an
// in-test controller, a network that delays, reorders, drops and
// partitions, crashes that lose unsynced records, a shared fake clock and
// producers. Invariants are checked after every step; a failure prints the
// seed and the command that replays it with a trace.
//
// Durability and the crash budget: with DurableHW (sync=always) a record is
// committed only once it is fsynced on the ISR (a majority in quorum mode),
// so any number of replicas may crash at once. Without it, a crash loses
// the page cache, and a record held in memory by every replica that had it
// is lost by design (TESTING §5: sync=never under power loss on all nodes).
// So with DurableHW off the simulation crashes one replica at a time: a
// crashed replica counts as crashed until it is up and Eligible again
// (caught up after its unclean restart).

var (
	simSeed  = flag.Int64("seed", -1, "TestSimulation: run only this seed, with a trace")
	simSeeds = flag.Int("seeds", 240, "TestSimulation: number of seeds (a quarter with -short)")
	simSteps = flag.Int("sim-steps", 700, "TestSimulation: steps per seed")
)

func TestSimulation(t *testing.T) {
	if *simSeed >= 0 {
		res, err := runSimulation(*simSeed, *simSteps, t.Logf)
		if err != nil {
			t.Fatalf("seed %d: %v", *simSeed, err)
		}
		t.Logf("seed %d: %s", *simSeed, res)
		return
	}
	seeds := *simSeeds
	if testing.Short() {
		seeds /= 4
	}
	var total simResult
	for seed := int64(0); seed < int64(seeds); seed++ {
		res, err := runSimulation(seed, *simSteps, nil)
		if err != nil {
			t.Fatalf("seed %d: %v\nreplay: go test ./replication -run TestSimulation -seed=%d -v", seed, err, seed)
		}
		total.add(res)
	}
	t.Logf("%d seeds: %s", seeds, total)
	// The run must have exercised something.
	if total.acked == 0 || total.elections < int(seeds) || total.crashes == 0 || total.truncations == 0 {
		t.Fatalf("simulation did too little: %s", total)
	}
}

type simResult struct {
	acked, failedAcks, elections, crashes, truncations, committed int
}

func (r *simResult) add(o simResult) {
	r.acked += o.acked
	r.failedAcks += o.failedAcks
	r.elections += o.elections
	r.crashes += o.crashes
	r.truncations += o.truncations
	r.committed += o.committed
}

func (r simResult) String() string {
	return fmt.Sprintf("acked=%d failed-acks=%d committed=%d elections=%d crashes=%d truncations=%d",
		r.acked, r.failedAcks, r.committed, r.elections, r.crashes, r.truncations)
}

type simMsg struct {
	envelope
	deliverAt int
}

type pendingAck struct {
	lifetime int
	epoch    Epoch
	entry    Entry
}

type simReplica struct {
	*replica
	// lastHW is the HW last published in this lifetime; checkedTo the end
	// of the prefix already compared with the committed log.
	lastHW, checkedTo int64
	// lossy: DurableHW off, crashed and not yet eligible again.
	lossy bool
	// ctrlCutSince: the step since which the controller cannot reach it
	// (-1: reachable).
	ctrlCutSince int
	pending      []pendingAck
	leaderEpoch  Epoch // the epoch it last published as leader
}

type simulation struct {
	rng      *rand.Rand
	seed     int64
	mode     Mode
	durable  bool
	n        int
	reps     []*simReplica
	net      []simMsg
	cut      map[[2]BrokerID]bool
	step     int
	maxDelay int
	trace    func(string, ...any)
	ctrl     struct {
		epoch          Epoch
		leader         BrokerID
		leaderLifetime int
		isr            []BrokerID
		version        int64
		replicas       []BrokerID
	}
	// committed: the records seen below some replica's HW (the reference
	// every replica must agree with); acked: acks=all acknowledgements.
	committed map[int64]Entry
	acked     map[int64]Entry
	leaders   map[Epoch]BrokerID
	nextValue int
	res       simResult
}

func runSimulation(seed int64, steps int, logf func(string, ...any)) (res simResult, err error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	s := &simulation{
		rng: rng, seed: seed, mode: Mode(seed % 2), durable: (seed/2)%2 == 1, n: 3 + rng.IntN(3),
		cut: map[[2]BrokerID]bool{}, maxDelay: 1 + rng.IntN(4),
		committed: map[int64]Entry{}, acked: map[int64]Entry{}, leaders: map[Epoch]BrokerID{},
		trace: func(string, ...any) {},
	}
	if logf != nil {
		s.trace = func(f string, a ...any) { logf("step %d: "+f, append([]any{s.step}, a...)...) }
	}
	minISR := 2
	lag, wait, backoff, maxEntries := 3+rng.IntN(6), 1+rng.IntN(3), 1+rng.IntN(2), 1+rng.IntN(5)
	s.ctrl.leader = NoLeader
	for i := 1; i <= s.n; i++ {
		id := BrokerID(i)
		cfg := Config{ID: id, Mode: s.mode, MinISR: minISR, LagTicks: lag, FetchWaitTicks: wait, FetchBackoffTicks: backoff, DurableHW: s.durable}
		r := &simReplica{replica: newReplica(cfg, s.durable), ctrlCutSince: -1, leaderEpoch: NoEpoch}
		r.maxEntries = maxEntries
		s.reps = append(s.reps, r)
		s.ctrl.replicas = append(s.ctrl.replicas, id)
	}
	s.ctrl.isr = slices.Clone(s.ctrl.replicas)
	s.trace("config: mode=%s durable-hw=%v n=%d lag=%d wait=%d backoff=%d max-entries=%d max-delay=%d",
		s.mode, s.durable, s.n, lag, wait, backoff, maxEntries, s.maxDelay)

	defer func() {
		// An assertion (invariants build) is a failure of this seed too.
		if p := recover(); p != nil {
			err = fmt.Errorf("step %d: panic: %v", s.step, p)
		}
		if err != nil && logf != nil {
			s.dump(logf)
		}
	}()
	for s.step = 0; s.step < steps; s.step++ {
		s.randomEvent()
		if err := s.settle(); err != nil {
			return s.res, fmt.Errorf("step %d: %w", s.step, err)
		}
	}
	// Heal everything and let the cluster converge; then check again.
	s.healAll()
	for _, r := range s.reps {
		if !r.up() {
			s.restart(r)
		}
	}
	for range 400 {
		s.step++
		if len(s.net) > 0 && s.rng.IntN(4) != 0 {
			s.deliverOne()
		} else {
			s.tickAll()
		}
		if err := s.settle(); err != nil {
			return s.res, fmt.Errorf("step %d (converging): %w", s.step, err)
		}
	}
	if err := s.checkFinal(); err != nil {
		return s.res, fmt.Errorf("final: %w", err)
	}
	s.res.committed = len(s.committed)
	return s.res, nil
}

func (s *simulation) randomEvent() {
	switch x := s.rng.IntN(100); {
	case x < 40:
		s.deliverOne()
	case x < 43:
		if len(s.net) > 0 {
			i := s.rng.IntN(len(s.net))
			s.trace("drop %v", s.net[i].envelope)
			s.net = slices.Delete(s.net, i, i+1)
		}
	case x < 63:
		s.tickAll()
	case x < 78:
		s.produce()
	case x < 86:
		if r := s.pickUp(); r != nil {
			s.trace("sync %d", r.id)
			s.stepNode(r, r.sync())
		}
	case x < 88:
		s.crash()
	case x < 92:
		var down []*simReplica
		for _, r := range s.reps {
			if !r.up() {
				down = append(down, r)
			}
		}
		if len(down) > 0 {
			s.restart(down[s.rng.IntN(len(down))])
		}
	case x < 94:
		s.partition()
	case x < 97:
		s.healAll()
	default:
		// The controller moves leadership on its own (preferred leader).
		s.elect("rebalance")
	}
	s.controllerCheck()
}

func (s *simulation) pickUp() *simReplica {
	var up []*simReplica
	for _, r := range s.reps {
		if r.up() {
			up = append(up, r)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[s.rng.IntN(len(up))]
}

func (s *simulation) stepNode(r *simReplica, err error) {
	if err != nil {
		s.trace("  %d: step error: %v", r.id, err)
	}
}

func (s *simulation) tickAll() {
	for _, r := range s.reps {
		if r.up() {
			r.node.Tick()
		}
	}
}

func (s *simulation) linkOK(from, to BrokerID) bool {
	if from == controllerID || to == controllerID {
		id := max(from, to)
		return s.reps[id-1].ctrlCutSince < 0
	}
	return !s.cut[[2]BrokerID{min(from, to), max(from, to)}]
}

func (s *simulation) deliverOne() {
	var ready []int
	for i, m := range s.net {
		if m.deliverAt <= s.step {
			ready = append(ready, i)
		}
	}
	if len(ready) == 0 {
		return
	}
	i := ready[s.rng.IntN(len(ready))]
	m := s.net[i]
	s.net = slices.Delete(s.net, i, i+1)
	if !s.linkOK(m.from, m.to) {
		s.trace("lost (partition) %v", m.envelope)
		return
	}
	if m.to == controllerID {
		s.handleProposal(m.from, m.msg.(ISRProposal))
		return
	}
	r := s.reps[m.to-1]
	if !r.up() || r.stale(m.envelope) {
		return
	}
	s.trace("deliver %v", m.envelope)
	note, err := r.deliver(m.envelope)
	if note != "" {
		s.trace("  %d: %s", r.id, note)
	}
	s.stepNode(r, err)
}

func (s *simulation) send(e envelope) {
	s.net = append(s.net, simMsg{envelope: e, deliverAt: s.step + s.rng.IntN(s.maxDelay+1)})
}

func (s *simulation) produce() {
	for _, r := range s.reps {
		if !r.up() {
			continue
		}
		st := r.node.Status()
		// The produce path: only a leader, and acks=all is refused before
		// the append while min ISR is not satisfied.
		if st.Role != RoleLeader || !st.MinISRSatisfied {
			continue
		}
		var values []string
		for range 1 + s.rng.IntN(3) {
			s.nextValue++
			values = append(values, fmt.Sprintf("v%d", s.nextValue))
		}
		first, err := r.produce(values...)
		s.stepNode(r, err)
		s.trace("produce %d: %v at %d epoch %d", r.id, values, first, st.Epoch)
		for i, v := range values {
			r.pending = append(r.pending, pendingAck{lifetime: r.lifetime, epoch: st.Epoch, entry: Entry{Offset: first + int64(i), Epoch: st.Epoch, Value: v}})
		}
		return // one leader per produce event (a zombie may be picked too)
	}
}

func (s *simulation) lossyCount() int {
	k := 0
	for _, r := range s.reps {
		if r.lossy {
			k++
		}
	}
	return k
}

func (s *simulation) crash() {
	r := s.pickUp()
	if r == nil || (!s.durable && s.lossyCount() > 0) {
		return
	}
	s.trace("crash %d (log end %d, durable %d)", r.id, r.store.LogEndOffset(), r.store.DurableEndOffset())
	r.crash()
	r.pending = nil // unknown outcomes
	r.lossy = !s.durable
	s.res.crashes++
}

func (s *simulation) restart(r *simReplica) {
	// Unclean: no clean-shutdown marker; it matters only when the sync
	// policy is not always.
	r.start(!s.durable)
	r.lastHW, r.checkedTo, r.leaderEpoch = r.node.Status().HighWatermark, 0, NoEpoch
	s.trace("restart %d: %+v", r.id, r.node.Status().HighWatermark)
	if r.ctrlCutSince < 0 && r.id != s.ctrl.leader {
		s.tellMetadata(r)
	}
}

func (s *simulation) partition() {
	if s.rng.IntN(2) == 0 {
		a, b := BrokerID(1+s.rng.IntN(s.n)), BrokerID(1+s.rng.IntN(s.n))
		if a != b {
			s.trace("cut %d-%d", a, b)
			s.cut[[2]BrokerID{min(a, b), max(a, b)}] = true
		}
		return
	}
	r := s.reps[s.rng.IntN(s.n)]
	if r.ctrlCutSince < 0 {
		s.trace("cut %d-controller", r.id)
		r.ctrlCutSince = s.step
	}
}

func (s *simulation) healAll() {
	s.trace("heal")
	clear(s.cut)
	for _, r := range s.reps {
		if r.ctrlCutSince >= 0 {
			r.ctrlCutSince = -1
			if r.up() && r.id != s.ctrl.leader {
				s.tellMetadata(r)
			}
		}
	}
}

// The controller.

func (s *simulation) tellMetadata(r *simReplica) {
	var m Message = BecomeFollower{Epoch: s.ctrl.epoch, Leader: s.ctrl.leader, Replicas: s.ctrl.replicas}
	if r.id == s.ctrl.leader {
		m = BecomeLeader{Epoch: s.ctrl.epoch, Replicas: s.ctrl.replicas, ISR: slices.Clone(s.ctrl.isr), ISRVersion: s.ctrl.version}
	}
	if s.ctrl.epoch < 0 {
		return
	}
	s.trace("  metadata to %d: %v", r.id, m)
	s.stepNode(r, r.node.Step(m))
}

// controllerCheck elects when the leader is gone: down, restarted, or cut
// from the controller for longer than a lease.
func (s *simulation) controllerCheck() {
	const leaseSteps = 8
	if s.ctrl.leader == NoLeader {
		s.elect("no leader")
		return
	}
	l := s.reps[s.ctrl.leader-1]
	switch {
	case !l.up():
		s.elect("leader down")
	case l.lifetime != s.ctrl.leaderLifetime:
		s.elect("leader restarted")
	case l.ctrlCutSince >= 0 && s.step-l.ctrlCutSince >= leaseSteps:
		s.elect("leader lease expired")
	}
}

func (s *simulation) elect(why string) {
	var candidates []*simReplica
	for _, r := range s.reps {
		if r.up() && r.ctrlCutSince < 0 && r.node.Status().Eligible {
			candidates = append(candidates, r)
		}
	}
	var chosen *simReplica
	switch s.mode {
	case ModeISR:
		var inISR []*simReplica
		for _, r := range candidates {
			if slices.Contains(s.ctrl.isr, r.id) {
				inISR = append(inISR, r)
			}
		}
		if len(inISR) > 0 {
			chosen = inISR[s.rng.IntN(len(inISR))]
		}
	case ModeQuorum:
		// The candidates are fenced in the same step (tellMetadata below)
		// before any of them can fetch again, so reading their offsets
		// here is reading them after the fence.
		if len(candidates) >= s.n/2+1 {
			for _, r := range candidates {
				if chosen == nil {
					chosen = r
					continue
				}
				a, b := r.node.Status(), chosen.node.Status()
				if a.LastEpoch > b.LastEpoch || (a.LastEpoch == b.LastEpoch && a.LogEndOffset > b.LogEndOffset) {
					chosen = r
				}
			}
		}
	}
	if chosen == nil {
		return
	}
	s.ctrl.epoch++
	s.ctrl.version++
	s.ctrl.leader, s.ctrl.leaderLifetime = chosen.id, chosen.lifetime
	if !slices.Contains(s.ctrl.isr, chosen.id) {
		s.ctrl.isr = append(s.ctrl.isr, chosen.id)
	}
	s.res.elections++
	s.trace("elect %d in epoch %d (%s), isr %v", chosen.id, s.ctrl.epoch, why, s.ctrl.isr)
	for _, r := range s.reps {
		if r.up() && r.ctrlCutSince < 0 {
			s.tellMetadata(r)
		}
	}
}

func (s *simulation) handleProposal(from BrokerID, p ISRProposal) {
	if p.Epoch == s.ctrl.epoch && p.Version == s.ctrl.version && from == s.ctrl.leader {
		s.ctrl.isr, s.ctrl.version = slices.Clone(p.ISR), s.ctrl.version+1
		s.trace("controller: isr %v version %d (from %d)", s.ctrl.isr, s.ctrl.version, from)
	}
	s.send(envelope{from: controllerID, to: from, msg: ISRChanged{Epoch: s.ctrl.epoch, ISR: slices.Clone(s.ctrl.isr), Version: s.ctrl.version}})
}

// settle processes every replica's Ready and checks the invariants.
func (s *simulation) settle() error {
	for range 10 {
		busy := false
		for _, r := range s.reps {
			if !r.up() || !r.node.HasReady() {
				continue
			}
			busy = true
			rd, out := r.processReady()
			if rd.Truncate != nil {
				s.res.truncations++
				s.trace("  %d: %v", r.id, *rd.Truncate)
			}
			for _, e := range out {
				s.send(e)
			}
			if err := s.published(r, rd); err != nil {
				return err
			}
		}
		if !busy {
			return s.checkReplicas()
		}
	}
	return fmt.Errorf("Ready never settled")
}

// published is step (4): acks, and the invariants about what a replica
// tells readers and producers.
func (s *simulation) published(r *simReplica, rd Ready) error {
	if rd.HighWatermark < r.lastHW {
		return fmt.Errorf("replica %d: high watermark went back from %d to %d", r.id, r.lastHW, rd.HighWatermark)
	}
	r.lastHW = rd.HighWatermark
	if st := r.node.Status(); st.TruncatedBelowHW > 0 {
		return fmt.Errorf("replica %d: truncated below its high watermark (committed records lost)", r.id)
	}
	if rd.Role == RoleLeader && rd.Epoch != r.leaderEpoch {
		r.leaderEpoch = rd.Epoch
		if other, ok := s.leaders[rd.Epoch]; ok && other != r.id {
			return fmt.Errorf("two leaders in epoch %d: %d and %d", rd.Epoch, other, r.id)
		}
		s.leaders[rd.Epoch] = r.id
		// A new leader must hold every acknowledged and every committed
		// record.
		for _, m := range []map[int64]Entry{s.acked, s.committed} {
			for off, want := range m {
				if got, ok := r.store.At(off); !ok || got != want {
					return fmt.Errorf("leader %d of epoch %d lacks committed record %v (has %v)", r.id, rd.Epoch, want, got)
				}
			}
		}
	}
	if rd.Role != RoleLeader && r.leaderEpoch != NoEpoch {
		r.leaderEpoch = NoEpoch
	}
	// Resolve acks=all waiters.
	kept := r.pending[:0]
	for _, p := range r.pending {
		switch {
		case p.lifetime != r.lifetime || rd.Role != RoleLeader || rd.Epoch != p.epoch:
			// Leadership lost: the outcome is unknown.
		case p.entry.Offset < rd.HighWatermark:
			if s.mode == ModeISR && !rd.MinISRSatisfied {
				s.res.failedAcks++ // NOT_ENOUGH_REPLICAS_AFTER_APPEND
				continue
			}
			if got, _ := r.store.At(p.entry.Offset); got != p.entry {
				return fmt.Errorf("leader %d acknowledges %v but holds %v", r.id, p.entry, got)
			}
			s.acked[p.entry.Offset] = p.entry
			s.res.acked++
		default:
			kept = append(kept, p)
		}
	}
	r.pending = kept
	if r.lossy && rd.Eligible {
		r.lossy = false
	}
	return nil
}

// checkReplicas: every running replica agrees with the committed log below
// its HW, and its epoch cache describes its log.
func (s *simulation) checkReplicas() error {
	for _, r := range s.reps {
		if !r.up() {
			continue
		}
		st := r.node.Status()
		for off := max(r.checkedTo, st.LogStartOffset); off < st.HighWatermark; off++ {
			got, ok := r.store.At(off)
			if !ok {
				return fmt.Errorf("replica %d: offset %d below its high watermark %d is not in its log", r.id, off, st.HighWatermark)
			}
			if want, ok := s.committed[off]; ok && want != got {
				return fmt.Errorf("replica %d: committed offset %d holds %v, another replica had %v", r.id, off, got, want)
			}
			s.committed[off] = got
		}
		r.checkedTo = max(r.checkedTo, st.HighWatermark)
		var cache []EpochEntry
		for _, e := range st.EpochCache {
			if e.StartOffset < st.LogEndOffset {
				cache = append(cache, e)
			}
		}
		if want := r.store.Epochs().Entries(); !slices.Equal(cache, want) {
			return fmt.Errorf("replica %d: epoch cache %v, its log has %v", r.id, cache, want)
		}
	}
	return nil
}

func (s *simulation) checkFinal() error {
	var leader *simReplica
	for _, r := range s.reps {
		if r.up() && r.node.Status().Role == RoleLeader && r.node.Status().Epoch == s.ctrl.epoch {
			leader = r
		}
	}
	if leader == nil {
		return nil // no live leader could be elected; availability is not checked
	}
	var missing []string
	for off, e := range s.acked {
		if got, ok := leader.store.At(off); !ok || got != e {
			missing = append(missing, e.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("acknowledged records lost: %s", strings.Join(missing, " "))
	}
	return nil
}

// dump logs every replica's state and log (replay with -seed).
func (s *simulation) dump(logf func(string, ...any)) {
	logf("controller: epoch %d leader %d isr %v version %d", s.ctrl.epoch, s.ctrl.leader, s.ctrl.isr, s.ctrl.version)
	for _, r := range s.reps {
		var parts []string
		for _, e := range r.store.Entries(0, r.store.LogEndOffset()) {
			parts = append(parts, e.String())
		}
		if r.up() {
			logf("replica %d: %+v", r.id, r.node.Status())
		} else {
			logf("replica %d: down", r.id)
		}
		logf("replica %d log (durable %d): %s", r.id, r.store.DurableEndOffset(), strings.Join(parts, " "))
	}
}
