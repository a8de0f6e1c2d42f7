package plan_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/plan"
)

func TestCompileDefault(t *testing.T) {
	cfg := config.Default()
	cfg.PublicURL = "https://sensorhub.example.com/"
	p, err := plan.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != len(cfg.Alerts.Rules) {
		t.Errorf("%d rules compiled of %d", len(p.Rules), len(cfg.Alerts.Rules))
	}
	for _, kind := range cfg.SensorNames() {
		if !slices.ContainsFunc(p.Formulas[kind], func(f derive.Formula) bool { return f.Name == "_lost" }) {
			t.Errorf("sensor kind %s has no loss formula: %v", kind, p.Formulas[kind])
		}
	}
	if len(p.Decoder.Profiles) != len(cfg.Sensors) {
		t.Errorf("%d decoder profiles for %d sensor kinds", len(p.Decoder.Profiles), len(cfg.Sensors))
	}
	if p.PublicURL != "https://sensorhub.example.com" {
		t.Errorf("public URL %q, want it without the trailing slash", p.PublicURL)
	}
	if cfg.PublicURL != "https://sensorhub.example.com/" {
		t.Errorf("compiling changed the configuration's public_url to %q", cfg.PublicURL)
	}
}

// TestCompileReportsEveryError: what does not compile is reported with
// its place in the configuration, never left out in silence.
func TestCompileReportsEveryError(t *testing.T) {
	cfg := config.Default()
	cfg.Alerts.Rules[0].When = "NoSuchField > 1"
	cfg.Sensors["centrale"].Derive = map[string]string{"broken": "E +"}
	_, err := plan.Compile(cfg, nil)
	if err == nil {
		t.Fatal("a rule and a formula that do not compile: no error")
	}
	for _, want := range []string{"alerts.rules.0", "sensors.centrale.derive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestInvalidFiles: a formula or a rule that does not compile, or a
// panel's unknown aggregation, is refused by Load with an error that names the field and its line.
func TestInvalidFiles(t *testing.T) {
	cases := map[string][]string{
		"bad_derive.yaml": {"bad_derive.yaml:5: sensors.air.derive", "derive leak", "Pressure"},
		// What config knows and what the series know, in one answer.
		"bad_panel.yaml": {"bad_panel.yaml:6: sensors.boiler.dashboard.panels.0.type", `"donut"`, `bad_panel.yaml:6: sensors.boiler.dashboard.panels.0.aggs.0: "median"`},
		// What config knows of every input, and what each format knows.
		"bad_inputs.yaml": {`bad_inputs.yaml:4: inputs.0.sensor: "boiler"`, `bad_inputs.yaml:5: inputs.1.format: "lorawan" is not one of chirpstack, finemeca`,
			`bad_inputs.yaml:10: inputs.2.separator: "."`, `bad_inputs.yaml:15: sensors.weather.payload_decoder: "base64" is not one of cayenne_lpp`},
		"bad_modbus.yaml": {`bad_modbus.yaml:18: modbus.devices.1.map: "sdm603" is not a register map (sdm630, umg604)`,
			`bad_modbus.yaml:25: modbus.devices.2.registers.0.type: "float23" is not one of int16, uint16, int32, uint32, float32, float64`,
			`bad_modbus.yaml:26: modbus.devices.2.registers.1.table: "register" is not one of holding, input, coil, discrete`,
			`bad_modbus.yaml:27: modbus.devices.2.registers.2.field: "U1" is read twice`,
			"bad_modbus.yaml:27: modbus.devices.2.registers.2.address: 65535: a uint32 of 2 registers does not fit",
			`bad_modbus.yaml:27: modbus.devices.2.registers.2.word_order: "little_first" is not one of high_first, low_first`,
			"bad_modbus.yaml:28: modbus.devices.2.registers.3.type: a coil is one bit",
			"bad_modbus.yaml:34: modbus.devices.3.max_span: 1 is too small for U1, a float32 of 2 registers"},
		"bad_sparkplug.yaml": {`bad_sparkplug.yaml:3: inputs.0.topics.1: "plant1/#": Sparkplug B topics begin with spBv1.0/`,
			`bad_sparkplug.yaml:5: inputs.0.devices.Edge1:Boiler: "boiler" is not a sensor kind`},
		"bad_locale.yaml":          {"bad_locale.yaml:3: locale", `"fr-XX-klingon"`, "fr-BE"},
		"bad_locale_language.yaml": {"bad_locale_language.yaml:2: locale", "no date format for language ja"},
		"bad_rules.yaml": {
			`bad_rules.yaml:11: alerts.rules.0.when: rule "air-leak"`, "unknown name Pressure",
			`bad_rules.yaml:16: alerts.rules.1.severity: rule "hot": "urgent"`,
			`bad_rules.yaml:17: alerts.rules.1.notify: rule "hot": unknown notifier "pager" (alerts.notifiers has: ops)`,
			`bad_rules.yaml:20: alerts.rules.2.no_data_for: rule "quiet": must not be negative`,
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := plan.Load(filepath.Join("..", "config", "testdata", file))
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

// TestValidateLeavesNotifiersAsWritten: an e-mail notifier without tls or
// port is left so by Validate (sensorhub config prints what the file
// said), and compiles to STARTTLS on 587, or 465 for tls.
func TestValidateLeavesNotifiersAsWritten(t *testing.T) {
	cfg := config.Default()
	cfg.Alerts.Notifiers = map[string]*config.Notifier{
		"ops":    {Type: "email", Host: "smtp.example.com", From: "sensorhub@example.com", To: []string{"ops@example.com"}},
		"secure": {Type: "email", Host: "smtp.example.com", From: "sensorhub@example.com", To: []string{"ops@example.com"}, TLS: "tls"},
	}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if n := cfg.Alerts.Notifiers["ops"]; n.TLS != "" || n.Port != 0 {
		t.Errorf("Validate changed the notifier to tls %q, port %d", n.TLS, n.Port)
	}
	p, err := plan.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]notify.Email{"ops": {TLS: "starttls", Port: 587}, "secure": {TLS: "tls", Port: 465}} {
		if e, ok := p.Notifiers[name].(*notify.Email); !ok || e.TLS != want.TLS || e.Port != want.Port {
			t.Errorf("notifier %s compiles to %+v, want tls %s port %d", name, p.Notifiers[name], want.TLS, want.Port)
		}
	}
}

// TestNoOpenListener: without users, everyone who reaches the web server
// is an admin, so it may only listen on loopback.
func TestNoOpenListener(t *testing.T) {
	for _, tc := range []struct {
		listen string
		users  bool
		ok     bool
	}{
		{"127.0.0.1:8080", false, true}, {"localhost:8080", false, true}, {"[::1]:8080", false, true},
		{":8080", false, false}, {"0.0.0.0:8080", false, false}, {"192.168.1.10:8080", false, false},
		{":8080", true, true},
	} {
		cfg := config.Default()
		cfg.HTTP.Listen = tc.listen
		if tc.users {
			cfg.Auth.Users = []config.User{{Username: "admin", Role: auth.RoleAdmin,
				PasswordHash: "$2a$10$6vA0TAVoIBUVRqwLEy6tVejmwy4Kr7moa22Z35.dZyQUXMnhk6pu."}}
		}
		err := plan.Check(cfg, nil)
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "http.listen") && !strings.Contains(err.Error(), "without users")) {
			t.Errorf("listen %s, users %v: %v", tc.listen, tc.users, err)
		}
	}
}

// TestLeakFiguresOfLeakRules: a rule comparing the line pressure with the
// opening pressure tells the leak's figures; one on the pressure alone
// (too high) does not.
func TestLeakFiguresOfLeakRules(t *testing.T) {
	cfg := config.Default()
	cfg.Alerts.Rules = []config.Rule{
		{Name: "leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"},
		{Name: "too-high", Sensor: "air", When: "Pres > 7.5", Severity: "warning"},
	}
	p := plan.MustCompile(cfg)
	leak := map[string]bool{}
	for _, r := range p.Rules {
		leak[r.Name] = r.Leak != nil
	}
	if !leak["leak"] || leak["too-high"] {
		t.Errorf("leak figures by rule: %v, want the leak rule's only", leak)
	}
}

// TestLeakRuleAtCustomerPrice: a leak rule prices the air of a customer
// with an air price at it, and of the others at the sensor kind's.
func TestLeakRuleAtCustomerPrice(t *testing.T) {
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	eur, chf := 0.025, 0.031
	cfg.Money = &config.Money{Prices: config.Prices{Currency: "EUR", AirPerNm3: &eur},
		Customers: map[string]*config.Prices{"acme": {Currency: "CHF", AirPerNm3: &chf}}}
	p := plan.MustCompile(cfg)
	for _, r := range p.Rules {
		if r.Name != "air-leak" {
			continue
		}
		if got := r.Leak.Params("acme", "201"); got.CostPerNm3 != 0.031 || got.VolumeL != 500 || r.Leak.Currency("acme") != "CHF" {
			t.Errorf("acme: %+v %s, want 0.031 CHF", got, r.Leak.Currency("acme"))
		}
		if got := r.Leak.Params("finemeca", "201"); got.CostPerNm3 != 0.025 || r.Leak.Currency("finemeca") != "EUR" {
			t.Errorf("finemeca: %+v, want 0.025 EUR", got)
		}
		cfg.Money = nil
		if got := plan.MustCompile(cfg).Rules[0].Leak.Params("acme", "201"); got.CostPerNm3 != 0.02 {
			t.Errorf("without money: %+v, want the sensor kind's 0.02", got)
		}
		return
	}
	t.Fatal("no air-leak rule")
}
