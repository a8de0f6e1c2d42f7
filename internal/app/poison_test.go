package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// postIngest posts body to /api/v1/ingest on topic and returns the status.
func postIngest(t *testing.T, a *app.App, topic, body string) int {
	t.Helper()
	resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/ingest?topic="+url.QueryEscape(topic), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// storeEngines are the stores the poison tests run on: each gives the
// configuration change that a (sub)test uses it with.
var storeEngines = map[string]func(*testing.T) func(*config.Config){
	"sqlite": func(*testing.T) func(*config.Config) { return nil },
	"postgres": func(t *testing.T) func(*config.Config) {
		url := testenv.PostgresSchema(t)
		return func(c *config.Config) { c.Store.Engine, c.Store.URL = "postgres", url }
	},
}

// TestPoisonMessagesHaltNothing: each message that once halted ingestion
// for everyone (a time out of every store's range, an idDevice too long
// for a queue subject, a NUL in a name or a topic) is rejected or stored
// with its time flagged, and the message after it is stored, on both
// stores; /readyz stays ready.
func TestPoisonMessagesHaltNothing(t *testing.T) {
	for name, engine := range storeEngines {
		t.Run(name, func(t *testing.T) {
			a := start(t, "embedded", app.Options{}, engine(t))
			good := func(n int) string {
				return fmt.Sprintf(`{"Customer":"finemeca","idDevice":300,"Mod":"weath","Time":"2024-05-02 08:%02d:00","msgCount":%d,"Temp":%d}`, n, n, n)
			}
			poison := []struct{ topic, body string }{
				{"finemeca/x", `{"Customer":"finemeca","idDevice":301,"Mod":"weath","Time":1717200000000000,"Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":302,"Mod":"weath","Time":"9999-12-31T23:59:59-01:00","Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":303,"Mod":"weath","Time":"0000-01-01 00:00:00","Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":304,"Mod":"weath","Time":"0001-01-01 00:00:00","Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":"` + strings.Repeat("d", 5000) + `","Mod":"weath","Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":305,"Device":"name\u0000x","Mod":"weath","Temp":1}`},
				{"finemeca/x\x00y", `{"Customer":"finemeca","idDevice":306,"Mod":"weath","Temp":1}`},
				{"finemeca/x", `{"Customer":"finemeca","idDevice":307,"Mod":"weath","msgCount":1e30,"Temp":1}`},
			}
			for i, p := range poison {
				if code := postIngest(t, a, p.topic, p.body); code != http.StatusAccepted && code != http.StatusBadRequest {
					t.Fatalf("poison %d: HTTP %d", i, code)
				}
				if code := postIngest(t, a, "finemeca/devicev01/300", good(i)); code != http.StatusAccepted {
					t.Fatalf("after poison %d: HTTP %d", i, code)
				}
			}
			var devs []store.Device
			testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/devices?sensor=devicev01", &devs)
				for _, d := range devs {
					if d.Device == "300" && d.Readings == int64(len(poison)) {
						return nil
					}
				}
				return fmt.Errorf("devices %+v, want 300 with %d readings", devs, len(poison))
			})
			byID := map[string]store.Device{}
			for _, d := range devs {
				byID[d.Device] = d
			}
			// Microseconds are read as such; the other times are replaced.
			var r reading.Reading
			if getJSON(t, a, "/api/v1/latest?device=301", &r); !r.Time.Equal(time.UnixMicro(1717200000000000)) {
				t.Errorf("microsecond time read as %s", r.Time)
			}
			for _, id := range []string{"302", "303", "304"} {
				r = reading.Reading{}
				if getJSON(t, a, "/api/v1/latest?device="+id, &r); !r.HasFlag(reading.FlagTimeFromReceive) || time.Since(r.Time) > time.Minute {
					t.Errorf("device %s: time %s flags %v, want the receive time, flagged", id, r.Time, r.Flags)
				}
			}
			if d, ok := byID["307"]; !ok || d.MsgCount != -1 {
				t.Errorf("msgCount 1e30: device %+v, want stored without a msgCount", d)
			}
			var rj rejectedList
			getJSON(t, a, "/api/v1/rejected", &rj)
			var reasons []string
			for _, x := range rj.Rejected {
				reasons = append(reasons, x.Reason)
			}
			all := strings.Join(reasons, "\n")
			for _, want := range []string{"idDevice too long: 5000 bytes", "a text value holds a NUL character"} {
				if !strings.Contains(all, want) {
					t.Errorf("no rejection %q among %q", want, reasons)
				}
			}
			if code := getJSON(t, a, "/readyz", nil); code != http.StatusOK {
				t.Errorf("/readyz: HTTP %d", code)
			}
		})
	}
}

