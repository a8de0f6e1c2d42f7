// Package app builds sensorhub's stages from the configuration and runs
// them in one process, starting them in data-path order and stopping them
// in reverse.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/sim"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/web"
)

// Options are what the command line adds to the configuration.
type Options struct {
	// Demo runs the device simulator against the broker.
	Demo bool
	// DemoInterval is the time between two readings of one demo device.
	DemoInterval time.Duration
}

// App is a running sensorhub.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Queue   queue.Queue
	Store   store.Store

	fw      *gateway.Forwarder
	broker  *gateway.Broker
	client  *gateway.Client
	httpSrv *http.Server
	httpLn  net.Listener
	cancel  context.CancelFunc
	done    []chan struct{}
	closers []func() error

	closeOnce sync.Once
	closeErr  error
}

// Start starts every stage. On error, what was started is stopped again.
func Start(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (_ *App, err error) {
	a := &App{Config: cfg, Log: log, Metrics: metrics.New()}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	// HTTP first: a taken port is the most common start-up error, and it is
	// best found before anything writes to the data directory.
	if a.httpLn, err = listen(cfg.HTTP.Listen, "--http", "http.listen"); err != nil {
		return nil, err
	}
	qopts := jetstream.Options{
		Prefix: cfg.Queue.Prefix, RawMaxAge: cfg.Queue.RawMaxAge, RawMaxBytes: int64(cfg.Queue.RawMaxBytes),
		ReadingsMaxAge: cfg.Queue.ReadingsMaxAge, Logger: log,
	}
	var q *jetstream.Queue
	switch cfg.Queue.Engine {
	case "nats":
		q, err = jetstream.Connect(ctx, cfg.Queue.URL, qopts)
	default:
		q, err = jetstream.StartEmbedded(ctx, filepath.Join(cfg.DataDir, "queue"), "", qopts)
	}
	if err != nil {
		return nil, err
	}
	a.Queue = q
	a.closers = append(a.closers, q.Close)

	st, err := sqlite.Open(ctx, cfg.StorePath(), cfg.Location())
	if err != nil {
		return nil, err
	}
	a.Store = st
	a.closers = append(a.closers, st.Close)

	// Ingest before the gateway, so that what the gateway queues is taken
	// at once.
	cons, err := q.Consumer(ctx, queue.Raw, ingest.Group)
	if err != nil {
		return nil, err
	}
	in := &ingest.Ingester{
		Decoder: cfg.Decoder(), Formulas: cfg.Formulas(), Store: st, Publisher: q, Metrics: a.Metrics, Log: log.With("stage", "ingest"),
		BatchSize: cfg.Ingest.BatchSize, BatchWait: cfg.Ingest.BatchWait,
	}
	a.goRun(func() {
		if err := in.Run(runCtx, cons); err != nil {
			log.Error("ingest stopped", "err", err)
		}
	})

	fw := &gateway.Forwarder{Publisher: q, Metrics: a.Metrics, Log: log.With("stage", "gateway")}
	a.fw = fw
	checks := []web.Check{{Name: "queue", Fn: q.Ping}, {Name: "store", Fn: st.Ping}}
	brokerURL := cfg.MQTT.Broker
	if cfg.MQTT.Broker == "builtin" {
		a.broker, err = gateway.StartBroker(fw, gateway.BrokerOptions{
			Listen: cfg.MQTT.Listen, Topics: cfg.MQTT.Topics,
			MaxPendingWrites: cfg.MQTT.Builtin.MaxPendingWrites, MaxInflight: cfg.MQTT.Builtin.MaxInflight,
			MaxPacket: uint32(cfg.MQTT.Builtin.MaxPacket),
		}, log.With("stage", "gateway"))
		if errors.Is(err, gateway.ErrAddressInUse) {
			return nil, fmt.Errorf("%w: another MQTT broker probably runs there; choose a free port with --mqtt-listen ADDR (or mqtt.listen), or use it with mqtt.broker: tcp://%s", err, cfg.MQTT.Listen)
		}
		if err != nil {
			return nil, err
		}
		brokerURL = "tcp://" + a.broker.Addr().String()
		log.Info("built-in MQTT broker listening (anonymous access)", "addr", a.broker.Addr().String(), "topics", cfg.MQTT.Topics)
	} else {
		tlsCfg, err := mqttTLS(cfg)
		if err != nil {
			return nil, err
		}
		a.client, err = gateway.Connect(ctx, fw, gateway.ClientOptions{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
			CleanSession: cfg.MQTT.CleanSession, Topics: cfg.MQTT.Topics, QoS: byte(cfg.MQTT.QoS), TLS: tlsCfg,
		}, log.With("stage", "gateway"))
		if err != nil {
			return nil, err
		}
		checks = append(checks, web.Check{Name: "mqtt", Fn: func(context.Context) error { return a.client.Ready() }})
	}

	if err := a.startAlerts(ctx, runCtx, q); err != nil {
		return nil, err
	}

	hub := web.NewHub(log.With("stage", "web"))
	a.goRun(func() {
		if err := q.Tail(runCtx, queue.Readings, hub.Publish); err != nil {
			log.Error("live updates stopped", "err", err)
		}
	})
	api := &web.Server{
		Hub: hub, Store: st, Config: cfg,
		Replay: func(ctx context.Context, f store.RejectedFilter) (int, error) {
			return gateway.ReplayRejected(ctx, st, fw, f)
		},
		ReplayRaw: func(ctx context.Context, from, to time.Time, sensor string) (any, error) {
			return in.Replay(ctx, q, from, to, sensor)
		}, Location: cfg.Location(), Checks: checks, Registry: a.Metrics.Registry, Log: log.With("stage", "web"),
		Ingest: &gateway.HTTPIngest{Forwarder: fw, MaxBody: int64(cfg.HTTP.MaxBody)},
	}
	a.httpSrv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	a.httpSrv.RegisterOnShutdown(hub.Close)
	a.goRun(func() {
		if err := a.httpSrv.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	})
	log.Info("sensorhub running", "http", "http://"+a.httpLn.Addr().String(), "mqtt", brokerURL,
		"queue", cfg.Queue.Engine, "store", cfg.StorePath(), "timezone", cfg.Timezone)

	if opts.Demo {
		s := sim.New(sim.Options{
			Broker: brokerURL, Customer: cfg.Customers[0], Location: cfg.Location(),
			Interval: opts.DemoInterval, LossRate: 0.02, Seed: uint64(time.Now().UnixNano()),
		}, sim.Devices(), log.With("stage", "demo"))
		if err := a.demoHistory(ctx, s, in); err != nil {
			return nil, err
		}
		a.goRun(func() {
			if err := s.Run(runCtx); err != nil {
				log.Error("demo simulator stopped", "err", err)
			}
		})
	}
	return a, nil
}

// startAlerts starts the alert stage on the readings stream.
func (a *App) startAlerts(ctx, runCtx context.Context, q queue.Queue) error {
	cfg := a.Config
	cons, err := q.Consumer(ctx, queue.Readings, alert.Group)
	if err != nil {
		return err
	}
	log := a.Log.With("stage", "alert")
	e := &alert.Engine{
		Rules: cfg.Rules(), Store: a.Store, Notifiers: Notifiers(cfg, q), Always: []string{config.QueueNotifier},
		Backoff: notify.DefaultBackoff, Every: cfg.Alerts.EvaluateEvery, Location: cfg.Location(), PublicURL: cfg.PublicURL,
		Metrics: a.Metrics, Log: log,
	}
	if err := e.Load(ctx); err != nil {
		return err
	}
	a.goRun(func() {
		if err := e.Run(runCtx, cons); err != nil {
			log.Error("alerts stopped", "err", err)
		}
	})
	return nil
}

// Notifiers builds the configured notifiers and the queue's.
func Notifiers(cfg *config.Config, pub queue.Publisher) map[string]notify.Notifier {
	out := map[string]notify.Notifier{config.QueueNotifier: &notify.Queue{Publisher: pub}}
	for name, n := range cfg.Alerts.Notifiers {
		switch n.Type {
		case "email":
			out[name] = &notify.Email{Host: n.Host, Port: n.Port, Username: n.Username, Password: n.Password,
				From: n.From, To: n.To, TLS: n.TLS, Location: cfg.Location()}
		case "webhook":
			timeout := n.Timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			out[name] = &notify.Webhook{URL: n.URL, Secret: n.Secret, Client: &http.Client{Timeout: timeout}}
		}
	}
	return out
}

// demoHistory gives an empty demo store the last 7 days of the simulated
// devices, decoded and stored as ingest would, so that the dashboards have
// something to show at once.
func (a *App) demoHistory(ctx context.Context, s *sim.Simulator, in *ingest.Ingester) error {
	devs, err := a.Store.Devices(ctx, store.DeviceFilter{})
	if err != nil || len(devs) > 0 {
		return err
	}
	now := time.Now()
	topics, payloads := s.History(now.Add(-7*24*time.Hour), now.Add(-time.Minute), 5*time.Minute)
	envs := make([]reading.Envelope, len(payloads))
	for i := range payloads {
		envs[i] = reading.Envelope{Topic: topics[i], Payload: payloads[i], Received: now, Source: "demo"}
	}
	b := in.Decode(ctx, envs)
	if _, err := a.Store.Write(ctx, b); err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	a.Log.Info("demo: stored 7 days of simulated history", "readings", len(b.Readings))
	return nil
}

func mqttTLS(cfg *config.Config) (*tls.Config, error) {
	t := cfg.MQTT.TLS
	if t == (config.TLS{}) {
		return nil, nil
	}
	return gateway.TLSConfig(t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.InsecureSkipVerify)
}

// listen binds addr, turning a taken port into an error that says which
// flag and setting change it.
func listen(addr, flag, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("address %s is already in use: choose a free one with %s ADDR (or %s in the configuration)", addr, flag, setting)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, flag, err)
	}
	return ln, nil
}

func (a *App) goRun(f func()) {
	done := make(chan struct{})
	a.done = append(a.done, done)
	go func() {
		defer close(done)
		f()
	}()
}

// Forwarded is how many messages the gateway has put on the queue.
func (a *App) Forwarded() int64 { return a.fw.Forwarded() }

// HTTPAddr is the address the API listens on.
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// MQTTAddr is the built-in broker's address, or "" with an external broker.
func (a *App) MQTTAddr() string {
	if a.broker == nil {
		return ""
	}
	return a.broker.Addr().String()
}

// Close stops the stages in reverse order: no new messages in, let ingest
// finish its batch, then close the store and the queue.
func (a *App) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *App) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.httpSrv != nil {
		a.httpSrv.Shutdown(ctx)
	} else if a.httpLn != nil {
		a.httpLn.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	if a.broker != nil {
		a.broker.Close()
	}
	a.cancel()
	for _, d := range a.done {
		select {
		case <-d:
		case <-ctx.Done():
		}
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}
