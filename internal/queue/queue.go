// Package queue is the durable buffer between sensorhub's stages. Two
// streams flow through it: raw envelopes from the gateway to ingest, and
// decoded readings from ingest to alerting and live updates; a third
// carries alert events out, and a fourth tells every process of a new
// version of the catalog.
package queue

import (
	"context"
	"errors"
	"time"
)

// Stream names a stream of the queue.
type Stream string

const (
	// Raw carries reading.Envelope values from the gateway to ingest. It is
	// retained by age and size so that messages can be replayed.
	Raw Stream = "raw"
	// Readings carries decoded readings from ingest to downstream consumers.
	Readings Stream = "readings"
	// Alerts carries alert events (firing, repeat, resolved) for other
	// systems, as the alert stage's built-in notifier publishes them.
	Alerts Stream = "alerts"
	// Catalog carries each new version of the catalog that a running
	// process made (the settings changed in the browser or over the API),
	// so that every process reads it at once instead of at its next poll
	// of the store. A notice only: a process that misses it finds the
	// version by that poll, so it is kept for a short while.
	Catalog Stream = "catalog"
)

// ErrClosed is returned by a queue used after Close.
var ErrClosed = errors.New("queue: closed")

// ErrRefused is wrapped by a Publish error when the queue refuses a message
// for what it is (larger than it takes, a subject it does not take), not
// because it is away: publishing that message again fails again.
var ErrRefused = errors.New("queue: message refused")

// ErrNoAck is wrapped by a Publish error when the queue did not say within
// AckTimeout whether it has the messages: they may or may not be stored,
// and publishing them again is safe.
var ErrNoAck = errors.New("queue: no acknowledgement")

// AckTimeout bounds the wait for the queue to acknowledge a publish: a
// queue that says nothing (its disk full, a cluster without a leader) is
// away, and the publisher holds its messages and tries again.
const AckTimeout = 10 * time.Second

// Message is one message to publish.
type Message struct {
	Stream Stream
	// Subject refines the stream (such as customer.sensor.device); it may be
	// empty.
	Subject string
	// ID, when set, lets the queue drop a duplicate of a message published
	// shortly before with the same ID.
	ID   string
	Data []byte
}

// Publisher puts messages on the queue.
type Publisher interface {
	// Publish returns nil only once the queue has durably stored every
	// message; on error some may have been stored, and publishing them again
	// is safe because every consumer is idempotent.
	Publish(ctx context.Context, msgs ...Message) error
}

// Sender is implemented by queues that can send messages without waiting
// for them to be stored: messages are on the stream in the order of the
// calls, and the waits of several calls may run at once, so that a sender
// keeps messages flowing in order while earlier ones are acknowledged.
type Sender interface {
	// Send sends msgs, in order, and returns what waits until the queue
	// has durably stored every one, with Publish's errors and bound.
	Send(ctx context.Context, msgs ...Message) (wait func() error)
}

// Delivery is a message taken from the queue. It is redelivered unless
// acknowledged.
type Delivery interface {
	Data() []byte
	Subject() string
	// Ack tells the queue the message is done with, for good.
	Ack(ctx context.Context) error
	// Nak asks for redelivery after delay.
	Nak(ctx context.Context, delay time.Duration) error
}

// Consumer takes messages from one stream for one durable group: processes
// sharing a group share the messages.
type Consumer interface {
	// Fetch returns up to max messages, waiting at most wait for the first.
	// It returns an empty slice, not an error, when none came in time.
	Fetch(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)
	// Pending is how many messages wait to be delivered to the group.
	Pending(ctx context.Context) (uint64, error)
	Close() error
}

// Queue is a queue engine.
type Queue interface {
	Publisher
	// Consumer opens the durable consumer group on stream; it is created if
	// needed, and starts at the first message the stream holds.
	Consumer(ctx context.Context, stream Stream, group string) (Consumer, error)
	// Ping reports whether the queue is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Tailer is implemented by queues that can hand the new messages of a
// stream to a live subscriber that keeps no state on the queue, such as the
// web server's live updates.
type Tailer interface {
	// Tail calls fn with each message published to stream from now on,
	// until ctx ends. fn must not block.
	Tail(ctx context.Context, stream Stream, fn func(data []byte)) error
}

// Reader is implemented by queues that keep a stream's messages and can
// read them again, for a replay.
type Reader interface {
	// Read calls fn, in order, with each message of stream stored in
	// [from, to), and stops at the first error fn returns.
	Read(ctx context.Context, stream Stream, from, to time.Time, fn func(data []byte) error) error
}

// FromNow is implemented by queues that can start a new consumer group at
// the messages published from now on, for a stage that must not act on
// the past when it first runs (the alert stage would notify old events).
type FromNow interface {
	// ConsumerFromNow opens the durable consumer group on stream as
	// Consumer does; a group that does not exist yet starts with the
	// messages published from now on. An existing group goes on where it
	// was, so that nothing published while it was away is missed.
	ConsumerFromNow(ctx context.Context, stream Stream, group string) (Consumer, error)
}
