package chirpstack_test

import (
	"testing"

	"github.com/sensorhub/sensorhub/internal/input/chirpstack"
	"github.com/sensorhub/sensorhub/internal/input/inputtest"
	"github.com/sensorhub/sensorhub/internal/reading"
)

const (
	app   = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/"
	lpp   = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0202020202020202/event/up"
	topic = "application/+/device/+/event/+"
)

func deviceInfo(m map[string]any) map[string]any { return m["deviceInfo"].(map[string]any) }

// TestGolden decodes ChirpStack's documented events into readings and
// rejections.
func TestGolden(t *testing.T) {
	plain := inputtest.Decoder(&chirpstack.Format{}, topic)
	lppDefault := inputtest.Decoder(&chirpstack.Format{Sensor: "lora-lpp"}, topic)
	weather := inputtest.Decoder(&chirpstack.Format{Customer: "acme", Sensor: "weather", Separator: "__"}, topic)
	inputtest.Golden(t, []inputtest.Case{
		// The kind and customer from the device's tags; two gateways,
		// the stronger one's figures; the codec's nested fields renamed.
		{Name: "up", Topic: app + "up", File: "up.json", Decoder: plain},
		// No tags: the input's customer and kind; every field kept, text
		// too, nested names joined with the input's separator.
		{Name: "up-input-defaults", Topic: app + "up", File: "up.json", Decoder: weather, Edit: func(m map[string]any) {
			deviceInfo(m)["tags"] = map[string]any{}
		}},
		// ChirpStack's documented uplink: no object (the profile has no
		// codec), fCnt 0 left out, tenant ChirpStack not a customer.
		{Name: "up-no-codec-unknown-tenant", Topic: app + "up", File: "up-no-codec.json", Decoder: plain},
		{Name: "up-no-codec", Topic: app + "up", File: "up-no-codec.json", Decoder: weather},
		// Without a codec, the kind's payload decoder: Cayenne LPP.
		{Name: "up-cayenne", Topic: lpp, File: "up-cayenne.json", Decoder: lppDefault},
		{Name: "up-cayenne-no-kind", Topic: lpp, File: "up-cayenne.json", Decoder: plain},
		{Name: "up-cayenne-cut-short", Topic: lpp, File: "up-cayenne.json", Decoder: lppDefault, Edit: func(m map[string]any) {
			m["data"] = "A2cB"
		}},
		// A tag naming a kind that is not configured is refused, not
		// stored under another.
		{Name: "up-unknown-kind", Topic: app + "up", File: "up.json", Decoder: plain, Edit: func(m map[string]any) {
			deviceInfo(m)["tags"] = map[string]any{"customer": "finemeca", "sensor": "boiler"}
		}},
		// The device profile's name, when it is a kind.
		{Name: "up-profile-kind", Topic: app + "up", File: "up.json", Decoder: lppDefault, Edit: func(m map[string]any) {
			deviceInfo(m)["tags"] = map[string]any{"customer": "finemeca"}
			deviceInfo(m)["deviceProfileName"] = "weather"
		}},
		{Name: "up-bad-fcnt", Topic: app + "up", File: "up.json", Decoder: plain, Edit: func(m map[string]any) { m["fCnt"] = -3 }},
		{Name: "up-no-time", Topic: app + "up", File: "up.json", Decoder: plain, Edit: func(m map[string]any) { delete(m, "time") }},
		{Name: "status", Topic: app + "status", File: "status.json", Decoder: plain},
		{Name: "status-external-power", Topic: app + "status", File: "status.json", Decoder: plain, Edit: func(m map[string]any) {
			m["externalPowerSource"] = true
			delete(m, "batteryLevel")
			delete(m, "margin")
		}},
		{Name: "join", Topic: app + "join", File: "join.json", Decoder: plain},
		{Name: "ack", Topic: app + "ack", File: "ack.json", Decoder: plain},
		{Name: "not-chirpstack-topic", Topic: "application/x/up", File: "up.json", Decoder: inputtest.Decoder(&chirpstack.Format{}, "application/#")},
	})
}

// TestBoundSender: a sender that may only send for one customer cannot
// send for another through a device's tags.
func TestBoundSender(t *testing.T) {
	dec := inputtest.Decoder(&chirpstack.Format{}, topic)
	_, err := dec.Decode(reading.Envelope{Topic: app + "up", Payload: inputtest.Payload(t, "up.json", nil), Received: inputtest.Received, Customer: "acme"})
	rj, ok := err.(*reading.RejectError)
	if !ok || rj.Customer != "acme" {
		t.Fatalf("got %v, want a rejection kept under acme", err)
	}
}

func FuzzRead(f *testing.F) {
	dec := inputtest.Decoder(&chirpstack.Format{Sensor: "lora-lpp"}, topic)
	inputtest.Fuzz(f, dec, [][2]string{
		{app + "up", "up.json"}, {app + "up", "up-no-codec.json"}, {lpp, "up-cayenne.json"},
		{app + "status", "status.json"}, {app + "join", "join.json"}, {app + "ack", "ack.json"},
	})
}
