package modbus_test

import (
	"testing"

	"github.com/sensorhub/sensorhub/internal/input/inputtest"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
)

const topic = "modbus/finemeca/sdm630-hall-a"

// TestGolden decodes polls as the poller publishes them into readings
// and rejections.
func TestGolden(t *testing.T) {
	dec := inputtest.Decoder(modbus.Format{}, modbus.TopicPrefix+"#")
	inputtest.Golden(t, []inputtest.Case{
		{Name: "poll", Topic: topic, File: "poll.json", Decoder: dec},
		// An exception for one request: its fields absent, the exception
		// kept with the reading; the kind's keep and rename apply.
		{Name: "poll-exception", Topic: "modbus/finemeca/compressor-1", File: "poll-exception.json", Decoder: dec},
		{Name: "unknown-kind", Topic: topic, File: "poll.json", Decoder: dec, Edit: func(m map[string]any) { m["sensor"] = "boiler" }},
		{Name: "unknown-customer", Topic: topic, File: "poll.json", Decoder: dec, Edit: func(m map[string]any) { m["customer"] = "other" }},
		{Name: "unknown-key", Topic: topic, File: "poll.json", Decoder: dec, Edit: func(m map[string]any) { m["registers"] = 1 }},
	})
}

func FuzzRead(f *testing.F) {
	dec := inputtest.Decoder(modbus.Format{}, modbus.TopicPrefix+"#")
	inputtest.Fuzz(f, dec, [][2]string{{topic, "poll.json"}, {"modbus/finemeca/compressor-1", "poll-exception.json"}})
}
