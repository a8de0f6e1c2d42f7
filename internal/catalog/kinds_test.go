package catalog

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/config"
)

// TestDecode: an item's JSON has the configuration file's keys and
// durations; a wrong key or value is named, and what is read survives a
// round trip.
func TestDecode(t *testing.T) {
	rules := KindOf("rules")
	spec, name, customer, err := rules.decode("hot", []byte(`{"name": "hot", "customer": "acme", "sensor": "devicev01", "when": "Temp > 50", "for": "10m", "notify": ["ops"], "notify_resolved": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if name != "hot" || customer != "acme" || !strings.Contains(string(spec), `"for":"10m0s"`) || !strings.Contains(string(spec), `"notify_resolved":false`) {
		t.Errorf("decoded %s, name %q, customer %q", spec, name, customer)
	}
	again, _, _, err := rules.decode("hot", spec)
	if err != nil || !bytes.Equal(again, spec) {
		t.Errorf("after a round trip: %s (%v), want %s", again, err, spec)
	}
	// Said as a user reads it, not as the YAML library does.
	_, _, _, err = rules.decode("hot", []byte(`{"for": "5 minutes"}`))
	if fe, ok := err.(*FieldError); !ok || fe.Field != "for" || fe.Msg != `"5 minutes" is not a duration such as 90s, 15m or 2h` {
		t.Errorf(`"for": "5 minutes": %v`, err)
	}
	for kind, cases := range map[string]map[string]string{
		"rules": {
			`{"for": "often"}`:  "for",
			`{"notify": "ops"}`: "notify",
			`{"threshold": 5}`:  "threshold",
			`[1, 2]`:            "rule",
		},
		"notifiers": {`{"type": "email", "smtp": "x"}`: "smtp", `{"port": "twenty-five"}`: "port"},
		"sensors":   {`{"keep": "Pres"}`: "keep", `{"match": {"feld": "Mod"}}`: "match"},
		"customers": {`{"title": "Acme"}`: "title"},
		"reports":   {`{"sections": 3}`: "sections"},
	} {
		for body, field := range cases {
			_, _, _, err := KindOf(kind).decode("x", []byte(body))
			fe, ok := err.(*FieldError)
			if !ok || fe.Field != field {
				t.Errorf("%s %s: %v, want an error naming %s", kind, body, err, field)
			}
		}
	}
}

// FuzzDecodeItem: any body is an item of each kind or an error naming a
// field, and an item read survives a round trip through its JSON.
func FuzzDecodeItem(f *testing.F) {
	f.Add(`{"name": "hot", "sensor": "devicev01", "when": "Temp > 50", "for": "10m"}`)
	f.Add(`{"devices": ["1", "2"], "repeat_every": "1h", "notify_resolved": true, "message": "{{.Device}}"}`)
	f.Add(`{"no_data_for": 5}`)
	f.Add(`{"type": "email", "to": ["a@b.c"], "port": 25}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, k := range Kinds {
			spec, _, _, err := k.decode("x", []byte(body))
			if err != nil {
				fe, ok := err.(*FieldError)
				if !ok || fe.Field == "" || strings.TrimSpace(fe.Msg) == "" {
					t.Fatalf("%s %q: %v is not an error naming a field", k.Name(), body, err)
				}
				continue
			}
			again, _, _, err := k.decode("x", spec)
			if err != nil || !bytes.Equal(again, spec) {
				t.Fatalf("%s %q: after a round trip %s (%v), want %s", k.Name(), body, again, err, spec)
			}
		}
	})
}

// TestCustomerPrices: a customer item's prices become its override under
// money, on a copy of the configuration; without prices, none is left.
func TestCustomerPrices(t *testing.T) {
	customers := KindOf("customers")
	spec, _, _, err := customers.decode("acme", []byte(`{"currency": "CHF", "electricity": {"price_kwh": 0.21, "demand_per_kw_month": 9}, "co2_kg_per_kwh": 0.03}`))
	if err != nil {
		t.Fatal(err)
	}
	base := config.Default()
	c := cloneConfig(base)
	if err := customers.put(c, "acme", spec); err != nil {
		t.Fatal(err)
	}
	if base.Money != nil {
		t.Fatal("the item changed the configuration it was copied from")
	}
	p, ok := c.PricesOf("acme")
	if !ok || p.Currency != "CHF" || p.Electricity.PriceKWh != 0.21 || p.Electricity.DemandPerKWMonth != 9 || *p.CO2KgPerKWh != 0.03 || p.AirPerNm3 != nil {
		t.Errorf("acme's prices %+v (%v)", p, ok)
	}
	if _, ok := c.PricesOf("finemeca"); ok {
		t.Error("finemeca has acme's prices")
	}
	back, _ := customers.encode(c, "acme")
	if string(back) != string(spec) {
		t.Errorf("encoded %s, want %s", back, spec)
	}
	// An item without prices leaves those the file gives; a customer
	// deleted takes its prices along.
	base.Money = &config.Money{Customers: map[string]*config.Prices{"acme": {Currency: "USD"}}}
	c = cloneConfig(base)
	if err := customers.put(c, "acme", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if p, ok := c.PricesOf("acme"); !ok || p.Currency != "USD" || !slices.Contains(c.Customers, "acme") {
		t.Errorf("without prices: %+v, customers %v; want the file's USD", p, c.Customers)
	}
	customers.remove(c, "acme")
	if _, ok := c.PricesOf("acme"); ok || base.Money.Customers["acme"] == nil {
		t.Errorf("acme deleted: its prices stay, or went from the configuration it was copied from")
	}
}
