package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

func rules(tb testing.TB, specs ...alert.RuleSpec) []*alert.Rule {
	tb.Helper()
	cfg := config.Default()
	cfg.Alerts.Rules = specs
	if err := cfg.Validate(nil); err != nil {
		tb.Fatal(err)
	}
	return plan.MustCompile(cfg).Rules
}

// TestEvaluatorAlone: the evaluator needs no store and no queue. Readings
// and ticks go in, changes come out; it learns alert ids from Saved and
// acknowledgements from Acknowledged, and a state restored for a rule no
// longer configured comes back as a change that resolves its alert. A
// device is named as people named it.
func TestEvaluatorAlone(t *testing.T) {
	now := t0.Add(time.Hour)
	v := &alert.Evaluator{
		Rules:  rules(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical", RepeatEvery: time.Hour}),
		Always: []string{"queue", "ops"}, PublicURL: "https://hub.example", Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// The name given in Settings wins over the messages' own.
		Names: func(k store.DeviceKey) string { return map[string]string{"201": "Compressor room, line A"}[k.Device] },
	}
	stale, err := v.Restore([]store.AlertState{{AlertKey: store.AlertKey{Rule: "gone", DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: "9"}},
		Machine: json.RawMessage(`{"State":"firing"}`), AlertID: 7}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].Resolve == nil || stale[0].State.AlertID != 7 {
		t.Fatalf("restoring the state of a removed rule: %+v, want alert 7 resolved", stale)
	}

	ctx := context.Background()
	c := v.Process(ctx, []reading.Reading{air(t0, 5.5)})
	if len(c) != 1 || c[0].Open == nil || len(c[0].Notify) != 2 {
		t.Fatalf("a reading below the opening pressure: %+v, want one alert opened and two notifications", c)
	}
	var ev notify.Event
	if err := json.Unmarshal(c[0].Notify[1].Event, &ev); err != nil {
		t.Fatal(err)
	}
	if c[0].Notify[0].Notifier != "queue" || c[0].Notify[1].Notifier != "ops" || ev.State != "firing" || ev.Values["Pres"] != 5.5 ||
		ev.URL != "https://hub.example/d/air?customer=finemeca&device=201" || ev.Leak != nil ||
		ev.Name != "Compressor room, line A" || c[0].Open.Name != ev.Name {
		t.Fatalf("notifications %+v, event %+v", c[0].Notify, ev)
	}
	c[0].State.AlertID = 42
	v.Saved(c)

	// An hour on, the alert repeats unless it was acknowledged.
	now = now.Add(time.Hour)
	if c := v.Tick(ctx, now); len(c) != 1 || c[0].Notify[0].Kind != "repeat" || c[0].State.AlertID != 42 {
		t.Fatalf("an hour on: %+v, want a repeat of alert 42", c)
	}
	v.Acknowledged(map[int64]bool{42: true})
	now = now.Add(2 * time.Hour)
	if c := v.Tick(ctx, now); len(c) != 0 {
		t.Fatalf("an acknowledged alert repeated: %+v", c)
	}
	c = v.Process(ctx, []reading.Reading{air(t0.Add(time.Minute), 6.5)})
	if len(c) != 1 || c[0].Resolve == nil || c[0].State.AlertID != 42 || c[0].Notify[0].Kind != "resolved" {
		t.Fatalf("pressure back: %+v, want alert 42 resolved", c)
	}
}

// TestRulesSeeTheirReadingOnly: a rule sees the fields it names, and one
// that reads $env any field, of the reading evaluated and of no other
// evaluated before it.
func TestRulesSeeTheirReadingOnly(t *testing.T) {
	v := &alert.Evaluator{
		Rules: rules(t,
			alert.RuleSpec{Name: "high-flow", Sensor: "air", When: `($env["Flow"] ?? 0) > 10`, Severity: "warning"},
			alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"}),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if _, err := v.Restore(nil, nil); err != nil {
		t.Fatal(err)
	}
	flowing := air(t0, 5.5)
	flowing.Fields["Flow"] = 20
	quiet := air(t0, 6.5)
	quiet.Device = "202"
	opened := map[string]bool{}
	for _, c := range v.Process(context.Background(), []reading.Reading{flowing, quiet}) {
		if c.Open != nil {
			opened[c.State.Rule+" "+c.State.Device] = true
		}
	}
	if want := map[string]bool{"high-flow 201": true, "air-leak 201": true}; !maps.Equal(opened, want) {
		t.Fatalf("alerts opened %v, want %v", opened, want)
	}
}

// TestDispatcherPerNotifier: the dispatcher sends each notifier's
// notifications from the outbox; a notifier whose endpoint fails is
// recorded failed after its retries and holds up no other, and what was
// sent is not sent again.
func TestDispatcherPerNotifier(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var good, bad atomic.Int32
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { good.Add(1) }))
	defer okSrv.Close()
	failSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failSrv.Close()

	v := &alert.Evaluator{Rules: rules(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"}),
		Always: []string{"queue", "ops", "down"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := v.Restore(nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	changes := v.Process(ctx, []reading.Reading{air(t0, 5.5)})
	if err := st.SaveAlerts(ctx, changes); err != nil {
		t.Fatal(err)
	}
	d := &alert.Dispatcher{Outbox: st, Notifiers: map[string]notify.Notifier{
		"ops": &notify.Webhook{URL: okSrv.URL}, "down": &notify.Webhook{URL: failSrv.URL}},
		Backoff: notify.Backoff{Attempts: 3, First: time.Millisecond, Max: time.Millisecond}, Poll: 10 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	var ns []store.Notification
	for time.Now().Before(deadline) {
		all, _ := st.Alerts(ctx, store.AlertFilter{})
		if len(all) == 1 {
			ns, _ = st.Notifications(ctx, all[0].ID)
		}
		finished := 0
		for _, n := range ns {
			if n.Status != store.NotificationPending && n.Notifier != "queue" {
				finished++
			}
		}
		if finished == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A few more polls: nothing is sent twice.
	time.Sleep(100 * time.Millisecond)
	stop()
	<-done
	status := map[string]store.Notification{}
	for _, n := range ns {
		status[n.Notifier] = n
	}
	if n := status["ops"]; n.Status != store.NotificationSent || n.Attempts != 1 {
		t.Errorf("ops: %+v, want sent at the first attempt", n)
	}
	if n := status["down"]; n.Status != store.NotificationFailed || n.Attempts != 3 || n.Error == "" {
		t.Errorf("down: %+v, want failed after 3 attempts with the error", n)
	}
	if n := status["queue"]; n.Status != store.NotificationPending {
		t.Errorf("queue: %+v, want still pending: the dispatcher has no such notifier", n)
	}
	if good.Load() != 1 || bad.Load() != 3 {
		t.Errorf("the working endpoint was called %d times, the failing one %d; want 1 and 3", good.Load(), bad.Load())
	}
}

// TestCustomersRule: a rule of one customer watches that customer's
// devices only, readings and silences alike.
func TestCustomersRule(t *testing.T) {
	now := t0.Add(time.Hour)
	cfgRules := func() []*alert.Rule {
		cfg := config.Default()
		cfg.Customers = []string{"finemeca", "acme"}
		cfg.Alerts.Rules = []alert.RuleSpec{
			{Name: "acme-leak", Customer: "acme", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"},
			{Name: "acme-silent", Customer: "acme", Sensor: "*", NoDataFor: time.Minute, Severity: "warning"},
		}
		if err := cfg.Validate(nil); err != nil {
			t.Fatal(err)
		}
		return plan.MustCompile(cfg).Rules
	}
	v := &alert.Evaluator{Rules: cfgRules(), Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := v.Restore(nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fine, acme := air(t0, 5.5), air(t0, 5.5)
	acme.Customer, acme.Device = "acme", "901"
	var opened []string
	for _, c := range append(v.Process(ctx, []reading.Reading{fine, acme}), v.Tick(ctx, now)...) {
		if c.Open != nil {
			opened = append(opened, c.State.Rule+" "+c.State.Customer+"/"+c.State.Device)
		}
	}
	if len(opened) != 2 || opened[0] != "acme-leak acme/901" || opened[1] != "acme-silent acme/901" {
		t.Errorf("opened %v, want acme-leak and acme-silent of acme's device only", opened)
	}

	cfg := config.Default()
	cfg.Alerts.Rules = []alert.RuleSpec{{Name: "x", Customer: "nobody", Sensor: "air", When: "Pres < 1", Severity: "info"}}
	if err := cfg.Validate(nil); err == nil || !strings.Contains(err.Error(), "alerts.rules.0.customer") {
		t.Errorf("a rule of an unknown customer: %v, want an error naming alerts.rules.0.customer", err)
	}
}

// TestCustomersNotifier: a notifier of one customer is told of that
// customer's alerts only, and no rule or report of another customer may
// name it.
func TestCustomersNotifier(t *testing.T) {
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	cfg.Alerts.Notifiers = map[string]*config.Notifier{
		"ops":       {Type: "webhook", URL: "http://127.0.0.1:1/ops"},
		"acme-mail": {Type: "email", Customer: "acme", Host: "mail.acme.example", From: "hub@acme.example", To: []string{"plant@acme.example"}},
	}
	cfg.Alerts.Rules = []alert.RuleSpec{{Name: "leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical", Notify: []string{"ops", "acme-mail"}}}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	v := &alert.Evaluator{Rules: plan.MustCompile(cfg).Rules, Always: []string{"queue"}, NotifierCustomers: cfg.NotifierCustomers(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := v.Restore(nil, nil); err != nil {
		t.Fatal(err)
	}
	fine, acme := air(t0, 5.5), air(t0, 5.5)
	acme.Customer, acme.Device = "acme", "901"
	told := map[string][]string{}
	for _, c := range v.Process(context.Background(), []reading.Reading{fine, acme}) {
		for _, n := range c.Notify {
			told[c.State.Customer] = append(told[c.State.Customer], n.Notifier)
		}
	}
	if got := strings.Join(told["finemeca"], ","); got != "queue,ops" {
		t.Errorf("finemeca's alert told %s, want queue,ops: never acme's notifier", got)
	}
	if got := strings.Join(told["acme"], ","); got != "queue,ops,acme-mail" {
		t.Errorf("acme's alert told %s, want queue,ops,acme-mail", got)
	}

	cfg.Alerts.Rules[0].Customer = "finemeca"
	cfg.Reports = []config.ReportSchedule{{Name: "weekly", Customer: "finemeca", Every: "week", Notify: []string{"acme-mail"}}}
	err := cfg.Validate(nil)
	for _, field := range []string{"alerts.rules.0.notify.1", "reports.0.notify.0"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("finemeca's rule and report naming acme's notifier: %v, want an error at %s", err, field)
		}
	}
}
