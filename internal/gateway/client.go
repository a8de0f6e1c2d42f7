package gateway

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// ClientOptions configures the connection to an external broker.
type ClientOptions struct {
	Broker       string // tcp://host:1883, ssl://host:8883, ws://, wss://
	ClientID     string
	Username     string
	Password     string
	CleanSession bool
	Topics       []string
	QoS          byte
	TLS          *tls.Config
	// ConnectWait is how long Connect waits for the broker before it goes
	// on and keeps trying in the background (default 10s).
	ConnectWait time.Duration
}

// Client subscribes to an external MQTT broker and forwards its messages.
type Client struct {
	c          paho.Client
	fw         *Forwarder
	log        *slog.Logger
	in         chan paho.Message
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	connected  atomic.Bool
	subscribed chan struct{}
	subOnce    sync.Once
	opts       ClientOptions
	closeOnce  sync.Once
}

// TLSConfig builds the TLS settings for an ssl:// broker from files.
func TLSConfig(caFile, certFile, keyFile, serverName string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.tls.ca_file: no PEM certificate in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Connect connects to the broker and subscribes. Messages are acknowledged
// to the broker (QoS 1) only after the queue has them, in the order they
// came. The client reconnects by itself when the connection drops.
func Connect(ctx context.Context, fw *Forwarder, opts ClientOptions, log *slog.Logger) (*Client, error) {
	cl := &Client{fw: fw, log: log, in: make(chan paho.Message, 4096), done: make(chan struct{}), opts: opts,
		subscribed: make(chan struct{})}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	po := paho.NewClientOptions().
		AddBroker(opts.Broker).
		SetClientID(opts.ClientID).
		SetUsername(opts.Username).
		SetPassword(opts.Password).
		SetCleanSession(opts.CleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		// Acks are sent by the forwarder once the queue has the message.
		SetAutoAckDisabled(true).
		SetResumeSubs(true).
		SetDefaultPublishHandler(cl.receive).
		SetOnConnectHandler(cl.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cl.connected.Store(false)
			log.Warn("MQTT connection lost, reconnecting", "broker", opts.Broker, "err", err)
		}).
		SetReconnectingHandler(func(_ paho.Client, _ *paho.ClientOptions) {
			log.Info("MQTT reconnecting", "broker", opts.Broker)
		})
	if opts.TLS != nil {
		po.SetTLSConfig(opts.TLS)
	}
	if u, err := url.Parse(opts.Broker); err == nil && (u.Scheme == "tcp" || u.Scheme == "mqtt") {
		po.SetCustomOpenConnectionFn(openBuffered)
	}
	cl.c = paho.NewClient(po)
	go cl.forward()
	tok := cl.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			cl.Close()
			return nil, fmt.Errorf("MQTT broker %s: %w", opts.Broker, err)
		}
		// Start only once subscribed, so that what is published after
		// start-up is received.
		select {
		case <-cl.subscribed:
		case <-time.After(cmp.Or(opts.ConnectWait, 10*time.Second)):
			log.Warn("MQTT subscription not confirmed yet", "broker", opts.Broker)
		}
	case <-ctx.Done():
		cl.Close()
		return nil, ctx.Err()
	case <-time.After(cmp.Or(opts.ConnectWait, 10*time.Second)):
		// ConnectRetry keeps trying in the background; start anyway and
		// let /readyz report the broker as down.
		log.Warn("MQTT broker not reachable yet, still trying", "broker", opts.Broker)
	}
	return cl, nil
}

func (cl *Client) onConnect(c paho.Client) {
	filters := map[string]byte{}
	for _, t := range cl.opts.Topics {
		filters[t] = cl.opts.QoS
	}
	tok := c.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		cl.log.Error("MQTT subscribe failed", "broker", cl.opts.Broker, "topics", cl.opts.Topics, "err", tok.Error())
		return
	}
	cl.connected.Store(true)
	cl.subOnce.Do(func() { close(cl.subscribed) })
	cl.log.Info("MQTT connected and subscribed", "broker", cl.opts.Broker, "topics", cl.opts.Topics, "qos", cl.opts.QoS)
}

