package config_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
)

func TestDefaultIsValid(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timezone != "Europe/Brussels" || cfg.Customers[0] != "finemeca" || len(cfg.Sensors) != 3 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Sensors["devicev01"].Match.Equals != "weath" || cfg.MQTT.Broker != "builtin" || cfg.Queue.RawMaxAge != 7*24*time.Hour {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// TestInvalidFiles checks that each file under testdata/ is refused with an
// error that names the field and its line. Formulas and rules are
// compiled, and their files checked, in internal/plan.
func TestInvalidFiles(t *testing.T) {
	cases := map[string][]string{
		"unknown_key.yaml":    {"line 4", `unknown key "topicz" in mqtt`},
		"bad_timezone.yaml":   {"bad_timezone.yaml:2", "timezone", "Europe/Bruxelles"},
		"bad_broker.yaml":     {"bad_broker.yaml:2", "mqtt.broker", `scheme "http"`},
		"missing_env.yaml":    {"line 4", "SENSORHUB_TEST_UNSET_PASSWORD is not set"},
		"bad_sensor.yaml":     {"bad_sensor.yaml:3: sensors.boiler.match.equals", "bad_sensor.yaml:5: sensors.boiler.keep.1", `repeated field "T"`},
		"bad_duration.yaml":   {"line 2", "7 days"},
		"bad_type.yaml":       {"line 2", "many"},
		"bad_panel.yaml":      {"bad_panel.yaml:6: sensors.boiler.dashboard.panels.0.type", `"donut"`},
		"bad_prometheus.yaml": {"bad_prometheus.yaml:3: http.prometheus.lookback_delta", "bad_prometheus.yaml:4: http.prometheus.max_concurrent"},
		"bad_inputs.yaml": {`bad_inputs.yaml:3: inputs.0.topics.1: "application/#/up"`, `bad_inputs.yaml:4: inputs.0.sensor: "boiler" is not a sensor kind`,
			"bad_inputs.yaml:6: inputs.1.topics: an input reads at least one topic filter", `bad_inputs.yaml:11: inputs.2.devices.dev2: "pump" is not a sensor kind`},
		"bad_modbus.yaml": {`bad_modbus.yaml:4: modbus.devices.0.customer: "acme"`, `bad_modbus.yaml:6: modbus.devices.0.address: "10.0.0.5" is not a host:port`,
			"bad_modbus.yaml:7: modbus.devices.0.unit_id: 300 is out of range", "bad_modbus.yaml:9: modbus.devices.0.timeout: 30s must be positive and at most the interval",
			"bad_modbus.yaml:10: modbus.devices.0.map: give a register map"},
		"bad_money.yaml": {`bad_money.yaml:3: money.currency: "euro" is not a currency code`, "bad_money.yaml:5: money.electricity.price_kwh: -0.25 must not be negative",
			`bad_money.yaml:7: money.electricity.bands.0.days.1: "tues" is not one of sun, mon`, `bad_money.yaml:8: money.electricity.bands.0.from: "7h" is not a local time`,
			"bad_money.yaml:13: money.customers.acme.co2_kg_per_kwh: -1 must not be negative", `bad_money.yaml:14: money.customers.other: "other" is not one of the customers`},
		"bad_branding.yaml": {"bad_branding.yaml:3: branding.logo: the logo cannot be used: open /nonexistent/sensorhub/logo.png: no such file or directory",
			"bad_branding.yaml:7: branding.customers.finemeca.logo: the logo cannot be used: testdata/bad_branding.yaml is not a PNG or JPEG image",
			`bad_branding.yaml:8: branding.customers.acme: "acme" is not one of the customers [finemeca]`},
		"bad_rule_duration.yaml": {`line 6: alerts.rules.0.for (rule "air-leak")`, "2 minutes"},
		"bad_baseline.yaml": {`bad_baseline.yaml:4: baselines.0.customer: "acme"`, `bad_baseline.yaml:5: baselines.0.from: "2026-13-01" is not a date`,
			`bad_baseline.yaml:7: baselines.0.every: "month" is not week or day`, "bad_baseline.yaml:9: baselines.0.production: a baseline has one variable",
			`bad_baseline.yaml:8: baselines.0.degree_days.sensor: "weather" is not one of the sensor kinds`, `baselines.0.degree_days.mode: "warming"`,
			"bad_baseline.yaml:9: baselines.0.production.field: the field of the production count is missing"},
		"bad_notifier.yaml": {
			`bad_notifier.yaml:7: alerts.notifiers.ops.from: "not-an-address"`, "bad_notifier.yaml:8: alerts.notifiers.ops.to: at least one recipient",
			`bad_notifier.yaml:9: alerts.notifiers.ops.tls: "ssl"`, `bad_notifier.yaml:12: alerts.notifiers.hook.url: "ftp://example.com/hook"`,
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := config.Load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("SENSORHUB_TEST_PW", "s3cr$t")
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("mqtt:\n  broker: tcp://b:1883\n  password: ${SENSORHUB_TEST_PW}\n  username: ${SENSORHUB_TEST_USER:-sensorhub}\n"), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Password != "s3cr$t" || cfg.MQTT.Username != "sensorhub" {
		t.Fatalf("password %q username %q", cfg.MQTT.Password, cfg.MQTT.Username)
	}
}

func TestFileMergesOverDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("customers: [finemeca, acme]\nsensors:\n  boiler:\n    match: {topic: \"acme/boiler/#\"}\n"), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Customers) != 2 || cfg.Sensors["boiler"] == nil || cfg.Sensors["air"] == nil {
		t.Fatalf("merged sensors %v customers %v: a file adds sensors beside the defaults", cfg.SensorNames(), cfg.Customers)
	}
}

// TestMarshalRoundTrip checks that `sensorhub config` prints a file that
// loads back to the same configuration.
func TestMarshalRoundTrip(t *testing.T) {
	cfg := config.Default()
	cfg.MQTT.Broker = "ssl://broker:8883"
	cfg.Ingest.MaxPayload = 128 << 10
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, out, 0o600)
	back, err := config.Load(path)
	if err != nil {
		t.Fatalf("printed configuration does not load: %v\n%s", err, out)
	}
	again, _ := back.Marshal()
	if string(again) != string(out) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", out, again)
	}
	if back.Ingest.MaxPayload != 128<<10 || back.Queue.RawMaxAge != 7*24*time.Hour || !strings.Contains(string(out), "raw_max_age: 168h0m0s") {
		t.Fatalf("values lost in the round trip:\n%s", out)
	}
}