// TestMessageOverPayloadLimitOverMQTT: a 12 MiB message under the built-in
// broker's packet limit is kept rejected as too large, with its first
// bytes, and acknowledged; one over the packet limit is refused at the
// broker; the messages after them are stored.
func TestMessageOverPayloadLimitOverMQTT(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.MQTT.Builtin.MaxPacket = 16 << 20 })
	host, port, _ := net.SplitHostPort(a.MQTTAddr())
	big := `{"Customer":"finemeca","idDevice":400,"Mod":"weath","Pad":"` + strings.Repeat("x", 12<<20) + `"}`
	for range 3 {
		cmd := testenv.Command(t, "mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", "finemeca/devicev01/400", "-s")
		cmd.Stdin = strings.NewReader(big)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub of 12 MiB: %v: %s", err, out)
		}
	}
	huge := bytes.Repeat([]byte("y"), 17<<20)
	cmd := testenv.Command(t, "mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", "finemeca/devicev01/400", "-s")
	cmd.Stdin = bytes.NewReader(huge)
	cmd.CombinedOutput() // refused: the broker closes the connection
	mosquittoPub(t, a.MQTTAddr(), "finemeca/devicev01/401", `{"Customer":"finemeca","idDevice":401,"Mod":"weath","msgCount":1,"Temp":1}`)
	var rj rejectedList
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, "/api/v1/rejected", &rj)
		if rj.Total != 3 {
			return fmt.Errorf("%d rejected, want the three 12 MiB messages", rj.Total)
		}
		var r reading.Reading
		if code := getJSON(t, a, "/api/v1/latest?device=401", &r); code != http.StatusOK {
			return fmt.Errorf("the message after them: HTTP %d", code)
		}
		return nil
	})
	for _, x := range rj.Rejected {
		if !strings.HasPrefix(x.Reason, fmt.Sprintf("payload too large: %d bytes, the limit is 65536", len(big))) || len(x.Payload) != 64<<10 {
			t.Errorf("rejected %q with %d bytes kept, want too large with its first 64 KiB", x.Reason, len(x.Payload))
		}
	}
}

// TestSilentConnectionsCannotHoldTheServer: connections that send nothing
// are closed after the header timeout, so that with every connection the
// server serves at once taken by them, a client still gets its answer.
func TestSilentConnectionsCannotHoldTheServer(t *testing.T) {
	testenv.Slow(t)
	t.Parallel()
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.HTTP.MaxConnections = 16 })
	var silent []net.Conn
	for range 16 {
		c, err := net.Dial("tcp", a.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	started := time.Now()
	resp, err := client.Get("http://" + a.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("with every connection taken by silent clients: %v", err)
	}
	resp.Body.Close()
	t.Logf("answered after %s", time.Since(started).Round(100*time.Millisecond))
	silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a silent connection: read %v, want it closed by the server", err)
	}
}

// TestFutureClockDoesNotFreezeDevice: one reading dated 2099 (a device
// clock gone wrong) takes its receive time, flagged; the device's later
// readings are its newest, its msgCount moves on, and its rules fire.
func TestFutureClockDoesNotFreezeDevice(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.Alerts.EvaluateEvery = 100 * time.Millisecond })
	t0 := time.Now().Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", strings.Replace(airLine(t0, 1, 6.4), t0.In(a.Config.Location()).Format("2006-01-02"), "2099-01-01", 1))
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var r reading.Reading
		if code := getJSON(t, a, "/api/v1/latest?device=201", &r); code != http.StatusOK {
			return fmt.Errorf("the reading dated 2099: HTTP %d", code)
		}
		return nil
	})
	// The next readings come after the first's receive time, which it
	// took: a minute below the opening pressure.
	t1 := time.Now().Add(time.Second).Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201",
		airLine(t1, 2, 5.9), airLine(t1.Add(30*time.Second), 3, 5.8), airLine(t1.Add(60*time.Second), 4, 5.7))
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		var r reading.Reading
		if code := getJSON(t, a, "/api/v1/latest?device=201", &r); code != http.StatusOK || r.MsgCount != 4 || r.Fields["Pres"] != 5.7 {
			return fmt.Errorf("latest: HTTP %d msgCount %d", code, r.MsgCount)
		}
		var devs []store.Device
		getJSON(t, a, "/api/v1/devices?sensor=air", &devs)
		if len(devs) != 1 || devs[0].MsgCount != 4 || devs[0].LastTime.Year() == 2099 {
			return fmt.Errorf("devices %+v", devs)
		}
		if got := alertsIn(t, a, "state=firing"); len(got) != 1 {
			return fmt.Errorf("firing %+v, want the leak", got)
		}
		return nil
	})
	var rs series.Series
	getJSON(t, a, "/api/v1/series?device=201&field=Pres&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", &rs)
	for _, p := range rs.Points {
		if p.Time.Year() > t0.Year()+1 {
			t.Errorf("a point stored in %d", p.Time.Year())
		}
	}
}
