package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestOverviewReadsAsThePlantDoes: the overview's cards say how many
// devices report, are silent and leak, and a dash for the energy of
// meters that read nothing; its latest values are the people's
// figures (no _rssi beside the RSSI column), a leak reads LEAK or OK, a
// temperature has the dashboard's °C; kinds are named by their titles.
func TestOverviewReadsAsThePlantDoes(t *testing.T) {
	a := start(t, "embedded", app.Options{}, noSilence)
	now := time.Now().UTC().Truncate(time.Second)
	radio := func(f map[string]float64) map[string]float64 {
		f[reading.FieldRSSI], f[reading.FieldSNR], f[reading.FieldLost] = -74, 4.9, 0
		return f
	}
	bar := map[string]string{"Pres": "bar", "OpenPres": "bar"}
	rs := []reading.Reading{
		{Customer: "finemeca", Sensor: "air", Device: "201", Name: "air-line-1", Time: now, Received: now, MsgCount: 1,
			Fields: radio(map[string]float64{"Pres": 5.5, "OpenPres": 6, "leak": 1}), Units: bar},
		{Customer: "finemeca", Sensor: "air", Device: "202", Name: "air-line-2", Time: now, Received: now, MsgCount: 1,
			Fields: radio(map[string]float64{"Pres": 6.5, "OpenPres": 6, "leak": 0}), Units: bar},
		{Customer: "finemeca", Sensor: "devicev01", Device: "100", Name: "weather-roof", Time: now.Add(-time.Hour), Received: now.Add(-time.Hour), MsgCount: 1,
			Fields: radio(map[string]float64{"Temp": 11.46}), Units: map[string]string{"Temp": "C"}},
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/"); err != nil {
		t.Fatal(err)
	}
	cards := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll(".summary .card")].map((c) => [c.querySelector(".age").textContent, c.querySelector(".big").textContent.trim()]))`)
	// No power meter has read anything: its energy is no data, not 0 kWh.
	for label, want := range map[string]string{"Devices reporting": "2 of 3", "Silent for over 10 min": "1", "Leaking now": "1", "Alerts firing": "0",
		"Energy today so far": "–"} {
		if cards[label] != want {
			t.Errorf("card %q shows %q, want %q (cards %v)", label, cards[label], want, cards)
		}
	}
	if _, ok := cards["Messages lost"]; ok {
		t.Errorf("messages lost is still a headline card: %v", cards)
	}
	if s := eval[string](t, ctx, `document.getElementById("radio-summary").textContent`); !strings.Contains(s, "Messages lost on the radio: 0") {
		t.Errorf("the lost messages are not said under the cards: %q", s)
	}
	values := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("tr[data-device]")].map((r) => [r.dataset.device, r.cells[6].textContent]))`)
	for dev, want := range map[string][]string{"201": {"Pres 5.5 bar", "LEAK"}, "202": {"Pres 6.5 bar", "OK"}, "100": {"Temp 11.46 °C"}} {
		for _, w := range want {
			if !strings.Contains(values[dev], w) {
				t.Errorf("device %s's latest values %q lack %q", dev, values[dev], w)
			}
		}
		if strings.Contains(values[dev], "_") || strings.Contains(values[dev], "leak ") {
			t.Errorf("device %s's latest values show internal fields: %q", dev, values[dev])
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('tr[data-device="201"]').cells[1].textContent`); got != "Compressed air" {
		t.Errorf("the kind of device 201 reads %q, want its dashboard's title", got)
	}
	menu := eval[string](t, ctx, `[...document.querySelectorAll("nav a")].map((a) => a.textContent).join("|")`)
	if menu != "Overview|Compressed air|Power meter|Weather|Alerts|Reports|Rejected|Settings" {
		t.Errorf("menu %q", menu)
	}
}

// TestDailyBarsStandOverTheirDays: over 24 h the daily consumption has a
// bar per day, each over its own label, and no label twice.
func TestDailyBarsStandOverTheirDays(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	hourlyMeter(t, a)
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/centrale?device=301&range=24h"); err != nil {
		t.Fatal(err)
	}
	// For each bar: its label and how far (in pixels) its centre is from
	// the label's.
	const barsJS = `(() => {
  const p = [...document.querySelectorAll("[data-panel]")].find((p) => p.getAttribute("aria-label") === "Daily consumption");
  const el = p && p.querySelector(".chart");
  const c = el && echarts.getInstanceByDom(el);
  if (!c) return null;
  const axis = c.getModel().getComponent("xAxis", 0).axis;
  const labels = axis.getViewLabels().map((l) => ({ text: l.formattedLabel, x: c.convertToPixel({ xAxisIndex: 0 }, axis.type === "category" ? l.rawLabel : l.tickValue) }));
  const data = c.getModel().getSeriesByIndex(0).getData();
  const bars = [];
  for (let i = 0; i < data.count(); i++) {
    const l = data.getItemLayout(i);
    if (!l || !isFinite(l.x)) continue; // no value in this bucket
    bars.push(l.x + l.width / 2);
  }
  return { labels, bars };
})()`
	type shown struct {
		Labels []struct {
			Text string
			X    float64
		}
		Bars []float64
	}
	var got shown
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		v, err := browser.Eval[*shown](ctx, barsJS)
		if err != nil || v == nil || len(v.Bars) == 0 {
			return fmt.Errorf("no bar chart drawn: %v", err)
		}
		got = *v
		return nil
	})
	seen := map[string]bool{}
	for _, l := range got.Labels {
		if seen[l.Text] {
			t.Errorf("label %q shown twice: %+v", l.Text, got.Labels)
		}
		seen[l.Text] = true
	}
	if len(got.Bars) < 2 || len(got.Labels) != len(got.Bars) {
		t.Fatalf("%d bars and %d labels over 30 h of readings, want one label per bar and at least two: %+v", len(got.Bars), len(got.Labels), got)
	}
	for i, x := range got.Bars {
		if d := x - got.Labels[i].X; d < -1 || d > 1 {
			t.Errorf("bar %d stands at x=%.0f, its label %q at x=%.0f", i, x, got.Labels[i].Text, got.Labels[i].X)
		}
	}
}

// TestErrorPageLooksLikeTheRest: a viewer who opens another customer's
// device, or an address that does not exist, gets a page with the menu,
// what is wrong and a way back.
func TestErrorPageLooksLikeTheRest(t *testing.T) {
	fx := accessFixture(t, nil)
	ctx := startBrowser(t)
	base := "http://" + fx.a.HTTPAddr()
	browserLogin(t, ctx, base, "alice")
	for _, tc := range []struct{ path, says string }{
		{"/d/air?device=901", "There is no Compressed air device 901 among those of your account."},
		{"/live/air/901?customer=acme", "There is no Compressed air device 901 among those of your account."},
		{"/no-such-page", "There is no page at /no-such-page."},
	} {
		if err := browser.Navigate(ctx, base+tc.path); err != nil {
			t.Fatal(err)
		}
		page := eval[map[string]string](t, ctx, `({
  menu: [...document.querySelectorAll("nav a")].map((a) => a.textContent).join("|"),
  title: document.querySelector("h1") ? document.querySelector("h1").textContent : "",
  message: document.querySelector(".error-message") ? document.querySelector(".error-message").textContent : "",
  help: document.body.innerText,
  home: [...document.querySelectorAll("main a")].filter((a) => a.getAttribute("href") === "/").map((a) => a.textContent).join("|"),
  user: document.querySelector(".user") ? document.querySelector(".user").textContent : ""})`)
		if !strings.HasPrefix(page["menu"], "Overview|Compressed air") || page["user"] != "alice" {
			t.Errorf("%s: the page has no menu or no log-out: %v", tc.path, page)
		}
		if page["title"] != "Not Found" || page["message"] != tc.says {
			t.Errorf("%s: title %q, message %q, want Not Found and %q", tc.path, page["title"], page["message"], tc.says)
		}
		if page["home"] != "Go to the overview" || !strings.Contains(page["help"], "Choose a device on the overview") {
			t.Errorf("%s: the page does not say what to do: %v", tc.path, page)
		}
	}
}

// TestAcknowledgeSaysWhoIsLoggedIn: logged in, the alerts page says who
// acknowledges instead of asking a name it would not keep; a viewer, who
// may not acknowledge, gets no form.
func TestAcknowledgeSaysWhoIsLoggedIn(t *testing.T) {
	fx := accessFixture(t, nil)
	ctx := startBrowser(t)
	base := "http://" + fx.a.HTTPAddr()
	viewer := startBrowser(t)
	browserLogin(t, viewer, base, "alice")
	if err := browser.Navigate(viewer, base+"/alerts?state=firing"); err != nil {
		t.Fatal(err)
	}
	if rows := eval[int](t, viewer, `document.querySelectorAll("tr[data-alert]").length`); rows != 1 {
		t.Fatalf("the viewer sees %d firing alerts, want her customer's one", rows)
	}
	if n := eval[int](t, viewer, `document.querySelectorAll("form.ack").length`); n != 0 {
		t.Errorf("a viewer sees %d acknowledge forms of a firing alert", n)
	}
	browserLogin(t, ctx, base, "olga")
	if err := browser.Navigate(ctx, fmt.Sprintf("%s/alerts?state=firing&customer=finemeca&sensor=air&device=201", base)); err != nil {
		t.Fatal(err)
	}
	form := eval[string](t, ctx, `(() => { const f = document.querySelector("form.ack"); return f ? f.innerText + "|" + f.querySelectorAll("input[name=by]").length : "none" })()`)
	if !strings.HasPrefix(form, "as olga") || !strings.HasSuffix(form, "|0") {
		t.Fatalf("the acknowledge form of a logged-in operator: %q, want \"as olga\" and no name field", form)
	}
	eval[bool](t, ctx, `(() => { const f = document.querySelector("form.ack"); f.comment.value = "valve closed"; f.querySelector("button").click(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `document.querySelector("tr[data-alert]").innerText`)
		if err != nil || !strings.Contains(got, "olga") || !strings.Contains(got, "valve closed") {
			return fmt.Errorf("row %q, %v", got, err)
		}
		return nil
	})
}

// TestDevicePickerSearchesAsOneTypes: a dashboard of 300 devices does not
// list them; typing in its picker suggests at most 20 that the server
// found, and picking one shows that device.
func TestDevicePickerSearchesAsOneTypes(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	now := time.Now().UTC().Truncate(time.Second)
	var rs []reading.Reading
	for i := range 300 {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: fmt.Sprintf("%d", 1000+i), Name: fmt.Sprintf("line-%d", i),
			Time: now, Received: now, MsgCount: 1, Fields: map[string]float64{"Pres": 6.5, "OpenPres": 6, "leak": 0}})
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/air"); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#device-list option, #device option").length`); n != 0 {
		t.Errorf("the dashboard lists %d devices in its page", n)
	}
	eval[bool](t, ctx, `(() => { const i = document.getElementById("device"); i.value = "line-12"; i.dispatchEvent(new Event("input")); return true; })()`)
	var shown []string
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		shown = eval[[]string](t, ctx, `[...document.querySelectorAll("#device-list option")].map((o) => o.value)`)
		if len(shown) == 0 {
			return fmt.Errorf("no suggestion")
		}
		return nil
	})
	// line-12, line-120...line-129: 11 devices.
	if len(shown) != 11 || shown[0] != "1012" {
		t.Errorf("suggestions for line-12: %v, want 1012 and 1120 to 1129", shown)
	}
	eval[bool](t, ctx, `(() => { const i = document.getElementById("device"); i.value = "1125"; i.dispatchEvent(new Event("change")); return true; })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if u := eval[string](t, ctx, `location.search + " " + document.getElementById("device-name").textContent`); !strings.Contains(u, "device=1125") || !strings.Contains(u, "line-125") {
			return fmt.Errorf("after picking 1125: %s", u)
		}
		return nil
	})
}
