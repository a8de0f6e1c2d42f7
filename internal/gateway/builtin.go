package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	shauth "github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// BrokerOptions configures the built-in MQTT broker.
type BrokerOptions struct {
	Listen string
	// Topics are the filters whose messages go to the queue.
	Topics           []string
	MaxPendingWrites int32
	MaxInflight      uint16
	MaxPacket        uint32
	// AllowAnonymous lets clients connect without a username.
	AllowAnonymous bool
	// Users are the logins, each kept to its topics and its customer.
	Users []BrokerUser
	// TLSListen, with TLS, adds an MQTT-over-TLS listener.
	TLSListen string
	TLS       *tls.Config
}

// Broker is the MQTT broker built into sensorhub. Devices connect to it
// directly; every message on a configured topic goes to the queue before the
// publisher gets its PUBACK.
type Broker struct {
	server    *mqtt.Server
	hook      *forwardHook
	addr      net.Addr
	tlsAddr   net.Addr
	listeners []*keepAccepting
	log       *slog.Logger
}

// ErrAddressInUse is returned when the broker's port is taken.
var ErrAddressInUse = errors.New("address already in use")

// StartBroker starts the built-in broker on opts.Listen.
func StartBroker(fw *Forwarder, opts BrokerOptions, log *slog.Logger) (*Broker, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	// mochi drops messages for a client once these fill; a gateway that
	// must lose nothing raises them to what memory allows.
	caps.MaximumClientWritesPending = opts.MaxPendingWrites
	caps.MaximumInflight = opts.MaxInflight
	caps.MaximumPacketSize = opts.MaxPacket
	// QoS 2 is taken as QoS 1: a message is acknowledged once the queue
	// has it, which is what QoS 2's second round trip would add.
	caps.MaximumQos = 1
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 log.With("component", "mqtt-broker"),
		SysTopicResendInterval: 30,
		// The broker's own client hands on, to MQTT subscribers, the
		// messages acknowledged once queued.
		InlineClient: true,
	})
	ah := &authHook{users: map[string]BrokerUser{}, anonymous: opts.AllowAnonymous, log: log,
		failures: shauth.AddressLimits{PerMinute: failedLoginsPerMinute}}
	for _, u := range opts.Users {
		ah.users[u.Username] = u
	}
	if err := srv.AddHook(ah, nil); err != nil {
		return nil, err
	}
	hook := &forwardHook{fw: fw, topics: mqtt.NewTopicsIndex(), forwarded: map[string]bool{}, auth: ah, log: log, srv: srv, in: make(chan queued, batchQueue)}
	hook.ctx, hook.cancel = context.WithCancel(context.Background())
	go hook.forward()
	for i, t := range opts.Topics {
		hook.topics.Subscribe("sensorhub", packets.Subscription{Filter: t, Identifier: i + 1})
	}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, err
	}
	// Bind here, so that a taken port is an error now, not in a goroutine.
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("built-in MQTT broker: %s: %w", opts.Listen, ErrAddressInUse)
		}
		return nil, fmt.Errorf("built-in MQTT broker: %w", err)
	}
	kl := &keepAccepting{Listener: ln, name: "mqtt", log: log}
	if err := srv.AddListener(listeners.NewNet("mqtt", kl)); err != nil {
		ln.Close()
		return nil, err
	}
	b := &Broker{server: srv, hook: hook, addr: ln.Addr(), listeners: []*keepAccepting{kl}, log: log}
	if opts.TLS != nil {
		tln, err := tls.Listen("tcp", opts.TLSListen, opts.TLS)
		if err != nil {
			ln.Close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("built-in MQTT broker (TLS): %s: %w", opts.TLSListen, ErrAddressInUse)
			}
			return nil, fmt.Errorf("built-in MQTT broker (TLS): %w", err)
		}
		tkl := &keepAccepting{Listener: tln, name: "mqtts", log: log}
		if err := srv.AddListener(listeners.NewNet("mqtts", tkl)); err != nil {
			ln.Close()
			tln.Close()
			return nil, err
		}
		b.tlsAddr = tln.Addr()
		b.listeners = append(b.listeners, tkl)
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("built-in MQTT broker stopped", "err", err)
		}
	}()
	return b, nil
}

// Dropped counts the messages the broker did not hand on to a
// subscriber whose queue (MaxPendingWrites) was full.
func (b *Broker) Dropped() int64 { return atomic.LoadInt64(&b.server.Info.MessagesDropped) }

// Addr is the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.addr }

// Check returns an error while a listener cannot accept connections.
func (b *Broker) Check(context.Context) error {
	var errs []error
	for _, l := range b.listeners {
		errs = append(errs, l.Check())
	}
	return errors.Join(errs...)
}

// Publish sends a message to the broker's subscribers, as sensorhub's
// own: a command to a device (a Sparkplug B rebirth request).
func (b *Broker) Publish(topic string, payload []byte, qos byte) error {
	return b.server.Publish(topic, payload, false, qos)
}

// TLSAddr is the address of the TLS listener, or nil.
func (b *Broker) TLSAddr() net.Addr { return b.tlsAddr }

