package broker

import (
	"testing"

	"github.com/sluice-mq/sluice/broker/client/clienttest"
)

// TestClientConformance runs the client's conformance suite against a real
// in-process broker with an embedded etcd.
func TestClientConformance(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	clienttest.Run(t, func(t *testing.T) []string { return []string{b.Addr()} },
		clienttest.WithTrimLog(func(t *testing.T, topic string, partition int32, before int64) {
			trimLog(t, b, topic, partition, before)
		}))
}

// trimLog advances a partition's log start on the broker (DeleteRecords).
func trimLog(t *testing.T, b *Broker, topic string, partition int32, before int64) {
	t.Helper()
	p, e := b.partitionFor(topic, partition)
	if e != nil {
		t.Fatal(e)
	}
	if err := p.log.AdvanceLogStart(before); err != nil {
		t.Fatal(err)
	}
}
