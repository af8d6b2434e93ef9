package coord

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Register implements Coordinator: Grant, then put brokers/<id> on the new
// lease if the key does not exist (CreateRevision == 0; a key whose lease
// expired has been deleted by etcd), then renew the lease on a loop of our
// own (keepalive).
func (c *Etcd) Register(ctx context.Context, info BrokerInfo, ttl time.Duration) (Session, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if info.ID < 0 {
		return nil, fmt.Errorf("%w: broker id %d", ErrInvalid, info.ID)
	}
	ttl = leaseTTL(ttl)
	key := c.keys.broker(info.ID)
	info.Epoch = 0
	value := string(encode(info))

	// Taken before the request goes out: etcd starts the lease's clock
	// when it handles the grant, which is later.
	sent := time.Now()
	g, err := c.cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("coord: register broker %d: grant: %w", info.ID, err)
	}
	ttl = time.Duration(g.TTL) * time.Second // etcd may raise it to its minimum
	for attempt := 0; ; attempt++ {
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, value, clientv3.WithLease(g.ID))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			c.revokeLater(g.ID, ttl)
			return nil, fmt.Errorf("coord: register broker %d: %w", info.ID, err)
		}
		if resp.Succeeded {
			return c.startSession(g.ID, ttl, resp.Header.Revision, sent)
		}
		var holder clientv3.LeaseID
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			holder = clientv3.LeaseID(kvs[0].Lease)
		}
		if attempt == 0 && c.takeAbandoned(holder) {
			// A session of ours ended (not renewed in time) and its revoke
			// has not gone through yet: the old registration is ours and
			// dead, so remove it now instead of waiting out its TTL.
			if _, err := c.cli.Revoke(ctx, holder); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				c.revokeLater(g.ID, ttl)
				return nil, fmt.Errorf("coord: register broker %d: revoke old lease: %w", info.ID, err)
			}
			continue
		}
		c.revokeLater(g.ID, ttl)
		return nil, fmt.Errorf("coord: register broker %d (held by lease %x): %w", info.ID, int64(holder), ErrBrokerIDInUse)
	}
}

func (c *Etcd) startSession(id clientv3.LeaseID, ttl time.Duration, epoch int64, sent time.Time) (*etcdSession, error) {
	s := &etcdSession{
		c:        c,
		id:       id,
		ttl:      ttl,
		margin:   SafetyMargin(ttl),
		epoch:    epoch,
		lost:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	s.deadline = sent.Add(ttl - s.margin)
	s.loopCtx, s.stopLoop = context.WithCancel(c.ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.stopLoop()
		return nil, ErrClosed // the lease expires on its own
	}
	c.sessions[s] = struct{}{}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s.keepalive(sent)
	}()
	return s, nil
}

// etcdSession is a registration and the loop that renews its lease.
//
// Why a loop of our own instead of clientv3's KeepAlive channel: the
// deadline must start from the *send* time of a renewal that etcd
// answered (etcd restarts the TTL when it handles the renewal, which is
// after we sent it), and KeepAlive's responses do not say which request
// they answer.
type etcdSession struct {
	c      *Etcd
	id     clientv3.LeaseID
	ttl    time.Duration
	margin time.Duration // SafetyMargin(ttl)
	epoch  int64

	loopCtx  context.Context // cancelled to stop the loop (Close, Halt)
	stopLoop context.CancelFunc
	loopDone chan struct{}

	mu sync.Mutex
	// deadline = send time of the last answered renewal + ttl - margin, on
	// the monotonic clock; zero once ended.
	// Invariant: deadline <= the time etcd expires the lease - margin.
	deadline time.Time
	ended    bool
	lost     chan struct{} // closed when ended
}

func (s *etcdSession) LeaseID() int64        { return int64(s.id) }
func (s *etcdSession) Epoch() int64          { return s.epoch }
func (s *etcdSession) TTL() time.Duration    { return s.ttl }
func (s *etcdSession) Lost() <-chan struct{} { return s.lost }
func (s *etcdSession) Valid() bool           { return time.Now().Before(s.Deadline()) }
func (s *etcdSession) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

func (s *etcdSession) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// renewed moves the deadline after a renewal sent at sent was answered.
// Answers can arrive out of order only across retries; never move back.
func (s *etcdSession) renewed(sent time.Time, ttl time.Duration) {
	d := sent.Add(ttl - s.margin)
	s.mu.Lock()
	if !s.ended && d.After(s.deadline) {
		s.deadline = d
	}
	s.mu.Unlock()
}

