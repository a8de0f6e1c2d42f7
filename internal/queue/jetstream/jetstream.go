// Package jetstream is the queue on NATS JetStream: embedded in the
// sensorhub process with its files under the data directory, or an external
// NATS server (or cluster) reached by URL.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sensorhub/sensorhub/internal/queue"
)

// Options configures the queue's streams.
type Options struct {
	// Prefix names the streams (<PREFIX>_RAW, <PREFIX>_READINGS,
	// <PREFIX>_ALERTS) and their subjects (<prefix>.raw.>, ...). The alerts
	// stream is kept as long as the raw one.
	Prefix         string
	RawMaxAge      time.Duration
	RawMaxBytes    int64
	ReadingsMaxAge time.Duration
	Replicas       int
	// Username and Password log in to an external NATS server.
	Username, Password string
	Logger             *slog.Logger
}

// Queue is a queue.Queue on JetStream.
type Queue struct {
	opts     Options
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server
	watch    *watcher
	log      *slog.Logger
}

// StartEmbedded starts a NATS server with JetStream inside this process,
// storing under dir, and opens the queue on it. The server listens on no
// port unless listen is given ("127.0.0.1:4222", or "127.0.0.1:-1" for any).
func StartEmbedded(ctx context.Context, dir, listen string, opts Options) (*Queue, error) {
	so := &server.Options{
		ServerName: "sensorhub-embedded",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: listen == "",
		NoSigs:     true,
		NoLog:      true,
		// A message larger than the ingest limit is still kept in the raw
		// stream, to be rejected with its reason.
		MaxPayload: 16 << 20,
		// No share of the disk reserved at start: the embedded queue
		// starts on a small disk, and one that fills holds messages back
		// (the watcher restarts JetStream when there is room again).
		JetStreamMaxStore:  embeddedMaxStore,
		JetStreamMaxMemory: embeddedMaxMemory,
	}
	if listen != "" {
		host, port, err := splitHostPort(listen)
		if err != nil {
			return nil, err
		}
		so.Host, so.Port = host, port
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS: not ready after 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("sensorhub"), nats.MaxReconnects(-1), asyncErrors(opts.Logger))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS: connect: %w", err)
	}
	q, err := open(ctx, nc, opts)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	q.embedded = ns
	q.watchEmbedded(dir)
	return q, nil
}

// The embedded server's limits: no share of the disk is reserved, and the
// memory is only for its own bookkeeping (every stream is on disk).
const (
	embeddedMaxStore  = 1 << 50
	embeddedMaxMemory = 256 << 20
)

// ClientURL returns the URL other processes use to reach the embedded
// server, or "" when it does not listen.
func (q *Queue) ClientURL() string {
	if q.embedded == nil || q.embedded.Addr() == nil {
		return ""
	}
	return q.embedded.ClientURL()
}

// Connect opens the queue on an external NATS server or cluster; url may
// list several servers separated by commas.
func Connect(ctx context.Context, url string, opts Options) (*Queue, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	auth := nats.UserInfo(opts.Username, opts.Password)
	if opts.Username == "" {
		auth = func(*nats.Options) error { return nil }
	}
	nc, err := nats.Connect(url,
		nats.Name("sensorhub"),
		auth,
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS disconnected", "url", url, "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted())
		}),
		asyncErrors(log),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	q, err := open(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return q, nil
}

// asyncErrors logs what the connection reports on its own, such as a
// subscription too slow to keep up.
func asyncErrors(log *slog.Logger) nats.Option {
	if log == nil {
		log = slog.Default()
	}
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		log.Warn("NATS: asynchronous error", "subject", subject, "err", err)
	})
}

func open(ctx context.Context, nc *nats.Conn, opts Options) (*Queue, error) {
	if opts.Prefix == "" {
		opts.Prefix = "sensorhub"
	}
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	q := &Queue{opts: opts, nc: nc, js: js, log: log}
	stream := func(st queue.Stream, desc string, maxAge time.Duration, maxBytes int64) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: q.streamName(st), Description: desc, Subjects: []string{q.subject(st) + ".>"},
			Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxAge: maxAge, MaxBytes: nonZero(maxBytes), Duplicates: 2 * time.Minute, Replicas: opts.Replicas,
		}
	}
	streams := []jetstream.StreamConfig{
		stream(queue.Raw, "sensorhub raw messages from devices, retained for replay", opts.RawMaxAge, opts.RawMaxBytes),
		stream(queue.Readings, "sensorhub decoded readings for alerting and live updates", opts.ReadingsMaxAge, 0),
		stream(queue.Alerts, "sensorhub alert events: firing, repeat, resolved", opts.RawMaxAge, 0),
		stream(queue.Catalog, "sensorhub catalog versions, for every process to apply at once", time.Hour, 1<<20),
	}
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("JetStream stream %s: %w", sc.Name, err)
		}
	}
	return q, nil
}

