package broker

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-mq/sluice/broker/brokerpb"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestAdminEndpoints: /metrics serves the broker's own registry (partition
// offsets after a produce, no embedded-etcd families), /healthz says ok
// while serving and not after shutdown starts, pprof answers.
func TestAdminEndpoints(t *testing.T) {
	b := startTestBroker(t, testConfig(t))
	waitController(t, b)
	c := dialBroker(t, b)
	createTopic(t, c, "m", 1, nil)
	if _, err := c.Produce(context.Background(), &brokerpb.ProduceRequest{Topic: "m", Batch: batchOf("a", "b", "c"), Acks: brokerpb.Acks_ACKS_ALL, LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + b.AdminAddr()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`sluice_partition_log_end_offset{partition="0",topic="m"} 3`,
		`sluice_partition_high_watermark{partition="0",topic="m"} 3`,
		`sluice_requests_total{api="produce",code="NONE"} 1`,
		`sluice_etcd_session_valid 1`,
		`sluice_is_controller 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "etcd_server_") || strings.Contains(body, "etcd_debugging_") {
		t.Error("/metrics exposes the embedded etcd's metrics")
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Fatalf("pprof: %d", code)
	}
	b.shuttingDown.Store(true)
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz while shutting down: %d", code)
	}
}
