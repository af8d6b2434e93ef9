package history

import "slices"

// FinalReads is what the final drain found, after healing every fault,
// restarting every broker and waiting for the full ISR (TESTING.md §2,
// reliability.md §9.1): per partition, the committed log L as a fresh
// consumer reads it from the leader, and the log L_n of every replica n,
// read from that replica alone (a fetch or the offline segment reader).
// The checkers compare them; the per-replica logs are also where a lost
// value is looked up, to tell "lost everywhere" (data loss) from "on some
// replica" (a read-path bug or a divergence).
type FinalReads struct {
	Partitions []PartitionRead `json:"partitions"`
}

// PartitionRead is the final state of one partition.
type PartitionRead struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// LogStartOffset and HighWatermark bound the committed log: L holds
	// the records at offsets [LogStartOffset, HighWatermark).
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	// Log is L, in offset order.
	Log []Record `json:"log"`
	// Replicas are the L_n, one per replica of the partition.
	Replicas []ReplicaRead `json:"replicas"`
}

// TP returns the partition.
func (p *PartitionRead) TP() TP { return TP{Topic: p.Topic, Partition: p.Partition} }

// ReplicaRead is one replica's log. Records above the final high watermark
// may legitimately differ between replicas; the checkers ignore them.
type ReplicaRead struct {
	Broker int32 `json:"broker"`
	// Source says how it was read: "fetch" (from the running broker) or
	// "dump" (the offline segment reader, which also shows control
	// records).
	Source  string   `json:"source"`
	Records []Record `json:"records"`
	// Err is set when the replica could not be read; the check is then
	// incomplete, and says so.
	Err string `json:"err,omitempty"`
}

// Partition returns the read of tp, or nil.
func (f *FinalReads) Partition(tp TP) *PartitionRead {
	if f == nil {
		return nil
	}
	for i := range f.Partitions {
		if f.Partitions[i].TP() == tp {
			return &f.Partitions[i]
		}
	}
	return nil
}

// Index returns the partitions by TP.
func (f *FinalReads) Index() map[TP]*PartitionRead {
	m := map[TP]*PartitionRead{}
	if f == nil {
		return m
	}
	for i := range f.Partitions {
		m[f.Partitions[i].TP()] = &f.Partitions[i]
	}
	return m
}

// TPs returns the partitions read, sorted.
func (f *FinalReads) TPs() []TP {
	var tps []TP
	if f == nil {
		return tps
	}
	for i := range f.Partitions {
		tps = append(tps, f.Partitions[i].TP())
	}
	slices.SortFunc(tps, CompareTP)
	return tps
}

// CompareTP orders partitions by topic, then partition.
func CompareTP(a, b TP) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}
