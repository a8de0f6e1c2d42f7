// Package gateway takes device messages in, from an MQTT broker (an external
// one, or the one built into sensorhub) and from HTTP, and puts them on the
// raw stream of the queue without parsing them. A QoS 1 message is
// acknowledged to its sender only once the queue has it.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Forwarder wraps messages in envelopes and puts them on the raw stream.
type Forwarder struct {
	Publisher queue.Publisher
	Metrics   *metrics.Metrics
	Log       *slog.Logger

	forwarded atomic.Int64
}

// Forwarded is how many messages the queue has taken so far.
func (f *Forwarder) Forwarded() int64 { return f.forwarded.Load() }

// Forward publishes the envelopes to the raw stream and returns once the
// queue has all of them. It retries with bounded backoff while the queue is
// unreachable, holding the sender back, and gives up only when ctx ends.
func (f *Forwarder) Forward(ctx context.Context, envs ...reading.Envelope) error {
	if len(envs) == 0 {
		return nil
	}
	msgs := make([]queue.Message, len(envs))
	for i, env := range envs {
		data, err := env.Marshal()
		if err != nil {
			return fmt.Errorf("gateway: envelope: %w", err)
		}
		msgs[i] = queue.Message{Stream: queue.Raw, Subject: env.Source, Data: data}
	}
	for attempt := 1; ; attempt++ {
		err := f.Publisher.Publish(ctx, msgs...)
		if err == nil {
			break
		}
		f.Metrics.GatewayErrors.WithLabelValues(envs[0].Source).Inc()
		if ctx.Err() != nil {
			return fmt.Errorf("gateway: queue unavailable, %d messages not acknowledged to their senders: %w", len(envs), err)
		}
		f.Log.Error("gateway: queue unavailable, holding messages and retrying", "err", err, "messages", len(envs), "attempt", attempt)
		t := time.NewTimer(min(100*time.Millisecond<<min(attempt, 6), 5*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	f.Metrics.Received.WithLabelValues(envs[0].Source).Add(float64(len(envs)))
	f.forwarded.Add(int64(len(envs)))
	return nil
}
