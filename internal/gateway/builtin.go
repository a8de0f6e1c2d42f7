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
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 log.With("component", "mqtt-broker"),
		SysTopicResendInterval: 30,
	})
	ah := &authHook{users: map[string]BrokerUser{}, anonymous: opts.AllowAnonymous, log: log,
		failures: shauth.AddressLimits{PerMinute: failedLoginsPerMinute}}
	for _, u := range opts.Users {
		ah.users[u.Username] = u
	}
	if err := srv.AddHook(ah, nil); err != nil {
		return nil, err
	}
	hook := &forwardHook{fw: fw, topics: mqtt.NewTopicsIndex(), auth: ah, log: log}
	hook.ctx, hook.cancel = context.WithCancel(context.Background())
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
	topics *mqtt.TopicsIndex
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
}

func (h *forwardHook) ID() string { return "sensorhub-gateway" }

func (h *forwardHook) Provides(b byte) bool {
	return b == mqtt.OnPublish
}

// OnPublish runs before the broker acknowledges the message, so a QoS 1
// publisher gets its PUBACK only after the queue has the message.
func (h *forwardHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if strings.HasPrefix(pk.TopicName, "$") || len(h.topics.Subscribers(pk.TopicName).Subscriptions) == 0 {
		return pk, nil
	}
	env := reading.Envelope{Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), Received: time.Now().UTC(), Source: "mqtt",
		Customer: h.auth.customerOf(cl)}
	ctx, cancel := context.WithTimeout(h.ctx, SenderWait)
	defer cancel()
	if err := h.fw.Forward(ctx, env); err != nil {
		// No PUBACK: the client sends the message again when it reconnects.
		h.log.Warn("built-in broker: message not taken, the client will resend it", "client", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}