// TestRetention: ages in days, years or forever, overrides per customer
// and kind, and the checks that name the setting.
func TestRetention(t *testing.T) {
	cfg := config.Default()
	if r := cfg.Store.Retention; r.Raw.Duration() != 400*24*time.Hour || r.Hourly != 5*config.Year || r.Daily.Duration() != 0 {
		t.Fatalf("default retention %+v, want readings 400 days, hourly 5 years, daily forever", r)
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(`customers: [finemeca, acme]
store:
  retention:
    raw: 90d
    customers:
      acme: {raw: 30d}
    sensors:
      centrale: {raw: forever, hourly: forever}
`), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &cfg.Store.Retention
	for _, c := range []struct {
		customer, sensor string
		raw, hourly      time.Duration
	}{
		{"finemeca", "devicev01", 90 * 24 * time.Hour, 5 * 365 * 24 * time.Hour},
		{"acme", "devicev01", 30 * 24 * time.Hour, 5 * 365 * 24 * time.Hour},
		{"finemeca", "centrale", 0, 0},
		{"acme", "centrale", 30 * 24 * time.Hour, 0},
	} {
		a := r.For(c.customer, c.sensor)
		if a.Raw.Duration() != c.raw || a.Hourly.Duration() != c.hourly || a.Daily.Duration() != 0 {
			t.Errorf("%s/%s: %+v, want raw %s hourly %s daily forever", c.customer, c.sensor, a, c.raw, c.hourly)
		}
	}
	out, _ := cfg.Marshal()
	for _, want := range []string{"raw: 90d", "hourly: 5y", "daily: forever", "rejected: 90d", "alerts: 2y"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sensorhub config does not show %q:\n%s", want, out)
		}
	}

	os.WriteFile(path, []byte(`store:
  retention:
    raw: 400d
    hourly: 30d
    customers:
      nobody: {raw: 12h}
    every: 1s
`), 0o600)
	_, err = config.Load(path)
	for _, want := range []string{"c.yaml:4: store.retention.hourly", "less time than the readings", "store.retention.customers.nobody",
		"is too short", "store.retention.every"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	os.WriteFile(path, []byte("store:\n  retention:\n    raw: 400 days\n"), 0o600)
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "400d") {
		t.Errorf("a wrong age: %v, want its line and an example", err)
	}
}

// TestRetentionForeverAndSizes: readings kept forever need no ages for
// aggregates that are never made; a wrong size names its line.
func TestRetentionForeverAndSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	for _, ok := range []string{"store:\n  retention:\n    raw: forever\n", "store:\n  retention:\n    sensors:\n      centrale: {raw: forever}\n"} {
		os.WriteFile(path, []byte(ok), 0o600)
		if _, err := config.Load(path); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	os.WriteFile(path, []byte("store:\n  min_free: 10%\n"), 0o600)
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "1GiB") {
		t.Errorf("min_free: 10%%: %v, want its line and an example", err)
	}
}

// TestImportsNoDomainPackage: the configuration is the bottom of the
// tree; the packages that act on it import it, never the other way
// (what only they can check, plan.Check does).
func TestImportsNoDomainPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(path, "github.com/sensorhub/sensorhub/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
