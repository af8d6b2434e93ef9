package broker

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/engine"
)

// Topic configuration keys. Names follow Kafka's where Kafka has the same
// setting, so a Kafka user's muscle memory works.
const (
	CfgRetentionMs           = "retention.ms"
	CfgRetentionBytes        = "retention.bytes"
	CfgSegmentBytes          = "segment.bytes"
	CfgSegmentMs             = "segment.ms"
	CfgSyncPolicy            = "sync.policy" // always | never | interval=<d> | bytes=<n>
	CfgMaxMessageBytes       = "max.message.bytes"
	CfgMinInsyncReplicas     = "min.insync.replicas"
	CfgIndexIntervalBytes    = "index.interval.bytes"
	CfgPreallocate           = "preallocate" // none | fallocate | zerofill
	CfgReplicationMode       = "replication.mode"
	CfgUncleanLeaderElection = "unclean.leader.election.enable"
)

// Limits on topics and requests.
const (
	MaxTopicNameLen         = 249 // Kafka's
	MaxPartitionsPerTopic   = 1024
	MaxReplicationFactor    = 16
	MinSegmentBytes         = 1 << 14
	MaxSegmentBytes         = 1 << 30
	MinMaxMessageBytes      = 1 << 10
	MaxMaxMessageBytes      = 64 << 20
	DefaultMaxMessageBytes  = 1<<20 + 12 // Kafka's 1048588: 1 MiB of records plus batch overhead
	defaultRetentionMs      = int64(14 * 24 * time.Hour / time.Millisecond)
	defaultSegmentMs        = int64(7 * 24 * time.Hour / time.Millisecond)
	defaultIndexInterval    = 4096
	maxConfigValueLen       = 256
	maxConfigEntriesPerCall = 64
)

// configSpec describes one key: its default and how to check a value.
type configSpec struct {
	def   string
	check func(v string) error
	doc   string
}

var topicConfigSpecs = map[string]configSpec{
	CfgRetentionMs:           {strconv.FormatInt(defaultRetentionMs, 10), intRange(-1, 1<<62), "delete sealed segments whose newest record is older (ms); -1 keeps forever"},
	CfgRetentionBytes:        {"-1", intRange(-1, 1<<62), "delete the oldest sealed segments while the partition is larger; -1 no limit"},
	CfgSegmentBytes:          {strconv.Itoa(MaxSegmentBytes), intRange(MinSegmentBytes, MaxSegmentBytes), "roll the active segment at this size"},
	CfgSegmentMs:             {strconv.FormatInt(defaultSegmentMs, 10), intRange(1000, 1<<62), "roll the active segment at this age (ms)"},
	CfgSyncPolicy:            {"never", checkSync, "fsync policy: always, never, interval=<duration>, bytes=<n>"},
	CfgMaxMessageBytes:       {strconv.Itoa(DefaultMaxMessageBytes), intRange(MinMaxMessageBytes, MaxMaxMessageBytes), "largest record batch accepted"},
	CfgMinInsyncReplicas:     {"1", intRange(1, MaxReplicationFactor), "acks=all needs at least this many in-sync replicas"},
	CfgIndexIntervalBytes:    {strconv.Itoa(defaultIndexInterval), intRange(1, 1<<20), "bytes between sparse index entries"},
	CfgPreallocate:           {"auto", checkPrealloc, "active segment preallocation: auto (zerofill under sync.policy=always, else none), none, fallocate, zerofill"},
	CfgReplicationMode:       {"isr", oneOf("isr", "quorum"), "acks=all commit rule: isr (every in-sync replica) or quorum (a majority)"},
	CfgUncleanLeaderElection: {"false", oneOf("true", "false"), "allow a replica outside the ISR to become leader (loses data)"},
}

