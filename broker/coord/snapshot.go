package coord

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Snapshot is an immutable view of the metadata at one revision. Snapshots
// share memory with each other (copy on write), so nothing in one may be
// mutated, including the slices and maps inside its values.
type Snapshot struct {
	Revision   int64
	ClusterID  string
	Controller int32 // broker id of the controller; -1 when none
	Brokers    map[int32]BrokerInfo
	Topics     map[string]Topic
	// Partitions by topic; index = partition number. A slot whose key does
	// not exist (yet) has Revision 0. len == the topic's Partitions once
	// created, since CreateTopic writes them all in one transaction.
	Partitions map[string][]PartitionState

	// elected holds the election keys under controller/ (full key → entry).
	// Controller is the id of the entry with the lowest create revision:
	// that is the one concurrency.Election's Campaign lets win.
	elected map[string]electionEntry
}

type electionEntry struct {
	createRev int64
	id        int32
}

// Partition returns the state of one partition, if its key exists.
func (s *Snapshot) Partition(topic string, p int32) (PartitionState, bool) {
	ps := s.Partitions[topic]
	if p < 0 || int(p) >= len(ps) || ps[p].Revision == 0 {
		return PartitionState{}, false
	}
	return ps[p], true
}

// hasElectionKey reports whether the election key exists in this view.
func (s *Snapshot) hasElectionKey(key string) bool {
	_, ok := s.elected[key]
	return ok
}

func emptySnapshot() *Snapshot {
	return &Snapshot{
		Controller: -1,
		Brokers:    map[int32]BrokerInfo{},
		Topics:     map[string]Topic{},
		Partitions: map[string][]PartitionState{},
		elected:    map[string]electionEntry{},
	}
}

// kvEvent is one put or delete of a key, as etcd's watch reports it. Both
// implementations feed their changes through view as kvEvents, so the two
// decode and apply metadata the same way.
type kvEvent struct {
	key       string
	value     []byte
	createRev int64
	modRev    int64
	deleted   bool
}

// view turns key events under a prefix into Snapshots.
type view struct {
	prefix string
	logger *slog.Logger
}

// load builds a snapshot from a full listing at rev.
func (v view) load(rev int64, kvs []kvEvent) *Snapshot {
	b := builder{base: emptySnapshot()}
	b.cloneAll()
	for _, ev := range kvs {
		v.applyOne(&b, ev)
	}
	b.next.Revision = rev
	b.finish()
	return b.next
}

// apply applies a batch of events to base and returns the snapshot at rev,
// and whether anything but the revision changed. base is not modified.
func (v view) apply(base *Snapshot, rev int64, evs []kvEvent) (*Snapshot, bool) {
	b := builder{base: base}
	next := *base
	b.next = &next
	for _, ev := range evs {
		v.applyOne(&b, ev)
	}
	b.next.Revision = max(rev, base.Revision)
	b.finish()
	return b.next, b.changed
}

