package loadgen_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
)

// A workload from YAML, run open loop against the in-memory driver. With a
// real system, pass sluicedriver.New(...) or natsdriver.New(...) instead.
func Example() {
	w, err := loadgen.ParseWorkload([]byte(`
name: example
partitions: 2
messageSize: 512
producers: 2
consumers: {count: 1}
rate: 200        # messages per second, all producers together
warmUp: 0s
duration: 1s
`))
	if err != nil {
		log.Fatal(err)
	}
	d := loadgen.NewFake(loadgen.FakeOptions{ServiceTime: time.Millisecond})
	defer d.Close()
	res, err := loadgen.Run(context.Background(), w, d, loadgen.Options{})
	if err != nil {
		log.Fatal(err)
	}
	c := res.Counts
	fmt.Printf("%s loop: scheduled %d, acked %d, received %d, missing %d\n", res.Loop, c.Scheduled, c.Acked, c.Received, c.Missing)
	fmt.Println("p99 at least the service time:", res.Publish.P99 >= time.Millisecond)
	// Output:
	// open loop: scheduled 200, acked 200, received 200, missing 0
	// p99 at least the service time: true
}