// openBuffered opens a plain TCP connection to the broker as paho does
// (through the proxy the environment names, if any), reading it through a
// buffer: paho reads each packet's header a byte at a time, which without
// one is several system calls for every message received.
func openBuffered(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	if o.Dialer != nil {
		dd := *o.Dialer
		d = &dd
		if d.Timeout == 0 {
			d.Timeout = o.ConnectTimeout
		}
	}
	conn, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 32<<10), linger: writeLinger}, nil
}

// writeLinger is how long a packet written to the broker may wait for the
// next ones to go out with it: the acknowledgements of a lot of messages
// leave as one write, not one each.
const writeLinger = 200 * time.Microsecond

// bufferedConn is a connection read through a buffer, whose writes leave
// together: at most linger after the first of them, or at once when many
// wait. A write that fails closes the connection, so that paho reconnects,
// and the broker sends again what it was not acknowledged.
type bufferedConn struct {
	net.Conn
	r      *bufio.Reader
	linger time.Duration

	mu      sync.Mutex
	w       []byte
	pending bool
	err     error
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.w = append(c.w, p...)
	if len(c.w) >= 32<<10 {
		c.flushLocked()
		return len(p), c.err
	}
	if !c.pending {
		c.pending = true
		time.AfterFunc(c.linger, c.flush)
	}
	return len(p), nil
}

func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *bufferedConn) flushLocked() {
	c.pending = false
	if len(c.w) == 0 || c.err != nil {
		return
	}
	_, err := c.Conn.Write(c.w)
	c.w = c.w[:0]
	if err != nil {
		c.err = err
		c.Conn.Close()
	}
}

// Close sends what waits, then closes.
func (c *bufferedConn) Close() error {
	c.flush()
	return c.Conn.Close()
}

// receive is paho's handler: it only queues the message; paho waits when
// the channel is full, which holds the broker back instead of dropping.
func (cl *Client) receive(_ paho.Client, m paho.Message) {
	select {
	case cl.in <- m:
	case <-cl.ctx.Done():
	}
}

// forward puts the messages on the queue in the order they arrive, those
// waiting together, a few lots at once (forwardFlights), and acknowledges
// each to the broker once the queue has it, in the order they came.
// Brokers send only a few unacknowledged messages at a time (Mosquitto:
// 20): they come on while the lots before are put on the queue.
func (cl *Client) forward() {
	defer close(cl.done)
	fl := newFlights(forwardFlights)
	defer fl.close()
	for {
		ms, ok := gather(cl.ctx, cl.in)
		if !ok {
			return
		}
		envs := make([]reading.Envelope, len(ms))
		received := time.Now().UTC()
		for i, m := range ms {
			envs[i] = reading.Envelope{Topic: m.Topic(), Payload: m.Payload(), Received: received, Source: "mqtt"}
		}
		fl.start(func() func() error { return cl.fw.Send(cl.ctx, envs...) }, func(err error) {
			if err != nil {
				// Shutting down, or refused: unacknowledged, the broker
				// sends them again.
				return
			}
			for _, m := range ms {
				m.Ack()
			}
		})
	}
}

// Ready reports whether the client is connected and subscribed.
func (cl *Client) Ready() error {
	if !cl.connected.Load() || !cl.c.IsConnectionOpen() {
		return errors.New("MQTT broker " + cl.opts.Broker + ": not connected")
	}
	return nil
}

// Publish sends a message to the broker, as sensorhub's own: a command
// to a device (a Sparkplug B rebirth request). It does not wait for the
// broker; a failure is logged.
func (cl *Client) Publish(topic string, payload []byte, qos byte) {
	tok := cl.c.Publish(topic, qos, false, payload)
	go func() {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			cl.log.Warn("MQTT publish failed", "topic", topic, "err", tok.Error())
		}
	}()
}

// Close stops forwarding and disconnects; messages not yet on the queue
// stay unacknowledged and the broker delivers them again.
func (cl *Client) Close() error {
	cl.closeOnce.Do(func() {
		cl.cancel()
		<-cl.done
		cl.c.Disconnect(250)
	})
	return nil
}
