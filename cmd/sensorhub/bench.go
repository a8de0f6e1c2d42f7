package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"

	"github.com/sensorhub/sensorhub/internal/bench"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/plan"
)

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	cfgPath := fs.String("config", "", "configuration to measure (default: built-in broker, embedded queue, SQLite)")
	broker := fs.String("broker", "", "measure through this external broker (tcp://127.0.0.1:1883) instead of the built-in one")
	natsURL := fs.String("nats", "", "use this external NATS server as the queue instead of the embedded one")
	n := fs.Int("n", 20000, "messages to publish")
	qos := fs.Int("qos", 1, "publisher QoS (0 or 1)")
	devices := fs.Int("devices", 100, "devices the messages are spread over")
	rate := fs.Int("rate", 0, "publish at this many messages/s in the end-to-end runs (0: as fast as possible)")
	streams := fs.Int("sse-clients", 0, "also measure with this many clients on /api/v1/stream")
	ingestors := fs.Int("split", 0, "measure the split deployment instead: one gateway process and this many ingest processes\n"+
		"on the configured external broker, NATS queue and PostgreSQL store (--broker, --nats, --postgres)")
	pgURL := fs.String("postgres", "", "use this PostgreSQL database as the store (a schema of the run's own is created and dropped)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	logLevel := fs.String("log", "", "show the measured sensorhub's log lines of this level and above (warn, info, debug) on stderr")
	load := fs.String("load", "", "measure the store instead: post this file of messages (one a line) to HTTP ingest, then measure\n"+
		"the store's size after a clean stop, the encodings of its chunks and the peak memory")
	posters := fs.Int("posters", 0, "with --load, clients posting at once (default: one a core)")
	meters := fs.String("gen-meters", "", "write the reference load to stdout instead: DEVICESxHOURS power meters every 30 s (100x24)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *meters != "" {
		var devices int
		var hours float64
		if _, err := fmt.Sscanf(*meters, "%dx%g", &devices, &hours); err != nil || devices < 1 || hours <= 0 {
			return fmt.Errorf("--gen-meters %q: want DEVICESxHOURS, such as 100x24", *meters)
		}
		return bench.Meters(stdout, devices, hours)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, f, err := config.LoadFile(*cfgPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sensorhub-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg.DataDir, cfg.Store.Path = dir, ""
	cfg.HTTP.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Queue.Prefix = fmt.Sprintf("sensorhub_bench_%d", os.Getpid())
	// A run's raw stream never needs the default reservation of 10GiB.
	cfg.Queue.RawMaxBytes = 1 << 30
	cfg.MQTT.ClientID = cfg.Queue.Prefix
	cfg.MQTT.CleanSession = true
	// The run's own publishers connect to its own broker without a login.
	cfg.MQTT.Builtin.AllowAnonymous = true
	if *broker != "" {
		cfg.MQTT.Broker = *broker
	}
	if cfg.MQTT.Broker != "builtin" {
		cfg.MQTT.Topics = []string{cfg.Customers[0] + "/bench"}
	}
	if *natsURL != "" {
		cfg.Queue.Engine, cfg.Queue.URL = "nats", *natsURL
	}
	if *pgURL != "" {
		cfg.Store.Engine, cfg.Store.URL = "postgres", *pgURL
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if *ingestors > 0 && (cfg.MQTT.Broker == "builtin" || cfg.Queue.Engine == "embedded") {
		return fmt.Errorf("--split runs separate processes: give an external broker (--broker), queue (--nats) and store (--postgres)")
	}
	if err := plan.Check(cfg, f); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *load != "" {
		so := bench.StoreOptions{Config: cfg, Load: *load, Posters: *posters}
		res, err := bench.Store(ctx, so)
		if err != nil {
			return err
		}
		res.Report(stdout, so)
		return nil
	}
	o := bench.Options{Config: cfg, N: *n, QoS: byte(*qos), Devices: *devices, SSEClients: *streams, Rate: *rate,
		Ingestors: *ingestors, Binary: exe}
	if *logLevel != "" {
		o.Log = logx.New(os.Stderr, "text", *logLevel)
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	res.Report(stdout, o)
	return nil
}
