package broker

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live in a private registry: embedded etcd fills the default one
// with its own families, which are not the broker's to expose.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	bytesIn    prometheus.Counter
	bytesOut   *prometheus.CounterVec
	partitions prometheus.Gauge
	isrChanges prometheus.Counter
	elections  *prometheus.CounterVec
	// reassignSteps counts the controller's reassignment writes by step
	// (add, switch, remove, remove-leader, reorder).
	reassignSteps *prometheus.CounterVec
	// quarantined counts replicas set aside as corrupt and refetched.
	quarantined prometheus.Counter
}

func newMetrics(b *Broker) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_requests_total", Help: "Requests handled, by API and result code.",
	}, []string{"api", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sluice_request_duration_seconds", Help: "Request latency by API (produce includes the ack wait).",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 18),
	}, []string{"api"})
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_bytes_total", Help: "Record batch bytes accepted."})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_fetch_bytes_total", Help: "Record batch bytes served, by path."}, []string{"path"})
	m.partitions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_partitions", Help: "Partition replicas hosted by this broker."})
	m.isrChanges = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_isr_changes_total", Help: "ISR changes this broker wrote as a partition leader."})
	m.elections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_leader_elections_total",
		Help: "Leader elections (and fences) this broker made as the controller, by why one was needed and the rule that chose the leader (isr, quorum, recovery, unclean, preferred, fence).",
	}, []string{"reason", "rule"})
	m.reassignSteps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_reassignment_steps_total", Help: "Partition reassignment steps this broker wrote as the controller, by step."}, []string{"step"})
	m.quarantined = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_replicas_quarantined_total", Help: "Replicas whose log failed its checks at open (corruption before the tail), moved to quarantine/ and refetched from the leader."})
	m.reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.partitions, m.isrChanges, m.elections, m.reassignSteps, m.quarantined,
		&partitionCollector{b: b},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(api string, start time.Time, err error) {
	code := "NONE"
	if err != nil {
		code = asError(err).Code.String()
	}
	m.requests.WithLabelValues(api, code).Inc()
	m.latency.WithLabelValues(api).Observe(time.Since(start).Seconds())
}

// partitionCollector reads each partition's state and engine counters at
// scrape time, so the hot paths keep no extra counters.
type partitionCollector struct{ b *Broker }

var (
	descLogEnd     = prometheus.NewDesc("sluice_partition_log_end_offset", "Log end offset.", []string{"topic", "partition"}, nil)
	descHW         = prometheus.NewDesc("sluice_partition_high_watermark", "High watermark.", []string{"topic", "partition"}, nil)
	descLogStart   = prometheus.NewDesc("sluice_partition_log_start_offset", "Log start offset.", []string{"topic", "partition"}, nil)
	descSize       = prometheus.NewDesc("sluice_partition_size_bytes", "Bytes in the partition's segments.", []string{"topic", "partition"}, nil)
	descUnsynced   = prometheus.NewDesc("sluice_partition_unsynced_bytes", "Bytes written but not yet fsynced.", []string{"topic", "partition"}, nil)
	descFsyncs     = prometheus.NewDesc("sluice_partition_fsyncs_total", "fdatasync calls on the partition's log.", []string{"topic", "partition"}, nil)
	descSynced     = prometheus.NewDesc("sluice_partition_synced_bytes_total", "Bytes made durable by fsync.", []string{"topic", "partition"}, nil)
	descGroups     = prometheus.NewDesc("sluice_partition_group_commits_total", "Group commits (one pwritev each).", []string{"topic", "partition"}, nil)
	descAppends    = prometheus.NewDesc("sluice_partition_appends_total", "Batches appended.", []string{"topic", "partition"}, nil)
	descLeader     = prometheus.NewDesc("sluice_partition_is_leader", "1 when this broker leads the partition.", []string{"topic", "partition"}, nil)
	descUnderRepl  = prometheus.NewDesc("sluice_under_replicated_partitions", "Led partitions whose ISR is smaller than their replica set.", nil, nil)
	descCacheHits  = prometheus.NewDesc("sluice_block_cache_hits_total", "Block cache hits on the copy read path.", nil, nil)
	descCacheMiss  = prometheus.NewDesc("sluice_block_cache_misses_total", "Block cache misses on the copy read path.", nil, nil)
	descSessionOK  = prometheus.NewDesc("sluice_etcd_session_valid", "1 while the broker's etcd session is valid (0: fenced).", nil, nil)
	descController = prometheus.NewDesc("sluice_is_controller", "1 when this broker is the controller.", nil, nil)
)

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogEnd, descHW, descLogStart, descSize, descUnsynced, descFsyncs, descSynced, descGroups, descAppends, descLeader, descUnderRepl, descCacheHits, descCacheMiss, descSessionOK, descController} {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	b.mu.RLock()
	parts := make([]*partition, 0, len(b.partitions))
	for _, p := range b.partitions {
		parts = append(parts, p)
	}
	b.mu.RUnlock()
	under := 0
	for _, p := range parts {
		labels := []string{p.topic, strconv.Itoa(int(p.id))}
		st := p.snapshot()
		start, end, _ := p.log.Offsets()
		s := p.log.Stats()
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
		}
		gauge(descLogEnd, float64(end))
		gauge(descHW, float64(st.highWatermark))
		gauge(descLogStart, float64(start))
		gauge(descSize, float64(p.log.SizeBytes()))
		gauge(descUnsynced, float64(s.UnsyncedBytes))
		counter(descFsyncs, float64(s.Syncs))
		counter(descSynced, float64(s.SyncedBytes))
		counter(descGroups, float64(s.GroupCommits))
		counter(descAppends, float64(s.Appends))
		leader := 0.0
		if st.role == roleLeader {
			leader = 1
			if len(st.isr) < len(st.replicas) {
				under++
			}
		}
		gauge(descLeader, leader)
	}
	ch <- prometheus.MustNewConstMetric(descUnderRepl, prometheus.GaugeValue, float64(under))
	if b.cache != nil {
		cs := b.cache.Stats()
		ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(cs.Hits))
		ch <- prometheus.MustNewConstMetric(descCacheMiss, prometheus.CounterValue, float64(cs.Misses))
	}
	ch <- prometheus.MustNewConstMetric(descSessionOK, prometheus.GaugeValue, boolFloat(b.sessionValid()))
	ch <- prometheus.MustNewConstMetric(descController, prometheus.GaugeValue, boolFloat(b.controller() != nil))
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// adminMux serves /metrics, /healthz and pprof.
func (b *Broker) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if e := b.checkServing(); e != nil {
			http.Error(w, e.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
