package brokerbench

// The cluster benchmark (`sluice bench cluster`): what replication costs
// and what a follower stall and a leader crash do, measured on three
// in-process brokers. See RunCluster.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/broker/coord"
	"github.com/sluice-mq/sluice/engine/vfs"
	"github.com/sluice-mq/sluice/internal/benchutil"
)

// ClusterConfig shapes a RunCluster. Zero fields take the defaults of
// DefaultClusterConfig or, with Quick, QuickClusterConfig.
type ClusterConfig struct {
	// Dir is where the temporary directory goes (the system temp dir when
	// empty). Everything RunCluster creates is deleted.
	Dir string
	// Quick shortens the run (well under a minute on 2 cores).
	Quick bool
	// Rounds is how often every produce configuration runs, interleaved
	// with its acks=1 baseline (at least 3 for a median of pairs).
	Rounds int
	// Messages is the number of messages of each produce run.
	Messages int
	// Failovers is the number of crashes; each measures every replication
	// mode.
	Failovers int
	// Quiet is the machine-load gate; the zero value means the default
	// (or the quick variant) unless Quiet.Disabled is set.
	Quiet benchutil.QuietOptions
	// Progress receives one line per run (nil: none).
	Progress io.Writer

	MsgSize    int           // value bytes (1 KiB)
	Producers  int           // client.Producers, each on its own connection (4)
	Window     int           // messages unacknowledged in all, shared by the producers (32)
	Partitions int32         // partitions per topic (2; see RunCluster)
	Stall      time.Duration // how long the slowed follower's disk stalls (1 s)
	SessionTTL time.Duration // the brokers' etcd lease (2 s); bounds failover
	// ReplicaLagMax is the brokers' replica.lag.time.max (the broker
	// default, 10 s): how long a silent follower stays in the ISR.
	ReplicaLagMax time.Duration
	Timeout       time.Duration // bound of the whole run
}

// DefaultClusterConfig is `sluice bench cluster` with no flags.
var DefaultClusterConfig = ClusterConfig{
	Rounds: 3, Messages: 10000, Failovers: 3,
	MsgSize: 1024, Producers: 4, Window: 32, Partitions: 2,
	Stall: time.Second, SessionTTL: 2 * time.Second, ReplicaLagMax: broker.DefaultReplicaLagMax, Timeout: 15 * time.Minute,
	Quiet: benchutil.DefaultQuiet,
}

// QuickClusterConfig is --quick.
var QuickClusterConfig = ClusterConfig{
	Rounds: 3, Messages: 1500, Failovers: 1,
	MsgSize: 1024, Producers: 4, Window: 32, Partitions: 2,
	Stall: 500 * time.Millisecond, SessionTTL: 2 * time.Second, ReplicaLagMax: broker.DefaultReplicaLagMax, Timeout: 5 * time.Minute,
	Quiet: benchutil.QuietOptions{Busy: 0.10, Window: 250 * time.Millisecond, Timeout: 250 * time.Millisecond, Contaminated: 0.20},
}