func nonZero(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

func (q *Queue) streamName(s queue.Stream) string {
	return strings.ToUpper(q.opts.Prefix) + "_" + strings.ToUpper(string(s))
}

func (q *Queue) subject(s queue.Stream) string {
	return q.opts.Prefix + "." + string(s)
}

// Publish publishes all messages asynchronously and waits until JetStream
// has acknowledged each one, at most queue.AckTimeout.
func (q *Queue) Publish(ctx context.Context, msgs ...queue.Message) error {
	return q.Send(ctx, msgs...)()
}

// Send publishes all messages asynchronously, in order, and returns what
// waits until JetStream has acknowledged each one, at most
// queue.AckTimeout from the call.
func (q *Queue) Send(ctx context.Context, msgs ...queue.Message) (wait func() error) {
	ctx, cancel := context.WithTimeoutCause(ctx, queue.AckTimeout,
		fmt.Errorf("%w from JetStream within %s", queue.ErrNoAck, queue.AckTimeout))
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		subj := q.subject(m.Stream) + "."
		if m.Subject != "" {
			subj += m.Subject
		} else {
			subj += "_"
		}
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(5 * time.Second)}
		if m.ID != "" {
			opts = append(opts, jetstream.WithMsgID(m.ID))
		}
		f, err := q.js.PublishAsync(subj, m.Data, opts...)
		if err != nil {
			cancel()
			return func() error { return fmt.Errorf("publish to %s: %w", subj, refused(err)) }
		}
		futures = append(futures, f)
	}
	return func() error {
		defer cancel()
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publish to %s: %w", f.Msg().Subject, refused(err))
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	}
}

// refused marks the errors that are about the message, not the server,
// with queue.ErrRefused.
func refused(err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return fmt.Errorf("%w: %w", queue.ErrRefused, err)
	}
	return err
}

// MaxMessage is the largest message the server takes.
func (q *Queue) MaxMessage() int64 { return q.nc.MaxPayload() }

// Consumer opens a durable pull consumer shared by every process that uses
// the same group name.
func (q *Queue) Consumer(ctx context.Context, s queue.Stream, group string) (queue.Consumer, error) {
	return q.consumer(ctx, s, group, jetstream.DeliverAllPolicy)
}

// ConsumerFromNow opens a durable pull consumer that, when it is new,
// starts with the messages published from now on.
func (q *Queue) ConsumerFromNow(ctx context.Context, s queue.Stream, group string) (queue.Consumer, error) {
	policy := jetstream.DeliverNewPolicy
	existing, err := q.js.Consumer(ctx, q.streamName(s), group)
	switch {
	case err == nil:
		// Where an existing group starts cannot change: keep it.
		policy = existing.CachedInfo().Config.DeliverPolicy
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("JetStream consumer %s on %s: %w", group, q.streamName(s), err)
	}
	return q.consumer(ctx, s, group, policy)
}

func (q *Queue) consumer(ctx context.Context, s queue.Stream, group string, policy jetstream.DeliverPolicy) (queue.Consumer, error) {
	c, err := q.js.CreateOrUpdateConsumer(ctx, q.streamName(s), jetstream.ConsumerConfig{
		Durable:   group,
		AckPolicy: jetstream.AckExplicitPolicy,
		// A message delivered to an ingestor that died comes back after
		// AckWait; batches take milliseconds, so this can be short.
		AckWait:       10 * time.Second,
		MaxAckPending: 20000,
		DeliverPolicy: policy,
		MaxDeliver:    -1,
		Replicas:      q.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("JetStream consumer %s on %s: %w", group, q.streamName(s), err)
	}
	return &consumer{c: c}, nil
}

// Ping checks the connection and that JetStream answers and, embedded,
// that it can store messages.
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.pingEmbedded(ctx); err != nil {
		return err
	}
	if !q.nc.IsConnected() {
		return fmt.Errorf("NATS: not connected (%s)", q.nc.Status())
	}
	if _, err := q.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	return nil
}

