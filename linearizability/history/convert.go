package history

import (
	"github.com/sluice-mq/sluice/broker/client"
)

// RecordOf converts a consumed record, decoding its value; a value that
// does not decode is kept with Corrupt set, for the checkers to report.
func RecordOf(r client.Record) Record {
	rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	id, err := DecodeValue(r.Value)
	if err != nil {
		rec.Corrupt = err.Error()
	} else {
		rec.Value = id
	}
	return rec
}

// RecordsOf converts a poll's records (RecordOf each).
func RecordsOf(rs []client.Record) []Record {
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = RecordOf(r)
	}
	return out
}

// TPOf converts a client partition name.
func TPOf(tp client.TopicPartition) TP { return TP{Topic: tp.Topic, Partition: tp.Partition} }

// AcksOf converts the client's acks setting.
func AcksOf(a client.Acks) Acks {
	switch a {
	case client.AcksNone:
		return AcksNone
	case client.AcksLeader:
		return AcksLeader
	}
	return AcksAll
}
