package group

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"time"
)

// Bounds and defaults (Config's zero values take these).
const (
	DefaultMaxGroupSize          = 1000
	DefaultMaxSubscribedTopics   = 1000
	DefaultSessionTimeout        = 45 * time.Second // Kafka's session.timeout.ms
	DefaultMinSessionTimeout     = time.Second
	DefaultMaxSessionTimeout     = 30 * time.Minute
	DefaultRebalanceTimeout      = 5 * time.Minute // Kafka's max.poll.interval.ms
	DefaultMaxRebalanceTimeout   = time.Hour
	MaxGroupIDLen                = 249 // as topic names
	MaxMemberIDLen               = 128
	MaxTagFilterBytes            = 4096
	MaxOwnedPartitions           = 1 << 16
	heartbeatIntervalPerSession  = 15 // interval = session timeout / 15: 3s for 45s
	maxMemberIDGenerationRetries = 8
)

// Config configures a Coordinator. Zero values take the defaults above.
type Config struct {
	MaxGroupSize        int // joins beyond it get ErrGroupMaxSize
	MaxSubscribedTopics int // longer subscriptions get ErrInvalidRequest
	DefaultSessionTimeout,
	MinSessionTimeout,
	MaxSessionTimeout time.Duration
	DefaultRebalanceTimeout,
	MaxRebalanceTimeout time.Duration // minimum: MinSessionTimeout
	// HeartbeatInterval, if set, is sent to every member; else each member
	// gets its session timeout / 15.
	HeartbeatInterval time.Duration
	// NewMemberID generates member ids; default: 16 random bytes as hex.
	// Tests inject a deterministic one.
	NewMemberID func() string
	// PartitionCounts looks up a topic's partition count (false: the topic
	// does not exist). It is called under the caller's lock during every
	// Heartbeat and Tick, so it must be cheap and must not call back into
	// the Coordinator (the broker passes its metadata cache). Topics that do
	// not exist are left out of assignments until they appear; a changed
	// count triggers a reassignment on the group's next Heartbeat or Tick.
	// nil: no topic exists. SetPartitionCounts replaces it.
	PartitionCounts func(topic string) (int32, bool)
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxGroupSize, DefaultMaxGroupSize)
	def(&c.MaxSubscribedTopics, DefaultMaxSubscribedTopics)
	defD(&c.DefaultSessionTimeout, DefaultSessionTimeout)
	defD(&c.MinSessionTimeout, DefaultMinSessionTimeout)
	defD(&c.MaxSessionTimeout, DefaultMaxSessionTimeout)
	defD(&c.DefaultRebalanceTimeout, DefaultRebalanceTimeout)
	defD(&c.MaxRebalanceTimeout, DefaultMaxRebalanceTimeout)
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
	return c
}

func randomMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Coordinator is the group coordinator's state machine for all the groups
// this broker coordinates. It is not safe for concurrent use: the broker
// calls it under its own mutex (see doc.go for the driver's order).
type Coordinator struct {
	cfg    Config
	groups map[string]*group
}

// New returns an empty Coordinator.
func New(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), groups: map[string]*group{}}
}

// SetPartitionCounts replaces Config.PartitionCounts.
func (c *Coordinator) SetPartitionCounts(lookup func(topic string) (int32, bool)) {
	c.cfg.PartitionCounts = lookup
}

// Heartbeat handles one ConsumerGroupHeartbeat: join (epoch 0), leave
// (epoch -1) or a member's periodic heartbeat. The broker persists
// Changes.Groups before it sends the response.
func (c *Coordinator) Heartbeat(req HeartbeatRequest, now time.Time) (HeartbeatResponse, Changes) {
	var rec recorder
	resp := c.heartbeat(req, now, &rec)
	return resp, rec.changes()
}