// DeleteStreams removes the queue's streams; tests use it to clean up an
// external server.
func (q *Queue) DeleteStreams(ctx context.Context) error {
	var errs []error
	for _, s := range []queue.Stream{queue.Raw, queue.Readings, queue.Alerts, queue.Catalog} {
		if err := q.js.DeleteStream(ctx, q.streamName(s)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close waits briefly for outstanding publishes, then closes the connection
// and, when embedded, shuts the server down.
func (q *Queue) Close() error {
	select {
	case <-q.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
	}
	q.nc.Close()
	if q.watch != nil {
		q.watch.close()
	}
	if q.embedded != nil {
		q.embedded.Shutdown()
		q.embedded.WaitForShutdown()
	}
	return nil
}

type consumer struct {
	c jetstream.Consumer
}

// Fetch takes what is waiting at once; only when nothing is does it wait,
// up to wait, for a batch to fill: a busy queue is drained in large batches
// without waiting, and a quiet one answers within wait. The wait is the
// server's to end (it says so after the last message it sent), so that no
// message is sent to a request its client has already given up, which
// would come back only after the ack deadline.
func (c *consumer) Fetch(ctx context.Context, n int, wait time.Duration) ([]queue.Delivery, error) {
	batch, err := c.c.FetchNoWait(n)
	if err != nil {
		return nil, err
	}
	out, err := collect(batch)
	if len(out) > 0 || err != nil || ctx.Err() != nil {
		return out, err
	}
	// The client's pull takes no context: wait in short pulls, so that a
	// stage that stops is not held for the whole wait.
	deadline := time.Now().Add(max(wait, 10*time.Millisecond))
	for {
		left := time.Until(deadline)
		batch, err = c.c.Fetch(n, jetstream.FetchMaxWait(max(min(left, fetchSlice), 10*time.Millisecond)))
		if err != nil {
			return nil, err
		}
		out, err = collect(batch)
		if len(out) > 0 || err != nil || ctx.Err() != nil || left <= fetchSlice {
			return out, err
		}
	}
}

// fetchSlice is the longest pull of a Fetch: how long a stage that stops
// may wait for it.
const fetchSlice = 200 * time.Millisecond

func collect(batch jetstream.MessageBatch) ([]queue.Delivery, error) {
	var out []queue.Delivery
	for m := range batch.Messages() {
		out = append(out, delivery{m})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, err
	}
	return out, nil
}

func (c *consumer) Pending(ctx context.Context) (uint64, error) {
	info, err := c.c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

func (c *consumer) Close() error { return nil }

type delivery struct{ m jetstream.Msg }

func (d delivery) Data() []byte    { return d.m.Data() }
func (d delivery) Subject() string { return d.m.Subject() }

func (d delivery) Ack(ctx context.Context) error { return d.m.Ack() }

func (d delivery) Nak(ctx context.Context, delay time.Duration) error {
	return d.m.NakWithDelay(delay)
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embedded NATS listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("embedded NATS listen address %q: bad port", addr)
	}
	return host, port, nil
}

// tailBytes bounds what a tail's client holds of the messages not yet
// handed to fn.
const tailBytes = 4 << 20

// Tail delivers the stream's new messages to fn through an ordered,
// ephemeral consumer, until ctx ends.
func (q *Queue) Tail(ctx context.Context, s queue.Stream, fn func(data []byte)) error {
	c, err := q.js.OrderedConsumer(ctx, q.streamName(s), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return fmt.Errorf("JetStream tail of %s: %w", q.streamName(s), err)
	}
	// A readings message holds up to 256 KiB: what the client holds ahead
	// of fn is bounded in bytes, not only in messages (500 by default).
	cc, err := c.Consume(func(m jetstream.Msg) { fn(m.Data()) }, jetstream.PullMaxBytes(tailBytes))
	if err != nil {
		return fmt.Errorf("JetStream tail of %s: %w", q.streamName(s), err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// Read reads the stream's messages stored in [from, to) through an
// ordered, ephemeral consumer.
func (q *Queue) Read(ctx context.Context, s queue.Stream, from, to time.Time, fn func(data []byte) error) error {
	c, err := q.js.OrderedConsumer(ctx, q.streamName(s), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &from,
	})
	if err != nil {
		return fmt.Errorf("JetStream read of %s: %w", q.streamName(s), err)
	}
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if !meta.Timestamp.Before(to) {
				return nil
			}
			if err := fn(m.Data()); err != nil {
				return err
			}
			if meta.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if got == 0 {
			return nil // nothing more stored
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