func (v view) applyOne(b *builder, ev kvEvent) {
	rel, ok := strings.CutPrefix(ev.key, v.prefix)
	if !ok {
		return
	}
	bad := func(err error) {
		v.logger.Warn("coord: ignoring undecodable metadata key", "key", ev.key, "rev", ev.modRev, "err", err)
	}
	switch {
	case rel == keyClusterID:
		b.changed = true
		if ev.deleted {
			b.next.ClusterID = ""
		} else {
			b.next.ClusterID = string(ev.value)
		}

	case strings.HasPrefix(rel, dirBrokers):
		id, err := strconv.ParseInt(rel[len(dirBrokers):], 10, 32)
		if err != nil {
			bad(err)
			return
		}
		b.cloneBrokers()
		if ev.deleted {
			delete(b.next.Brokers, int32(id))
			return
		}
		var info BrokerInfo
		if err := json.Unmarshal(ev.value, &info); err != nil {
			bad(err)
			return
		}
		info.ID, info.Epoch = int32(id), ev.createRev
		b.next.Brokers[info.ID] = info

	case strings.HasPrefix(rel, dirController):
		b.cloneElected()
		if ev.deleted {
			delete(b.next.elected, ev.key)
			return
		}
		id, err := strconv.ParseInt(string(ev.value), 10, 32)
		if err != nil {
			bad(err)
			id = -1
		}
		b.next.elected[ev.key] = electionEntry{createRev: ev.createRev, id: int32(id)}

	case strings.HasPrefix(rel, dirTopics):
		name := rel[len(dirTopics):]
		b.cloneTopics()
		if ev.deleted {
			delete(b.next.Topics, name)
			return
		}
		var spec TopicSpec
		if err := json.Unmarshal(ev.value, &spec); err != nil {
			bad(err)
			return
		}
		spec.Name = name
		b.next.Topics[name] = Topic{TopicSpec: spec, Revision: ev.modRev}

	case strings.HasPrefix(rel, dirPartitions):
		rest := rel[len(dirPartitions):]
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			bad(strconv.ErrSyntax)
			return
		}
		topic := rest[:i]
		p, err := strconv.ParseInt(rest[i+1:], 10, 32)
		if err != nil || p < 0 {
			bad(strconv.ErrSyntax)
			return
		}
		ps := b.partitions(topic)
		if ev.deleted {
			if int(p) < len(ps) {
				ps[p] = PartitionState{}
			}
			for len(ps) > 0 && ps[len(ps)-1].Revision == 0 {
				ps = ps[:len(ps)-1]
			}
			if len(ps) == 0 {
				delete(b.next.Partitions, topic)
			} else {
				b.next.Partitions[topic] = ps
			}
			return
		}
		var st PartitionState
		if err := json.Unmarshal(ev.value, &st); err != nil {
			bad(err)
			return
		}
		st.Topic, st.Partition, st.Revision = topic, int32(p), ev.modRev
		for len(ps) <= int(p) {
			ps = append(ps, PartitionState{})
		}
		ps[p] = st
		b.next.Partitions[topic] = ps
	}
}

// builder makes the next snapshot from base, cloning each map (and each
// topic's partition slice) the first time it is written, so base and every
// earlier snapshot stay untouched.
type builder struct {
	base, next *Snapshot
	changed    bool

	brokers, topics, parts, elected bool
	partSlices                      map[string]bool
}

func (b *builder) cloneAll() {
	b.next = b.base
	b.brokers, b.topics, b.parts, b.elected = true, true, true, true
	b.partSlices = map[string]bool{}
}

func (b *builder) cloneBrokers() {
	b.changed = true
	if !b.brokers {
		b.next.Brokers, b.brokers = maps.Clone(b.base.Brokers), true
	}
}

func (b *builder) cloneTopics() {
	b.changed = true
	if !b.topics {
		b.next.Topics, b.topics = maps.Clone(b.base.Topics), true
	}
}

func (b *builder) cloneElected() {
	b.changed = true
	if !b.elected {
		b.next.elected, b.elected = maps.Clone(b.base.elected), true
	}
}

// partitions returns topic's slice, safe to write.
func (b *builder) partitions(topic string) []PartitionState {
	b.changed = true
	if !b.parts {
		b.next.Partitions, b.parts = maps.Clone(b.base.Partitions), true
	}
	if b.partSlices == nil {
		b.partSlices = map[string]bool{}
	}
	ps := b.next.Partitions[topic]
	if !b.partSlices[topic] {
		ps, b.partSlices[topic] = slices.Clone(ps), true
	}
	return ps
}

func (b *builder) finish() {
	if !b.elected {
		return
	}
	b.next.Controller = -1
	var low int64
	for _, e := range b.next.elected {
		if low == 0 || e.createRev < low {
			low, b.next.Controller = e.createRev, e.id
		}
	}
}

// encode marshals a value for storage. The types are plain data, so an
// error is a bug.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("coord: encode: " + err.Error())
	}
	return b
}