func (c *Coordinator) heartbeat(req HeartbeatRequest, now time.Time, rec *recorder) HeartbeatResponse {
	fail := func(e ErrorKind) HeartbeatResponse {
		return HeartbeatResponse{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, Error: e}
	}
	if e := c.validate(req); e != ErrNone {
		return fail(e)
	}
	if req.MemberEpoch == JoinEpoch {
		return c.join(req, now, rec)
	}
	g := c.groups[req.Group]
	if g == nil || g.members[req.MemberID] == nil {
		return fail(ErrUnknownMember)
	}
	m := g.members[req.MemberID]
	if req.MemberEpoch == LeaveEpoch {
		g.remove(m, EventLeft, rec)
		g.update(c.cfg.PartitionCounts, rec)
		return HeartbeatResponse{MemberID: m.id, MemberEpoch: LeaveEpoch}
	}
	if req.MemberEpoch != m.epoch {
		// The response that moved the member to its epoch may have been
		// lost; it may go on with the previous one if it owns nothing the
		// coordinator did not give it (KIP-848).
		if req.MemberEpoch != m.previousEpoch || req.Owned == nil || !subset(req.Owned, m.assigned) {
			return fail(ErrFencedMemberEpoch)
		}
	}
	c.applyUpdates(g, m, req, rec)
	m.sessionDeadline = now.Add(m.sessionTimeout)
	g.update(c.cfg.PartitionCounts, rec)
	g.reconcile(m, req.Owned, now, rec)
	return c.response(m)
}

func (c *Coordinator) join(req HeartbeatRequest, now time.Time, rec *recorder) HeartbeatResponse {
	fail := func(e ErrorKind) HeartbeatResponse {
		return HeartbeatResponse{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, Error: e}
	}
	g := c.groups[req.Group]
	if g != nil && req.MemberID != "" {
		if old := g.members[req.MemberID]; old != nil {
			// A rejoin: the old incarnation has dropped its partitions (a
			// client sends epoch 0 only after that) and is fenced.
			g.remove(old, EventFenced, rec)
		}
	}
	if g != nil && len(g.members) >= c.cfg.MaxGroupSize {
		return fail(ErrGroupMaxSize)
	}
	id := req.MemberID
	for i := 0; id == "" || (g != nil && g.members[id] != nil); i++ {
		if i == maxMemberIDGenerationRetries {
			return fail(ErrInvalidRequest) // a broken NewMemberID
		}
		id = MemberID(c.cfg.NewMemberID())
	}
	if g == nil {
		g = newGroup(req.Group)
		c.groups[req.Group] = g
	}
	a, _ := ParseAssignor(req.Assignor)
	m := &member{
		id:               id,
		state:            MemberStable,
		assignor:         a,
		sessionTimeout:   cmp.Or(req.SessionTimeout, c.cfg.DefaultSessionTimeout),
		rebalanceTimeout: cmp.Or(req.RebalanceTimeout, c.cfg.DefaultRebalanceTimeout),
	}
	if req.TagFilter != nil {
		m.tagFilter = *req.TagFilter
	}
	m.sessionDeadline = now.Add(m.sessionTimeout)
	g.members[id] = m
	g.setTopics(m, normalizeTopics(req.Topics))
	g.bump()
	g.update(c.cfg.PartitionCounts, rec)
	joined := *m
	joined.epoch = g.assignmentEpoch // the epoch reconcile gives it: a new member has nothing to revoke
	rec.emit(g, EventJoined, &joined, TopicPartition{})
	g.reconcile(m, nil, now, rec)
	return c.response(m)
}

// applyUpdates applies the optional fields of a member's heartbeat.
func (c *Coordinator) applyUpdates(g *group, m *member, req HeartbeatRequest, rec *recorder) {
	if req.Topics != nil {
		if t := normalizeTopics(req.Topics); !slices.Equal(t, m.topics) {
			g.setTopics(m, t)
			g.bump()
			rec.touch(g)
		}
	}
	if req.TagFilter != nil && *req.TagFilter != m.tagFilter {
		m.tagFilter = *req.TagFilter
		rec.touch(g)
	}
	if a, _ := ParseAssignor(req.Assignor); a != "" && a != m.assignor {
		m.assignor = a // update bumps the epoch if the group's choice changes
		rec.touch(g)
	}
	if req.SessionTimeout != 0 && req.SessionTimeout != m.sessionTimeout {
		m.sessionTimeout = req.SessionTimeout
		rec.touch(g)
	}
	if req.RebalanceTimeout != 0 && req.RebalanceTimeout != m.rebalanceTimeout {
		m.rebalanceTimeout = req.RebalanceTimeout
		rec.touch(g)
	}
}

