// Package stomp is the queue on ActiveMQ over STOMP (go-stomp), the queue of
// the original system, for operators who keep their ActiveMQ broker.
//
// A stream is an ActiveMQ virtual topic, VirtualTopic.<prefix>.<stream>;
// each consumer group reads its own persistent queue of it,
// Consumer.<group>.VirtualTopic.<prefix>.<stream>, which the broker fills
// from the moment the queue exists. The groups sensorhub uses are created
// when the queue opens, so that nothing published before a stage first
// starts is missed. Messages are sent persistent, in a STOMP transaction
// committed with a receipt; consumers acknowledge each message on its own.
package stomp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/queue"
)

// Options configure the queue.
type Options struct {
	// Prefix names the destinations.
	Prefix   string
	Username string
	Password string
	// Groups are the consumer groups created at open, per stream, so that
	// they get every message from then on. A group that is never read
	// keeps its messages on the broker: give only those that will read.
	Groups map[queue.Stream][]string
	// Prefetch is how many unacknowledged messages the broker hands one
	// consumer ahead of time; default 500.
	Prefetch int
	// DedupWindow is how long a consumer remembers message IDs to drop a
	// message published twice; default 2m.
	DedupWindow time.Duration
	Logger      *slog.Logger
}

// Queue is a queue.Queue on ActiveMQ.
type Queue struct {
	addr string
	tls  bool
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	conn   *stomp.Conn // for publishing; redialled after an error
	closed bool
}

const (
	headerSubject = "sensorhub-subject"
	headerID      = "sensorhub-id"
)

// Dial connects to the broker at rawURL (stomp://host:61613 or
// stomp+ssl://host:61614) and creates the consumer groups' queues.
func Dial(ctx context.Context, rawURL string, opts Options) (*Queue, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("activemq: %q is not a stomp://host:port URL", rawURL)
	}
	if opts.Prefix == "" {
		opts.Prefix = "sensorhub"
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 500
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = 2 * time.Minute
	}
	if u.User != nil && opts.Username == "" {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	q := &Queue{addr: u.Host, tls: u.Scheme == "stomp+ssl", opts: opts, log: log}
	if _, err := q.publisher(ctx); err != nil {
		return nil, err
	}
	for s, groups := range opts.Groups {
		for _, g := range groups {
			if err := q.touch(ctx, s, g); err != nil {
				q.Close()
				return nil, err
			}
		}
	}
	return q, nil
}

func (q *Queue) dial(ctx context.Context) (*stomp.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", q.addr)
	if err != nil {
		return nil, fmt.Errorf("activemq at %s: %w", q.addr, err)
	}
	if q.tls {
		host, _, _ := net.SplitHostPort(q.addr)
		tc := tls.Client(nc, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("activemq at %s: TLS: %w", q.addr, err)
		}
		nc = tc
	}
	opts := []func(*stomp.Conn) error{
		stomp.ConnOpt.HeartBeat(10*time.Second, 10*time.Second),
		stomp.ConnOpt.Host("/"),
		stomp.ConnOpt.MsgSendTimeout(30 * time.Second),
		stomp.ConnOpt.RcvReceiptTimeout(queue.AckTimeout),
		stomp.ConnOpt.Logger(quietLogger{}),
	}
	if q.opts.Username != "" {
		opts = append(opts, stomp.ConnOpt.Login(q.opts.Username, q.opts.Password))
	}
	c, err := stomp.ConnectWithContext(ctx, nc, opts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("activemq at %s: %w", q.addr, err)
	}
	return c, nil
}

// publisher returns the publishing connection, dialling it if needed.
func (q *Queue) publisher(ctx context.Context) (*stomp.Conn, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, queue.ErrClosed
	}
	if q.conn != nil {
		return q.conn, nil
	}
	c, err := q.dial(ctx)
	if err != nil {
		return nil, err
	}
	q.conn = c
	return c, nil
}

