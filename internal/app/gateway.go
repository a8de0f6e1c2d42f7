package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/input"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/web"
)

// gatewayStage takes messages in, from the built-in MQTT broker or the
// configured one and from HTTP ingest, and puts them on the raw stream.
type gatewayStage struct {
	cfg    *config.Config
	fw     *gateway.Forwarder
	log    *slog.Logger
	broker *gateway.Broker
	client *gateway.Client
	// url is the MQTT broker's URL once started.
	url string
}

func newGatewayStage(cfg *config.Config, q queue.Publisher, m *metrics.Metrics, log *slog.Logger) *gatewayStage {
	log = log.With("stage", "gateway")
	return &gatewayStage{cfg: cfg, log: log, url: cfg.MQTT.Broker, fw: &gateway.Forwarder{Publisher: q, Metrics: m, Log: log,
		MaxPayload: int(cfg.Ingest.MaxPayload), Progress: &health.Progress{}}}
}

// start starts the built-in broker or connects to the configured one.
func (s *gatewayStage) start(ctx context.Context) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	if slices.ContainsFunc(s.cfg.Inputs, func(in config.Input) bool { return in.Format == "sparkplug" }) {
		input.SparkplugNodes.SetRebirth(s.askRebirth)
	}
	return nil
}

// askRebirth asks a Sparkplug B edge node, through the broker, to
// publish its births again.
func (s *gatewayStage) askRebirth(group, node string) {
	topic, payload := sparkplug.CommandTopic(group, node), sparkplug.RebirthRequest(time.Now())
	s.log.Info("Sparkplug B: asking an edge node for its births (a data message named an unknown alias)", "group", group, "node", node, "topic", topic)
	if s.broker != nil {
		go func() {
			if err := s.broker.Publish(topic, payload, 0); err != nil {
				s.log.Warn("Sparkplug B: rebirth request not published", "topic", topic, "err", err)
			}
		}()
		return
	}
	s.client.Publish(topic, payload, 1)
}

func (s *gatewayStage) connect(ctx context.Context) error {
	cfg := s.cfg
	if cfg.MQTT.Broker != "builtin" {
		tlsCfg, err := mqttTLS(cfg)
		if err != nil {
			return err
		}
		topics := cfg.SubscribedTopics()
		if g := cfg.MQTT.ShareGroup; g != "" {
			for i, t := range topics {
				topics[i] = "$share/" + g + "/" + t
			}
		}
		s.client, err = gateway.Connect(ctx, s.fw, gateway.ClientOptions{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
			CleanSession: cfg.MQTT.CleanSession, Topics: topics, QoS: byte(cfg.MQTT.QoS), TLS: tlsCfg,
		}, s.log)
		return err
	}
	b := cfg.MQTT.Builtin
	bopts := gateway.BrokerOptions{
		Listen: cfg.MQTT.Listen, Topics: cfg.SubscribedTopics(),
		MaxPendingWrites: b.MaxPendingWrites, MaxInflight: b.MaxInflight, MaxPacket: uint32(b.MaxPacket),
		AllowAnonymous: b.AllowAnonymous,
	}
	for _, u := range cfg.BrokerUsers() {
		bopts.Users = append(bopts.Users, gateway.BrokerUser{Username: u.Username, PasswordHash: u.PasswordHash, Customer: u.Customer, Topics: u.Topics})
	}
	if b.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(b.TLS.CertFile, b.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("mqtt.builtin.tls: %w", err)
		}
		bopts.TLSListen, bopts.TLS = b.TLS.Listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var err error
	s.broker, err = gateway.StartBroker(s.fw, bopts, s.log)
	if errors.Is(err, gateway.ErrAddressInUse) {
		return fmt.Errorf("%w: another MQTT broker probably runs there; choose a free port with --mqtt-listen ADDR (or mqtt.listen), or use it with mqtt.broker: tcp://%s", err, cfg.MQTT.Listen)
	}
	if err != nil {
		return err
	}
	access := fmt.Sprintf("%d users", len(b.Users))
	if b.AllowAnonymous {
		access += ", anonymous clients allowed"
	}
	attrs := []any{"addr", s.broker.Addr().String(), "topics", cfg.SubscribedTopics(), "access", access}
	if s.broker.TLSAddr() != nil {
		attrs = append(attrs, "tls_addr", s.broker.TLSAddr().String())
	}
	s.log.Info("built-in MQTT broker listening", attrs...)
	broker := s.broker
	_ = s.fw.Metrics.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sensorhub_mqtt_messages_dropped_total",
		Help: "Messages the built-in broker did not hand on to another program subscribed to it, whose queue (mqtt.builtin.max_pending_writes) was full. sensorhub itself stores them.",
	}, func() float64 { return float64(broker.Dropped()) }))
	s.url = "tcp://" + s.broker.Addr().String()
	return nil
}

func (s *gatewayStage) serve(api *web.Server) {
	mqtt := func(context.Context) error { return s.client.Ready() }
	if s.broker != nil {
		mqtt = s.broker.Check
	}
	api.Checks = append(api.Checks, web.Check{Name: "gateway", Fn: s.fw.Progress.Check}, web.Check{Name: "mqtt", Fn: mqtt})
	api.Ingest = &gateway.HTTPIngest{Forwarder: s.fw, MaxBody: int64(s.cfg.HTTP.MaxBody)}
}

// stop takes no new messages in; what the queue has, ingest finishes.
func (s *gatewayStage) stop(context.Context) {
	input.SparkplugNodes.SetRebirth(nil)
	if s.client != nil {
		s.client.Close()
	}
	if s.broker != nil {
		s.broker.Close()
	}
}

func mqttTLS(cfg *config.Config) (*tls.Config, error) {
	t := cfg.MQTT.TLS
	if t == (config.TLS{}) {
		return nil, nil
	}
	return gateway.TLSConfig(t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.InsecureSkipVerify)
}
