package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/internal/faultfs"
	"github.com/sluice-mq/sluice/internal/localcluster"
	"github.com/sluice-mq/sluice/linearizability/check"
	"github.com/sluice-mq/sluice/linearizability/expect"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// Options configure a run.
type Options struct {
	// Binary is the sluice executable (brokers, etcd and dump).
	Binary string
	// Results is the root of the report directories (results/checks).
	Results string
	// Seed chooses the schedule (0: random; the one used is reported).
	Seed uint64
	// Duration overrides the scenario's.
	Duration time.Duration
	// Log receives progress lines (default: discarded).
	Log io.Writer
	// PlantedBug switches on one planted bug in the brokers
	// (SLUICE_PLANTED_BUG; Binary must be built with -tags plantedbugs).
	PlantedBug string
}

// Outcome is what Run produced.
type Outcome struct {
	Scenario Scenario
	Seed     uint64
	Verdict  *check.Verdict
	// Dir is the report directory.
	Dir string
	// Faults is the number of faults injected.
	Faults int
	Wall   time.Duration
}

// Run runs the scenario once: cluster, clients and nemesis for the
// duration, the final drain, the check, the report. An error means the run
// could not be carried out (not that the check failed: see the verdict).
func Run(ctx context.Context, sc Scenario, opts Options) (*Outcome, error) {
	start := time.Now()
	sc = sc.withDefaults()
	if opts.Duration > 0 {
		sc.Duration = opts.Duration
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Uint64()
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	out := &Outcome{Scenario: sc, Seed: opts.Seed}
	out.Dir = check.ReportDir(opts.Results, fmt.Sprintf("%s-seed%d", sc.Name, opts.Seed), start)
	clusterDir := filepath.Join(out.Dir, "cluster")
	if err := os.MkdirAll(clusterDir, 0o755); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	fmt.Fprintf(opts.Log, "check %s: seed %d, %v, cluster in %s\n", sc.Name, opts.Seed, sc.Duration, clusterDir)

	// Every link goes through a proxy (internal/netproxy), so partitions
	// (F4, F5) can cut it; clients reach the brokers through the same
	// proxies from 127.0.0.1, which no fault names.
	c, err := localcluster.Start(ctx, localcluster.Options{Binary: opts.Binary, Dir: clusterDir, FastEtcd: true, ServeArgs: serveArgs, Proxied: true, BrokerEnv: brokerEnv(sc, opts.PlantedBug)})
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			_ = c.Close()
		}
	}()
	cl, err := dialCluster(ctx, c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := cl.CreateTopic(ctx, topic, int32(sc.Partitions), int32(sc.RF), sc.topicConfigs()); err != nil {
		return nil, fmt.Errorf("harness: create topic: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = waitHealthy(hctx, cl, sc.RF)
	cancel()
	if err != nil {
		return nil, err
	}

	// Each consumer has a client of its own, whose connections its gate
	// can stall (F11's pause) without stalling the other clients. Dialled
	// before any worker starts, so a failure leaves nothing running.
	var consumerClients []*client.Client
	var gates []*gate
	for range sc.Consumers {
		g := &gate{}
		ccl, err := client.Dial(ctx, c.Addrs(), client.WithDialOptions(grpc.WithContextDialer(g.dialGRPC)), client.WithDataPlaneDialer(g.dial))
		if err != nil {
			return nil, err
		}
		defer ccl.Close()
		consumerClients, gates = append(consumerClients, ccl), append(gates, g)
	}

	// The workload and the nemesis.
	rec := history.NewRecorder()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, sc.Producers+sc.Readers+sc.Consumers+1)
	kills := make(chan struct{}) // F11: the nemesis kills one consumer
	worker := 0
	for range sc.Producers {
		w, r := worker, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		worker++
		wg.Add(1)
		go func() { defer wg.Done(); errs <- producer(ctx, cl, rec, sc, w, r, stop) }()
	}
	for range sc.Readers {
		w, r := worker, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		worker++
		wg.Add(1)
		go func() { defer wg.Done(); errs <- reader(ctx, cl, rec, sc, w, r, stop) }()
	}
	for i := range sc.Consumers {
		w, r := worker, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		worker++
		ccl, g := consumerClients[i], gates[i]
		wg.Add(1)
		go func() { defer wg.Done(); errs <- consumer(ctx, ccl, rec, w, r, kills, g, stop) }()
	}
	nem := &nemesis{c: c, cl: cl, rec: rec, sc: sc, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), log: opts.Log, kills: kills, gates: gates}
	wg.Add(1)
	go func() { defer wg.Done(); errs <- nem.run(ctx, stop) }()
	wait(ctx, nil, sc.Duration)
	close(stop)
	wg.Wait()
	close(errs)
	var runErr error
	for err := range errs {
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		return nil, fmt.Errorf("harness: %w", runErr)
	}
	out.Faults = nem.faults
	fmt.Fprintf(opts.Log, "check %s: %d faults; draining\n", sc.Name, nem.faults)

	// The final drain (its group consumer is part of the history).
	final, err := drain(ctx, c, opts.Binary, sc, rec, worker)
	closed = true
	if err != nil {
		return nil, err
	}
	h := rec.History()
	fmt.Fprintf(opts.Log, "check %s: %d operations\n", sc.Name, len(h.Ops))
	exp := expect.Expectations{Config: sc.Config()}
	v := check.Check(h, final, exp)
	out.Verdict = v
	if err := v.WriteReport(out.Dir); err != nil {
		return nil, err
	}
	out.Wall = time.Since(start)
	fmt.Fprintf(opts.Log, "%s\nreport: %s\nreplay: sluice check replay %s\n", v.Summary(), out.Dir, out.Dir)
	if v.Pass {
		// The data directories are kept only for a failed check; the
		// broker logs always.
		removeData(c, clusterDir)
	}
	return out, nil
}

