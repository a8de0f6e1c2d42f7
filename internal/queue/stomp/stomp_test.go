package stomp_test

import (
	"context"
	"testing"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/queuetest"
	"github.com/sensorhub/sensorhub/internal/queue/stomp"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestConformance runs the queue suite on a real ActiveMQ 5.17 broker.
func TestConformance(t *testing.T) {
	addr := testenv.ActiveMQURL(t)
	queuetest.Run(t, func(t *testing.T) (queue.Queue, func() queue.Queue) {
		opts := stomp.Options{Prefix: testenv.Unique(t), Groups: map[queue.Stream][]string{
			queue.Raw: {"ingest", "replay"}, queue.Readings: {"alert"},
		}}
		open := func() queue.Queue {
			q, err := stomp.Dial(context.Background(), addr, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		}
		return open(), open
	})
}
