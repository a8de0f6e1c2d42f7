package app_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// lorawanPayload is a payload of a format's testdata, edited, on one line.
func lorawanPayload(t *testing.T, format, file string, edit func(map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "input", format, "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// chirpstackUp is ChirpStack's documented uplink of device eui, with its
// frame counter, time and deduplication id.
func chirpstackUp(t *testing.T, eui string, fcnt int, at time.Time) string {
	return lorawanPayload(t, "chirpstack", "up.json", func(m map[string]any) {
		m["deviceInfo"].(map[string]any)["devEui"] = eui
		m["fCnt"], m["time"] = fcnt, at.Format(time.RFC3339Nano)
		m["deduplicationId"] = fmt.Sprintf("%s-%d-%d", eui, fcnt, at.Unix())
		if fcnt == 0 {
			delete(m, "fCnt") // as protobuf's JSON mapping leaves a zero out
		}
	})
}

// TestLoRaWANInputs publishes the documentation's ChirpStack and The
// Things Stack payloads through the built-in broker and through
// Mosquitto, and reads them back through the API: a gap in the frame
// counter counted as loss, a rejoin as a restart and not as loss, a
// duplicate stored once, the device's status, Cayenne LPP decoded for the
// kind that names it, and kept rejected: an uplink without a codec, a
// tenant that is not a customer.
func TestLoRaWANInputs(t *testing.T) {
	for _, broker := range []string{"builtin", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			app1 := testenv.Unique(t)
			cs := "application/" + app1 + "/device/"
			var mqttAddr string
			a := start(t, "embedded", app.Options{}, func(c *config.Config) {
				c.Sensors["lora-climate"] = &config.Sensor{Match: config.Match{Topic: "application/never/#"},
					Keep:   []string{"temperatureSensor_1", "humiditySensor_2", "temperature"},
					Rename: map[string]string{"temperatureSensor_1": "Temp", "humiditySensor_2": "Hum", "temperature": "Temp"},
					Units:  map[string]string{"Temp": "°C", "Hum": "%"},
					Derive: map[string]string{"dew": "Temp - (100 - Hum) / 5"},
					Dashboard: config.Dashboard{Title: "LoRaWAN climate", Panels: []config.Panel{
						{Title: "Temperature", Type: "line", Fields: []string{"Temp"}, Unit: "°C"}}}}
				c.Sensors["lora-lpp"] = &config.Sensor{Match: config.Match{Topic: "application/never/#"}, PayloadDecoder: "cayenne_lpp"}
				c.MQTT.Topics = nil
				c.Inputs = []config.Input{
					{Format: "chirpstack", Topics: []string{"application/" + app1 + "/device/+/event/+"}, Sensor: "lora-lpp"},
					{Format: "thethingsstack", Topics: []string{"v3/" + app1 + "@tenant1/devices/+/up"}, Customer: "finemeca",
						Devices: map[string]string{"dev1": "lora-climate"}},
					{Format: "thethingsstack", Topics: []string{"v3/" + app1 + "@other/devices/+/up"}, Sensor: "lora-climate"},
				}
				if broker == "mosquitto" {
					c.MQTT.Broker = testenv.MosquittoURL(t)
					c.MQTT.ClientID, c.MQTT.CleanSession = "sensorhub-"+app1, true
				}
			})
			mqttAddr = a.MQTTAddr()
			if broker == "mosquitto" {
				u, _ := url.Parse(testenv.MosquittoURL(t))
				mqttAddr = u.Host
			}
			t0 := time.Date(2022, 7, 18, 9, 34, 15, 0, time.UTC)
			const euiA, euiB = "0101010101010101", "0303030303030303"
			// Device A: 10, 12 (one lost), its status, a rejoin, 0 (no loss),
			// 1; the first uplink delivered twice.
			up10 := chirpstackUp(t, euiA, 10, t0)
			mosquittoPub(t, mqttAddr, cs+euiA+"/event/up", up10, up10, chirpstackUp(t, euiA, 12, t0.Add(time.Minute)))
			mosquittoPub(t, mqttAddr, cs+euiA+"/event/status", lorawanPayload(t, "chirpstack", "status.json", func(m map[string]any) {
				m["time"] = t0.Add(2 * time.Minute).Format(time.RFC3339Nano)
			}))
			mosquittoPub(t, mqttAddr, cs+euiA+"/event/join", lorawanPayload(t, "chirpstack", "join.json", func(m map[string]any) {
				m["time"] = t0.Add(3 * time.Minute).Format(time.RFC3339Nano)
			}))
			mosquittoPub(t, mqttAddr, cs+euiA+"/event/up", chirpstackUp(t, euiA, 0, t0.Add(4*time.Minute)), chirpstackUp(t, euiA, 1, t0.Add(5*time.Minute)))
			// Device B restarts without a join event: 3, then 0.
			mosquittoPub(t, mqttAddr, cs+euiB+"/event/up", chirpstackUp(t, euiB, 3, t0), chirpstackUp(t, euiB, 0, t0.Add(time.Minute)))
			// The documented uplink without object: no codec, and its tenant
			// is not a customer; with a customer's tag, "no decoder".
			mosquittoPub(t, mqttAddr, cs+"0101010101010101/event/up", lorawanPayload(t, "chirpstack", "up-no-codec.json", nil),
				lorawanPayload(t, "chirpstack", "up-no-codec.json", func(m map[string]any) {
					m["deviceInfo"].(map[string]any)["tags"] = map[string]any{"customer": "finemeca", "sensor": "lora-climate"}
				}))
			// Cayenne LPP bytes, decoded by the kind the input names.
			mosquittoPub(t, mqttAddr, cs+"0202020202020202/event/up", lorawanPayload(t, "chirpstack", "up-cayenne.json", nil))
			// The Things Stack: dev1 of a configured customer, then a
			// tenant that is not a customer.
			mosquittoPub(t, mqttAddr, "v3/"+app1+"@tenant1/devices/dev1/up", lorawanPayload(t, "thethingsstack", "up.json", nil))
			mosquittoPub(t, mqttAddr, "v3/"+app1+"@other/devices/dev1/up", lorawanPayload(t, "thethingsstack", "up.json", nil))

			var rj rejectedList
			wantReasons := []string{`unknown customer "ChirpStack"`, "no decoder: ChirpStack sent this uplink without object", `unknown customer "other"`}
			testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/rejected", &rj)
				for _, w := range wantReasons {
					found := false
					for _, r := range rj.Rejected {
						found = found || strings.Contains(r.Reason, w)
					}
					if !found {
						return fmt.Errorf("no rejected message with %q: %+v", w, rj.Rejected)
					}
				}
				return nil
			})
			var devs []store.Device
			byDevice := map[string]store.Device{}
			testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/devices", &devs)
				for _, d := range devs {
					byDevice[d.Sensor+"/"+d.Device] = d
				}
				if byDevice["lora-climate/"+euiA].Readings < 6 || byDevice["lora-climate/"+euiB].Readings < 2 ||
					byDevice["lora-lpp/0202020202020202"].Readings < 1 || byDevice["lora-climate/dev1"].Readings < 1 {
					return fmt.Errorf("devices %+v", devs)
				}
				return nil
			})
			if rj.Total != 3 {
				t.Errorf("%d rejected messages, want 3: %+v", rj.Total, rj.Rejected)
			}
			// Six of device A (the duplicate once), one lost in the gap and
			// none in the rejoin.
			if d := byDevice["lora-climate/"+euiA]; d.Readings != 6 || d.Lost != 1 || d.Customer != "finemeca" || d.Gateway != "0016c001f153a14c" || d.Name != "Test device" {
				t.Errorf("device A %+v, want 6 readings, 1 lost, customer finemeca, gateway 0016c001f153a14c", d)
			}
			if d := byDevice["lora-climate/"+euiB]; d.Readings != 2 || d.Lost != 0 {
				t.Errorf("device B %+v, want 2 readings, none lost", d)
			}
			points := func(device, field string) []float64 {
				var s series.Series
				getJSON(t, a, "/api/v1/series?customer=finemeca&sensor=lora-climate&device="+device+"&field="+field+
					"&from=2022-07-18T09:00:00Z&to=2022-07-18T10:00:00Z", &s)
				var out []float64
				for _, p := range s.Points {
					out = append(out, p.Value)
				}
				return out
			}
			if got := fmt.Sprint(points(euiA, "_lost")); got != "[0 1 0]" {
				t.Errorf("device A _lost %s, want [0 1 0]: the gap 10 to 12, nothing beside the status, the join and the rejoin", got)
			}
			if got := fmt.Sprint(points(euiA, "Temp")); got != "[23.5 23.5 23.5 23.5]" {
				t.Errorf("device A Temp %s, want four uplinks", got)
			}
			if got := fmt.Sprint(points(euiA, "_battery"), points(euiA, "_margin"), points(euiA, "_join")); got != "[85.5] [6] [1]" {
				t.Errorf("device A status and join %s, want [85.5] [6] [1]", got)
			}
			if got := fmt.Sprint(points(euiB, "_restart"), points(euiB, "_lost")); got != "[1] [0 0]" {
				t.Errorf("device B _restart and _lost %s, want [1] [0 0]: a restart, not a loss", got)
			}
			var latest reading.Reading
			getJSON(t, a, "/api/v1/latest?customer=finemeca&sensor=lora-climate&device="+euiA, &latest)
			if latest.Fields["Temp"] != 23.5 || latest.Fields["Hum"] != 61.5 || latest.Fields["dew"] != 23.5-(100-61.5)/5 || latest.Units["Temp"] != "°C" || latest.Fields["_rssi"] != -36 {
				t.Errorf("latest of device A %+v: the kind's renames, units and formula", latest)
			}
			getJSON(t, a, "/api/v1/latest?customer=finemeca&sensor=lora-lpp&device=0202020202020202", &latest)
			if latest.Fields["temperatureSensor_3"] != 27.2 || latest.Fields["temperatureSensor_5"] != 25.5 {
				t.Errorf("latest of the Cayenne LPP device %+v", latest)
			}
			getJSON(t, a, "/api/v1/latest?customer=finemeca&sensor=lora-climate&device=dev1", &latest)
			if latest.Fields["Temp"] != 21.5 || latest.Fields["_rssi"] != -35 || latest.MsgCount != 7638 || latest.Strings["dev_eui"] != "0004a30b001c0530" {
				t.Errorf("latest of The Things Stack's dev1 %+v", latest)
			}
		})
	}
}
