// Package app builds sensorhub's stages from the configuration and runs
// them in one process, starting them in data-path order and stopping them
// in reverse.
package app

import (
	"context"
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
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/elastic"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/queue/stomp"
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
	// Now is the clock of the retention job and of the Modbus polls;
	// time.Now when nil.
	Now func() time.Time
	// LockWait is how long to wait for another process to let go of the
	// data directory of an embedded queue before giving up.
	LockWait time.Duration
}

func (o Options) has(role string) bool { return len(o.Roles) == 0 || slices.Contains(o.Roles, role) }

// App is a running sensorhub: a supervisor of the stages its roles run,
// over the queue and store they share.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Queue   queue.Queue
	// Store is nil in a process that runs only the gateway.
	Store *sqlstore.Store

	gw      *gatewayStage
	started []stage
	httpSrv *http.Server
	httpLn  net.Listener
	httpRun workers
	closers []func() error

	closeOnce sync.Once
	closeErr  error
}

// Start compiles cfg, which Validate has accepted, and starts it
// (StartPlan).
func Start(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (*App, error) {
	p, err := plan.Compile(cfg, nil)
	if err != nil {
		return nil, err
	}
	return StartPlan(ctx, p, opts, log)
}

// StartPlan starts the stages the options ask for, in data-path order. On
// error, what was started is stopped again.
func StartPlan(ctx context.Context, p *plan.Plan, opts Options, log *slog.Logger) (_ *App, err error) {
	cfg := p.Config
	if err := checkRoles(cfg, opts); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Metrics: metrics.New()}
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
	holder := "" // of the alert and report leases
	if cfg.Queue.Engine == "embedded" {
		release, err := lockDataDir(ctx, cfg.DataDir, opts.LockWait, log)
		if err != nil {
			return nil, err
		}
		holder = dataDirHolder(cfg.DataDir)
		// Let go last, once the queue and store are closed.
		a.closers = append(a.closers, release)
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
	api := &web.Server{Location: p.Location, Checks: []web.Check{{Name: "queue", Fn: q.Ping}},
		Registry: a.Metrics.Registry, Log: log.With("stage", "web"), PublicURL: p.PublicURL, Roles: opts.Roles,
		Profiling: cfg.HTTP.Pprof}
	if opts.has(RoleIngest) || opts.has(RoleAlert) || opts.has(RoleWeb) {
		if a.Store, err = OpenStore(ctx, cfg, opts.has(RoleIngest), log); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.Store.Close)
		api.Checks = append(api.Checks, web.Check{Name: "store", Fn: a.Store.Ping})
		a.Metrics.Caches(a.Store.CacheBytes)
	}
	// The plan of the file and the catalog, followed while sensorhub
	// runs; a process without a store (a gateway) has the file's.
	live := plan.NewLive(p)
	var follow *catalogStage
	if a.Store != nil {
		base := catalog.Base{Config: cfg, File: p.File}
		clog := log.With("stage", "catalog")
		if p, err = base.Load(ctx, a.Store, clog); err != nil {
			return nil, err
		}
		live = plan.NewLive(p)
		follow = newCatalogStage(base, a.Store, q, live, clog)
		api.Catalog = &catalog.Catalog{Base: base, Store: announcing{a.Store, follow}, Log: clog}
	}
	api.Plan = live
	if api.Access, err = a.access(p); err != nil {
		return nil, err
	}
	if api.Access != nil {
		live.OnChange(func(p *plan.Plan) {
			api.Access.Dir.SetCustomers(p.Config.Customers)
			api.Access.Dir.SetInline(p.Config.Auth.Users, p.Config.Auth.Tokens)
		})
	}

	// Ingest before the gateway, so that what the gateway queues is taken
	// at once.
	var stages []stage
	if follow != nil {
		stages = append(stages, follow)
	}
	var ing *ingestStage
	if opts.has(RoleIngest) {
		var w store.Writer = a.Store
		var floor *diskFloor
		if cfg.Store.Engine != "postgres" && cfg.Store.MinFree > 0 {
			floor = &diskFloor{path: filepath.Dir(cfg.StorePath()), min: int64(cfg.Store.MinFree), m: a.Metrics, log: log.With("stage", "ingest")}
			w = floorWriter{Writer: a.Store, floor: floor}
			api.Checks = append(api.Checks, web.Check{Name: "disk", Fn: floor.check})
			api.Banner = floor.banner
		}
		ing = newIngestStage(live, q, w, a.Metrics, log)
		stages = append(stages, ing, &retentionStage{st: a.Store, policy: p.Retention, every: cfg.Store.Retention.Every,
			m: a.Metrics, log: log.With("stage", "retention"), now: opts.Now})
		if b := cfg.Store.Backup; b.Every > 0 {
			stages = append(stages, &backupStage{st: a.Store, dir: cfg.BackupDir(), every: b.Every, keep: b.Keep, floor: floor, log: log.With("stage", "backup")})
		}
		if len(cfg.Elasticsearch.URLs) > 0 {
			es, err := newElasticStage(cfg, q, a.Metrics, log)
			if err != nil {
				return nil, err
			}
			stages = append(stages, es)
		}
	}
	if opts.has(RoleGateway) {
		a.gw = newGatewayStage(cfg, q, a.Metrics, log)
		stages = append(stages, a.gw)
		if len(cfg.Modbus.Devices) > 0 {
			stages = append(stages, newModbusStage(cfg, a.gw.fw, opts.Now, log))
		}
	}
	if opts.has(RoleAlert) {
		stages = append(stages, newAlertStage(live, q, a.Store, holder, a.Metrics, log),
			newReportStage(live, a.Store, holder, a.Metrics, log))
	}
	if opts.has(RoleWeb) {
		stages = append(stages, newWebStage(cfg, q, a.Store, a.Metrics, log))
	}
	for _, s := range stages {
		if err := a.startStage(ctx, s); err != nil {
			return nil, err
		}
		s.serve(api)
	}
	a.serveHTTP(api)
	a.logRunning(opts)

	if opts.Demo {
		devices := sim.Devices()
		customer := live.Load().Config.Customers[0]
		d := &demoStage{in: ing.in, st: a.Store, log: log.With("stage", "demo"), devices: devices, customer: customer, sim: sim.New(sim.Options{
			Broker: a.gw.url, Customer: customer, Location: cfg.Location(),
			Interval: opts.DemoInterval, LossRate: 0.02, Seed: uint64(time.Now().UnixNano()),
		}, devices, log.With("stage", "demo"))}
		if err := a.startStage(ctx, d); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) startStage(ctx context.Context, s stage) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	a.started = append(a.started, s)
	return nil
}

