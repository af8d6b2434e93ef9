package history_test

import (
	"fmt"

	"github.com/sluice-mq/sluice/broker/brokerpb"
	"github.com/sluice-mq/sluice/broker/client"
	"github.com/sluice-mq/sluice/linearizability/history"
)

// A harness goroutine records its operations through its own Client: the
// value to send, the call before the request, the outputs and the outcome
// after it. An unknown outcome moves the client to a new id.
func ExampleClient() {
	rec := history.NewRecorder()
	c := rec.NewClient(0) // worker 0

	v := c.NextValue()
	payload := history.EncodeValue(v, 64) // what the producer sends as the record value
	op := c.Invoke(history.Op{Kind: history.Produce, Topic: "orders", Partition: 2, Acks: history.AcksAll, Value: v})
	// res, err := producer.Send(ctx, client.Message{Topic: "orders", Partition: 2, Value: payload})
	op.Offset = 41
	fmt.Println(c.Complete(op, nil), c.ID())

	op = c.Invoke(history.Op{Kind: history.Produce, Topic: "orders", Partition: 2, Acks: history.AcksAll, Value: c.NextValue()})
	err := &client.Error{Code: brokerpb.ErrorCode_REQUEST_TIMED_OUT, Indefinite: true}
	fmt.Println(c.Complete(op, err), c.ID())

	got, _ := history.DecodeValue(payload)
	fmt.Println(got, len(rec.History().Ops))
	// Output:
	// ok 0
	// unknown 1
	// 0:1 2
}
