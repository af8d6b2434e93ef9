package replication

// The in-test driver shared by the datadriven scripts and the simulation:
// one replica = a MemoryStore, a Node (nil while crashed) and what the
// driver persisted (epoch cache, HW checkpoint). It carries out Ready in
// doc.go's order and turns messages into envelopes for an in-test network.

import (
	"fmt"
)

// controllerID addresses the in-test controller on the in-test network.
const controllerID BrokerID = 0

// envelope is a message in flight. entries are the log records a
// FetchReply carries (read by the leader's driver when it sent it).
//
// lifetime models connections: a FetchRequest carries its sender's
// lifetime, and a FetchReply the lifetime of the follower process whose
// request it answers. A reply for an earlier lifetime is dropped, as it
// would be by the closed connection (fetch sequence numbers restart with
// each lifetime, so the node could not tell).
type envelope struct {
	from, to BrokerID
	msg      Message
	entries  []Entry
	lifetime int
}

func (e envelope) String() string {
	s := fmt.Sprintf("%d->%d %v", e.from, e.to, e.msg)
	if len(e.entries) > 0 {
		s += fmt.Sprintf(" +%d entries [%d,%d)", len(e.entries), e.entries[0].Offset, e.entries[len(e.entries)-1].Offset+1)
	}
	return s
}

type replica struct {
	id    BrokerID
	cfg   Config // template for (re)starts; Store, HighWatermark, EpochCache filled in
	store *MemoryStore
	node  *Node
	// What survives a crash besides the durable log.
	savedEpochs *EpochCache
	savedHW     int64
	// syncOnAppend: sync=always, the follower's driver fsyncs what it
	// appended before stepping the response.
	syncOnAppend bool
	// maxEntries bounds how many entries a FetchReply carries.
	maxEntries int
	// lifetime counts starts; conns is, per follower, the lifetime of its
	// latest fetch (the leader's driver's connection).
	lifetime int
	conns    map[BrokerID]int
}

func newReplica(cfg Config, syncOnAppend bool) *replica {
	r := &replica{id: cfg.ID, cfg: cfg, store: NewMemoryStore(), savedEpochs: &EpochCache{}, syncOnAppend: syncOnAppend, maxEntries: 1000}
	r.start(false)
	return r
}

func (r *replica) up() bool { return r.node != nil }

// start creates the node from the store and what was persisted.
func (r *replica) start(unclean bool) {
	cfg := r.cfg
	cfg.Store, cfg.HighWatermark, cfg.EpochCache, cfg.UncleanRestart = r.store, r.savedHW, r.savedEpochs.Clone(), unclean
	r.node = NewNode(cfg)
	r.lifetime++
	r.conns = map[BrokerID]int{}
}

// stale reports whether e is a reply meant for an earlier lifetime.
func (r *replica) stale(e envelope) bool {
	_, reply := e.msg.(FetchReply)
	return reply && e.lifetime != r.lifetime
}

// crash loses the node and everything not synced.
func (r *replica) crash() {
	r.node = nil
	r.store.Crash()
}

// processReady carries out one Ready: (1) truncate, (2) persist the epoch
// cache and the HW checkpoint, (3) hand out the messages; the caller does
// (4) with the returned Ready.
func (r *replica) processReady() (Ready, []envelope) {
	rd := r.node.Ready()
	if t := rd.Truncate; t != nil {
		if t.Fully {
			r.store.Reset(t.Offset)
		} else {
			r.store.TruncateTo(t.Offset)
		}
	}
	if rd.EpochCache != nil {
		r.savedEpochs = rd.EpochCache.Clone()
	}
	r.savedHW = rd.HighWatermark
	var out []envelope
	for _, m := range rd.Messages {
		e := envelope{from: r.id, msg: m}
		switch m := m.(type) {
		case FetchRequest:
			e.to, e.lifetime = m.To, r.lifetime
		case FetchReply:
			e.to, e.lifetime = m.To, r.conns[m.To]
			if m.Error == ErrorNone && m.DivergingEndOffset < 0 {
				e.entries = r.store.Entries(m.ReadFrom, min(m.ReadTo, m.ReadFrom+int64(r.maxEntries)))
			}
		case ISRProposal:
			e.to = controllerID
		default:
			panic(fmt.Sprintf("unexpected message in Ready: %v", m))
		}
		out = append(out, e)
	}
	r.node.Advance(rd)
	return rd, out
}

// deliver steps an envelope addressed to this (running) replica, doing the
// driver's part first: a FetchReply's entries are appended if they belong
// to the current epoch and start at the log end. It returns a note on what
// the driver did, and Step's error.
func (r *replica) deliver(e envelope) (string, error) {
	switch m := e.msg.(type) {
	case FetchRequest:
		r.conns[e.from] = e.lifetime
		return "", r.node.Step(FollowerFetch{
			From: e.from, Seq: m.Seq, Epoch: m.Epoch, FetchOffset: m.FetchOffset,
			DurableEnd: m.DurableEnd, LastFetchedEpoch: m.LastFetchedEpoch,
		})
	case FetchReply:
		st := r.node.Status()
		var appended []EpochEntry
		before := r.store.LogEndOffset()
		if m.Epoch == st.Epoch && st.Role == RoleFollower && st.Leader == e.from {
			for _, en := range e.entries {
				if en.Offset < r.store.LogEndOffset() {
					continue
				}
				if en.Offset > r.store.LogEndOffset() {
					break
				}
				if err := r.store.AppendReplica(en); err != nil {
					panic(err)
				}
				if k := len(appended); k == 0 || appended[k-1].Epoch != en.Epoch {
					appended = append(appended, EpochEntry{Epoch: en.Epoch, StartOffset: en.Offset})
				}
			}
			if r.syncOnAppend {
				r.store.Sync()
			}
		}
		note := ""
		if after := r.store.LogEndOffset(); after > before {
			note = fmt.Sprintf("appended [%d,%d)", before, after)
		}
		return note, r.node.Step(FetchResponse{
			From: e.from, Seq: m.Seq, Epoch: m.Epoch, Error: m.Error,
			DivergingEpoch: m.DivergingEpoch, DivergingEndOffset: m.DivergingEndOffset,
			HighWatermark: m.HighWatermark, LogStartOffset: m.LogStartOffset,
			AppendedThrough: r.store.LogEndOffset(), Appended: appended,
		})
	default:
		return "", r.node.Step(m)
	}
}

// produce appends values as the leader and tells the node.
func (r *replica) produce(values ...string) (int64, error) {
	st := r.node.Status()
	if st.Role != RoleLeader {
		return 0, fmt.Errorf("%d is not the leader", r.id)
	}
	first := r.store.Append(st.Epoch, values...)
	return first, r.node.Step(LocalLogChanged{})
}

// sync makes the log durable and tells the node.
func (r *replica) sync() error {
	r.store.Sync()
	return r.node.Step(LocalLogChanged{})
}
