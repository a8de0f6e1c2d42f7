package catalog

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDecodeRule: a rule's JSON has the configuration file's keys and
// durations; a wrong key or value is named.
func TestDecodeRule(t *testing.T) {
	spec, err := DecodeRule([]byte(`{"name": "hot", "sensor": "devicev01", "when": "Temp > 50", "for": "10m", "notify": ["ops"], "notify_resolved": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "hot" || spec.For != 10*time.Minute || len(spec.Notify) != 1 || spec.NotifyResolved == nil || *spec.NotifyResolved {
		t.Errorf("decoded %+v", spec)
	}
	again, err := DecodeRule(specJSON(spec))
	if err != nil || !reflect.DeepEqual(again, spec) {
		t.Errorf("after a round trip through JSON: %+v (%v), want %+v", again, err, spec)
	}
	for body, field := range map[string]string{
		`{"for": "often"}`:         "for",
		`{"notify": "ops"}`:        "notify",
		`{"when": 5, "name": "x"}`: "",
		`{"threshold": 5}`:         "threshold",
		`[1, 2]`:                   "rule",
	} {
		_, err := DecodeRule([]byte(body))
		fe, ok := err.(*FieldError)
		if field == "" {
			continue // a number is a valid YAML string
		}
		if !ok || fe.Field != field {
			t.Errorf("%s: %v, want an error naming %s", body, err, field)
		}
	}
}

// FuzzDecodeRule: any body is a rule or an error naming a field, and a
// rule read survives a round trip through its JSON.
func FuzzDecodeRule(f *testing.F) {
	f.Add(`{"name": "hot", "sensor": "devicev01", "when": "Temp > 50", "for": "10m"}`)
	f.Add(`{"devices": ["1", "2"], "repeat_every": "1h", "notify_resolved": true, "message": "{{.Device}}"}`)
	f.Add(`{"no_data_for": 5}`)
	f.Fuzz(func(t *testing.T, body string) {
		spec, err := DecodeRule([]byte(body))
		if err != nil {
			fe, ok := err.(*FieldError)
			if !ok || fe.Field == "" || strings.TrimSpace(fe.Msg) == "" {
				t.Fatalf("%q: %v is not an error naming a field", body, err)
			}
			return
		}
		again, err := DecodeRule(specJSON(spec))
		if err != nil || !reflect.DeepEqual(again, spec) {
			t.Fatalf("%q: after a round trip %+v (%v), want %+v", body, again, err, spec)
		}
	})
}
