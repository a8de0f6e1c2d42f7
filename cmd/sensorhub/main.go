// Command sensorhub receives sensor telemetry over MQTT and HTTP, buffers it
// durably, decodes and stores it, and serves it over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // the configured zone must load on hosts without tzdata

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/plan"
)

const usage = `sensorhub: industrial IoT telemetry (MQTT in, durable queue, storage, API)

Usage:
  sensorhub run [--config FILE] [--data DIR] [--http ADDR] [--mqtt-listen ADDR] [--demo [--demo-interval D]]
                                   run every stage in this process (--demo adds simulated devices,
                                   with or without --config)
  sensorhub gateway|ingest|alert|web [--config FILE] [--data DIR] [--http ADDR] [--mqtt-listen ADDR]
                                   run one stage (a split deployment: the processes share
                                   a NATS or ActiveMQ queue and a store)
  sensorhub check --config FILE    validate a configuration file and print what is wrong, or ok
  sensorhub config [--config FILE] print the effective configuration (defaults merged with FILE)
  sensorhub replay --from TIME [--to TIME] [--sensor KIND] [--url http://127.0.0.1:8080] [--token TOKEN]
                                   decode again the retained raw messages of a time range
                                   (the token may come from SENSORHUB_TOKEN)
  sensorhub bench [flags]          measure end-to-end stored messages/s against the raw broker rate
  sensorhub user add|passwd|del|list ...   manage the users of the pages and API (sensorhub user for help)
  sensorhub token add|revoke|list ...      manage API tokens
  sensorhub device rm --customer C --sensor KIND --device ID
                                   remove a device and all its data
  sensorhub device invalid add|list|rm ...  mark intervals of a device's readings invalid (left out of totals)
  sensorhub report --customer C [--period week|month] [--date D] [--from T --to T] [--format text|json|csv] [--send NAME]
                                   print a customer's report, or mail it now as a scheduled one
  sensorhub catalog export|apply [--dry-run] [--prune] [FILE]
                                   print the catalog (what is edited in the browser) as YAML,
                                   or make the store's catalog that of a file
  sensorhub backup --to FILE [--config FILE] [--data DIR]
                                   copy the SQLite store, consistent, while sensorhub runs or not
  sensorhub restore [--config FILE] [--data DIR] [--force] FILE
                                   put a backup in place of the store (sensorhub stopped);
                                   --force restores a backup of another installation
  sensorhub hash-password          read a password on standard input, print its bcrypt hash (for password_hash)
  sensorhub health [--url URL]     exit 0 when the sensorhub at URL answers /healthz (container health checks)
  sensorhub version                print the version

Run 'sensorhub COMMAND --help' for a command's flags.
`

