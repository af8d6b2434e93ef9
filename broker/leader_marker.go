package broker

import (
	"encoding/binary"
	"time"

	"github.com/sluice-mq/sluice/engine/record"
	"github.com/sluice-mq/sluice/replication"
)

// A quorum leader commits only records of its own epoch (Raft §5.4.2: a
// majority holding an older record does not stop a replica with a newer
// last epoch from winning the next election and truncating it), so a new
// leader must write something in its epoch before anything older can
// commit. Raft appends a no-op entry at the start of each term and
// KRaft a LeaderChange control record; so does Sluice. Without it a
// record the old leader replicated but did not commit stays uncommitted
// for as long as no new record arrives, and an idempotent producer
// retrying exactly that record (deduplicated to the old offset) waits
// forever: it was seen in a reassignment test.
//
// The marker is a control batch (consumers skip it; Kafka's control record
// key: version 0, type 2 = LEADER_CHANGE) whose value names the leader and
// the epoch. ISR mode needs none: its high watermark is the smallest log
// end over the ISR, whatever the epoch of the records.

const leaderChangeControlType = 2

// leaderChangeBatch encodes the marker of leader in epoch.
func leaderChangeBatch(leader, epoch int32, now time.Time) []byte {
	key := binary.BigEndian.AppendUint16(nil, 0) // version
	key = binary.BigEndian.AppendUint16(key, leaderChangeControlType)
	value := binary.BigEndian.AppendUint16(nil, 0) // version
	value = binary.BigEndian.AppendUint32(value, uint32(leader))
	value = binary.BigEndian.AppendUint32(value, uint32(epoch))
	ms := now.UnixMilli()
	return record.Encode(nil, &record.Batch{
		Header: record.Header{
			PartitionLeaderEpoch: epoch, Magic: record.Magic, Attributes: record.AttrControl,
			BaseTimestamp: ms, MaxTimestamp: ms, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		},
		Records: []record.Record{{Key: key, Value: value}},
	})
}

// markLeadership (driver) appends the marker once per epoch this replica
// leads a quorum partition. A failed append leaves the epoch unmarked:
// the log is then poisoned and the partition refuses writes anyway.
func (p *partition) markLeadership(rd replication.Ready) {
	if rd.Role != replication.RoleLeader || !p.snapshot().settings.quorum || p.markedEpoch == int32(rd.Epoch) {
		return
	}
	p.markedEpoch = int32(rd.Epoch)
	if _, err := p.log.Append(leaderChangeBatch(p.self, int32(rd.Epoch), time.Now())); err != nil {
		p.logger.Error("cannot write the leader-change marker", "epoch", rd.Epoch, "err", err)
	}
}