// TopicConfigKeys lists the valid keys, sorted.
func TopicConfigKeys() []string {
	keys := make([]string, 0, len(topicConfigSpecs))
	for k := range topicConfigSpecs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TopicConfigDoc returns the default and description of a key.
func TopicConfigDoc(key string) (def, doc string) {
	s := topicConfigSpecs[key]
	return s.def, s.doc
}

func intRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

func checkSync(v string) error {
	_, err := engine.ParseSyncPolicy(v)
	return err
}

func checkPrealloc(v string) error {
	_, err := engine.ParsePrealloc(v)
	return err
}

// validateConfigs checks explicit settings; the error names the key.
func validateConfigs(cfgs map[string]string) error {
	if len(cfgs) > maxConfigEntriesPerCall {
		return errf(codeInvalidConfig, "%d config entries; at most %d", len(cfgs), maxConfigEntriesPerCall)
	}
	for k, v := range cfgs {
		spec, ok := topicConfigSpecs[k]
		if !ok {
			return errf(codeInvalidConfig, "unknown config %q (valid: %s)", k, strings.Join(TopicConfigKeys(), ", "))
		}
		if len(v) > maxConfigValueLen {
			return errf(codeInvalidConfig, "config %s: value of %d bytes is too long", k, len(v))
		}
		if err := spec.check(v); err != nil {
			return errf(codeInvalidConfig, "config %s: %v", k, err)
		}
	}
	return nil
}

// effectiveConfigs merges defaults (the broker's, then the built-in ones)
// under the explicit settings.
func effectiveConfigs(explicit, brokerDefaults map[string]string) map[string]string {
	out := make(map[string]string, len(topicConfigSpecs))
	for k, s := range topicConfigSpecs {
		out[k] = s.def
	}
	for k, v := range brokerDefaults {
		out[k] = v
	}
	for k, v := range explicit {
		out[k] = v
	}
	return out
}

// topicSettings is a topic's effective configuration, parsed.
type topicSettings struct {
	retention       time.Duration
	retentionBytes  int64
	segmentBytes    int64
	segmentAge      time.Duration
	sync            engine.SyncPolicy
	maxMessageBytes int
	minISR          int
	indexInterval   int
	prealloc        engine.Prealloc
	quorum          bool
	unclean         bool
}

// parseSettings reads validated effective configs.
func parseSettings(eff map[string]string) topicSettings {
	i := func(k string) int64 { n, _ := strconv.ParseInt(eff[k], 10, 64); return n }
	s := topicSettings{
		retentionBytes:  i(CfgRetentionBytes),
		segmentBytes:    i(CfgSegmentBytes),
		segmentAge:      time.Duration(i(CfgSegmentMs)) * time.Millisecond,
		maxMessageBytes: int(i(CfgMaxMessageBytes)),
		minISR:          int(i(CfgMinInsyncReplicas)),
		indexInterval:   int(i(CfgIndexIntervalBytes)),
		quorum:          eff[CfgReplicationMode] == "quorum",
		unclean:         eff[CfgUncleanLeaderElection] == "true",
	}
	if ms := i(CfgRetentionMs); ms < 0 {
		s.retention = -1
	} else {
		s.retention = time.Duration(ms) * time.Millisecond
	}
	s.sync, _ = engine.ParseSyncPolicy(eff[CfgSyncPolicy])
	s.prealloc, _ = engine.ParsePrealloc(eff[CfgPreallocate])
	return s
}

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateTopicName applies Kafka's rules.
func validateTopicName(name string) *Error {
	switch {
	case name == "":
		return errf(codeInvalidTopic, "topic name is empty")
	case len(name) > MaxTopicNameLen:
		return errf(codeInvalidTopic, "topic name of %d bytes; at most %d", len(name), MaxTopicNameLen)
	case name == "." || name == "..":
		return errf(codeInvalidTopic, "topic name %q is reserved", name)
	case !topicNameRE.MatchString(name):
		return errf(codeInvalidTopic, "topic name %q: use only ASCII letters, digits, '.', '_' and '-'", name)
	}
	return nil
}
