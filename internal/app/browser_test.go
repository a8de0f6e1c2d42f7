package app_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

func startBrowser(t *testing.T) context.Context {
	t.Helper()
	testenv.Needs(t, "Chromium")
	ctx, cancel, err := browser.Start(context.Background(), 1280, 900)
	if err != nil {
		t.Fatalf("%v (scripts/test.sh installs Debian's chromium)", err)
	}
	t.Cleanup(cancel)
	return ctx
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := browser.Eval[T](ctx, js)
	if err != nil {
		t.Fatalf("evaluate %q: %v", js, err)
	}
	return v
}

// panelsJS describes what each panel of a dashboard shows: a chart with
// its number of points, a table with its rows, a figure, or a message.
const panelsJS = `[...document.querySelectorAll("[data-panel]")].map((p) => {
  const c = p.querySelector(".chart");
  if (c && echarts.getInstanceByDom(c)) {
    const o = echarts.getInstanceByDom(c).getOption();
    return "chart:" + o.series.reduce((n, s) => n + (s.data ? s.data.length : 0), 0);
  }
  if (p.querySelector("tbody")) return "table:" + p.querySelectorAll("tbody tr").length;
  if (p.querySelector(".stat")) return "stat:" + p.querySelector(".stat").textContent.trim();
  const s = p.querySelector(".state");
  return "state:" + (s ? s.textContent : "");
})`

func TestDashboardsDrawTheirPanels(t *testing.T) {
	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: time.Hour}, nil)
	ctx := startBrowser(t)
	base := "http://" + a.HTTPAddr()
	for _, kind := range []string{"air", "centrale", "devicev01"} {
		t.Run(kind, func(t *testing.T) {
			if err := browser.Navigate(ctx, base+"/d/"+kind+"?range=7d"); err != nil {
				t.Fatal(err)
			}
			var panels []string
			testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
				panels = eval[[]string](t, ctx, panelsJS)
				for _, p := range panels {
					if strings.HasPrefix(p, "state:") {
						return fmt.Errorf("panels %v", panels)
					}
				}
				return nil
			})
			want := len(config.Default().Sensors[kind].Dashboard.Panels)
			if len(panels) != want {
				t.Fatalf("%d panels, want %d", len(panels), want)
			}
			for i, p := range panels {
				if p == "chart:0" || p == "table:0" || p == "stat:" {
					t.Errorf("panel %d shows no data: %s", i, p)
				}
			}
			t.Logf("%s: %v", kind, panels)
		})
	}
}

// firstPointJS is the time of the oldest point of the first line chart.
const firstPointJS = `(() => {
  const c = [...document.querySelectorAll(".chart")].map((c) => echarts.getInstanceByDom(c)).find((i) => i && i.getOption().series[0].type === "line");
  if (!c) return 0;
  const d = c.getOption().series[0].data;
  return d.length ? d[0][0] : 0;
})()`