// drop forgets a publishing connection that failed.
func (q *Queue) drop(c *stomp.Conn) {
	q.mu.Lock()
	if q.conn == c {
		q.conn = nil
	}
	q.mu.Unlock()
	c.Disconnect()
}

func (q *Queue) topic(s queue.Stream) string {
	return "/topic/VirtualTopic." + q.opts.Prefix + "." + string(s)
}

func (q *Queue) groupQueue(s queue.Stream, group string) string {
	return "Consumer." + group + ".VirtualTopic." + q.opts.Prefix + "." + string(s)
}

// touch creates a group's queue by subscribing to it once.
func (q *Queue) touch(ctx context.Context, s queue.Stream, group string) error {
	c, err := q.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect()
	sub, err := c.Subscribe("/queue/"+q.groupQueue(s, group), stomp.AckClientIndividual,
		stomp.SubscribeOpt.Header("activemq.prefetchSize", "0"))
	if err != nil {
		return fmt.Errorf("activemq: create queue %s: %w", q.groupQueue(s, group), err)
	}
	return sub.Unsubscribe()
}

// Publish sends the messages in one transaction, committed with a receipt:
// when it returns nil, the broker has stored all of them.
func (q *Queue) Publish(ctx context.Context, msgs ...queue.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	c, err := q.publisher(ctx)
	if err != nil {
		return err
	}
	err = func() error {
		tx, err := c.BeginWithError()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			opts := []func(*frame.Frame) error{stomp.SendOpt.Header("persistent", "true")}
			if m.Subject != "" {
				opts = append(opts, stomp.SendOpt.Header(headerSubject, m.Subject))
			}
			if m.ID != "" {
				opts = append(opts, stomp.SendOpt.Header(headerID, m.ID))
			}
			if err := tx.Send(q.topic(m.Stream), "application/octet-stream", m.Data, opts...); err != nil {
				tx.Abort()
				return err
			}
		}
		return tx.CommitWithReceipt()
	}()
	if err != nil {
		q.drop(c)
		return fmt.Errorf("activemq publish: %w", err)
	}
	return nil
}

// Consumer opens a consumer of the group's queue on its own connection:
// closing it hands its unacknowledged messages back to the broker.
func (q *Queue) Consumer(ctx context.Context, s queue.Stream, group string) (queue.Consumer, error) {
	c := &consumer{q: q, dest: q.groupQueue(s, group), seen: map[string]time.Time{}}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ConsumerFromNow is Consumer: a group's queue only gets the messages
// published after it exists, and one that exists keeps what came while
// its readers were away.
func (q *Queue) ConsumerFromNow(ctx context.Context, s queue.Stream, group string) (queue.Consumer, error) {
	return q.Consumer(ctx, s, group)
}

// Ping checks the publishing connection with a receipt-confirmed send to a
// destination no one reads.
func (q *Queue) Ping(ctx context.Context) error {
	c, err := q.publisher(ctx)
	if err != nil {
		return err
	}
	if err := c.Send("/topic/"+q.opts.Prefix+".ping", "text/plain", nil, stomp.SendOpt.Receipt); err != nil {
		q.drop(c)
		return fmt.Errorf("activemq: %w", err)
	}
	return nil
}

// Close disconnects.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if q.conn != nil {
		q.conn.Disconnect()
		q.conn = nil
	}
	return nil
}

// Tail subscribes to the stream's topic without keeping state on the
// broker: only messages published from now on arrive.
func (q *Queue) Tail(ctx context.Context, s queue.Stream, fn func(data []byte)) error {
	for ctx.Err() == nil {
		err := func() error {
			c, err := q.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Disconnect()
			sub, err := c.Subscribe(q.topic(s), stomp.AckAuto)
			if err != nil {
				return err
			}
			for {
				select {
				case <-ctx.Done():
					return nil
				case m, ok := <-sub.C:
					if !ok {
						return errors.New("subscription closed")
					}
					if m.Err != nil {
						return m.Err
					}
					fn(m.Body)
				}
			}
		}()
		if err != nil && ctx.Err() == nil {
			q.log.Warn("activemq: live tail lost, reconnecting", "err", err)
			backoff.Sleep(ctx, time.Second)
		}
	}
	return nil
}