// TinyClusterConfig runs every configuration once with a few hundred
// messages, a short stall and no quiet gate: for tests that check the
// shape of the report, never a timing.
func TinyClusterConfig(dir string) ClusterConfig {
	return ClusterConfig{
		Dir: dir, Quick: true, Rounds: 1, Messages: 300, Failovers: 1,
		Stall: 200 * time.Millisecond, SessionTTL: time.Second, ReplicaLagMax: time.Second, Timeout: 2 * time.Minute,
		Quiet: benchutil.QuietOptions{Disabled: true},
	}
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	d := DefaultClusterConfig
	if c.Quick {
		d = QuickClusterConfig
	}
	for _, f := range []struct{ v, def *int }{
		{&c.Rounds, &d.Rounds}, {&c.Messages, &d.Messages}, {&c.Failovers, &d.Failovers},
		{&c.MsgSize, &d.MsgSize}, {&c.Producers, &d.Producers}, {&c.Window, &d.Window},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&c.Stall, &d.Stall}, {&c.SessionTTL, &d.SessionTTL}, {&c.ReplicaLagMax, &d.ReplicaLagMax}, {&c.Timeout, &d.Timeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.Partitions <= 0 {
		c.Partitions = d.Partitions
	}
	if c.Quiet == (benchutil.QuietOptions{}) {
		c.Quiet = d.Quiet
	}
	return c
}

// clusterBrokers is the cluster's size; every topic has replication factor
// clusterBrokers and min.insync.replicas clusterMinISR.
const (
	clusterBrokers = 3
	clusterMinISR  = 2
)

// ClusterRun is one produce run.
type ClusterRun struct {
	Msgs    int64         `json:"msgs"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Latency percentiles of every acknowledged message: from SendAsync to
	// its callback.
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	// StalledBroker is the follower whose disk stalled (0: none).
	StalledBroker int32          `json:"stalled_broker,omitempty"`
	Load          benchutil.Load `json:"load"`
}

// MsgsPerSec is acknowledged messages per second.
func (r ClusterRun) MsgsPerSec() float64 { return perSecond(float64(r.Msgs), r.Elapsed) }

// ClusterRow is one produce configuration: its median figures over the
// kept rounds and its ratios against the acks=1 run of the same replication
// mode and sync.policy in the same round.
type ClusterRow struct {
	Name       string `json:"name"`
	Mode       string `json:"replication_mode"`
	SyncPolicy string `json:"sync_policy"`
	Acks       string `json:"acks"`
	// Stalled: one follower's disk stalled for ClusterReport.Stall during
	// each run.
	Stalled bool `json:"stalled,omitempty"`
	// Baseline: this is the acks=1 row the others of its mode and policy
	// are divided by.
	Baseline   bool          `json:"baseline,omitempty"`
	MsgsPerSec float64       `json:"msgs_per_sec"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	// Ratio is the median over kept rounds of msgs/s divided by the
	// baseline's msgs/s; P99Ratio the same for p99 latency.
	Ratio       float64 `json:"ratio"`
	RatioMin    float64 `json:"ratio_min"`
	RatioMax    float64 `json:"ratio_max"`
	P99Ratio    float64 `json:"p99_ratio"`
	P99RatioMin float64 `json:"p99_ratio_min"`
	P99RatioMax float64 `json:"p99_ratio_max"`
	Kept        int     `json:"kept"`
	Discarded   int     `json:"discarded"`
	// Noisy: no round was clean, so the figures are over all rounds.
	Noisy  bool         `json:"noisy,omitempty"`
	Detail string       `json:"detail,omitempty"`
	Runs   []ClusterRun `json:"runs"`
}

// FailoverSample is one leader crash; every duration but FollowedResumed
// is from the call to broker.Crash, and zero when it was not seen within
// the run's bound.
type FailoverSample struct {
	CrashedBroker int32 `json:"crashed_broker"`
	// CrashCall is how long broker.Crash took to return.
	CrashCall time.Duration `json:"crash_call_ns"`
	// Failover: until the first acks=all write to the crashed leader's
	// partition acknowledged by a new leader (a higher leader epoch), as a
	// probe sending one message at a time sees it.
	Failover time.Duration `json:"failover_ns"`
	// Resumed: the same for the loaded producers, whose retries back off
	// (20 ms doubling, at most 2 s).
	Resumed time.Duration `json:"resumed_ns"`
	// FollowedResumed: from Crash's return (when the broker's fetchers
	// have stopped) to the first acks=all write acknowledged on a
	// partition the crashed broker followed (its leader survived).
	FollowedResumed time.Duration `json:"followed_resumed_ns"`
	// LoadErrors counts load messages that failed for good.
	LoadErrors int64 `json:"load_errors"`
}

// DurationStats is the median and range of a figure over the samples that
// saw it (N of them).
type DurationStats struct {
	Median time.Duration `json:"median_ns"`
	Min    time.Duration `json:"min_ns"`
	Max    time.Duration `json:"max_ns"`
	N      int           `json:"n"`
}

// FailoverRow summarises the crashes of one replication mode.
type FailoverRow struct {
	Mode            string           `json:"replication_mode"`
	Failover        DurationStats    `json:"failover"`
	Resumed         DurationStats    `json:"resumed"`
	FollowedResumed DurationStats    `json:"followed_resumed"`
	Samples         []FailoverSample `json:"samples"`
}

// ClusterReport is the outcome of RunCluster.
type ClusterReport struct {
	Rows      []ClusterRow  `json:"rows"`
	Failovers []FailoverRow `json:"failovers"`
	// Setup describes the configurations, one line each.
	Setup      []string      `json:"setup"`
	Rounds     int           `json:"rounds"`
	Messages   int           `json:"messages"`
	Stall      time.Duration `json:"stall_ns"`
	SessionTTL time.Duration `json:"session_ttl_ns"`
	// ReplicaLagMax is the brokers' replica.lag.time.max.
	ReplicaLagMax time.Duration `json:"replica_lag_max_ns"`
	Dir           string        `json:"dir"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	// RunsStartedBusy counts runs started before the machine was quiet;
	// MaxOthers is the largest share of the machine other processes used
	// during a run, MaxSelf the largest share this process used.
	RunsStartedBusy int     `json:"runs_started_busy"`
	RunsTotal       int     `json:"runs_total"`
	MaxOthers       float64 `json:"max_others"`
	MaxSelf         float64 `json:"max_self"`
}

// ClusterModes and ClusterSyncPolicies are the topic configurations
// compared, in the order they run.
var (
	ClusterModes        = []string{"isr", "quorum"}
	ClusterSyncPolicies = []string{"never", "always"}
)

// RunCluster starts an embedded etcd and three brokers on loopback (free
// ports, data in a temporary directory) and measures, through client
// Producers sending 1 KiB messages with a bounded number unacknowledged:
//
//  1. for each replication.mode (isr, quorum) and sync.policy (never,
//     always), on topics with replication factor 3 and
//     min.insync.replicas 2: acks=1 (the baseline), acks=all, and acks=all
//     while one follower's disk stalls for Stall, interleaved in that
//     order every round; msgs/s and latency, and the ratios to the
//     baseline of the same round;
//  2. failover: an isr and a quorum topic under acks=all load; a broker
//     that leads one partition of each and follows the other crashes
//     (broker.Crash: its etcd session freezes, its logs are abandoned);
//     the time until a new leader acknowledges an acks=all write, and
//     until acks=all works again on the partition it followed.
//
// The stalled follower is a broker that leads none of the topic's
// partitions (with 2 partitions on 3 brokers there is always one), so only
// replication is slowed, never a leader. Its disk stalls: from when a third
// of the run's messages are acknowledged, every write, sync and directory
// change it makes waits until Stall has passed, as when a device hangs or
// the process is paused; its etcd session stays alive. In isr mode acks=all
// waits for every in-sync replica, in quorum mode for a majority.
func RunCluster(cfg ClusterConfig) (rep *ClusterReport, err error) {
	cfg = cfg.withDefaults()
	if cfg.Partitions >= clusterBrokers {
		return nil, fmt.Errorf("brokerbench: %d partitions: the stalled-follower runs need a broker that leads none, so at most %d", cfg.Partitions, clusterBrokers-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	start := time.Now()
	c, err := startCluster(ctx, cfg.Dir, clusterBrokers, cfg.SessionTTL, cfg.ReplicaLagMax)
	if err != nil {
		return nil, fmt.Errorf("brokerbench: %w", err)
	}
	defer func() {
		if cerr := c.close(); cerr != nil && err == nil {
			err = fmt.Errorf("brokerbench: clean up: %w", cerr)
		}
	}()
	s := &clusterSuite{cfg: cfg, c: c, ctx: ctx, report: &ClusterReport{
		Rounds: cfg.Rounds, Messages: cfg.Messages, Stall: cfg.Stall, SessionTTL: cfg.SessionTTL, ReplicaLagMax: cfg.ReplicaLagMax, Dir: c.dir,
	}}
	s.progressf("etcd and %d brokers up in %v (data under %s)", clusterBrokers, time.Since(start).Round(time.Millisecond), c.dir)
	if err := s.produce(); err != nil {
		return s.report, fmt.Errorf("brokerbench: %w", err)
	}
	if err := s.failovers(); err != nil {
		return s.report, fmt.Errorf("brokerbench: failover: %w", err)
	}
	s.report.Elapsed = time.Since(start)
	return s.report, nil
}

type clusterSuite struct {
	cfg    ClusterConfig
	c      *cluster
	ctx    context.Context
	report *ClusterReport
	seq    int
}

func (s *clusterSuite) progressf(format string, args ...any) {
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, format+"\n", args...)
	}
}

// variant is one produce configuration of a (mode, policy) topic family.
type variant struct {
	acks    client.Acks
	stalled bool
}

var clusterVariants = []variant{{client.AcksLeader, false}, {client.AcksAll, false}, {client.AcksAll, true}}

func (v variant) String() string {
	s := "acks=1"
	if v.acks == client.AcksAll {
		s = "acks=all"
	}
	if v.stalled {
		s += ", follower stalled"
	}
	return s
}

func (s *clusterSuite) produce() error {
	c := s.cfg
	s.report.Setup = append(s.report.Setup,
		fmt.Sprintf("produce: 3 brokers, topics with replication factor 3, min.insync.replicas %d, %d partitions; %d messages of %d B per run from %d client.Producers (ProfileThroughput, Linger 0, each on its own connection) sending round-robin over the partitions, %d unacknowledged in all (%d each); latency from SendAsync to its callback (closed loop)",
			clusterMinISR, c.Partitions, c.Messages, c.MsgSize, c.Producers, c.Window, max(c.Window/c.Producers, 1)),
		"each configuration has its own topic; rounds run acks=1, acks=all, acks=all with a stalled follower for every mode and policy in turn; before every run all replicas of its topic have caught up",
		fmt.Sprintf("follower stalled: a broker that leads none of the topic's partitions has its disk stall for %v once a third of the messages are acknowledged: every write, fsync and directory change on it waits until then (a hung device or a paused process); its etcd session stays alive (replica.lag.time.max %v)", c.Stall, c.ReplicaLagMax),
		fmt.Sprintf("brokers: session TTL %v, replica.lag.time.max %v, the broker defaults for the other replication timings and the produce timeout; leader rebalancing off, so leaders do not move during runs; embedded etcd with 10 ms ticks", c.SessionTTL, c.ReplicaLagMax))
	type family struct {
		mode, policy string
		topics       [3]string
		runs         [3][]ClusterRun
	}
	var fams []*family
	for _, mode := range ClusterModes {
		for _, policy := range ClusterSyncPolicies {
			f := &family{mode: mode, policy: policy}
			for i, v := range clusterVariants {
				name := fmt.Sprintf("%s-%s-%s", mode, policy, map[client.Acks]string{client.AcksLeader: "acks1", client.AcksAll: "acksall"}[v.acks])
				if v.stalled {
					name += "-stalled"
				}
				topic, err := s.c.createTopic(s.ctx, name, c.Partitions, map[string]string{
					broker.CfgReplicationMode: mode, broker.CfgSyncPolicy: policy,
					broker.CfgMinInsyncReplicas: fmt.Sprint(clusterMinISR),
				})
				if err != nil {
					return err
				}
				f.topics[i] = topic
			}
			fams = append(fams, f)
		}
	}
	for round := range c.Rounds {
		s.progressf("round %d of %d", round+1, c.Rounds)
		for _, f := range fams {
			for i, v := range clusterVariants {
				label := fmt.Sprintf("%s sync=%s %s #%d", f.mode, f.policy, v, round+1)
				r, err := s.measure(label, f.topics[i], v)
				if err != nil {
					return err
				}
				f.runs[i] = append(f.runs[i], r)
			}
		}
	}
	for _, f := range fams {
		base := f.runs[0]
		for i, v := range clusterVariants {
			s.report.Rows = append(s.report.Rows, s.row(f.mode, f.policy, v, i == 0, base, f.runs[i]))
		}
	}
	return nil
}

// measure waits until topic's replicas have caught up and the machine is
// quiet, then produces Messages messages to it.
func (s *clusterSuite) measure(label, topic string, v variant) (ClusterRun, error) {
	if err := s.c.settle(s.ctx, topic); err != nil {
		return ClusterRun{}, fmt.Errorf("%s: %w", label, err)
	}
	var stalled *clusterBroker
	if v.stalled {
		var err error
		if stalled, err = s.c.idleFollower(s.ctx, topic); err != nil {
			return ClusterRun{}, fmt.Errorf("%s: %w", label, err)
		}
	}
	var r ClusterRun
	load, quiet, err := benchutil.Measure(s.cfg.Quiet, func() error {
		var err error
		r, err = s.produceRun(topic, v.acks, stalled)
		return err
	})
	r.Load = load
	s.report.RunsTotal++
	if !quiet {
		s.report.RunsStartedBusy++
	}
	s.report.MaxOthers = max(s.report.MaxOthers, load.Others)
	s.report.MaxSelf = max(s.report.MaxSelf, load.Self)
	if err != nil {
		return r, fmt.Errorf("%s: %w", label, err)
	}
	mark := ""
	if s.contaminated(r) {
		mark = "  DISCARD"
	}
	s.progressf("  %-44s %8.0f msg/s  p50 %-9v p99 %-9v p999 %-9v max %-9v [%s]%s", label, r.MsgsPerSec(),
		roundDur(r.P50), roundDur(r.P99), roundDur(r.P999), roundDur(r.Max), load, mark)
	return r, nil
}

func (s *clusterSuite) contaminated(r ClusterRun) bool {
	return r.Load.Known && r.Load.Others > s.cfg.Quiet.Contaminated
}

// produceRun sends Messages messages to topic and waits for every
// acknowledgement. With stalled, that broker's disk stalls for Stall once a
// third of the messages are acknowledged; the run returns only after the
// stall ended.
func (s *clusterSuite) produceRun(topic string, acks client.Acks, stalled *clusterBroker) (r ClusterRun, err error) {
	c := s.cfg
	ctx := s.ctx
	lp, err := s.c.newLoad(ctx, topic, c.Producers, client.ProducerOptions{Acks: acks, Profile: client.ProfileThroughput, Linger: -1})
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, lp.close()) }()
	if err := lp.warmUp(ctx, c.Partitions, c.MsgSize); err != nil {
		return r, err
	}
	var stallOnce sync.Once
	stallDone := make(chan struct{})
	if stalled == nil {
		close(stallDone)
	}
	trigger := int64(c.Messages / 3)
	lp.onAck = func(n int64, _ client.Result, _ time.Time) {
		if stalled != nil && n >= trigger {
			stallOnce.Do(func() {
				stalled.fs.gate.shut()
				time.AfterFunc(c.Stall, func() {
					stalled.fs.gate.open()
					close(stallDone)
				})
			})
		}
	}
	// A stall must never outlive its run, whatever happens.
	defer func() {
		if stalled != nil {
			stallOnce.Do(func() { close(stallDone) })
			<-stallDone
		}
	}()
	runtime.GC()
	elapsed, err := lp.run(ctx, int64(c.Messages), c.Partitions, c.MsgSize, c.Window)
	if err != nil {
		return r, err
	}
	r.Elapsed = elapsed
	r.Msgs = lp.acked.Load()
	lat := lp.latencies()
	r.P50, r.P99, r.P999, r.Max = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 0.999), percentile(lat, 1)
	if stalled != nil {
		r.StalledBroker = stalled.cfg.ID
	}
	if n := lp.errors.Load(); n > 0 {
		return r, fmt.Errorf("%d messages failed, the first: %w", n, lp.firstErr.err)
	}
	return r, nil
}

// row builds the report row of variant v from its runs and the baseline's
// runs of the same rounds.
func (s *clusterSuite) row(mode, policy string, v variant, isBase bool, base, runs []ClusterRun) ClusterRow {
	type pr struct{ base, cand ClusterRun }
	pairs := make([]pr, len(runs))
	for i := range runs {
		pairs[i] = pr{base[i], runs[i]}
	}
	kept, discarded, noisy := benchutil.KeepClean(pairs, func(p pr) bool { return !s.contaminated(p.base) && !s.contaminated(p.cand) })
	row := ClusterRow{
		Name: fmt.Sprintf("%s sync=%s %s", mode, policy, v), Mode: mode, SyncPolicy: policy,
		Acks: map[client.Acks]string{client.AcksLeader: "1", client.AcksAll: "all"}[v.acks], Stalled: v.stalled, Baseline: isBase,
		Kept: len(kept), Discarded: discarded, Noisy: noisy, Runs: runs,
	}
	if noisy {
		row.Kept = 0
	}
	var rate, baseRate, p50, p99, p999, baseP99 []float64
	for _, p := range kept {
		rate, baseRate = append(rate, p.cand.MsgsPerSec()), append(baseRate, p.base.MsgsPerSec())
		p50, p99, p999 = append(p50, float64(p.cand.P50)), append(p99, float64(p.cand.P99)), append(p999, float64(p.cand.P999))
		baseP99 = append(baseP99, float64(p.base.P99))
	}
	rt := benchutil.Ratios(rate, baseRate)
	row.MsgsPerSec, row.Ratio, row.RatioMin, row.RatioMax = rt.Candidate, rt.Median, rt.Min, rt.Max
	lt := benchutil.Ratios(p99, baseP99)
	row.P99, row.P99Ratio, row.P99RatioMin, row.P99RatioMax = time.Duration(lt.Candidate), lt.Median, lt.Min, lt.Max
	m50, _, _ := benchutil.Median(p50)
	m999, _, _ := benchutil.Median(p999)
	row.P50, row.P999 = time.Duration(m50), time.Duration(m999)
	if v.stalled {
		var maxLat []float64
		var who []int32
		for _, p := range kept {
			maxLat = append(maxLat, float64(p.cand.Max))
			who = append(who, p.cand.StalledBroker)
		}
		mMax, _, _ := benchutil.Median(maxLat)
		row.Detail = fmt.Sprintf("stalled follower: broker %v, %v each run; median max latency %v (closed loop: only the %d messages in flight wait out a stall, so it shows in p999 and max, not in p99)",
			who, s.cfg.Stall, roundDur(time.Duration(mMax)), s.cfg.Window)
	}
	return row
}

// --- failover ---

func (s *clusterSuite) failovers() error {
	c := s.cfg
	s.report.Setup = append(s.report.Setup,
		fmt.Sprintf("failover: per crash a new topic per replication mode (replication factor 3, min.insync.replicas %d, sync.policy=never, %d partitions, each led by a different broker), each loaded by %d acks=all producers sharing a window of %d (retries after 20 ms doubling to 2 s); once %d messages are acknowledged on each, one broker that leads one partition of every topic and follows the others crashes (broker.Crash: its etcd session freezes, so its lease expires within the session TTL of %v; its logs are abandoned unsynced), so both modes see the same crash; it restarts on its data afterwards",
			clusterMinISR, c.Partitions, failoverProducers(c), failoverWindow(c), c.Messages/3, c.SessionTTL),
		"  new leader: crash to the first acks=all write to the crashed leader's partition acknowledged by a new leader (higher leader epoch), from a probe sending one message at a time (1 retry after 1 ms, next attempt 10 ms after a failure), so it is not held back by a client backoff",
		"  producers: the same for the first acknowledgement the loaded producers get on that partition (their retry backoff included)",
		fmt.Sprintf("  followed: from Crash's return (in-process it can take a few hundred ms; the JSON has each crash_call_ns) to the first acks=all write acknowledged on the partition the crashed broker followed (its leader survived), from a second probe started then; in isr mode acks=all waits for every ISR member, so until the leader drops the silent follower after replica.lag.time.max (%v)", c.ReplicaLagMax))
	samples := make(map[string][]FailoverSample)
	for i := range c.Failovers {
		got, err := s.failover()
		if err != nil {
			return fmt.Errorf("#%d: %w", i+1, err)
		}
		for _, mode := range ClusterModes {
			fs := got[mode]
			s.progressf("  failover %-6s #%d: crashed broker %d (Crash returned after %v): new leader acknowledged after %v, producers after %v, followed partition after %v; %d load errors",
				mode, i+1, fs.CrashedBroker, roundDur(fs.CrashCall), roundDur(fs.Failover), roundDur(fs.Resumed), roundDur(fs.FollowedResumed), fs.LoadErrors)
			samples[mode] = append(samples[mode], fs)
		}
	}
	for _, mode := range ClusterModes {
		row := FailoverRow{Mode: mode, Samples: samples[mode]}
		row.Failover = summarize(samples[mode], func(x FailoverSample) time.Duration { return x.Failover })
		row.Resumed = summarize(samples[mode], func(x FailoverSample) time.Duration { return x.Resumed })
		row.FollowedResumed = summarize(samples[mode], func(x FailoverSample) time.Duration { return x.FollowedResumed })
		s.report.Failovers = append(s.report.Failovers, row)
	}
	return nil
}

// The failover load of each topic: the produce runs' producers and window
// shared out over the topics, so that the machine carries about the same
// load.
func failoverProducers(c ClusterConfig) int {
	return max(c.Producers/len(ClusterModes), 1)
}

func failoverWindow(c ClusterConfig) int {
	return max(c.Window/len(ClusterModes), 1)
}

// summarize is the median and range of fig over the samples where it was
// seen (non-zero).
func summarize(samples []FailoverSample, fig func(FailoverSample) time.Duration) DurationStats {
	var xs []float64
	for _, x := range samples {
		if d := fig(x); d > 0 {
			xs = append(xs, float64(d))
		}
	}
	m, lo, hi := benchutil.Median(xs)
	return DurationStats{Median: time.Duration(m), Min: time.Duration(lo), Max: time.Duration(hi), N: len(xs)}
}

// failoverTopic is one replication mode's topic in a failover.
type failoverTopic struct {
	mode, topic   string
	led, followed int32 // the victim's partitions: leader of led, follower of followed
	epoch         int32 // led's leader epoch before the crash
	// probe sends to led, fprobe to followed.
	probe, fprobe *client.Producer
	msg, fmsg     client.Message
	load          *load
	stopLoad      context.CancelFunc // nil once the load has stopped
	loadDone      chan error
	loaded        chan struct{} // closed when the load is in full swing
	loadedOnce    sync.Once
	crashedAt     atomic.Pointer[time.Time]
	resumed       atomic.Int64 // load's first ack from the new leader, after the crash; 0 until seen
	sample        FailoverSample
	// Set by the probe goroutines.
	failoverErr, followedErr error
}

// failover creates a topic per mode, loads them, crashes a broker that
// leads one partition and follows another of each, measures, and restarts
// the broker.
func (s *clusterSuite) failover() (_ map[string]FailoverSample, err error) {
	c := s.cfg
	ctx := s.ctx
	s.seq++
	var fts []*failoverTopic
	defer func() {
		for _, ft := range fts {
			if ft.stopLoad != nil {
				ft.stopLoad()
				if lerr := <-ft.loadDone; lerr != nil && !errors.Is(lerr, context.Canceled) {
					err = errors.Join(err, fmt.Errorf("%s load: %w", ft.mode, lerr))
				}
			}
			for _, p := range []*client.Producer{ft.probe, ft.fprobe} {
				if p != nil {
					err = errors.Join(err, p.Close())
				}
			}
			if ft.load != nil {
				err = errors.Join(err, ft.load.close())
			}
		}
	}()
	leads := make(map[int32]int) // broker -> topics of which it leads exactly one partition
	for _, mode := range ClusterModes {
		ft := &failoverTopic{mode: mode, loaded: make(chan struct{}), loadDone: make(chan error, 1)}
		fts = append(fts, ft)
		ft.topic, err = s.c.createTopic(ctx, fmt.Sprintf("failover-%s-%d", mode, s.seq), c.Partitions, map[string]string{
			broker.CfgReplicationMode: mode, broker.CfgSyncPolicy: "never", broker.CfgMinInsyncReplicas: fmt.Sprint(clusterMinISR),
		})
		if err != nil {
			return nil, err
		}
		parts, err := s.c.partitions(ctx, ft.topic)
		if err != nil {
			return nil, err
		}
		count := make(map[int32]int)
		for _, p := range parts {
			count[p.GetLeader()]++
		}
		for id, n := range count {
			if n == 1 && len(parts) > 1 {
				leads[id]++
			}
		}
	}
	var victim *clusterBroker
	for _, cb := range s.c.brokers {
		if leads[cb.cfg.ID] == len(fts) {
			victim = cb
			break
		}
	}
	if victim == nil {
		return nil, fmt.Errorf("no broker leads exactly one partition of every failover topic (%d partitions each)", c.Partitions)
	}
	probeClient, err := client.Dial(ctx, s.c.addrs())
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, probeClient.Close()) }()
	bound := c.ReplicaLagMax + c.SessionTTL + 20*time.Second
	for _, ft := range fts {
		if err := s.prepareFailover(ctx, ft, victim.cfg.ID, probeClient, bound); err != nil {
			return nil, fmt.Errorf("%s: %w", ft.mode, err)
		}
	}
	for _, ft := range fts {
		select {
		case <-ft.loaded:
		case err := <-ft.loadDone:
			ft.stopLoad = nil
			return nil, fmt.Errorf("%s: load stopped before the crash: %v", ft.mode, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	t0 := time.Now()
	for _, ft := range fts {
		ft.crashedAt.Store(&t0)
	}
	victim.crash()
	t1 := time.Now()
	// The victim's fetchers have stopped: what the followed probes send
	// from now on cannot reach it. (Crash can take a few hundred ms to
	// return in-process, so those figures start then.)
	pctx, cancel := context.WithDeadline(ctx, t0.Add(bound))
	defer cancel()
	var wg sync.WaitGroup
	for _, ft := range fts {
		ft.sample.CrashedBroker, ft.sample.CrashCall = victim.cfg.ID, t1.Sub(t0)
		wg.Go(func() {
			at, err := probeUntil(pctx, ft.fprobe, ft.fmsg, func(client.Result) bool { return true })
			if err != nil {
				ft.followedErr = fmt.Errorf("%s: no acks=all write to the partition the crashed broker followed acknowledged %v after the crash: %w", ft.mode, time.Since(t0), err)
				return
			}
			ft.sample.FollowedResumed = at.Sub(t1)
		})
		wg.Go(func() {
			at, err := probeUntil(pctx, ft.probe, ft.msg, func(r client.Result) bool { return r.Receipt.LeaderEpoch > ft.epoch })
			if err != nil {
				ft.failoverErr = fmt.Errorf("%s: no acks=all write acknowledged by a new leader %v after the crash: %w", ft.mode, time.Since(t0), err)
				return
			}
			ft.sample.Failover = at.Sub(t0)
		})
	}
	wg.Wait()
	out := make(map[string]FailoverSample)
	for _, ft := range fts {
		if err := errors.Join(ft.failoverErr, ft.followedErr); err != nil {
			return nil, err
		}
		// Give the loaded producers until the bound to get through on the
		// led partition; not seen by then is reported as missing.
		for ft.resumed.Load() == 0 && pctx.Err() == nil {
			_ = pause(pctx)
		}
		ft.sample.Resumed = time.Duration(ft.resumed.Load())
	}
	for _, ft := range fts {
		ft.stopLoad()
		lerr := <-ft.loadDone
		ft.stopLoad = nil
		if lerr != nil && !errors.Is(lerr, context.Canceled) {
			return nil, fmt.Errorf("%s load: %w", ft.mode, lerr)
		}
		ft.sample.LoadErrors = ft.load.errors.Load()
		out[ft.mode] = ft.sample
	}
	if err := victim.restart(ctx); err != nil {
		return nil, err
	}
	for _, ft := range fts {
		if err := s.c.settle(ctx, ft.topic); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepareFailover finds the victim's partitions of ft's topic, warms up its
// probes and starts its load.
func (s *clusterSuite) prepareFailover(ctx context.Context, ft *failoverTopic, victim int32, probeClient *client.Client, bound time.Duration) error {
	c := s.cfg
	parts, err := s.c.partitions(ctx, ft.topic)
	if err != nil {
		return err
	}
	ft.led, ft.followed = -1, -1
	for _, p := range parts {
		switch {
		case p.GetLeader() == victim && ft.led < 0:
			ft.led, ft.epoch = p.GetPartition(), p.GetLeaderEpoch()
		case p.GetLeader() != victim && ft.followed < 0:
			ft.followed = p.GetPartition()
		}
	}
	if ft.led < 0 || ft.followed < 0 {
		return fmt.Errorf("broker %d does not lead one partition and follow another of %s", victim, ft.topic)
	}
	// The probes send one message at a time, failing fast so that the next
	// attempt is never held back by a long client backoff.
	newProbe := func(part int32) (*client.Producer, client.Message, error) {
		p, err := probeClient.NewProducer(client.ProducerOptions{Acks: client.AcksAll, Profile: client.ProfileLatency,
			Retries: 1, RetryBackoff: time.Millisecond, RequestTimeout: bound})
		if err != nil {
			return nil, client.Message{}, err
		}
		m := client.Message{Topic: ft.topic, Partition: part, Value: value(c.MsgSize)}
		// Warm-up, retried: a new quorum-mode leader refuses acks=all
		// until its followers have fetched once.
		_, err = probeUntil(ctx, p, m, func(client.Result) bool { return true })
		if err != nil {
			err = fmt.Errorf("probe warm-up: %w", err)
		}
		return p, m, err
	}
	if ft.probe, ft.msg, err = newProbe(ft.led); err != nil {
		return err
	}
	if ft.fprobe, ft.fmsg, err = newProbe(ft.followed); err != nil {
		return err
	}
	if ft.load, err = s.c.newLoad(ctx, ft.topic, failoverProducers(c), client.ProducerOptions{Acks: client.AcksAll, Profile: client.ProfileThroughput, Linger: -1,
		Retries: 1000, RetryBackoff: 20 * time.Millisecond, RequestTimeout: 10 * time.Second}); err != nil {
		return err
	}
	if err := ft.load.warmUp(ctx, c.Partitions, c.MsgSize); err != nil {
		return err
	}
	trigger := int64(c.Messages / 3)
	ft.load.onAck = func(n int64, res client.Result, _ time.Time) {
		if n >= trigger {
			ft.loadedOnce.Do(func() { close(ft.loaded) })
		}
		if t := ft.crashedAt.Load(); t != nil && res.Partition == ft.led && res.Receipt.LeaderEpoch > ft.epoch {
			ft.resumed.CompareAndSwap(0, int64(time.Since(*t)))
		}
	}
	loadCtx, stop := context.WithCancel(ctx)
	ft.stopLoad = stop
	go func() {
		_, err := ft.load.run(loadCtx, -1, c.Partitions, c.MsgSize, failoverWindow(c))
		ft.loadDone <- err
	}()
	return nil
}

// probeUntil sends m with p until an attempt succeeds and ok accepts its
// result, waiting 10 ms after each failed attempt; it returns when.
func probeUntil(ctx context.Context, p *client.Producer, m client.Message, ok func(client.Result) bool) (time.Time, error) {
	for {
		res, err := p.Send(ctx, m)
		if err == nil && ok(res) {
			return time.Now(), nil
		}
		if err != nil && !client.IsRetryable(err) && !client.IsIndefinite(err) {
			return time.Time{}, err
		}
		select {
		case <-time.After(10 * time.Millisecond): // the probe's attempt interval
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return time.Time{}, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		}
	}
}

// --- load ---

// load is a set of producers, each on its own client, sending to one
// topic and recording every acknowledgement's latency.
type load struct {
	topic     string
	clients   []*client.Client
	producers []*client.Producer
	// onAck, when set before run, is called after each successful
	// acknowledgement with the count so far and the message's send time.
	onAck    func(n int64, res client.Result, sent time.Time)
	acked    atomic.Int64
	errors   atomic.Int64
	firstErr firstErr
	mu       []sync.Mutex
	lat      [][]time.Duration // per producer
}

func (c *cluster) newLoad(ctx context.Context, topic string, n int, opts client.ProducerOptions) (_ *load, err error) {
	l := &load{topic: topic, clients: make([]*client.Client, n), producers: make([]*client.Producer, n),
		mu: make([]sync.Mutex, n), lat: make([][]time.Duration, n)}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.close())
		}
	}()
	for i := range n {
		if l.clients[i], err = client.Dial(ctx, c.addrs()); err != nil {
			return l, err
		}
		if l.producers[i], err = l.clients[i].NewProducer(opts); err != nil {
			return l, err
		}
	}
	return l, nil
}

// warmUp sends one message per producer and partition: metadata,
// connections, producer ids.
func (l *load) warmUp(ctx context.Context, partitions int32, size int) error {
	val := value(size)
	for _, p := range l.producers {
		for part := range partitions {
			if _, err := p.Send(ctx, client.Message{Topic: l.topic, Partition: part, Value: val}); err != nil {
				return fmt.Errorf("warm-up send: %w", err)
			}
		}
	}
	return nil
}

// run sends total messages (until ctx ends when total < 0) round-robin
// over the partitions, at most inFlight unacknowledged in all (shared out
// evenly by the producers), and waits for
// every acknowledgement. It returns the time from the first send to the
// last acknowledgement.
func (l *load) run(ctx context.Context, total int64, partitions int32, size, inFlight int) (time.Duration, error) {
	n := len(l.producers)
	val := value(size)
	per := max(inFlight/n, 1)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		quota := int64(-1)
		if total >= 0 {
			quota = total / int64(n)
			if int64(i) < total%int64(n) {
				quota++
			}
		}
		l.lat[i] = make([]time.Duration, 0, max(quota, 0))
		wg.Go(func() {
			w := make(window, per)
			p := l.producers[i]
			for k := int64(0); quota < 0 || k < quota; k++ {
				select {
				case w <- struct{}{}:
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break
				}
				part := int32((k + int64(i)) % int64(partitions))
				sent := time.Now()
				p.SendAsync(client.Message{Topic: l.topic, Partition: part, Value: val}, func(res client.Result, err error) {
					d := time.Since(sent)
					if err != nil {
						l.errors.Add(1)
						l.firstErr.set(err)
					} else {
						l.mu[i].Lock()
						l.lat[i] = append(l.lat[i], d)
						l.mu[i].Unlock()
						a := l.acked.Add(1)
						if l.onAck != nil {
							l.onAck(a, res, sent)
						}
					}
					w.release()
				})
			}
			// Flush waits for the acknowledgements; a cancelled load still
			// waits (bounded by the producers' retries) so that close finds
			// nothing in flight.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			errs[i] = p.Flush(fctx)
			cancel()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return elapsed, err
	}
	return elapsed, ctx.Err()
}

// latencies returns every recorded latency, sorted.
func (l *load) latencies() []time.Duration {
	var all []time.Duration
	for i := range l.lat {
		l.mu[i].Lock()
		all = append(all, l.lat[i]...)
		l.mu[i].Unlock()
	}
	slices.Sort(all)
	return all
}

// close closes the producers, then their clients. A producer's Close
// waits for its messages, which retries can stretch a long way when the
// cluster does not recover: after closeGrace the clients are closed under
// it, which fails what is left at once.
func (l *load) close() error {
	var mu sync.Mutex
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range l.producers {
			if p != nil {
				err := p.Close()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		mu.Lock()
		errs = append(errs, fmt.Errorf("producers of %s still sending after %v; closing their connections", l.topic, closeGrace))
		mu.Unlock()
	}
	for _, c := range l.clients {
		if c != nil {
			err := c.Close()
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	<-done
	return errors.Join(errs...)
}

// closeGrace bounds how long closing a load waits for its producers.
const closeGrace = 30 * time.Second

// percentile returns the q-quantile of sorted (nearest rank); q = 1 is the
// maximum.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// --- the in-process cluster ---

// cluster is an embedded etcd and brokers on loopback, each broker in its
// own directory under dir, on a stallFS. It is broker/brokertest's Cluster
// without a testing.TB: the same startup, errors returned.
type cluster struct {
	dir     string
	etcd    *coord.Embedded
	brokers []*clusterBroker
	admin   *client.Client
	logger  *slog.Logger
}

type clusterBroker struct {
	cfg  broker.Config
	fs   *stallFS
	mu   sync.Mutex
	b    *broker.Broker // nil while down
	conn *grpc.ClientConn
}

func startCluster(ctx context.Context, parent string, n int, ttl, lagMax time.Duration) (_ *cluster, err error) {
	dir, err := os.MkdirTemp(parent, "sluice-clusterbench-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
		}
	}()
	c.etcd, err = coord.StartEmbedded(coord.EmbeddedConfig{Dir: filepath.Join(dir, "etcd"), TickMs: 10, ElectionMs: 100, Logger: c.logger})
	if err != nil {
		return c, fmt.Errorf("start etcd: %w", err)
	}
	for i := range n {
		cb := &clusterBroker{fs: &stallFS{FS: vfs.Default, gate: &gate{}}}
		cb.cfg = broker.Config{
			ID: int32(i + 1), DataDir: filepath.Join(dir, fmt.Sprintf("broker-%d", i+1)),
			Listen: "127.0.0.1:0", DataListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			EtcdEndpoints: c.etcd.Endpoints(), SessionTTL: ttl, ReplicaLagMax: lagMax, ShutdownTimeout: 5 * time.Second,
			LeaderRebalanceInterval: -1, FS: cb.fs, Logger: c.logger.With("broker", i+1),
		}
		c.brokers = append(c.brokers, cb)
		if err := cb.restart(ctx); err != nil {
			return c, err
		}
	}
	if c.admin, err = client.Dial(ctx, c.addrs()); err != nil {
		return c, err
	}
	return c, nil
}

// restart starts the broker (again) on its data directory.
func (cb *clusterBroker) restart(ctx context.Context) error {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.b != nil {
		return nil
	}
	b, err := broker.Start(ctx, cb.cfg)
	if err != nil {
		return fmt.Errorf("start broker %d: %w", cb.cfg.ID, err)
	}
	cb.b = b
	return nil
}

// crash stops the broker as a killed process stops (broker.Crash).
func (cb *clusterBroker) crash() {
	cb.mu.Lock()
	b := cb.b
	cb.b = nil
	cb.closeConnLocked()
	cb.mu.Unlock()
	if b != nil {
		b.Crash()
	}
}

func (cb *clusterBroker) stop(ctx context.Context) error {
	cb.mu.Lock()
	b := cb.b
	cb.b = nil
	cb.closeConnLocked()
	cb.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Stop(ctx)
}

func (cb *clusterBroker) closeConnLocked() {
	if cb.conn != nil {
		_ = cb.conn.Close()
		cb.conn = nil
	}
}

// raw returns a gRPC client of the running broker (for DescribeReplicas),
// or nil while it is down.
func (cb *clusterBroker) raw() (brokerpb.SluiceClient, error) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.b == nil {
		return nil, nil
	}
	if cb.conn == nil {
		conn, err := grpc.NewClient(cb.b.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		cb.conn = conn
	}
	return brokerpb.NewSluiceClient(cb.conn), nil
}

// addrs are the gRPC addresses of the running brokers.
func (c *cluster) addrs() []string {
	var out []string
	for _, cb := range c.brokers {
		cb.mu.Lock()
		if cb.b != nil {
			out = append(out, cb.b.Addr())
		}
		cb.mu.Unlock()
	}
	return out
}

func (c *cluster) close() error {
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	for _, cb := range c.brokers {
		cb.fs.gate.open()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		errs = append(errs, cb.stop(ctx))
		cancel()
	}
	if c.etcd != nil {
		errs = append(errs, c.etcd.Close())
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// pollInterval is how often the cluster's state is polled while waiting
// for it to settle.
const pollInterval = 20 * time.Millisecond

func pause(ctx context.Context) error {
	select {
	case <-time.After(pollInterval):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// createTopic creates a topic with replication factor clusterBrokers once
// every broker is registered, retrying while the cluster is still electing
// its controller, and waits until it settled: topics are made one at a
// time because a broker can miss a metadata change that lands while it
// applies the previous one (it catches up at the next change).
func (c *cluster) createTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (string, error) {
	if err := c.waitBrokers(ctx); err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		_, err := c.admin.CreateTopic(ctx, name, partitions, clusterBrokers, configs)
		if err == nil || (attempt > 0 && client.Code(err) == brokerpb.ErrorCode_TOPIC_ALREADY_EXISTS) {
			// (An earlier attempt may have created it without an answer.)
			return name, c.settle(ctx, name)
		}
		if !client.IsRetryable(err) {
			return "", fmt.Errorf("create topic %s: %w", name, err)
		}
		if perr := pause(ctx); perr != nil {
			return "", fmt.Errorf("create topic %s: %w (%w)", name, err, perr)
		}
	}
}

// waitBrokers waits until the cluster has a controller and every broker is
// registered.
func (c *cluster) waitBrokers(ctx context.Context) error {
	for {
		md, err := c.admin.Metadata(ctx)
		if err == nil && md.GetController() > 0 && len(md.GetBrokers()) == len(c.brokers) {
			return nil
		}
		if err != nil && !client.IsRetryable(err) {
			return err
		}
		if perr := pause(ctx); perr != nil {
			return fmt.Errorf("waiting for %d brokers to register: %w", len(c.brokers), perr)
		}
	}
}

// partitions returns the topic's partitions as the cluster reports them.
func (c *cluster) partitions(ctx context.Context, topic string) ([]*brokerpb.PartitionInfo, error) {
	md, err := c.admin.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, t := range md.GetTopics() {
		if t.GetName() == topic {
			return t.GetPartitions(), nil
		}
	}
	return nil, fmt.Errorf("topic %s not in the metadata", topic)
}

// idleFollower returns a running broker that leads none of topic's
// partitions.
func (c *cluster) idleFollower(ctx context.Context, topic string) (*clusterBroker, error) {
	ps, err := c.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, cb := range c.brokers {
		if !slices.ContainsFunc(ps, func(p *brokerpb.PartitionInfo) bool { return p.GetLeader() == cb.cfg.ID }) {
			return cb, nil
		}
	}
	return nil, fmt.Errorf("every broker leads a partition of %s", topic)
}

// settle waits until every partition of topic has a leader and a full ISR
// and every running replica holds the leader's whole log, committed (high
// watermark = log end on the leader).
func (c *cluster) settle(ctx context.Context, topic string) error {
	var last string
	for {
		ok, why, err := c.settled(ctx, topic)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = why
		if err := pause(ctx); err != nil {
			return fmt.Errorf("%s never settled (%s): %w", topic, last, err)
		}
	}
}

func (c *cluster) settled(ctx context.Context, topic string) (bool, string, error) {
	ps, err := c.partitions(ctx, topic)
	if err != nil {
		if client.IsRetryable(err) {
			return false, err.Error(), nil
		}
		return false, "", err
	}
	var refs []*brokerpb.ReplicaRef
	leaders := make(map[int32]int32)
	for _, p := range ps {
		if p.GetLeader() < 0 || len(p.GetIsr()) != clusterBrokers {
			return false, fmt.Sprintf("partition %d: leader %d, ISR %v", p.GetPartition(), p.GetLeader(), p.GetIsr()), nil
		}
		refs = append(refs, &brokerpb.ReplicaRef{Topic: topic, Partition: p.GetPartition()})
		leaders[p.GetPartition()] = p.GetLeader()
	}
	type ends struct{ logEnd, hw int64 }
	leaderEnds := make(map[int32]ends)
	var all []*brokerpb.ReplicaStatus
	for _, cb := range c.brokers {
		sc, err := cb.raw()
		if err != nil {
			return false, "", err
		}
		if sc == nil {
			return false, fmt.Sprintf("broker %d is down", cb.cfg.ID), nil
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := sc.DescribeReplicas(rctx, &brokerpb.DescribeReplicasRequest{Partitions: refs})
		cancel()
		if err != nil {
			return false, fmt.Sprintf("broker %d: %v", cb.cfg.ID, err), nil
		}
		for _, r := range resp.GetReplicas() {
			if leaders[r.GetPartition()] == cb.cfg.ID {
				if r.GetRole() != "leader" {
					return false, fmt.Sprintf("broker %d is not yet leader of partition %d", cb.cfg.ID, r.GetPartition()), nil
				}
				leaderEnds[r.GetPartition()] = ends{r.GetLogEndOffset(), r.GetHighWatermark()}
			}
			all = append(all, r)
		}
	}
	if len(all) != len(refs)*clusterBrokers {
		return false, fmt.Sprintf("%d replicas answered, want %d", len(all), len(refs)*clusterBrokers), nil
	}
	for _, r := range all {
		le := leaderEnds[r.GetPartition()]
		if le.hw != le.logEnd || r.GetLogEndOffset() != le.logEnd {
			return false, fmt.Sprintf("partition %d: a replica is at %d, the leader at %d (high watermark %d)", r.GetPartition(), r.GetLogEndOffset(), le.logEnd, le.hw), nil
		}
	}
	return true, "", nil
}

// --- a disk that can stall ---

// gate holds callers while shut. Shut and open are idempotent.
type gate struct {
	ch atomic.Pointer[chan struct{}] // nil while open
}

func (g *gate) shut() {
	ch := make(chan struct{})
	g.ch.CompareAndSwap(nil, &ch)
}

func (g *gate) open() {
	if ch := g.ch.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (g *gate) wait() {
	if ch := g.ch.Load(); ch != nil {
		<-*ch
	}
}

// stallFS is a vfs.FS whose writes, syncs and directory changes wait
// while its gate is shut; reads pass (the page cache would still answer
// them). Every broker runs on one, so that the gate is the only difference
// between the stalled follower and the others. Its files keep the inner
// files' capabilities (sendfile, mmap, write-back hints).
type stallFS struct {
	vfs.FS
	gate *gate
}

func (s *stallFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	sf := &stallFile{File: f, gate: s.gate}
	if _, ok := f.(vfs.Mapper); ok {
		return &stallMapFile{sf}, nil
	}
	return sf, nil
}

func (s *stallFS) Create(name string) (vfs.File, error) {
	s.gate.wait()
	return s.wrap(s.FS.Create(name))
}
func (s *stallFS) Open(name string) (vfs.File, error) { return s.wrap(s.FS.Open(name)) }
func (s *stallFS) OpenReadWrite(name string) (vfs.File, error) {
	return s.wrap(s.FS.OpenReadWrite(name))
}
func (s *stallFS) Remove(name string) error { s.gate.wait(); return s.FS.Remove(name) }
func (s *stallFS) Rename(o, n string) error { s.gate.wait(); return s.FS.Rename(o, n) }
func (s *stallFS) MkdirAll(dir string) error {
	s.gate.wait()
	return s.FS.MkdirAll(dir)
}
func (s *stallFS) SyncDir(dir string) error { s.gate.wait(); return s.FS.SyncDir(dir) }

type stallFile struct {
	vfs.File
	gate *gate
}

func (f *stallFile) WriteAt(p []byte, off int64) (int, error) {
	f.gate.wait()
	return f.File.WriteAt(p, off)
}

func (f *stallFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	f.gate.wait()
	return f.File.WritevAt(bufs, off)
}

func (f *stallFile) Sync() error { f.gate.wait(); return f.File.Sync() }

func (f *stallFile) Truncate(size int64) error { f.gate.wait(); return f.File.Truncate(size) }

func (f *stallFile) Preallocate(off, length int64) error {
	f.gate.wait()
	return f.File.Preallocate(off, length)
}

// SendTo keeps sendfile when the inner file has it (vfs.SendFile copies
// otherwise, as it would for the inner file).
func (f *stallFile) SendTo(conn net.Conn, off, n int64) (int64, error) {
	return vfs.SendFile(conn, f.File, off, n)
}

// StartWriteback is a hint; without it in the inner file, nothing.
func (f *stallFile) StartWriteback(off, n int64) error {
	if r, ok := f.File.(vfs.RangeSyncer); ok {
		return r.StartWriteback(off, n)
	}
	return nil
}

// stallMapFile is a stallFile whose inner file can be mapped.
type stallMapFile struct{ *stallFile }

func (f *stallMapFile) MapReadOnly(size int64) ([]byte, func() error, error) {
	return f.File.(vfs.Mapper).MapReadOnly(size)
}