func (c *Coordinator) response(m *member) HeartbeatResponse {
	interval := c.cfg.HeartbeatInterval
	if interval <= 0 {
		interval = m.sessionTimeout / heartbeatIntervalPerSession
	}
	return HeartbeatResponse{
		MemberID:          m.id,
		MemberEpoch:       m.epoch,
		HeartbeatInterval: interval,
		Assignment:        append([]TopicPartition{}, m.assigned...),
	}
}

// Tick removes the members whose session expired (EventExpired) and fences
// the members that did not finish a revocation within their rebalance
// timeout (EventFenced), frees their partitions, and brings every group's
// target assignment up to date (partition counts included). The broker
// calls it periodically (every second is plenty) with the current time.
func (c *Coordinator) Tick(now time.Time) Changes {
	var rec recorder
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		for _, m := range g.sortedMembers() {
			switch {
			case !now.Before(m.sessionDeadline):
				g.remove(m, EventExpired, &rec)
			case m.state == MemberUnrevoked && !now.Before(m.revocationDeadline):
				g.remove(m, EventFenced, &rec)
			}
		}
		g.update(c.cfg.PartitionCounts, &rec)
	}
	return rec.changes()
}

// ValidateCommit decides whether an offset commit may be applied:
//
//   - member "" with epoch -1 is a simple commit (ResetOffsets, consumers
//     that assign partitions themselves): allowed only when the group has
//     no members (ErrUnknownMember otherwise);
//   - else the member must exist (ErrUnknownMember) and memberEpoch must be
//     its current epoch: older is ErrStaleMemberEpoch, newer
//     ErrFencedMemberEpoch.
//
// A member that is revoking partitions keeps its epoch until it
// acknowledges the revocation (reconcile rule 1), so it commits the
// partitions it is giving up with its current epoch, before it reports
// them gone. Once it has, its epoch moves on and a late commit with the
// old epoch is refused: the partition may already belong to another
// member. For the same reason no "previous epoch" is accepted here, unlike
// in Heartbeat; a member whose response was lost gets ErrStaleMemberEpoch,
// heartbeats, and retries.
func (c *Coordinator) ValidateCommit(group string, id MemberID, memberEpoch int32) ErrorKind {
	g := c.groups[group]
	if id == "" && memberEpoch == LeaveEpoch {
		if g == nil || len(g.members) == 0 {
			return ErrNone
		}
		return ErrUnknownMember
	}
	if g == nil || g.members[id] == nil {
		return ErrUnknownMember
	}
	switch m := g.members[id]; {
	case memberEpoch < m.epoch:
		return ErrStaleMemberEpoch
	case memberEpoch > m.epoch:
		return ErrFencedMemberEpoch
	}
	return ErrNone
}

// Describe returns a snapshot of the group.
func (c *Coordinator) Describe(group string) (GroupState, bool) {
	g := c.groups[group]
	if g == nil {
		return GroupState{}, false
	}
	return g.snapshot(), true
}

// List returns every group, sorted by id.
func (c *Coordinator) List() []GroupSummary {
	out := make([]GroupSummary, 0, len(c.groups))
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		out = append(out, GroupSummary{Group: id, State: g.status(), Members: len(g.members)})
	}
	return out
}

// Delete forgets an empty group (the broker deletes its metadata and
// offsets). ErrGroupNotEmpty while it has members, ErrUnknownGroup if it is
// not held here.
func (c *Coordinator) Delete(group string) ErrorKind {
	g := c.groups[group]
	switch {
	case g == nil:
		return ErrUnknownGroup
	case len(g.members) > 0:
		return ErrGroupNotEmpty
	}
	delete(c.groups, group)
	return ErrNone
}

