package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// airLine is one message of air-leak detector 201 at device time t.
func airLine(t time.Time, count int, pres float64) string {
	loc, _ := time.LoadLocation("Europe/Brussels")
	return fmt.Sprintf(`{"Customer":"finemeca","idGateway":170,"idDevice":201,"Device":"air-line-1","Time":%q,"msgCount":%d,"RSSI":-62,"SNR":7,"Mod":"air","Pres":%.2f,"Pres-U":"bar","OpenPres":6.0,"OpenPres-U":"bar"}`,
		t.In(loc).Format("2006-01-02 15:04:05"), count, pres)
}

// mailTo configures an e-mail notifier "ops" to the test's SMTP server,
// told of every rule, and a fast timer.
func mailTo(srv *testenv.SMTP) func(*config.Config) {
	return func(c *config.Config) {
		c.PublicURL = "http://sensorhub.example"
		c.Alerts.EvaluateEvery = 100 * time.Millisecond
		c.Alerts.Notifiers["ops"] = &config.Notifier{Type: "email", Host: srv.Host, Port: srv.Port, TLS: "none",
			From: "sensorhub@example.com", To: []string{"ops@example.com"}}
		c.Alerts.Notify = []string{"ops"}
	}
}

type alertDetail struct {
	Alert         store.Alert          `json:"alert"`
	Notifications []store.Notification `json:"notifications"`
}

// noSilence leaves the device-silent rule out: the fixtures' readings are
// months old, and their devices would be alerted as silent as soon as
// the alert stage looks.
func noSilence(c *config.Config) {
	c.Alerts.Rules = slices.DeleteFunc(config.DefaultRules(), func(r alert.RuleSpec) bool { return r.NoDataFor > 0 })
}

func alertsIn(t *testing.T, a *app.App, query string) []store.Alert {
	t.Helper()
	var got struct{ Alerts []store.Alert }
	if code := getJSON(t, a, "/api/v1/alerts?"+query, &got); code != http.StatusOK {
		t.Fatalf("alerts?%s: HTTP %d", query, code)
	}
	return got.Alerts
}

// waitMails waits until the SMTP server holds n messages, and fails when
// it holds more.
func waitMails(t *testing.T, srv *testenv.SMTP, n int) []string {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if got := len(srv.Messages(t)); got < n {
			return fmt.Errorf("%d e-mails, want %d", got, n)
		}
		return nil
	})
	msgs := srv.Messages(t)
	if len(msgs) != n {
		t.Fatalf("%d e-mails, want %d:\n%s", len(msgs), n, strings.Join(msgs, "\n----\n"))
	}
	return msgs
}

