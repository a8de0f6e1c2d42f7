package thethingsstack_test

import (
	"testing"

	"github.com/sensorhub/sensorhub/internal/input/inputtest"
	"github.com/sensorhub/sensorhub/internal/input/thethingsstack"
)

const (
	up     = "v3/app1@tenant1/devices/dev1/up"
	filter = "v3/+/devices/+/up"
)

func uplink(m map[string]any) map[string]any { return m["uplink_message"].(map[string]any) }

// TestGolden decodes The Things Stack's documented uplink into readings
// and rejections.
func TestGolden(t *testing.T) {
	configured := inputtest.Decoder(&thethingsstack.Format{Customer: "finemeca", Sensor: "weather", Devices: map[string]string{"dev1": "lora-climate"}}, filter)
	byTenant := inputtest.Decoder(&thethingsstack.Format{Sensor: "weather"}, filter)
	lpp := inputtest.Decoder(&thethingsstack.Format{Customer: "finemeca", Sensor: "lora-lpp"}, filter)
	inputtest.Golden(t, []inputtest.Case{
		// dev1's kind from devices; the stronger of two gateways.
		{Name: "up", Topic: up, File: "up.json", Decoder: configured},
		// Another device: the input's kind, every field kept, the nested
		// battery.voltage as battery_voltage.
		{Name: "up-default-kind", Topic: "v3/app1@tenant1/devices/dev9/up", File: "up.json", Decoder: configured, Edit: func(m map[string]any) {
			m["end_device_ids"].(map[string]any)["device_id"] = "dev9"
		}},
		// No customer configured: the topic's tenant, which is not one.
		{Name: "up-unknown-tenant", Topic: up, File: "up.json", Decoder: byTenant},
		{Name: "up-tenant-customer", Topic: "v3/app1@acme/devices/dev1/up", File: "up.json", Decoder: byTenant},
		// No payload formatter, f_cnt 0 left out: the kind's Cayenne LPP,
		// or "no decoder".
		{Name: "up-no-formatter-lpp", Topic: "v3/app1@tenant1/devices/dev2/up", File: "up-no-formatter.json", Decoder: lpp},
		{Name: "up-no-formatter", Topic: "v3/app1@tenant1/devices/dev2/up", File: "up-no-formatter.json", Decoder: configured},
		{Name: "up-no-rx-metadata", Topic: up, File: "up.json", Decoder: configured, Edit: func(m map[string]any) {
			delete(uplink(m), "rx_metadata")
			delete(uplink(m), "received_at")
		}},
		{Name: "not-an-uplink", Topic: up, File: "up.json", Decoder: configured, Edit: func(m map[string]any) { delete(m, "uplink_message") }},
		{Name: "not-tts-topic", Topic: "v3/app1/devices/dev1/up", File: "up.json", Decoder: inputtest.Decoder(&thethingsstack.Format{Customer: "finemeca"}, "v3/#")},
	})
}

func FuzzRead(f *testing.F) {
	dec := inputtest.Decoder(&thethingsstack.Format{Sensor: "lora-lpp", Devices: map[string]string{"dev1": "lora-climate"}}, filter)
	inputtest.Fuzz(f, dec, [][2]string{{up, "up.json"}, {"v3/app1@acme/devices/dev2/up", "up-no-formatter.json"}})
}