func TestTimeRangeChangesTheData(t *testing.T) {
	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: time.Hour}, nil)
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/devicev01?device=100&range=24h"); err != nil {
		t.Fatal(err)
	}
	var first float64
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		if first = eval[float64](t, ctx, firstPointJS); first == 0 {
			return fmt.Errorf("no line chart drawn")
		}
		return nil
	})
	dayAgo := float64(time.Now().Add(-20 * time.Hour).UnixMilli())
	if first > dayAgo {
		t.Fatalf("24 h range starts at %v, want data from about a day ago", time.UnixMilli(int64(first)))
	}
	eval[bool](t, ctx, `document.querySelector('[data-range="1h"]').click(), true`)
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		first = eval[float64](t, ctx, firstPointJS)
		if first < float64(time.Now().Add(-61*time.Minute).UnixMilli()) {
			return fmt.Errorf("after choosing 1h the chart starts at %v", time.UnixMilli(int64(first)))
		}
		return nil
	})
	if q := eval[string](t, ctx, `location.search`); !strings.Contains(q, "range=1h") || !strings.Contains(q, "device=100") {
		t.Errorf("URL %q does not encode the selection", q)
	}

	// CSV export of the temperature panel: catch the file the page makes.
	eval[bool](t, ctx, `(() => {
		window.csvOut = "";
		URL.createObjectURL = (blob) => { blob.text().then((t) => { window.csvOut = t; }); return "data:text/csv,"; };
		document.querySelector('[aria-label="Temperature"] .csv').click();
		return true;
	})()`)
	var csv string
	testenv.Eventually(t, 5*time.Second, 50*time.Millisecond, func() error {
		if csv = eval[string](t, ctx, `window.csvOut`); csv == "" {
			return fmt.Errorf("no CSV made")
		}
		return nil
	})
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	// Times as a spreadsheet reads them, in the zone the header names;
	// the unit in the header.
	if lines[0] != "Time (Europe/Brussels),Temp (°C)" || len(lines) < 2 {
		t.Fatalf("CSV starts %q with %d lines", lines[0], len(lines))
	}
	if f := strings.Split(lines[1], ","); len(f) != 2 || !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(f[0]) || f[1] == "" {
		t.Errorf("CSV row %q, want a local time (2026-12-03 14:15:00) and a value", lines[1])
	}
	// A cell a spreadsheet would run as a formula is neutralised as the
	// server's CSV is; numbers, negative ones too, stay numbers.
	if got := eval[string](t, ctx, `sensorhubCSV.line(["=HYPERLINK(\"http://x\")", "-3.5", "@A1", "+1+1", "a,b", "-", 7])`); got != `"'=HYPERLINK(""http://x"")",-3.5,'@A1,'+1+1,"a,b",'-,7` {
		t.Errorf("CSV line %s", got)
	}
}

func TestLivePageShowsPublishedValue(t *testing.T) {
	dir := t.TempDir()
	httpAddr := testenv.FreeAddr(t)
	mutate := func(c *config.Config) { c.DataDir, c.HTTP.Listen = dir, httpAddr }
	a := start(t, "embedded", app.Options{}, mutate)
	loc := config.Default().Location()
	publish := func(a *app.App, pres float64) {
		mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", fmt.Sprintf(
			`{"Customer":"finemeca","idGateway":170,"idDevice":201,"Time":"%s","msgCount":%d,"Mod":"air","Pres":%v,"Pres-U":"bar","OpenPres":6.0,"OpenPres-U":"bar"}`,
			time.Now().In(loc).Format("2006-01-02 15:04:05.000"), time.Now().UnixMilli(), pres))
	}
	publish(a, 6.4)
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+httpAddr+"/live/air/201"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s := eval[string](t, ctx, `document.getElementById("live").textContent`); s != "live" {
			return fmt.Errorf("badge %q", s)
		}
		return nil
	})
	flashes := func() float64 {
		return eval[float64](t, ctx, `+(document.getElementById("r-Pres").dataset.flashes || 0)`)
	}
	waitValue := func(want string) time.Duration {
		start := time.Now()
		testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			if s := eval[string](t, ctx, `document.querySelector('[data-field="Pres"]').textContent`); !strings.Contains(s, want) {
				return fmt.Errorf("Pres shows %q, want %s", s, want)
			}
			return nil
		})
		return time.Since(start)
	}
	waitValue("6.4")
	before := flashes()
	sent := time.Now()
	publish(a, 4.321)
	waitValue("4.321")
	t.Logf("value on the live page %s after mosquitto_pub started", time.Since(sent).Round(time.Millisecond))
	if flashes() <= before {
		t.Error("the new value did not flash")
	}
	if s := eval[string](t, ctx, `document.getElementById("status").textContent`); s != "LEAK" {
		t.Errorf("status %q with Pres below OpenPres, want LEAK", s)
	}

	// Stop the server and start it again: the page reconnects by itself.
	eval[bool](t, ctx, `window.sensorhubMarker = true`)
	a.Close()
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s := eval[string](t, ctx, `document.getElementById("live").textContent`); !strings.Contains(s, "lost") {
			return fmt.Errorf("badge %q while the server is down", s)
		}
		return nil
	})
	b := start(t, "embedded", app.Options{}, mutate)
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		if s := eval[string](t, ctx, `document.getElementById("live").textContent`); s != "live" {
			return fmt.Errorf("badge %q after the restart", s)
		}
		return nil
	})
	publish(b, 5.55)
	waitValue("5.55")
	if !eval[bool](t, ctx, `window.sensorhubMarker === true`) {
		t.Error("the page was reloaded")
	}
}