var version = "dev"

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// sensorhub's live heap is small and bounded (its caches have limits);
// collecting it when it has tripled rather than doubled gives end-to-end
// rates about a fifth higher on two cores (BENCHMARKS.md) for a larger
// resident set. GOMEMLIMIT, when set, bounds the whole.
const gcPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr, nil)
	case app.RoleGateway, app.RoleIngest, app.RoleAlert, app.RoleWeb:
		err = cmdRun(args[1:], stderr, []string{args[0]})
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "replay":
		err = cmdReplay(args[1:], stdout, stderr)
	case "bench":
		err = cmdBench(args[1:], stdout, stderr)
	case "user":
		err = cmdUser(args[1:], os.Stdin, stdout, stderr)
	case "token":
		err = cmdToken(args[1:], stdout, stderr)
	case "device":
		err = cmdDevice(args[1:], os.Stdin, stdout, stderr)
	case "backup":
		err = cmdBackup(args[1:], stdout, stderr)
	case "report":
		err = cmdReport(args[1:], stdout, stderr)
	case "catalog":
		err = cmdCatalog(args[1:], stdout, stderr)
	case "restore":
		err = cmdRestore(args[1:], stdout, stderr)
	case "hash-password":
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprintln(stderr, "usage: echo 'a long password' | sensorhub hash-password\n\nprints the bcrypt hash of the password read on standard input, for mqtt.builtin.users")
			err = flag.ErrHelp
			break
		}
		err = cmdHashPassword(os.Stdin, stdout)
	case "health":
		err = cmdHealth(args[1:], stderr)
	case "version":
		fmt.Fprintln(stdout, "sensorhub", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sensorhub: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sensorhub:", err)
		return 1
	}
	return 0
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sensorhub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// cmdRun runs the given roles, or all of them.
func cmdRun(args []string, stderr io.Writer, roles []string) error {
	name := "run"
	if len(roles) == 1 {
		name = roles[0]
	}
	fs := newFlags(name, stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); the built-in defaults when empty")
	data := fs.String("data", "", "data directory (default ./data, or data_dir in the configuration)")
	httpAddr := fs.String("http", "", "HTTP address for the API and pages (default 127.0.0.1:8080)")
	mqttAddr := fs.String("mqtt-listen", "", "built-in MQTT broker address (default :1883)")
	lockWait := fs.Duration("lock-wait", 15*time.Second, "with the embedded queue, how long to wait for another sensorhub to let go of the data directory (a restart overlapping a stop) before giving up")
	demo, demoEvery := new(bool), new(time.Duration)
	if roles == nil {
		demo = fs.Bool("demo", false, "run simulated devices of the three sensor kinds; with --config too, as its first customer, to its MQTT broker")
		demoEvery = fs.Duration("demo-interval", 5*time.Second, "time between two readings of one demo device")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, f, err := loadPlan(*cfgPath, func(cfg *config.Config) {
		if *data != "" {
			cfg.DataDir = *data
		}
		if *httpAddr != "" {
			cfg.HTTP.Listen = *httpAddr
		}
		if *mqttAddr != "" {
			cfg.MQTT.Listen = *mqttAddr
		}
		if *demo {
			app.DemoSettings(cfg, *cfgPath == "", time.Now())
		}
	})
	if err != nil {
		return err
	}
	cfg := p.Config
	log := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	// The store's caches follow the budget in force: a smaller cgroup's
	// limit lowers them too.
	cfg.Memory, _ = setMemoryLimit(cfg.Memory, log)
	if *demo && cfg.MQTT.Broker == "builtin" && !cfg.MQTT.Builtin.AllowAnonymous {
		// The simulated devices, and anyone trying the demo with
		// mosquitto_pub, connect without a login.
		cfg.MQTT.Builtin.AllowAnonymous = true
		log.Warn("demo: the built-in MQTT broker accepts anonymous clients; outside a demo, give it users (mqtt.builtin.users)")
	}
	if *demo && *mqttAddr == "" && f.Line("mqtt.listen") == 0 && cfg.MQTT.Broker == "builtin" && !free(cfg.MQTT.Listen) {
		// Port 1883 is often held by a broker already installed; the demo
		// runs anyway, on a free port, and says so.
		cfg.MQTT.Listen = "127.0.0.1:0"
		log.Warn("demo: the MQTT port is in use (another broker?); the built-in broker takes a free port instead, see 'built-in MQTT broker listening' below, or choose one with --mqtt-listen",
			"port_in_use", ":1883")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.StartPlan(ctx, p, app.Options{Roles: roles, Demo: *demo, DemoInterval: *demoEvery, LockWait: *lockWait}, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	start := time.Now()
	if err := a.Close(); err != nil {
		return err
	}
	log.Info("sensorhub stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// loadPlan reads the configuration file over the defaults, lets flags
// change it, validates it and compiles it.
func loadPlan(path string, flags func(*config.Config)) (*plan.Plan, *config.File, error) {
	cfg, f, err := config.LoadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if flags != nil {
		flags(cfg)
	}
	if err := plan.Check(cfg, f); err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	p, err := plan.Compile(cfg, f)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration:\n%w", err)
	}
	return p, f, nil
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "configuration file to validate")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "sensorhub check: --config FILE is required")
		return 2
	}
	if _, err := plan.Load(*cfgPath); err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config", stderr)
	cfgPath := fs.String("config", "", "configuration file to merge over the defaults")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := plan.Load(*cfgPath)
	if err != nil {
		return err
	}
	out, err := p.Config.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, "# sensorhub configuration: the defaults merged with the given file.\n# Edit and pass with --config; unknown keys are errors.\n")
	_, err = stdout.Write(out)
	return err
}

// free reports whether addr can be listened on now.
func free(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// cmdHealth asks a running sensorhub's /healthz, for container health
// checks in images that have no shell or curl.
func cmdHealth(args []string, stderr io.Writer) error {
	fs := newFlags("health", stderr)
	u := fs.String("url", "http://127.0.0.1:8080/healthz", "health URL of the sensorhub to ask")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(*u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", *u, resp.Status)
	}
	return nil
}

// cmdHashPassword prints the bcrypt hash of the password on the first line
// of in, for the password_hash of a configured login.
func cmdHashPassword(in io.Reader, stdout io.Writer) error {
	pw, err := readPassword(in)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hash-password: %w: give it on standard input", err)
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}