type consumer struct {
	q    *Queue
	dest string

	mu   sync.Mutex
	conn *stomp.Conn
	sub  *stomp.Subscription
	seen map[string]time.Time // message IDs delivered lately
}

func (c *consumer) connect(ctx context.Context) error {
	conn, err := c.q.dial(ctx)
	if err != nil {
		return err
	}
	sub, err := conn.Subscribe("/queue/"+c.dest, stomp.AckClientIndividual,
		stomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(c.q.opts.Prefetch)))
	if err != nil {
		conn.Disconnect()
		return fmt.Errorf("activemq: subscribe %s: %w", c.dest, err)
	}
	c.mu.Lock()
	c.conn, c.sub = conn, sub
	c.mu.Unlock()
	return nil
}

// Fetch waits up to wait for a first message, then takes what else has
// already arrived, up to max. Messages seen lately with the same ID are
// acknowledged and dropped.
func (c *consumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]queue.Delivery, error) {
	c.mu.Lock()
	sub := c.sub
	c.mu.Unlock()
	if sub == nil {
		if err := c.connect(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		sub = c.sub
		c.mu.Unlock()
	}
	var out []queue.Delivery
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(out) < max {
		var m *stomp.Message
		var ok bool
		if len(out) == 0 {
			select {
			case <-ctx.Done():
				return out, nil
			case <-timer.C:
				return out, nil
			case m, ok = <-sub.C:
			}
		} else {
			select {
			case m, ok = <-sub.C:
			default:
				return out, nil
			}
		}
		if !ok || m.Err != nil {
			err := errors.New("subscription closed")
			if m != nil && m.Err != nil {
				err = m.Err
			}
			// The connection is gone, and with it what was taken from it:
			// the broker delivers that again.
			c.reset()
			return nil, fmt.Errorf("activemq: %s: %w", c.dest, err)
		}
		if id := m.Header.Get(headerID); id != "" && c.duplicate(id) {
			m.Conn.Ack(m)
			continue
		}
		out = append(out, &delivery{c: c, m: m})
	}
	return out, nil
}

// duplicate remembers id and reports whether it was seen within the
// window.
func (c *consumer) duplicate(id string) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.seen[id]; ok && now.Sub(t) < c.q.opts.DedupWindow {
		return true
	}
	if len(c.seen) > 100000 {
		for k, t := range c.seen {
			if now.Sub(t) >= c.q.opts.DedupWindow {
				delete(c.seen, k)
			}
		}
	}
	c.seen[id] = now
	return false
}

func (c *consumer) reset() {
	c.mu.Lock()
	conn := c.conn
	c.conn, c.sub = nil, nil
	c.mu.Unlock()
	if conn != nil {
		conn.Disconnect()
	}
}

func (c *consumer) Close() error {
	c.reset()
	return nil
}

type delivery struct {
	c *consumer
	m *stomp.Message
}

func (d *delivery) Data() []byte    { return d.m.Body }
func (d *delivery) Subject() string { return d.m.Header.Get(headerSubject) }

// ackTimeout bounds an acknowledgement: a connection whose writer no
// longer takes frames (seen with go-stomp after the broker stalled) would
// hold the ack, and the stage, for ever.
const ackTimeout = 10 * time.Second

func (d *delivery) Ack(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- d.m.Conn.Ack(d.m) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("activemq ack: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("activemq ack: %w", ctx.Err())
	case <-time.After(ackTimeout):
	}
	// The connection is stuck: drop it; the broker delivers again what it
	// did not see acknowledged, and ingest stores it once.
	d.c.mu.Lock()
	if d.c.conn == d.m.Conn {
		d.c.conn, d.c.sub = nil, nil
	}
	d.c.mu.Unlock()
	go d.m.Conn.MustDisconnect()
	return fmt.Errorf("activemq ack: no answer within %s; the connection is dropped and the message will be delivered again", ackTimeout)
}

