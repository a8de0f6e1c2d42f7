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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"golang.org/x/net/netutil"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/elastic"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/queue/stomp"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/sim"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/postgres"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/web"
)

// The roles a process can run: each is one stage of the data path, and
// together they are the whole of sensorhub.
const (
	RoleGateway = "gateway"
	RoleIngest  = "ingest"
	RoleAlert   = "alert"
	RoleWeb     = "web"
)

// Roles are all the roles, in data-path order.
var Roles = []string{RoleGateway, RoleIngest, RoleAlert, RoleWeb}

// Options are what the command line adds to the configuration.
type Options struct {
	// Roles are the stages this process runs; none means all of them.
	Roles []string
	// Demo runs the device simulator against the broker.
	Demo bool
	// DemoInterval is the time between two readings of one demo device.
	DemoInterval time.Duration
}

func (o Options) has(role string) bool { return len(o.Roles) == 0 || slices.Contains(o.Roles, role) }

// App is a running sensorhub.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Queue   queue.Queue
	// Store is nil in a process that runs only the gateway.
	Store store.Store

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

// Start starts the stages the options ask for. On error, what was started
// is stopped again.
func Start(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (_ *App, err error) {
	if err := checkRoles(cfg, opts); err != nil {
		return nil, err
	}
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
	q, err := OpenQueue(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.Queue = q
	a.closers = append(a.closers, q.Close)
	if err := checkQueueCarries(cfg, q); err != nil {
		return nil, err
	}
	checks := []web.Check{{Name: "queue", Fn: q.Ping}}

	if opts.has(RoleIngest) || opts.has(RoleAlert) || opts.has(RoleWeb) {
		st, err := OpenStore(ctx, cfg, opts.has(RoleIngest), log)
		if err != nil {
			return nil, err
		}
		a.Store = st
		a.closers = append(a.closers, a.Store.Close)
		checks = append(checks, web.Check{Name: "store", Fn: a.Store.Ping})
	}
	var in *ingest.Ingester
	if a.Store != nil {
		in = &ingest.Ingester{
			Decoder: cfg.Decoder(), Formulas: cfg.Formulas(), Store: a.Store, Publisher: q, Metrics: a.Metrics, Log: log.With("stage", "ingest"),
			BatchSize: cfg.Ingest.BatchSize, BatchWait: cfg.Ingest.BatchWait, Progress: &health.Progress{},
		}
	}
	// Ingest before the gateway, so that what the gateway queues is taken
	// at once.
	if opts.has(RoleIngest) {
		cons, err := q.Consumer(ctx, queue.Raw, ingest.Group)
		if err != nil {
			return nil, err
		}
		checks = append(checks, web.Check{Name: "ingest", Fn: in.Progress.Check})
		a.goRun(func() {
			if err := in.Run(runCtx, cons); err != nil {
				log.Error("ingest stopped", "err", err)
			}
		})
		if err := a.startElasticsearch(ctx, runCtx, q, &checks); err != nil {
			return nil, err
		}
	}

	fw := &gateway.Forwarder{Publisher: q, Metrics: a.Metrics, Log: log.With("stage", "gateway"),
		MaxPayload: int(cfg.Ingest.MaxPayload), Progress: &health.Progress{}}
	a.fw = fw
	brokerURL := cfg.MQTT.Broker
	if opts.has(RoleGateway) {
		checks = append(checks, web.Check{Name: "gateway", Fn: fw.Progress.Check})
		if brokerURL, err = a.startGateway(ctx, fw, &checks); err != nil {
			return nil, err
		}
	}
	if opts.has(RoleAlert) {
		if err := a.startAlerts(ctx, runCtx, q, &checks); err != nil {
			return nil, err
		}
	}

	api := &web.Server{Location: cfg.Location(), Checks: checks, Registry: a.Metrics.Registry, Log: log.With("stage", "web"), PublicURL: cfg.PublicURL,
		Roles: opts.Roles}
	if cfg.AuthOn() {
		dir, err := auth.NewDirectory(cfg.Auth.Users, cfg.Auth.UsersFile, cfg.Customers, log.With("stage", "web"))
		if err != nil {
			return nil, err
		}
		if dir.Empty() {
			log.Warn("no users yet: nobody can log in; add one with sensorhub user add --file " + cfg.Auth.UsersFile)
		}
		secure := cfg.HTTP.TLS.CertFile != "" || cfg.HTTP.TrustProxyHeaders
		sessions := web.NewSessions(cfg.Auth.SessionLifetime, cfg.Auth.SessionIdle, secure)
		a.keepSessions(sessions)
		api.Access = &web.Access{Dir: dir, Sessions: sessions,
			TrustProxy: cfg.HTTP.TrustProxyHeaders, Logins: &auth.AddressLimits{PerMinute: cfg.Auth.LoginsPerMinute}, Log: log.With("stage", "web")}
	}
	if opts.has(RoleGateway) {
		api.Ingest = &gateway.HTTPIngest{Forwarder: fw, MaxBody: int64(cfg.HTTP.MaxBody)}
	}
	if opts.has(RoleWeb) {
		hub := web.NewHub(log.With("stage", "web"))
		hub.MaxPerUser = cfg.HTTP.MaxStreamsPerUser
		if tl, ok := q.(queue.Tailer); ok {
			a.goRun(func() {
				if err := tl.Tail(runCtx, queue.Readings, hub.Publish); err != nil {
					log.Error("live updates stopped", "err", err)
				}
			})
			api.Hub = hub
		}
		st := a.Store
		api.Store, api.Config = st, cfg
		api.Replay = func(ctx context.Context, f store.RejectedFilter) (int, error) {
			return gateway.ReplayRejected(ctx, st, fw, f)
		}
		if rd, ok := q.(queue.Reader); ok {
			api.ReplayRaw = func(ctx context.Context, from, to time.Time, sensor string) (any, error) {
				return in.Replay(ctx, rd, from, to, sensor)
			}
		}
	}
	// Every connection is bounded in time and in number, so that idle or
	// slow clients cannot hold the process' file descriptors; live
	// streams lift the write and read deadlines for themselves.
	a.httpSrv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	a.httpLn = netutil.LimitListener(a.httpLn, cfg.HTTP.MaxConnections)
	if api.Hub != nil {
		a.httpSrv.RegisterOnShutdown(api.Hub.Close)
	}
	a.goRun(func() {
		serve := func() error { return a.httpSrv.Serve(a.httpLn) }
		if t := cfg.HTTP.TLS; t.CertFile != "" {
			serve = func() error { return a.httpSrv.ServeTLS(a.httpLn, t.CertFile, t.KeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	})
	roles := opts.Roles
	if len(roles) == 0 {
		roles = Roles
	}
	scheme := "http://"
	if cfg.HTTP.TLS.CertFile != "" {
		scheme = "https://"
	}
	attrs := []any{"roles", strings.Join(roles, ","), "http", scheme + a.httpLn.Addr().String(), "queue", cfg.Queue.Engine}
	if !cfg.AuthOn() {
		attrs = append(attrs, "access", "no users: everyone who reaches it is an admin (loopback only)")
	}
	if opts.has(RoleGateway) {
		attrs = append(attrs, "mqtt", brokerURL)
	}
	if a.Store != nil {
		attrs = append(attrs, "store", cfg.StoreName())
	}
	log.Info("sensorhub running", append(attrs, "timezone", cfg.Timezone)...)

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

// checkRoles refuses what cannot work: an unknown role, the demo without
// every role, and split roles on the queue that lives inside one process.
func checkRoles(cfg *config.Config, opts Options) error {
	for _, r := range opts.Roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("unknown role %q: the roles are %s", r, strings.Join(Roles, ", "))
		}
	}
	if b := cfg.MQTT.Builtin; opts.has(RoleGateway) && cfg.MQTT.Broker == "builtin" && !b.AllowAnonymous && len(b.Users) == 0 {
		return errors.New("mqtt.builtin: the built-in broker has no users and anonymous access is off, so no device could publish: " +
			"add mqtt.builtin.users (sensorhub hash-password makes a password_hash), or set mqtt.builtin.allow_anonymous: true on a closed network")
	}
	split := len(opts.Roles) > 0 && len(opts.Roles) < len(Roles)
	if split && opts.Demo {
		return errors.New("--demo runs every role in one process: use sensorhub run --demo")
	}
	if split && cfg.Queue.Engine == "embedded" {
		return errors.New("queue.engine: embedded lives inside one process; processes running separate roles " +
			"(" + strings.Join(opts.Roles, ", ") + ") share a queue server: set queue.engine to nats (queue.url or queue.urls) or activemq")
	}
	return nil
}

// OpenQueue opens the configured queue engine.
func OpenQueue(ctx context.Context, cfg *config.Config, log *slog.Logger) (queue.Queue, error) {
	qopts := jetstream.Options{
		Prefix: cfg.Queue.Prefix, RawMaxAge: cfg.Queue.RawMaxAge, RawMaxBytes: int64(cfg.Queue.RawMaxBytes),
		ReadingsMaxAge: cfg.Queue.ReadingsMaxAge, Replicas: cfg.Queue.Replicas, Logger: log,
		Username: cfg.Queue.Username, Password: cfg.Queue.Password,
	}
	switch cfg.Queue.Engine {
	case "nats":
		return jetstream.Connect(ctx, strings.Join(cfg.QueueURLs(), ","), qopts)
	case "activemq":
		// Only the groups that will read: ActiveMQ keeps every message of a
		// group's queue until it is read.
		groups := map[queue.Stream][]string{queue.Raw: {ingest.Group}, queue.Readings: {alert.Group}}
		if len(cfg.Elasticsearch.URLs) > 0 {
			groups[queue.Readings] = append(groups[queue.Readings], elastic.Group)
		}
		return stomp.Dial(ctx, cfg.Queue.URL, stomp.Options{
			Prefix: cfg.Queue.Prefix, Username: cfg.Queue.Username, Password: cfg.Queue.Password, Groups: groups, Logger: log,
		})
	}
	return jetstream.StartEmbedded(ctx, filepath.Join(cfg.DataDir, "queue"), "", qopts)
}

// checkQueueCarries refuses a queue that cannot carry the largest message
// ingest takes: a larger one would be refused by the queue for good
// instead of kept rejected.
func checkQueueCarries(cfg *config.Config, q queue.Queue) error {
	mq, ok := q.(interface{ MaxMessage() int64 })
	if !ok {
		return nil
	}
	// The payload travels base64-encoded in the envelope's JSON, beside a
	// topic whose characters may each take six bytes escaped.
	need := 4*((int64(cfg.Ingest.MaxPayload)+2)/3) + 6*int64(cfg.Ingest.MaxTopic) + 512
	if max := mq.MaxMessage(); max > 0 && need > max {
		return fmt.Errorf("ingest.max_payload: %s does not fit in one message of the queue, which takes at most %s "+
			"(a message travels base64-encoded with its topic): lower ingest.max_payload to %s or raise the NATS server's max_payload",
			cfg.Ingest.MaxPayload, config.ByteSize(max), config.ByteSize((max-6*int64(cfg.Ingest.MaxTopic)-512)*3/4))
	}
	return nil
}

// OpenStore opens the configured store engine; with compact, this process
// folds recent readings into chunks (the process that ingests does).
func OpenStore(ctx context.Context, cfg *config.Config, compact bool, log *slog.Logger) (*sqlstore.Store, error) {
	opts := sqlstore.Options{Location: cfg.Location(), Log: log.With("stage", "store"), Compact: compact,
		CompactRows: cfg.Store.CompactRows, CompactAge: cfg.Store.CompactAge}
	if cfg.Store.Engine == "postgres" {
		return postgres.Open(ctx, cfg.Store.URL, opts)
	}
	return sqlite.Open(ctx, cfg.StorePath(), opts)
}

// keepSessions keeps the web sessions in the store's database, so that a
// restart logs nobody out and every web process knows every session; a
// process without a store keeps them in memory.
func (a *App) keepSessions(sm *scs.SessionManager) {
	st, ok := a.Store.(*sqlstore.Store)
	if !ok {
		return
	}
	var ss interface {
		scs.Store
		StopCleanup()
	}
	if a.Config.Store.Engine == "postgres" {
		ss = postgresstore.New(st.DB())
	} else {
		ss = sqlite3store.New(st.DB())
	}
	sm.Store = ss
	a.closers = append(a.closers, func() error { ss.StopCleanup(); return nil })
}

// startGateway starts the built-in broker or connects to the configured
// one, and returns the broker's URL.
func (a *App) startGateway(ctx context.Context, fw *gateway.Forwarder, checks *[]web.Check) (string, error) {
	cfg, log := a.Config, a.Log
	if cfg.MQTT.Broker != "builtin" {
		tlsCfg, err := mqttTLS(cfg)
		if err != nil {
			return "", err
		}
		topics := cfg.MQTT.Topics
		if g := cfg.MQTT.ShareGroup; g != "" {
			topics = make([]string, len(cfg.MQTT.Topics))
			for i, t := range cfg.MQTT.Topics {
				topics[i] = "$share/" + g + "/" + t
			}
		}
		a.client, err = gateway.Connect(ctx, fw, gateway.ClientOptions{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
			CleanSession: cfg.MQTT.CleanSession, Topics: topics, QoS: byte(cfg.MQTT.QoS), TLS: tlsCfg,
		}, log.With("stage", "gateway"))
		if err != nil {
			return "", err
		}
		*checks = append(*checks, web.Check{Name: "mqtt", Fn: func(context.Context) error { return a.client.Ready() }})
		return cfg.MQTT.Broker, nil
	}
	b := cfg.MQTT.Builtin
	bopts := gateway.BrokerOptions{
		Listen: cfg.MQTT.Listen, Topics: cfg.MQTT.Topics,
		MaxPendingWrites: b.MaxPendingWrites, MaxInflight: b.MaxInflight, MaxPacket: uint32(b.MaxPacket),
		AllowAnonymous: b.AllowAnonymous,
	}
	for _, u := range cfg.BrokerUsers() {
		bopts.Users = append(bopts.Users, gateway.BrokerUser{Username: u.Username, PasswordHash: u.PasswordHash, Customer: u.Customer, Topics: u.Topics})
	}
	if b.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(b.TLS.CertFile, b.TLS.KeyFile)
		if err != nil {
			return "", fmt.Errorf("mqtt.builtin.tls: %w", err)
		}
		bopts.TLSListen, bopts.TLS = b.TLS.Listen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var err error
	a.broker, err = gateway.StartBroker(fw, bopts, log.With("stage", "gateway"))
	if errors.Is(err, gateway.ErrAddressInUse) {
		return "", fmt.Errorf("%w: another MQTT broker probably runs there; choose a free port with --mqtt-listen ADDR (or mqtt.listen), or use it with mqtt.broker: tcp://%s", err, cfg.MQTT.Listen)
	}
	if err != nil {
		return "", err
	}
	*checks = append(*checks, web.Check{Name: "mqtt", Fn: a.broker.Check})
	access := fmt.Sprintf("%d users", len(b.Users))
	if b.AllowAnonymous {
		access += ", anonymous clients allowed"
	}
	attrs := []any{"addr", a.broker.Addr().String(), "topics", cfg.MQTT.Topics, "access", access}
	if a.broker.TLSAddr() != nil {
		attrs = append(attrs, "tls_addr", a.broker.TLSAddr().String())
	}
	log.Info("built-in MQTT broker listening", attrs...)
	return "tcp://" + a.broker.Addr().String(), nil
}

// startElasticsearch starts the Elasticsearch writer when the
// configuration names a cluster.
func (a *App) startElasticsearch(ctx, runCtx context.Context, q queue.Queue, checks *[]web.Check) error {
	es := a.Config.Elasticsearch
	if len(es.URLs) == 0 {
		return nil
	}
	log := a.Log.With("stage", "elasticsearch")
	w, err := elastic.New(elastic.Options{URLs: es.URLs, Username: es.Username, Password: es.Password, APIKey: es.APIKey,
		Index: es.Index, FlushBytes: int(es.FlushBytes), FlushInterval: es.FlushInterval, Location: a.Config.Location(),
		Registry: a.Metrics.Registry, Log: log})
	if err != nil {
		return err
	}
	cons, err := q.Consumer(ctx, queue.Readings, elastic.Group)
	if err != nil {
		return err
	}
	*checks = append(*checks, web.Check{Name: "elasticsearch", Fn: w.Ping})
	a.goRun(func() {
		if err := w.Run(runCtx, cons); err != nil {
			log.Error("Elasticsearch writer stopped", "err", err)
		}
	})
	return nil
}

// startAlerts starts the alert stage on the readings stream.
func (a *App) startAlerts(ctx, runCtx context.Context, q queue.Queue, checks *[]web.Check) error {
	cfg := a.Config
	// On its first run, the alert stage starts at new readings: the
	// readings the stream already holds are past, and would notify old
	// events.
	open := q.Consumer
	if fn, ok := q.(queue.FromNow); ok {
		open = fn.ConsumerFromNow
	}
	cons, err := open(ctx, queue.Readings, alert.Group)
	if err != nil {
		return err
	}
	log := a.Log.With("stage", "alert")
	e := &alert.Engine{
		Rules: cfg.Rules(), Store: a.Store, Notifiers: Notifiers(cfg, q), Always: []string{config.QueueNotifier},
		Backoff: notify.DefaultBackoff, Every: cfg.Alerts.EvaluateEvery, Location: cfg.Location(), PublicURL: cfg.PublicURL,
		Metrics: a.Metrics, Log: log, Progress: &health.Progress{},
	}
	if err := e.Load(ctx); err != nil {
		return err
	}
	*checks = append(*checks, web.Check{Name: "alert", Fn: e.Progress.Check})
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
