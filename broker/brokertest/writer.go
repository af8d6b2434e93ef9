package brokertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker/client"
)

// Writer produces numbered values ("<prefix>000000", ...) to one partition,
// one at a time, until stopped or a send fails, recording each
// acknowledged value and when it was acknowledged.
type Writer struct {
	mu     sync.Mutex
	acked  []string
	times  []time.Time
	stop   chan struct{}
	done   chan error
	failed error
}

// StartWriter starts writing with p.
func StartWriter(ctx context.Context, p *client.Producer, topic string, part int32, prefix string) *Writer {
	w := &Writer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			v := fmt.Sprintf("%s%06d", prefix, i)
			if _, err := p.Send(ctx, client.Message{Topic: topic, Partition: part, Value: []byte(v)}); err != nil {
				w.done <- fmt.Errorf("send %s: %w", v, err)
				return
			}
			w.mu.Lock()
			w.acked, w.times = append(w.acked, v), append(w.times, time.Now())
			w.mu.Unlock()
		}
	}()
	return w
}

// Count is the number of values acknowledged so far.
func (w *Writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// AckTime is when the i-th value was acknowledged.
func (w *Writer) AckTime(i int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.times[i]
}

// WaitAcked waits until n values are acknowledged; it fails the test if the
// writer stopped on an error or ctx ended first.
func (w *Writer) WaitAcked(t testing.TB, ctx context.Context, n int) {
	t.Helper()
	for w.Count() < n {
		select {
		case err := <-w.done:
			w.failed = err
			t.Fatalf("the writer stopped at %d acknowledged values: %v", w.Count(), err)
		case <-ctx.Done():
			t.Fatalf("only %d of %d values acknowledged", w.Count(), n)
		case <-time.After(5 * time.Millisecond): // polling interval
		}
	}
}

// Stop stops the writer and returns every acknowledged value in order; it
// fails the test if a send failed.
func (w *Writer) Stop(t testing.TB) []string {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("the writer failed: %v", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}
