package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cache: NewEtcd lists the whole prefix once, then run watches from the
// next revision and applies each watch response as one batch, publishing a
// new immutable Snapshot per batch. clientv3 resumes a broken watch stream
// by itself (etcd restart, reconnect) from the last revision it delivered;
// when the watch fails for good (history compacted past that revision, no
// leader, stream cancelled) run lists again and watches from there.

// Snapshot implements Coordinator.
func (c *Etcd) Snapshot() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

// Changed implements Coordinator.
func (c *Etcd) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// current returns the snapshot and the channel closed when its content
// changes, atomically.
func (c *Etcd) current() (*Snapshot, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap, c.changed
}

// progressInterval is how often WaitRevision asks etcd for a progress
// notification while it waits.
const progressInterval = 200 * time.Millisecond

// WaitRevision implements Coordinator. Writes under the prefix arrive as
// watch events; for a revision with no event of ours (a write elsewhere in
// etcd, a failed transaction) it asks etcd for a progress notification,
// which carries the store revision once the watch has caught up to it.
func (c *Etcd) WaitRevision(ctx context.Context, rev int64) error {
	for {
		c.mu.Lock()
		snap, advanced, closed := c.snap, c.advanced, c.closed
		c.mu.Unlock()
		if snap.Revision >= rev {
			return nil
		}
		if closed {
			return ErrClosed
		}
		// Same metadata as the watch (watchCtx), so the request goes down
		// the watch's stream.
		pctx, cancel := context.WithTimeout(c.watchCtx, progressInterval)
		_ = c.cli.RequestProgress(pctx)
		cancel()
		t := time.NewTimer(progressInterval)
		select {
		case <-advanced:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("coord: wait for revision %d (cache at %d): %w", rev, snap.Revision, ctx.Err())
		}
		t.Stop()
	}
}

// Sync implements Coordinator. The Get is linearizable (etcd's default:
// it goes through the leader's read index), so its header carries a
// revision at least that of every write committed before the call; a count
// of the brokers' keys keeps the answer small.
func (c *Etcd) Sync(ctx context.Context) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	get, err := c.cli.Get(ctx, c.keys.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("coord: sync: %w", err)
	}
	return c.WaitRevision(ctx, get.Header.Revision)
}

// publish installs the next snapshot and wakes waiters.
func (c *Etcd) publish(snap *Snapshot, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap = snap
	close(c.advanced)
	c.advanced = make(chan struct{})
	if changed {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *Etcd) run(rev int64) {
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		err := c.watch(rev)
		if c.ctx.Err() != nil {
			return
		}
		if c.cli.Ctx().Err() != nil {
			c.logger.Warn("coord: etcd client closed; metadata cache stops", "rev", c.Snapshot().Revision)
			return
		}
		c.logger.Info("coord: metadata watch ended; listing again", "err", err)
		for {
			if rev, err = c.relist(); err == nil {
				backoff = 50 * time.Millisecond
				break
			}
			c.logger.Warn("coord: listing metadata failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-c.ctx.Done():
				return
			case <-c.cli.Ctx().Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	}
}

// watch applies watch responses from revision from+1 until the watch
// fails; it returns why.
func (c *Etcd) watch(from int64) error {
	ctx, cancel := context.WithCancel(c.watchCtx)
	defer cancel()
	wch := c.cli.Watch(ctx, c.keys.prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return err
		}
		if resp.IsProgressNotify() {
			c.mu.Lock()
			snap := c.snap
			c.mu.Unlock()
			if resp.Header.Revision > snap.Revision {
				next := *snap
				next.Revision = resp.Header.Revision
				c.publish(&next, false)
			}
			continue
		}
		if len(resp.Events) == 0 {
			continue
		}
		// The batch's revision is that of its last event, not the
		// response header's: while catching up, etcd may split a long
		// history into several responses that all carry the current
		// store revision in their header.
		evs := make([]kvEvent, len(resp.Events))
		var rev int64
		for i, ev := range resp.Events {
			evs[i] = kvEvent{
				key:       string(ev.Kv.Key),
				value:     ev.Kv.Value,
				createRev: ev.Kv.CreateRevision,
				modRev:    ev.Kv.ModRevision,
				deleted:   ev.Type == mvccpb.DELETE,
			}
			rev = max(rev, ev.Kv.ModRevision)
		}
		c.mu.Lock()
		base := c.snap
		c.mu.Unlock()
		next, changed := c.view.apply(base, rev, evs)
		c.publish(next, changed)
	}
	return errors.New("watch channel closed")
}

// relist replaces the cache with a fresh listing and returns its revision.
func (c *Etcd) relist() (int64, error) {
	ctx, cancel := context.WithTimeout(c.ctx, attemptTimeout)
	defer cancel()
	get, err := c.cli.Get(ctx, c.keys.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	c.publish(c.view.load(get.Header.Revision, kvEvents(get.Kvs)), true)
	return get.Header.Revision, nil
}

func kvEvents(kvs []*mvccpb.KeyValue) []kvEvent {
	evs := make([]kvEvent, len(kvs))
	for i, kv := range kvs {
		evs[i] = kvEvent{key: string(kv.Key), value: kv.Value, createRev: kv.CreateRevision, modRev: kv.ModRevision}
	}
	return evs
}