// Close stops the broker; publishers still waiting for the queue get no
// acknowledgement and will send again.
func (b *Broker) Close() error {
	b.hook.cancel()
	// No new connection first: a client that reconnects at once (as paho
	// does) between mochi disconnecting the clients and closing its
	// listeners would be left connected, and mochi would wait for it.
	for _, ln := range b.listeners {
		ln.Close()
	}
	done := make(chan struct{})
	go func() {
		b.server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.log.Warn("built-in MQTT broker: clients still connected after 10s; stopping without them")
	}
	return nil
}

type forwardHook struct {
	mqtt.HookBase
	auth   *authHook
	fw     *Forwarder
	srv    *mqtt.Server
	topics *mqtt.TopicsIndex
	// forwarded remembers, per topic, whether the configured topics take
	// it: the index's answer allocates, and a device keeps its topic.
	forwardedMu sync.Mutex
	forwarded   map[string]bool
	log         *slog.Logger
	ctx         context.Context
	cancel      context.CancelFunc
	in          chan queued
}

// queued is a message waiting to be put on the queue, and what to do once
// it is (or is not).
type queued struct {
	env  reading.Envelope
	done func(error)
}

// batchQueue and batchMax bound the messages waiting for the queue and
// the messages put on it in one round trip.
const (
	batchQueue = 8192
	batchMax   = 1000
)

func (h *forwardHook) ID() string { return "sensorhub-gateway" }

func (h *forwardHook) Provides(b byte) bool {
	return b == mqtt.OnPublish
}

// OnPublish hands the message to the forwarder. A QoS 1 message is
// acknowledged (PUBACK) only once the queue has it, and then handed on to
// the broker's subscribers; meanwhile the client may send more, which go
// to the queue together: one round trip for many messages, not one each.
// A QoS 0 message holds its client until the queue has it.
func (h *forwardHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || strings.HasPrefix(pk.TopicName, "$") || !h.takes(pk.TopicName) {
		return pk, nil
	}
	env := reading.Envelope{Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), Received: time.Now().UTC(), Source: "mqtt",
		Customer: h.auth.customerOf(cl)}
	notTaken := func(err error) {
		// No PUBACK: the client sends the message again when it reconnects.
		h.log.Warn("built-in broker: message not taken, the client will resend it", "client", cl.ID, "topic", pk.TopicName, "err", err)
	}
	if pk.FixedHeader.Qos == 0 {
		done := make(chan error, 1)
		if !h.enqueue(queued{env, func(err error) { done <- err }}) {
			return pk, packets.ErrRejectPacket
		}
		if err := <-done; err != nil {
			notTaken(err)
			return pk, packets.ErrRejectPacket
		}
		return pk, nil
	}
	h.enqueue(queued{env, func(err error) {
		if err != nil {
			notTaken(err)
			return
		}
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.CodeSuccess.Code, Created: time.Now().Unix()}
		if err := cl.WritePacket(ack); err != nil {
			h.log.Debug("built-in broker: acknowledging a message", "client", cl.ID, "err", err)
		}
		if pk.FixedHeader.Retain || atomic.LoadInt64(&h.srv.Info.Subscriptions) > 0 && len(h.srv.Topics.Subscribers(pk.TopicName).Subscriptions) > 0 {
			h.srv.Publish(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, 1)
		}
	}})
	// Acknowledged above once queued: the broker does not acknowledge it,
	// nor hand it on, itself.
	return pk, packets.ErrRejectPacket
}

// maxForwarded bounds the topics whose answer is remembered.
const maxForwarded = 1 << 16

// takes says whether the configured topics take a topic.
func (h *forwardHook) takes(topic string) bool {
	h.forwardedMu.Lock()
	ok, known := h.forwarded[topic]
	h.forwardedMu.Unlock()
	if known {
		return ok
	}
	ok = len(h.topics.Subscribers(topic).Subscriptions) > 0
	h.forwardedMu.Lock()
	if len(h.forwarded) >= maxForwarded {
		clear(h.forwarded)
	}
	h.forwarded[topic] = ok
	h.forwardedMu.Unlock()
	return ok
}

// enqueue hands a message to the forwarder, waiting while SenderWait
// allows when it has too many; false when the broker stops first.
func (h *forwardHook) enqueue(q queued) bool {
	select {
	case h.in <- q:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// forward puts the waiting messages on the queue, as many at once as are
// waiting, a few lots at once (forwardFlights), and tells each sender in
// the order they came.
func (h *forwardHook) forward() {
	fl := newFlights(forwardFlights)
	defer fl.close()
	for {
		batch, ok := gather(h.ctx, h.in)
		if !ok {
			for {
				select {
				case q := <-h.in:
					q.done(h.ctx.Err())
				default:
					return
				}
			}
		}
		envs := make([]reading.Envelope, len(batch))
		for i, q := range batch {
			envs[i] = q.env
		}
		fl.start(func() func() error {
			ctx, cancel := context.WithTimeout(h.ctx, SenderWait)
			wait := h.fw.Send(ctx, envs...)
			return func() error {
				defer cancel()
				return wait()
			}
		}, func(err error) {
			for _, q := range batch {
				q.done(err)
			}
		})
	}
}