// TestAirLeakAlertStory: readings published over MQTT fall below the
// opening pressure for longer than the rule's "for": exactly one e-mail
// and one webhook call (after two 503s) with the device, values, threshold
// and leak figures; back above clear_when: exactly one resolved of each.
// A value between the opening pressure and clear_when resolves nothing.
func TestAirLeakAlertStory(t *testing.T) {
	srv := testenv.StartSMTP(t)
	var mu sync.Mutex
	var hooked []notify.Event
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var ev notify.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v: %s", err, body)
		}
		hooked = append(hooked, ev)
	}))
	defer hook.Close()
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		mailTo(srv)(c)
		c.Alerts.Notifiers["hook"] = &config.Notifier{Type: "webhook", URL: hook.URL, Secret: "s3cret"}
		c.Alerts.Notify = []string{"ops", "hook"}
	})

	// Device times from now on, 30 s apart, so that only the readings
	// (not the clock) decide when the rule's minute has passed.
	t0 := time.Now().Truncate(time.Second)
	pres := []float64{6.42, 5.91, 5.80, 5.72}
	var lines []string
	for i, p := range pres {
		lines = append(lines, airLine(t0.Add(time.Duration(i)*30*time.Second), i+1, p))
	}
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", lines...)
	msgs := waitMails(t, srv, 1)
	firing := msgs[0]
	for _, want := range []string{
		"Subject: [FIRING] air-leak: air 201 air-line-1", "text/plain", "text/html",
		"Air leak on air-line-1 (201): line pressure 5.72 bar is below the opening pressure 6 bar",
		"Pres: 5.72 bar", "OpenPres: 6 bar", "Condition: Pres < OpenPres", t0.Add(90 * time.Second).In(a.Config.Location()).Format("15:04:05"),
		"http://sensorhub.example/d/air?customer=finemeca&device=201", "Air lost:", "Nl/min", "per year",
	} {
		if !strings.Contains(firing, want) {
			t.Errorf("the firing e-mail lacks %q:\n%s", want, firing)
		}
	}
	firingAlerts := alertsIn(t, a, "state=firing")
	if len(firingAlerts) != 1 || firingAlerts[0].Rule != "air-leak" || firingAlerts[0].Device != "201" || firingAlerts[0].Values["Pres"] != 5.72 {
		t.Fatalf("firing alerts %+v", firingAlerts)
	}

	// Above the opening pressure but not above clear_when (+0.05 bar):
	// still firing. Then well above: resolved.
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0.Add(120*time.Second), 5, 6.03))
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0.Add(150*time.Second), 6, 6.40))
	msgs = waitMails(t, srv, 2)
	resolved := msgs[1]
	for _, want := range []string{"Subject: [RESOLVED] air-leak: air 201", "is over: line pressure 6.4 bar", "Pres: 6.4 bar", "Air lost:"} {
		if !strings.Contains(resolved, want) {
			t.Errorf("the resolved e-mail lacks %q:\n%s", want, resolved)
		}
	}
	id := firingAlerts[0].ID
	var d alertDetail
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, fmt.Sprintf("/api/v1/alerts/%d", id), &d)
		for _, n := range d.Notifications {
			if n.Status == store.NotificationPending {
				return fmt.Errorf("notification %+v still pending", n)
			}
		}
		return nil
	})
	if d.Alert.State != "resolved" || d.Alert.Resolved == nil {
		t.Errorf("alert %+v, want resolved", d.Alert)
	}
	sent := map[string]int{}
	for _, n := range d.Notifications {
		if n.Status != store.NotificationSent {
			t.Errorf("notification %+v not sent", n)
		}
		sent[n.Notifier+" "+n.Kind]++
		if n.Notifier == "hook" && n.Kind == "firing" && n.Attempts != 3 {
			t.Errorf("webhook firing notification took %d attempts, want 3 (two 503s)", n.Attempts)
		}
	}
	for _, k := range []string{"ops firing", "ops resolved", "hook firing", "hook resolved", "queue firing", "queue resolved"} {
		if sent[k] != 1 {
			t.Errorf("%d %q notifications, want 1 (log %+v)", sent[k], k, d.Notifications)
		}
	}
	mu.Lock()
	if len(hooked) != 2 || hooked[0].State != "firing" || hooked[1].State != "resolved" || hooked[0].Leak == nil || hooked[0].Leak.LostNm3 == nil || *hooked[0].Leak.LostNm3 <= 0 {
		t.Errorf("webhook received %+v, want one firing with leak figures and one resolved", hooked)
	}
	mu.Unlock()
	// Nothing more comes after a few more evaluations.
	time.Sleep(500 * time.Millisecond)
	waitMails(t, srv, 2)
}

