package coord

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Groups returns the etcd group store.
func (c *Etcd) Groups() GroupStore { return etcdGroups{c} }

type etcdGroups struct{ c *Etcd }

func (g etcdGroups) Claim(ctx context.Context, s Session, group string, broker int32) (GroupClaim, error) {
	if err := checkGroupName(group); err != nil {
		return GroupClaim{}, err
	}
	if err := g.c.checkOpen(); err != nil {
		return GroupClaim{}, err
	}
	k := g.c.keys.groupCoordinator(group)
	val, _ := json.Marshal(coordinatorValue{Broker: broker})
	lease := clientv3.LeaseID(s.LeaseID())
	resp, err := g.c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(val), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return GroupClaim{}, fmt.Errorf("coord: claim group %q: %w", group, err)
	}
	if resp.Succeeded {
		return GroupClaim{Group: group, Broker: broker, Revision: resp.Header.Revision, lease: int64(lease)}, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 1 && kvs[0].Lease == int64(lease) {
		return GroupClaim{Group: group, Broker: broker, Revision: kvs[0].CreateRevision, lease: int64(lease)}, nil
	}
	var holder coordinatorValue
	if len(kvs) == 1 {
		_ = json.Unmarshal(kvs[0].Value, &holder)
	}
	return GroupClaim{}, fmt.Errorf("coord: claim group %q: held by broker %d: %w", group, holder.Broker, ErrConflict)
}

func (g etcdGroups) Load(ctx context.Context, group string) (GroupRecord, error) {
	if err := checkGroupName(group); err != nil {
		return GroupRecord{}, err
	}
	rec := GroupRecord{Group: group, Coordinator: -1}
	resp, err := g.c.cli.Get(ctx, g.c.keys.groupDir(group), clientv3.WithPrefix())
	if err != nil {
		return rec, fmt.Errorf("coord: load group %q: %w", group, err)
	}
	offDir := g.c.keys.groupOffsets(group)
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case k == g.c.keys.groupCoordinator(group):
			var v coordinatorValue
			if json.Unmarshal(kv.Value, &v) == nil {
				rec.Coordinator = v.Broker
			}
		case k == g.c.keys.groupMeta(group):
			rec.Meta, rec.MetaRevision = kv.Value, kv.ModRevision
		case strings.HasPrefix(k, offDir):
			var o CommittedOffset
			if json.Unmarshal(kv.Value, &o) == nil {
				rec.Offsets = append(rec.Offsets, o)
			}
		}
	}
	sortOffsets(rec.Offsets)
	return rec, nil
}

// fence is the claim's condition: the coordinator key is the one created at
// the claim's revision.
func (g etcdGroups) fence(c GroupClaim) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(g.c.keys.groupCoordinator(c.Group)), "=", c.Revision)
}

func (g etcdGroups) SaveMeta(ctx context.Context, c GroupClaim, meta []byte, expect int64) (int64, error) {
	if err := g.c.checkOpen(); err != nil {
		return 0, err
	}
	mk := g.c.keys.groupMeta(c.Group)
	resp, err := g.c.cli.Txn(ctx).
		If(g.fence(c), clientv3.Compare(clientv3.ModRevision(mk), "=", expect)).
		Then(clientv3.OpPut(mk, string(meta))).
		Else(clientv3.OpGet(g.c.keys.groupCoordinator(c.Group), clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("coord: save group %q: %w", c.Group, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	return 0, g.whyFailed(ctx, c)
}

func (g etcdGroups) whyFailed(ctx context.Context, c GroupClaim) error {
	// The coordinator key tells a lost claim from a moved meta.
	get, err := g.c.cli.Get(ctx, g.c.keys.groupCoordinator(c.Group))
	if err == nil && (len(get.Kvs) == 0 || get.Kvs[0].CreateRevision != c.Revision) {
		return fmt.Errorf("coord: group %q: %w", c.Group, ErrNotCoordinator)
	}
	return fmt.Errorf("coord: group %q: %w", c.Group, ErrConflict)
}

func (g etcdGroups) Commit(ctx context.Context, c GroupClaim, metaRev int64, offsets []CommittedOffset) (int64, error) {
	if err := g.c.checkOpen(); err != nil {
		return 0, err
	}
	ops := make([]clientv3.Op, 0, len(offsets))
	for _, o := range offsets {
		if err := checkTopicName(o.Topic); err != nil {
			return 0, err
		}
		v, _ := json.Marshal(o)
		ops = append(ops, clientv3.OpPut(g.c.keys.groupOffset(c.Group, o.Topic, o.Partition), string(v)))
	}
	resp, err := g.c.cli.Txn(ctx).
		If(g.fence(c), clientv3.Compare(clientv3.ModRevision(g.c.keys.groupMeta(c.Group)), "=", metaRev)).
		Then(ops...).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("coord: commit offsets of group %q: %w", c.Group, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	return 0, g.whyFailed(ctx, c)
}

func (g etcdGroups) List(ctx context.Context) ([]string, error) {
	dir := g.c.keys.prefix + dirGroups
	resp, err := g.c.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("coord: list groups: %w", err)
	}
	seen := map[string]bool{}
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), dir)
		name, rest, ok := strings.Cut(rel, "/")
		if ok && rest != "coordinator" {
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

func (g etcdGroups) Delete(ctx context.Context, c GroupClaim) error {
	resp, err := g.c.cli.Txn(ctx).
		If(g.fence(c)).
		Then(clientv3.OpDelete(g.c.keys.groupMeta(c.Group)), clientv3.OpDelete(g.c.keys.groupOffsets(c.Group), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return fmt.Errorf("coord: delete group %q: %w", c.Group, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("coord: delete group %q: %w", c.Group, ErrNotCoordinator)
	}
	return nil
}

func sortOffsets(os []CommittedOffset) {
	sort.Slice(os, func(i, j int) bool {
		if os[i].Topic != os[j].Topic {
			return os[i].Topic < os[j].Topic
		}
		return os[i].Partition < os[j].Partition
	})
}

func (g etcdGroups) Release(ctx context.Context, c GroupClaim) error {
	_, err := g.c.cli.Txn(ctx).If(g.fence(c)).Then(clientv3.OpDelete(g.c.keys.groupCoordinator(c.Group))).Commit()
	if err != nil {
		return fmt.Errorf("coord: release group %q: %w", c.Group, err)
	}
	return nil
}