// Restore loads a group persisted by a previous coordinator (after a
// failover), replacing any group of that id. Every member gets a fresh
// session deadline, now + its session timeout, so a member that died with
// the old coordinator is still removed after its timeout; a member
// revoking gets a fresh rebalance timeout. A snapshot that breaks an
// invariant (a partition with two owners, epochs out of order) is refused
// with ErrInvalidRequest and nothing changes. If the snapshot was taken
// with the group epoch ahead of the assignment, the next Heartbeat or Tick
// recomputes it.
func (c *Coordinator) Restore(s GroupState, now time.Time) ErrorKind {
	if !validGroupID(s.Group) {
		return ErrInvalidRequest
	}
	g := newGroup(s.Group)
	g.groupEpoch, g.assignmentEpoch = s.GroupEpoch, s.AssignmentEpoch
	if a, ok := ParseAssignor(string(s.Assignor)); ok {
		g.assignor = a
	}
	g.counts = maps.Clone(s.PartitionCounts)
	if g.counts == nil {
		g.counts = map[string]int32{}
	}
	for _, ms := range s.Members {
		if ms.ID == "" || g.members[ms.ID] != nil {
			return ErrInvalidRequest
		}
		m := &member{
			id:               ms.ID,
			epoch:            ms.Epoch,
			previousEpoch:    ms.PreviousEpoch,
			state:            ms.State,
			tagFilter:        ms.TagFilter,
			sessionTimeout:   cmp.Or(ms.SessionTimeout, c.cfg.DefaultSessionTimeout),
			rebalanceTimeout: cmp.Or(ms.RebalanceTimeout, c.cfg.DefaultRebalanceTimeout),
			assigned:         sortedClone(ms.Assigned),
			revoking:         sortedClone(ms.Revoking),
		}
		if a, ok := ParseAssignor(string(ms.Assignor)); ok {
			m.assignor = a
		}
		m.sessionDeadline = now.Add(m.sessionTimeout)
		m.revocationDeadline = now.Add(m.rebalanceTimeout)
		g.members[m.id] = m
		g.setTopics(m, normalizeTopics(ms.Topics))
		g.target[m.id] = sortedClone(ms.Target)
		for _, tp := range concatTPs(m.assigned, m.revoking) {
			if g.owner[tp] != "" {
				return ErrInvalidRequest
			}
			g.owner[tp] = m.id
		}
	}
	if g.checkInvariants() != nil {
		return ErrInvalidRequest
	}
	c.groups[s.Group] = g
	return ErrNone
}

func sortedClone(tps []TopicPartition) []TopicPartition {
	out := slices.Clone(tps)
	sortTPs(out)
	return out
}

// normalizeTopics returns the subscription sorted and without duplicates,
// never nil.
func normalizeTopics(topics []string) []string {
	out := append([]string{}, topics...)
	slices.Sort(out)
	return slices.Compact(out)
}

// validate checks the shape of a request against the bounds.
func (c *Coordinator) validate(req HeartbeatRequest) ErrorKind {
	switch {
	case !validGroupID(req.Group),
		req.MemberEpoch < LeaveEpoch,
		req.MemberEpoch != JoinEpoch && req.MemberID == "",
		len(req.MemberID) > MaxMemberIDLen,
		req.MemberEpoch == JoinEpoch && req.Topics == nil,
		len(req.Topics) > c.cfg.MaxSubscribedTopics,
		req.TagFilter != nil && len(*req.TagFilter) > MaxTagFilterBytes,
		len(req.Owned) > MaxOwnedPartitions,
		req.SessionTimeout != 0 && (req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout),
		req.RebalanceTimeout != 0 && (req.RebalanceTimeout < c.cfg.MinSessionTimeout || req.RebalanceTimeout > c.cfg.MaxRebalanceTimeout):
		return ErrInvalidRequest
	}
	if _, ok := ParseAssignor(req.Assignor); req.Assignor != "" && !ok {
		return ErrInvalidRequest
	}
	for i := 0; i < len(req.MemberID); i++ {
		if b := req.MemberID[i]; b <= ' ' || b > '~' {
			return ErrInvalidRequest
		}
	}
	for _, t := range req.Topics {
		if !validGroupID(t) {
			return ErrInvalidRequest
		}
	}
	for _, tp := range req.Owned {
		if !validGroupID(tp.Topic) || tp.Partition < 0 {
			return ErrInvalidRequest
		}
	}
	return ErrNone
}

// validGroupID applies the topic name rules (the broker's validTopicName):
// 1..249 bytes of ASCII letters, digits, '.', '_' and '-', not "." or "..".
// Topic names in subscriptions are checked with it too.
func validGroupID(id string) bool {
	if id == "" || len(id) > MaxGroupIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}
