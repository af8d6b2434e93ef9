package results_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-mq/sluice/loadgen"
	"github.com/sluice-mq/sluice/loadgen/results"
)

// Store a run as results/<date>-<name>/ and read it back; the charts and
// report.html are drawn from the stored files.
func ExampleWriteRun() {
	parent, err := os.MkdirTemp("", "results-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(parent)

	d := loadgen.NewFake(loadgen.FakeOptions{ServiceTime: time.Millisecond})
	defer d.Close()
	w := loadgen.Workload{Name: "example", Rate: 100, WarmUp: loadgen.DurationOf(0), Duration: loadgen.Duration(time.Second)}
	res, err := loadgen.Run(context.Background(), w, d, loadgen.Options{})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := results.WriteRun(parent, results.NewInfo(results.Header{Driver: d.Name(), Args: os.Args[1:]}), res)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range []string{"run.json", "summary.csv", "series.csv", "hdr/001.hlog", "charts/latency-001.svg", "charts/throughput-001.png", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			log.Fatal(err)
		}
	}
	st, err := results.Read(dir)
	if err != nil {
		log.Fatal(err)
	}
	r := st.Steps[0].Result
	fmt.Println(st.Info.Kind, st.Info.Workload.Name, r.Counts.Acked, r.Publish.Count == r.PublishHistogram.TotalCount())
	// Output: run example 100 true
}