// drain heals, waits for the full ISR, reads every partition from its
// leader, stops the cluster and reads every replica offline.
func drain(ctx context.Context, c *localcluster.Cluster, bin string, sc Scenario, rec *history.Recorder, worker int) (*history.FinalReads, error) {
	if err := heal(ctx, c, sc); err != nil {
		_ = c.Close()
		return nil, err
	}
	fresh, err := dialCluster(ctx, c)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	defer fresh.Close()
	hctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	final := &history.FinalReads{}
	healthErr := waitHealthy(hctx, fresh, sc.RF)
	for p := range int32(sc.Partitions) {
		var pr *history.PartitionRead
		if healthErr == nil {
			pr, err = readCommitted(hctx, fresh, p)
		}
		if pr == nil {
			// Unreadable: the checkers report the input incomplete.
			pr = &history.PartitionRead{Topic: topic, Partition: p}
			if err == nil {
				err = healthErr
			}
			pr.Replicas = append(pr.Replicas, history.ReplicaRead{Broker: -1, Source: "fetch", Err: fmt.Sprint(err)})
		}
		final.Partitions = append(final.Partitions, *pr)
	}
	if sc.Consumers > 0 && healthErr == nil {
		hwm := map[int32]int64{}
		for _, pr := range final.Partitions {
			hwm[pr.Partition] = pr.HighWatermark
		}
		if err := drainGroup(hctx, fresh, rec, worker, hwm); err != nil {
			// The group checks then report what it did not get.
			fmt.Fprintf(os.Stderr, "%v\n", err)
		}
	}
	if err := c.Close(); err != nil {
		return nil, fmt.Errorf("harness: stopping the cluster for the offline reads: %w", err)
	}
	for i := range final.Partitions {
		pr := &final.Partitions[i]
		for b := range c.Len() {
			pr.Replicas = append(pr.Replicas, readReplica(ctx, bin, c.DataDir(b), int32(b+1), pr.Partition))
		}
	}
	return final, nil
}

// brokerEnv switches on the planted bug and the fault file layer the
// scenario needs (both need a test build of the binary).
func brokerEnv(sc Scenario, bug string) []string {
	var env []string
	if bug != "" {
		env = append(env, "SLUICE_PLANTED_BUG="+bug)
	}
	if fs := sc.FaultFS(); fs != "" {
		env = append(env, faultfs.EnvVar+"="+fs)
	}
	return env
}

// removeData deletes the brokers' and etcd's data, keeping their logs.
func removeData(c *localcluster.Cluster, dir string) {
	for i := range c.Len() {
		_ = os.RemoveAll(c.DataDir(i))
	}
	_ = os.RemoveAll(filepath.Join(dir, "etcd"))
}
