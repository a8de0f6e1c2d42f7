package cayenne_test

import (
	"encoding/hex"
	"maps"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/input/cayenne"
)

// TestDecode decodes the examples of the Cayenne LPP specification.
func TestDecode(t *testing.T) {
	cases := []struct {
		hex  string
		want map[string]any
		err  string
	}{
		{hex: "03670110056700FF", want: map[string]any{"temperatureSensor_3": 27.2, "temperatureSensor_5": 25.5}},
		{hex: "0167FFD7", want: map[string]any{"temperatureSensor_1": -4.1}},
		{hex: "067104D2FB2E0000", want: map[string]any{"accelerometer_6_x": 1.234, "accelerometer_6_y": -1.234, "accelerometer_6_z": 0.0}},
		{hex: "018806765FF2960A0003E8", want: map[string]any{"gpsLocation_1_latitude": 42.3519, "gpsLocation_1_longitude": -87.9094, "gpsLocation_1_altitude": 10.0}},
		{hex: "02686102732710000001", want: map[string]any{"humiditySensor_2": 48.5, "barometer_2": 1000.0, "digitalInput_0": 1.0}},
		{hex: "", want: map[string]any{}},
		{hex: "0367", err: "needs 2 bytes, 0 left"},
		{hex: "03", err: "1 byte left"},
		{hex: "0399FF", err: "unknown data type 153"},
	}
	for _, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, units, err := cayenne.Decode(b)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.hex, err, c.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.hex, got, err, c.want)
		}
		if _, ok := got["temperatureSensor_3"]; ok && units["temperatureSensor_3"] != "°C" {
			t.Errorf("%s: units %v", c.hex, units)
		}
	}
}
