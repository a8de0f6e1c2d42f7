package app_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug/sparkplugb"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// sparkplugPayload is a Sparkplug B payload of metrics named (name) or
// by alias (alias > 0, no name), of double values.
func sparkplugPayload(t *testing.T, at time.Time, seq uint64, metrics ...any) []byte {
	t.Helper()
	p := &sparkplugb.Payload{Timestamp: proto.Uint64(uint64(at.UnixMilli())), Seq: proto.Uint64(seq)}
	for i := 0; i+2 < len(metrics); i += 3 {
		m := &sparkplugb.Payload_Metric{Datatype: proto.Uint32(uint32(sparkplugb.DataType_Double)),
			Value: &sparkplugb.Payload_Metric_DoubleValue{DoubleValue: metrics[i+2].(float64)}}
		if name := metrics[i].(string); name != "" {
			m.Name = proto.String(name)
		}
		if alias := metrics[i+1].(int); alias > 0 {
			m.Alias = proto.Uint64(uint64(alias))
		}
		p.Metrics = append(p.Metrics, m)
	}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSparkplugInput publishes an edge node's protobuf messages through
// the built-in broker and through Mosquitto, and reads them back through
// the API: data whose alias no birth taught kept rejected and a rebirth
// asked of the node (an NCMD a subscriber sees), then a birth, a device's
// birth, data through the aliases (one message delivered twice, stored
// once), a seq gap counted as loss, and a device's death, which a rule
// on _online alerts on.
func TestSparkplugInput(t *testing.T) {
	for _, broker := range []string{"builtin", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			group := "g" + testenv.Unique(t)
			a := start(t, "embedded", app.Options{}, func(c *config.Config) {
				c.Sensors["plc"] = &config.Sensor{Match: config.Match{Topic: "never/#"}}
				c.Alerts.EvaluateEvery = 100 * time.Millisecond
				c.Alerts.Rules = []alert.RuleSpec{{Name: "offline", Sensor: "plc", When: "_online == 0", Severity: "warning"}}
				c.MQTT.Topics = nil
				c.Inputs = []config.Input{{Format: "sparkplug", Topics: []string{"spBv1.0/" + group + "/+/+", "spBv1.0/" + group + "/+/+/+"},
					Customer: "finemeca", Sensor: "plc"}}
				if broker == "mosquitto" {
					c.MQTT.Broker = testenv.MosquittoURL(t)
					c.MQTT.ClientID, c.MQTT.CleanSession = "sensorhub-"+group, true
				}
			})
			brokerURL := "tcp://" + a.MQTTAddr()
			if broker == "mosquitto" {
				brokerURL = testenv.MosquittoURL(t)
			}
			cl := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL).SetClientID("edge-" + group).SetCleanSession(true))
			if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("connect: %v", tok.Error())
			}
			defer cl.Disconnect(100)
			commands := make(chan []byte, 10)
			if tok := cl.Subscribe(sparkplug.CommandTopic(group, "Edge1"), 1, func(_ paho.Client, m paho.Message) { commands <- m.Payload() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			pub := func(kind, device string, payload []byte) {
				t.Helper()
				topic := "spBv1.0/" + group + "/" + kind + "/Edge1"
				if device != "" {
					topic += "/" + device
				}
				if tok := cl.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					t.Fatalf("publish %s: %v", topic, tok.Error())
				}
			}
			t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
			at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

			// Data before any birth: its alias is unknown.
			pub("DDATA", "Boiler", sparkplugPayload(t, at(0), 40, "", 11, 60.0))
			select {
			case cmd := <-commands:
				var p sparkplugb.Payload
				if err := proto.Unmarshal(cmd, &p); err != nil || len(p.Metrics) != 1 || p.Metrics[0].GetName() != sparkplug.RebirthMetric || !p.Metrics[0].GetBooleanValue() {
					t.Fatalf("NCMD %v (%v), want %s = true", &p, err, sparkplug.RebirthMetric)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no rebirth asked of the edge node")
			}
			// The node's rebirth, then data through the aliases; seq 4 is
			// lost.
			pub("NBIRTH", "", sparkplugPayload(t, at(1), 0, "Inputs/Voltage", 1, 231.5))
			pub("DBIRTH", "Boiler", sparkplugPayload(t, at(2), 1, "Temperature", 11, 62.25))
			pub("NDATA", "", sparkplugPayload(t, at(3), 2, "", 1, 229.0))
			// The same message twice: each of its records is stored once.
			pub("DDATA", "Boiler", sparkplugPayload(t, at(4), 3, "", 11, 63.0))
			pub("DDATA", "Boiler", sparkplugPayload(t, at(4), 3, "", 11, 63.0))
			pub("NDATA", "", sparkplugPayload(t, at(5), 5, "", 1, 230.0))
			pub("DDEATH", "Boiler", sparkplugPayload(t, at(6), 6))

			byDevice := map[string]store.Device{}
			testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				var devs []store.Device
				getJSON(t, a, "/api/v1/devices", &devs)
				for _, d := range devs {
					byDevice[d.Sensor+"/"+d.Device] = d
				}
				if byDevice["plc/Edge1"].Readings < 6 || byDevice["plc/Edge1:Boiler"].Readings < 3 {
					return fmt.Errorf("devices %+v", devs)
				}
				return nil
			})
			if d := byDevice["plc/Edge1"]; d.Readings != 6 || d.Lost != 1 || d.Customer != "finemeca" {
				t.Errorf("edge node %+v, want 6 readings (one a message), 1 lost", d)
			}
			var rj rejectedList
			getJSON(t, a, "/api/v1/rejected", &rj)
			if rj.Total != 1 || !strings.Contains(rj.Rejected[0].Reason, "unknown alias 11 of edge node "+group+"/Edge1: no birth seen since start; a rebirth was asked") {
				t.Errorf("rejected %+v, want the data of the unknown alias", rj)
			}
			points := func(device, field string) string {
				var s series.Series
				getJSON(t, a, "/api/v1/series?customer=finemeca&sensor=plc&device="+url.QueryEscape(device)+"&field="+field+
					"&from="+t0.Add(-time.Hour).Format(time.RFC3339)+"&to="+t0.Add(time.Hour).Format(time.RFC3339), &s)
				var out []float64
				for _, p := range s.Points {
					out = append(out, p.Value)
				}
				return fmt.Sprint(out)
			}
			if got := points("Edge1", "_lost"); got != "[0 0 0 0 1 0]" {
				t.Errorf("edge node _lost %s, want the gap from seq 3 to 5", got)
			}
			if got := points("Edge1", "Inputs_Voltage"); got != "[231.5 229 230]" {
				t.Errorf("edge node Inputs_Voltage %s", got)
			}
			if got := points("Edge1:Boiler", "Temperature"); got != "[62.25 63]" {
				t.Errorf("Boiler Temperature %s, want its birth and its data through alias 11", got)
			}
			var latest reading.Reading
			getJSON(t, a, "/api/v1/latest?customer=finemeca&sensor=plc&device="+url.QueryEscape("Edge1:Boiler"), &latest)
			if v, ok := latest.Fields[sparkplug.FieldOnline]; !ok || v != 0 || !latest.Time.Equal(at(6)) {
				t.Errorf("latest of the Boiler %+v, want its death: _online 0", latest)
			}
			// The death fires a rule on _online; the node, alive, does not.
			testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				alerts, err := a.Store.Alerts(context.Background(), store.AlertFilter{State: "firing"})
				if err != nil || len(alerts) != 1 || alerts[0].Rule != "offline" || alerts[0].Device != "Edge1:Boiler" {
					return fmt.Errorf("firing alerts %+v %v, want offline of Edge1:Boiler", alerts, err)
				}
				return nil
			})
		})
	}
}