// TestAlertSurvivesRestart: stopped while an alert fires and started
// again, sensorhub still shows it firing and sends no second e-mail; the
// repeat comes on its schedule, and an acknowledgement stops repeats.
func TestAlertSurvivesRestart(t *testing.T) {
	srv := testenv.StartSMTP(t)
	dir := t.TempDir()
	const repeat = 3 * time.Second
	mutate := func(c *config.Config) {
		c.DataDir = dir
		mailTo(srv)(c)
		rules := config.DefaultRules()
		rules[0].RepeatEvery = repeat
		c.Alerts.Rules = rules[:1]
	}
	a := start(t, "embedded", app.Options{}, mutate)
	t0 := time.Now().Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201",
		airLine(t0, 1, 5.9), airLine(t0.Add(30*time.Second), 2, 5.8), airLine(t0.Add(60*time.Second), 3, 5.7))
	waitMails(t, srv, 1)
	firing := alertsIn(t, a, "state=firing")
	if len(firing) != 1 {
		t.Fatalf("firing %+v", firing)
	}
	id := firing[0].ID
	a.Close()

	b := start(t, "embedded", app.Options{}, mutate)
	if got := alertsIn(t, b, "state=firing"); len(got) != 1 || got[0].ID != id {
		t.Fatalf("after restart, firing %+v, want alert %d", got, id)
	}
	// The repeat is due `repeat` after the first e-mail, restart or not.
	msgs := waitMails(t, srv, 2)
	if !strings.Contains(msgs[1], "Subject: [FIRING, REPEAT] air-leak") {
		t.Fatalf("second e-mail is not a repeat:\n%s", msgs[1])
	}
	var d alertDetail
	getJSON(t, b, fmt.Sprintf("/api/v1/alerts/%d", id), &d)
	var first, rep time.Time
	for _, n := range d.Notifications {
		switch {
		case n.Notifier == "ops" && n.Kind == "firing":
			first = n.Created
		case n.Notifier == "ops" && n.Kind == "repeat" && rep.IsZero():
			rep = n.Created
		}
	}
	// The repeat is due `repeat` after the evaluation that fired; the
	// firing notification is recorded a moment after that evaluation, so
	// the two records may be a few milliseconds closer than `repeat`.
	if first.IsZero() || rep.IsZero() || rep.Sub(first) < repeat-100*time.Millisecond {
		t.Fatalf("firing at %s, repeat at %s: want the repeat %s after", first, rep, repeat)
	}
	t.Logf("repeat %s after the first e-mail (schedule %s)", rep.Sub(first).Round(time.Millisecond), repeat)

	// Acknowledged, it is repeated no more.
	body := bytes.NewBufferString(`{"by":"maintenance","comment":"valve closed"}`)
	resp, err := http.Post(fmt.Sprintf("http://%s/api/v1/alerts/%d/ack", b.HTTPAddr(), id), "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: HTTP %d", resp.StatusCode)
	}
	acked := time.Now()
	time.Sleep(repeat + time.Second)
	getJSON(t, b, fmt.Sprintf("/api/v1/alerts/%d", id), &d)
	if d.Alert.AckedBy != "maintenance" || d.Alert.AckComment != "valve closed" {
		t.Errorf("alert %+v, want acknowledged by maintenance", d.Alert)
	}
	for _, n := range d.Notifications {
		if n.Kind == "repeat" && n.Created.After(acked.Add(time.Second)) {
			t.Errorf("repeated at %s after the acknowledgement at %s", n.Created, acked)
		}
	}
}

// TestSilentDevice: a device that stops sending fires device-silent, and
// resolves it when it sends again.
func TestSilentDevice(t *testing.T) {
	srv := testenv.StartSMTP(t)
	const silence = time.Second
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		mailTo(srv)(c)
		c.Alerts.Rules = []alert.RuleSpec{{Name: "device-silent", Sensor: "*", NoDataFor: silence, Severity: "warning",
			Message: config.DefaultRules()[1].Message}}
	})
	sent := time.Now()
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(sent, 1, 6.4))
	msgs := waitMails(t, srv, 1)
	if !strings.Contains(msgs[0], "Subject: [FIRING] device-silent: air 201") || !strings.Contains(msgs[0], "has sent nothing for 1s") {
		t.Errorf("silence e-mail:\n%s", msgs[0])
	}
	firing := alertsIn(t, a, "state=firing&rule=device-silent")
	if len(firing) != 1 {
		t.Fatalf("firing %+v", firing)
	}
	var devs []store.Device
	getJSON(t, a, "/api/v1/devices", &devs)
	if late := firing[0].Started.Sub(devs[0].LastSeen); late < silence {
		t.Errorf("fired %s after the last message, before the %s of silence", late, silence)
	} else {
		t.Logf("fired %s after the last message (no_data_for %s, evaluated every 100ms)", late.Round(time.Millisecond), silence)
	}
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(time.Now(), 2, 6.4))
	msgs = waitMails(t, srv, 2)
	if !strings.Contains(msgs[1], "Subject: [RESOLVED] device-silent: air 201") || !strings.Contains(msgs[1], "sends again") {
		t.Errorf("resolved e-mail:\n%s", msgs[1])
	}
}