// TestAlertsPage: a firing alert shows on the alerts page, linked from its
// device on the overview, and its button acknowledges it.
func TestAlertsPage(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.Alerts.EvaluateEvery = 100 * time.Millisecond })
	t0 := time.Now().Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201",
		airLine(t0, 1, 5.9), airLine(t0.Add(30*time.Second), 2, 5.8), airLine(t0.Add(60*time.Second), 3, 5.7))
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := alertsIn(t, a, "state=firing"); len(got) != 1 {
			return fmt.Errorf("firing %+v", got)
		}
		return nil
	})
	ctx := startBrowser(t)
	base := "http://" + a.HTTPAddr()
	if err := browser.Navigate(ctx, base+"/"); err != nil {
		t.Fatal(err)
	}
	link := eval[string](t, ctx, `[...document.querySelectorAll("a")].filter((a) => a.textContent.startsWith("alerts")).map((a) => a.textContent.trim() + " " + a.getAttribute("href")).join("|")`)
	if link != "alerts 1 /alerts?state=all&sensor=air&device=201&customer=finemeca" {
		t.Fatalf("the device's alerts link on the overview: %q", link)
	}
	if err := browser.Navigate(ctx, base+"/alerts?state=all&sensor=air&device=201&customer=finemeca"); err != nil {
		t.Fatal(err)
	}
	row := eval[string](t, ctx, `document.querySelector("tr[data-alert]").innerText`)
	for _, want := range []string{"firing", "air-leak", "critical", "Compressed air 201", "line pressure 5.7 bar is below the opening pressure 6 bar"} {
		if !strings.Contains(row, want) {
			t.Errorf("the alert's row lacks %q: %q", want, row)
		}
	}
	eval[bool](t, ctx, `(() => { const f = document.querySelector("form.ack"); f.by.value = "maintenance"; f.comment.value = "valve closed"; f.querySelector("button").click(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `document.querySelector("tr[data-alert]").innerText`)
		if err != nil || !strings.Contains(got, "maintenance") || !strings.Contains(got, "valve closed") {
			return fmt.Errorf("row %q, %v", got, err)
		}
		return nil
	})
	if got := alertsIn(t, a, "state=firing"); len(got) != 1 || got[0].AckedBy != "maintenance" {
		t.Fatalf("after the button: %+v", got)
	}
}

// TestPagesPassTheirContentSecurityPolicy: every page, with its charts
// drawn and its live updates running, does nothing its policy refuses (no
// inline script, no style or resource from elsewhere).
func TestPagesPassTheirContentSecurityPolicy(t *testing.T) {
	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: time.Second}, nil)
	ctx := startBrowser(t)
	if err := browser.WatchCSP(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.HTTPAddr()
	for _, path := range []string{"/", "/d/air?range=7d", "/d/centrale?range=7d", "/d/devicev01?range=24h", "/live/air/201", "/live/centrale/301", "/alerts?state=all", "/rejected", "/settings/rules?edit=air-leak", "/settings/notifiers?new=1", "/settings/sensors?edit=air", "/settings/audit"} {
		if err := browser.Navigate(ctx, base+path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // charts drawn, live events in
		v, err := browser.CSPViolations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) > 0 {
			t.Errorf("%s: the policy refused %v", path, v)
		}
	}
	// The check works: an inline script is refused.
	eval[bool](t, ctx, `(() => { const s = document.createElement("script"); s.textContent = "window.pwned = 1"; document.body.appendChild(s); return true })()`)
	time.Sleep(200 * time.Millisecond)
	if v, _ := browser.CSPViolations(ctx); len(v) == 0 || eval[bool](t, ctx, `window.pwned === 1`) {
		t.Errorf("an inline script ran or went unnoticed: %v", v)
	}
}