// access is who may do what over HTTP, from the users file; nil without
// users. The web sessions are kept in the store's database, so that a
// restart logs nobody out and every web process knows every session; a
// process without a store keeps them in memory.
func (a *App) access(p *plan.Plan) (*web.Access, error) {
	cfg, log := a.Config, a.Log.With("stage", "web")
	// The users and tokens of the file and of the catalog.
	if !p.Config.AuthOn() {
		return nil, nil
	}
	dir, err := auth.NewDirectory(p.Config.Auth.Users, cfg.Auth.UsersFile, p.Config.Customers, log)
	if err != nil {
		return nil, err
	}
	dir.SetInline(p.Config.Auth.Users, p.Config.Auth.Tokens)
	if dir.Empty() {
		log.Warn("no users yet: nobody can log in; add one with sensorhub user add --file " + cfg.Auth.UsersFile)
	}
	secure := cfg.HTTP.TLS.CertFile != "" || cfg.HTTP.TrustProxyHeaders
	sessions := web.NewSessions(cfg.Auth.SessionLifetime, cfg.Auth.SessionIdle, secure)
	if a.Store != nil {
		var ss interface {
			scs.Store
			StopCleanup()
		}
		if cfg.Store.Engine == "postgres" {
			ss = postgresstore.New(a.Store.DB())
		} else {
			ss = sqlite3store.New(a.Store.DB())
		}
		sessions.Store = ss
		a.closers = append(a.closers, func() error { ss.StopCleanup(); return nil })
	}
	return &web.Access{Dir: dir, Sessions: sessions, TrustProxy: cfg.HTTP.TrustProxyHeaders,
		Logins: &auth.AddressLimits{PerMinute: cfg.Auth.LoginsPerMinute}, Log: log}, nil
}

// serveHTTP serves the API. Every connection is bounded in time and in
// number, so that idle or slow clients cannot hold the process' file
// descriptors; live streams lift the write and read deadlines for
// themselves.
func (a *App) serveHTTP(api *web.Server) {
	a.httpSrv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	if api.Hub != nil {
		// Live streams end as the server shuts down; they reconnect to
		// the next one.
		a.httpSrv.RegisterOnShutdown(api.Hub.Close)
	}
	ln := netutil.LimitListener(a.httpLn, a.Config.HTTP.MaxConnections)
	a.httpRun.run(func(context.Context) {
		serve := func() error { return a.httpSrv.Serve(ln) }
		if t := a.Config.HTTP.TLS; t.CertFile != "" {
			serve = func() error { return a.httpSrv.ServeTLS(ln, t.CertFile, t.KeyFile) }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("HTTP server stopped", "err", err)
		}
	})
}

func (a *App) logRunning(opts Options) {
	cfg := a.Config
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
	if a.gw != nil {
		attrs = append(attrs, "mqtt", a.gw.url)
	}
	if a.Store != nil {
		attrs = append(attrs, "store", cfg.StoreName())
	}
	a.Log.Info("sensorhub running", append(attrs, "timezone", cfg.Timezone)...)
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

// StoreCacheShare is the store's caches' share of the memory budget: an
// eighth (32 MiB of the default 256 MiB).
const StoreCacheShare = 8

// OpenStore opens the configured store engine; with compact, this process
// folds recent readings into chunks (the process that ingests does).
func OpenStore(ctx context.Context, cfg *config.Config, compact bool, log *slog.Logger) (*sqlstore.Store, error) {
	opts := sqlstore.Options{Location: cfg.Location(), Log: log.With("stage", "store"), Compact: compact,
		CompactRows: cfg.Store.CompactRows, CompactAge: cfg.Store.CompactAge, CacheBytes: int64(cfg.Memory) / StoreCacheShare}
	if cfg.Store.Engine == "postgres" {
		return postgres.Open(ctx, cfg.Store.URL, opts)
	}
	return sqlite.Open(ctx, cfg.StorePath(), opts)
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

// Forwarded is how many messages the gateway has put on the queue.
func (a *App) Forwarded() int64 {
	if a.gw == nil {
		return 0
	}
	return a.gw.fw.Forwarded()
}

// HTTPAddr is the address the API listens on.
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// MQTTAddr is the built-in broker's address, or "" with an external broker.
func (a *App) MQTTAddr() string {
	if a.gw == nil || a.gw.broker == nil {
		return ""
	}
	return a.gw.broker.Addr().String()
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
		a.httpRun.stop(ctx)
	} else if a.httpLn != nil {
		a.httpLn.Close()
	}
	for i := len(a.started) - 1; i >= 0; i-- {
		a.started[i].stop(ctx)
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}