// end marks the session lost. The deadline is cleared first, so Valid is
// false by the time Lost is closed.
func (s *etcdSession) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.ended, s.deadline = true, time.Time{}
	close(s.lost)
	return true
}

// keepalive renews the lease every ttl/3 with KeepAliveOnce, retrying
// failures sooner, until the lease is gone or the deadline passes without
// an answered renewal. In the second case the session ends even though
// the lease may live on in etcd for up to margin more (or longer, if etcd
// restarted and extended it): the broker has already fenced itself at
// the deadline, and continuing the old registration after that would blur
// which incarnation (Epoch) is acting. The lease is then revoked in the
// background so brokers/<id> frees up for the next Register.
func (s *etcdSession) keepalive(sent time.Time) {
	defer close(s.loopDone)
	interval := s.ttl / 3
	retry := min(interval/4, 250*time.Millisecond)
	next := sent.Add(interval)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		timer.Reset(time.Until(next))
		select {
		case <-s.loopCtx.Done():
			return
		case <-timer.C:
		}
		deadline := s.Deadline()
		if !time.Now().Before(deadline) {
			s.c.logger.Warn("coord: session not renewed before its deadline; ending it", "lease", fmt.Sprintf("%x", int64(s.id)), "ttl", s.ttl)
			s.lose()
			return
		}
		// An answer after the deadline would be of no use.
		ctx, cancel := context.WithDeadline(s.loopCtx, deadline)
		sent := time.Now()
		resp, err := s.c.cli.KeepAliveOnce(ctx, s.id)
		cancel()
		switch {
		case err == nil:
			s.renewed(sent, time.Duration(resp.TTL)*time.Second)
			next = sent.Add(interval)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			s.c.logger.Warn("coord: session lease expired", "lease", fmt.Sprintf("%x", int64(s.id)))
			s.lose()
			return
		case s.loopCtx.Err() != nil:
			return
		default:
			s.c.logger.Debug("coord: lease renewal failed; retrying", "lease", fmt.Sprintf("%x", int64(s.id)), "err", err)
			next = time.Now().Add(retry)
		}
	}
}

// lose ends the session from its loop and revokes the lease in the
// background.
func (s *etcdSession) lose() {
	if s.end() {
		s.c.forget(s, true)
		s.c.revokeLater(s.id, s.ttl)
	}
}

// Close implements Session.
func (s *etcdSession) Close() error {
	s.stopLoop()
	<-s.loopDone
	deadline := s.Deadline()
	if !s.end() {
		return nil
	}
	s.c.forget(s, false)
	// Past the time the lease can have expired by, a revoke is moot; so
	// do not wait longer than that when etcd does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), max(time.Until(deadline.Add(s.margin)), minRevokeTimeout))
	defer cancel()
	if _, err := s.c.cli.Revoke(ctx, s.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.c.revokeLater(s.id, s.ttl)
		return fmt.Errorf("coord: close session: revoke lease %x: %w", int64(s.id), err)
	}
	return nil
}

// minRevokeTimeout is the least time Close gives its revoke.
const minRevokeTimeout = 500 * time.Millisecond

// forget removes an ended session; abandoned marks its lease as one
// Register may take brokers/<id> over from.
func (c *Etcd) forget(s *etcdSession, abandoned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, s)
	if abandoned {
		c.abandoned[s.id] = struct{}{}
	}
}

func (c *Etcd) takeAbandoned(id clientv3.LeaseID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.abandoned[id]
	delete(c.abandoned, id)
	return ok
}

// revokeLater revokes a lease we no longer want, retrying until etcd
// answers or the coordinator stops. If it never gets through, the lease
// expires after its TTL anyway.
func (c *Etcd) revokeLater(id clientv3.LeaseID, ttl time.Duration) {
	c.background(func() {
		backoff := 100 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(c.ctx, max(ttl, attemptTimeout))
			_, err := c.cli.Revoke(ctx, id)
			cancel()
			if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
				c.mu.Lock()
				delete(c.abandoned, id)
				c.mu.Unlock()
				return
			}
			select {
			case <-c.ctx.Done():
				return
			case <-c.cli.Ctx().Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	})
}

// background runs f on a goroutine that Close and Halt wait for, unless
// the coordinator is already stopping (then f does not run: everything it
// could do is moot, leases expire on their own).
func (c *Etcd) background(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
