package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Groups returns the in-memory group store, with etcd's semantics.
func (c *memCoord) Groups() GroupStore { return memGroups{c} }

type memGroups struct{ c *memCoord }

func (g memGroups) keys() keys { return g.c.m.keys }

func (g memGroups) Claim(ctx context.Context, s Session, group string, broker int32) (GroupClaim, error) {
	if err := checkGroupName(group); err != nil {
		return GroupClaim{}, err
	}
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := g.c.open(); err != nil {
		return GroupClaim{}, err
	}
	k := g.keys().groupCoordinator(group)
	lease := s.LeaseID()
	if kv, ok := m.kvs[k]; ok {
		if kv.lease == lease {
			return GroupClaim{Group: group, Broker: broker, Revision: kv.createRev, lease: lease}, nil
		}
		var holder coordinatorValue
		_ = json.Unmarshal(kv.value, &holder)
		return GroupClaim{}, fmt.Errorf("coord: claim group %q: held by broker %d: %w", group, holder.Broker, ErrConflict)
	}
	if m.leases[lease] == nil {
		return GroupClaim{}, fmt.Errorf("coord: claim group %q: %w", group, ErrSessionLost)
	}
	val, _ := json.Marshal(coordinatorValue{Broker: broker})
	rev := m.txn(func(t *memTxn) { t.put(k, val, lease) })
	return GroupClaim{Group: group, Broker: broker, Revision: rev, lease: lease}, nil
}

func (g memGroups) Load(ctx context.Context, group string) (GroupRecord, error) {
	if err := checkGroupName(group); err != nil {
		return GroupRecord{}, err
	}
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := GroupRecord{Group: group, Coordinator: -1}
	dir, offDir := g.keys().groupDir(group), g.keys().groupOffsets(group)
	for k, kv := range m.kvs {
		switch {
		case !strings.HasPrefix(k, dir):
		case k == g.keys().groupCoordinator(group):
			var v coordinatorValue
			if json.Unmarshal(kv.value, &v) == nil {
				rec.Coordinator = v.Broker
			}
		case k == g.keys().groupMeta(group):
			rec.Meta, rec.MetaRevision = kv.value, kv.modRev
		case strings.HasPrefix(k, offDir):
			var o CommittedOffset
			if json.Unmarshal(kv.value, &o) == nil {
				rec.Offsets = append(rec.Offsets, o)
			}
		}
	}
	sortOffsets(rec.Offsets)
	return rec, nil
}

// check verifies the claim and the meta revision; m.mu held.
func (g memGroups) check(c GroupClaim, metaRev int64) error {
	if err := g.c.open(); err != nil {
		return err
	}
	kv, ok := g.c.m.kvs[g.keys().groupCoordinator(c.Group)]
	if !ok || kv.createRev != c.Revision {
		return fmt.Errorf("coord: group %q: %w", c.Group, ErrNotCoordinator)
	}
	meta, ok := g.c.m.kvs[g.keys().groupMeta(c.Group)]
	cur := int64(0)
	if ok {
		cur = meta.modRev
	}
	if cur != metaRev {
		return fmt.Errorf("coord: group %q: %w", c.Group, ErrConflict)
	}
	return nil
}

func (g memGroups) SaveMeta(ctx context.Context, c GroupClaim, meta []byte, expect int64) (int64, error) {
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := g.check(c, expect); err != nil {
		return 0, err
	}
	return m.txn(func(t *memTxn) { t.put(g.keys().groupMeta(c.Group), append([]byte(nil), meta...), 0) }), nil
}

func (g memGroups) Commit(ctx context.Context, c GroupClaim, metaRev int64, offsets []CommittedOffset) (int64, error) {
	for _, o := range offsets {
		if err := checkTopicName(o.Topic); err != nil {
			return 0, err
		}
	}
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := g.check(c, metaRev); err != nil {
		return 0, err
	}
	return m.txn(func(t *memTxn) {
		for _, o := range offsets {
			v, _ := json.Marshal(o)
			t.put(g.keys().groupOffset(c.Group, o.Topic, o.Partition), v, 0)
		}
	}), nil
}

func (g memGroups) List(ctx context.Context) ([]string, error) {
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := g.keys().prefix + dirGroups
	seen := map[string]bool{}
	for k := range m.kvs {
		rel, ok := strings.CutPrefix(k, dir)
		if !ok {
			continue
		}
		if name, rest, ok := strings.Cut(rel, "/"); ok && rest != "coordinator" {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (g memGroups) Delete(ctx context.Context, c GroupClaim) error {
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := g.c.open(); err != nil {
		return err
	}
	kv, ok := m.kvs[g.keys().groupCoordinator(c.Group)]
	if !ok || kv.createRev != c.Revision {
		return fmt.Errorf("coord: delete group %q: %w", c.Group, ErrNotCoordinator)
	}
	m.txn(func(t *memTxn) {
		t.del(g.keys().groupMeta(c.Group))
		t.delPrefix(g.keys().groupOffsets(c.Group))
	})
	return nil
}

func (g memGroups) Release(ctx context.Context, c GroupClaim) error {
	m := g.c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	k := g.keys().groupCoordinator(c.Group)
	if kv, ok := m.kvs[k]; ok && kv.createRev == c.Revision {
		m.txn(func(t *memTxn) { t.del(k) })
	}
	return nil
}
