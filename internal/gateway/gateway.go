// Package gateway takes device messages in, from an MQTT broker (an external
// one, or the one built into sensorhub) and from HTTP, and puts them on the
// raw stream of the queue without parsing them. A QoS 1 message is
// acknowledged to its sender only once the queue has it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Forwarder wraps messages in envelopes and puts them on the raw stream.
type Forwarder struct {
	Publisher queue.Publisher
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// MaxPayload is ingest.max_payload: of a larger message only the first
	// MaxPayload bytes travel, with its size, to be kept rejected as too
	// large; no message is too large for the queue.
	MaxPayload int
	// Progress follows the messages waiting for the queue: one held longer
	// than its stall bound makes the gateway not ready.
	Progress *health.Progress

	forwarded atomic.Int64
}

// Forwarded is how many messages the queue has taken so far.
func (f *Forwarder) Forwarded() int64 { return f.forwarded.Load() }

// Forward publishes the envelopes to the raw stream and returns once the
// queue has all of them. It retries with bounded backoff while the queue is
// unreachable, holding the sender back, and gives up only when ctx ends or
// the queue refuses the messages for what they are.
func (f *Forwarder) Forward(ctx context.Context, envs ...reading.Envelope) error {
	return f.forward(ctx, nil, envs)
}

// ForwardID is Forward of one envelope with an identity of its own (a
// device's poll): the queue stores once what is published twice under one
// id within its deduplication window.
func (f *Forwarder) ForwardID(ctx context.Context, id string, env reading.Envelope) error {
	return f.forward(ctx, []string{id}, []reading.Envelope{env})
}

// Send puts envs on the queue in the order of the calls, and returns what
// waits until the queue has them all: Forward's wait, trying again as
// Forward does if the first try fails. Several waits may run at once. A
// lot tried again (the queue did not acknowledge it in time) comes on the
// stream after the lots sent since, and may be there twice; ingest stores
// each reading once whatever the order, by the device's own time.
func (f *Forwarder) Send(ctx context.Context, envs ...reading.Envelope) (wait func() error) {
	msgs, err := f.messages(nil, envs)
	if err != nil {
		return func() error { return err }
	}
	s, ok := f.Publisher.(queue.Sender)
	if !ok {
		// A queue that cannot send without waiting publishes here, so
		// that the calls' order is the stream's.
		err := f.publish(ctx, msgs, envs, nil)
		return func() error { return err }
	}
	first := s.Send(ctx, msgs...)
	return func() error { return f.publish(ctx, msgs, envs, first) }
}

// forward is Forward, the messages with ids when given (one per
// envelope).
func (f *Forwarder) forward(ctx context.Context, ids []string, envs []reading.Envelope) error {
	msgs, err := f.messages(ids, envs)
	if err != nil {
		return err
	}
	return f.publish(ctx, msgs, envs, nil)
}

// messages are the queue's messages of envs, with ids when given.
func (f *Forwarder) messages(ids []string, envs []reading.Envelope) ([]queue.Message, error) {
	msgs := make([]queue.Message, len(envs))
	for i, env := range envs {
		if f.MaxPayload > 0 && len(env.Payload) > f.MaxPayload {
			env.Size, env.Payload = len(env.Payload), env.Payload[:f.MaxPayload]
		}
		data, err := env.Marshal()
		if err != nil {
			return nil, fmt.Errorf("gateway: envelope: %w", err)
		}
		msgs[i] = queue.Message{Stream: queue.Raw, Subject: env.Source, Data: data}
		if i < len(ids) {
			msgs[i].ID = ids[i]
		}
	}
	if len(ids) > 0 {
		return msgs, nil
	}
	return lots(msgs, f.lotBytes()), nil
}

// maxLotBytes bounds the envelopes packed in one message of the queue.
const maxLotBytes = 256 << 10

// lotBytes is what a lot holds at most: maxLotBytes, or half the largest
// message the queue takes (a NATS server's max_payload) when that is less.
func (f *Forwarder) lotBytes() int {
	n := maxLotBytes
	if mq, ok := f.Publisher.(interface{ MaxMessage() int64 }); ok {
		if m := mq.MaxMessage(); m > 0 {
			n = min(n, int(m/2))
		}
	}
	return n
}

// lots packs consecutive messages of one subject into lots of up to
// lotBytes (a message larger goes alone): the queue stores, delivers and
// is acknowledged once a lot, not once a message.
func lots(msgs []queue.Message, lotBytes int) []queue.Message {
	if len(msgs) < 2 {
		return msgs
	}
	var out []queue.Message
	var part [][]byte
	size := 0
	flush := func(subject string) {
		switch len(part) {
		case 0:
		case 1:
			out = append(out, queue.Message{Stream: queue.Raw, Subject: subject, Data: part[0]})
		default:
			out = append(out, queue.Message{Stream: queue.Raw, Subject: subject, Data: reading.MarshalLot(part)})
		}
		part, size = part[:0:0], 0
	}
	for i, m := range msgs {
		if i > 0 && (m.Subject != msgs[i-1].Subject || size+len(m.Data) > lotBytes) {
			flush(msgs[i-1].Subject)
		}
		part = append(part, m.Data)
		size += len(m.Data)
	}
	flush(msgs[len(msgs)-1].Subject)
	return out
}

// publish puts msgs (of envs) on the queue, retrying with bounded backoff
// while it is unreachable; first, when not nil, is the first try's wait
// (a Send already made).
func (f *Forwarder) publish(ctx context.Context, msgs []queue.Message, envs []reading.Envelope, first func() error) error {
	if len(envs) == 0 {
		return nil
	}
	if f.Progress != nil {
		f.Progress.Begin()
	}
	try := func() error {
		if first != nil {
			wait := first
			first = nil
			return wait()
		}
		return f.Publisher.Publish(ctx, msgs...)
	}
	err := backoff.Default.Retry(ctx, try,
		func(err error, attempt int) {
			f.Metrics.GatewayErrors.WithLabelValues(envs[0].Source).Inc()
			if f.Progress != nil {
				f.Progress.Failed(fmt.Errorf("queue: %w", err))
			}
			f.Log.Error("gateway: queue unavailable, holding messages and retrying", "err", err, "messages", len(envs), "attempt", attempt)
		},
		func(err error) bool { return errors.Is(err, queue.ErrRefused) })
	if f.Progress != nil {
		f.Progress.End(err == nil)
	}
	if err != nil {
		f.Metrics.GatewayErrors.WithLabelValues(envs[0].Source).Inc()
		if errors.Is(err, queue.ErrRefused) {
			f.Log.Error("gateway: the queue refuses these messages; they are not acknowledged to their senders", "err", err, "messages", len(envs))
			return fmt.Errorf("gateway: the queue refuses %d messages: %w", len(envs), err)
		}
		return fmt.Errorf("gateway: queue unavailable, %d messages not acknowledged to their senders: %w", len(envs), err)
	}
	f.Metrics.Received.WithLabelValues(envs[0].Source).Add(float64(len(envs)))
	f.forwarded.Add(int64(len(envs)))
	return nil
}