// Nak puts a copy of the message back on the group's queue and
// acknowledges the original; the broker's own redelivery would move a
// message to its dead-letter queue after a few tries. delay is not kept:
// the broker's scheduler is off by default.
func (d *delivery) Nak(ctx context.Context, delay time.Duration) error {
	q := d.c.q
	c, err := q.publisher(ctx)
	if err != nil {
		return err
	}
	opts := []func(*frame.Frame) error{stomp.SendOpt.Receipt, stomp.SendOpt.Header("persistent", "true")}
	for _, h := range []string{headerSubject, headerID} {
		if v := d.m.Header.Get(h); v != "" {
			opts = append(opts, stomp.SendOpt.Header(h, v))
		}
	}
	if err := c.Send("/queue/"+d.c.dest, "application/octet-stream", d.m.Body, opts...); err != nil {
		q.drop(c)
		return fmt.Errorf("activemq nak: %w", err)
	}
	if id := d.m.Header.Get(headerID); id != "" {
		d.c.mu.Lock()
		delete(d.c.seen, id) // the copy is not a duplicate
		d.c.mu.Unlock()
	}
	return d.Ack(ctx)
}

// quietLogger keeps go-stomp's own logging (heart-beat chatter) out of
// sensorhub's log; errors reach sensorhub as returned errors.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any)   {}
func (quietLogger) Debug(string)            {}
func (quietLogger) Infof(string, ...any)    {}
func (quietLogger) Info(string)             {}
func (quietLogger) Warningf(string, ...any) {}
func (quietLogger) Warning(string)          {}
func (quietLogger) Errorf(string, ...any)   {}
func (quietLogger) Error(string)            {}

// Pending asks the broker's statistics plugin (statisticsBrokerPlugin in
// activemq.xml) for the size of the group's queue: the messages not yet
// acknowledged.
func (c *consumer) Pending(ctx context.Context) (uint64, error) {
	conn, err := c.q.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Disconnect()
	reply := "/temp-queue/sensorhub-stats"
	sub, err := conn.Subscribe(reply, stomp.AckAuto, stomp.SubscribeOpt.Header("transformation", "jms-map-json"))
	if err != nil {
		return 0, fmt.Errorf("activemq statistics: %w", err)
	}
	if err := conn.Send("/queue/ActiveMQ.Statistics.Destination."+c.dest, "text/plain", nil,
		stomp.SendOpt.Header("reply-to", reply)); err != nil {
		return 0, fmt.Errorf("activemq statistics: %w", err)
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(5 * time.Second):
		return 0, errors.New("activemq statistics: no reply in 5s; is statisticsBrokerPlugin enabled in activemq.xml?")
	case m, ok := <-sub.C:
		if !ok || m.Err != nil {
			return 0, fmt.Errorf("activemq statistics: no reply (the broker needs statisticsBrokerPlugin, and XStream and Jettison on its classpath): %v", m.Err)
		}
		return statSize(m.Body)
	}
}

// statSize reads "size" from the statistics plugin's map, as ActiveMQ's
// jms-map-json transformation writes it:
// {"map":{"entry":[{"string":"size","long":4},...]}}.
func statSize(body []byte) (uint64, error) {
	var stats struct {
		Map struct {
			Entry []map[string]json.RawMessage `json:"entry"`
		} `json:"map"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		return 0, fmt.Errorf("activemq statistics: %w", err)
	}
	for _, e := range stats.Map.Entry {
		if string(e["string"]) != `"size"` {
			continue
		}
		var n uint64
		if err := json.Unmarshal(e["long"], &n); err != nil {
			return 0, fmt.Errorf("activemq statistics: size: %w", err)
		}
		return n, nil
	}
	return 0, errors.New("activemq statistics: no size in the reply")
}
