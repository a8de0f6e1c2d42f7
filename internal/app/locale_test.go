package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestLocaleInBrowser: with locale fr-BE, the overview, the report page
// and the live page, the last written by its script, write dates as
// 1/05/2026 and numbers with a decimal comma.
func TestLocaleInBrowser(t *testing.T) {
	testenv.Needs(t, "Chromium")
	fx := accessFixture(t, func(c *config.Config) { c.Locale = "fr-BE" })
	base := "http://" + fx.a.HTTPAddr()
	ctx := startBrowser(t)
	browserLogin(t, ctx, base, "root")

	// The fixture's air line 201 read 5.5 bar at 10:00, 10:01 and 10:02
	// UTC on 1 May 2026: 12:00 to 12:02 in Brussels.
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "fr-BE" {
		t.Errorf("<html lang> is %q, want fr-BE", lang)
	}
	seen := eval[string](t, ctx, `document.querySelector('tr[data-device="201"] td[title]').title`)
	if !regexp.MustCompile(`^1/05/2026 12:0[02]:00$`).MatchString(seen) {
		t.Errorf("the overview's last seen of 201 reads %q, want 1/05/2026 12:00:00 (or 12:02:00)", seen)
	}
	if v := eval[string](t, ctx, `document.querySelector('tr[data-device="201"] [data-field="Pres"]').textContent`); v != "Pres 5,5 bar" {
		t.Errorf("the overview's pressure of 201 reads %q, want Pres 5,5 bar", v)
	}

	if err := browser.Navigate(ctx, base+"/reports?customer=finemeca&from=2026-04-27&to=2026-05-04"); err != nil {
		t.Fatal(err)
	}
	if h := eval[string](t, ctx, `document.querySelector("h1").textContent`); h != "Report: finemeca, 27/04/2026 to 3/05/2026" {
		t.Errorf("the report's title reads %q, want the period as 27/04/2026 to 3/05/2026", h)
	}
	if lang := eval[string](t, ctx, `document.querySelector('input[type="date"]').lang || document.documentElement.lang`); lang != "fr-BE" {
		t.Errorf("the report's date picker has lang %q, want fr-BE", lang)
	}

	// The dashboard's scripts write as the server does, and make the
	// same CSV.
	if err := browser.Navigate(ctx, base+"/d/air?device=201&customer=finemeca"); err != nil {
		t.Fatal(err)
	}
	js := eval[string](t, ctx, `[sensorhubLocale.number(1234.5, 1), sensorhubLocale.value(-0.12345), sensorhubLocale.dateTime(Date.UTC(2026, 11, 3, 13, 15, 7)),
		sensorhubLocale.csvTime(Date.UTC(2026, 11, 3, 13, 15, 7)), sensorhubCSV.file([["T (°C)", sensorhubCSV.num(-3.14159)], ["=1+2", "a;b"]])].join("|")`)
	if want := "1\u00a0234,5|-0,123|3/12/2026 14:15:07|2026-12-03 14:15:07|\ufeffT (°C);-3,142\n'=1+2;\"a;b\"\n"; js != want {
		t.Errorf("the dashboard's scripts write %q, want %q", js, want)
	}
	if b := eval[string](t, ctx, `document.getElementById("export").textContent`); b != "CSV of these devices" {
		t.Errorf("the dashboard's export button reads %q", b)
	}

	if err := browser.Navigate(ctx, base+"/live/air/201?customer=finemeca"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		up, err := browser.Eval[string](ctx, `document.getElementById("updated").textContent + " | " + document.querySelector('[data-field="Pres"]').textContent`)
		if err != nil || up != "1/05/2026 12:02:00 | 5,5 " {
			return fmt.Errorf("the live page shows %q (%v), want 1/05/2026 12:02:00 | 5,5", up, err)
		}
		return nil
	})
}

// excelFixture starts sensorhub with locale fr-BE and stores, on 2 May
// 2026 (Brussels, UTC+2), air lines 211 and 212 every minute from 10:00
// UTC for 5 minutes (212 misses 10:03), with values of more decimals than
// the dashboard shows, and meter 301 every 15 minutes through the day at
// 2 kW.
func excelFixture(t *testing.T) *app.App {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.Locale = "fr-BE"; noSilence(c) })
	at := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	for i := range 5 {
		ti := at.Add(time.Duration(i) * time.Minute)
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "211", Time: ti, Received: ti, MsgCount: int64(i + 1),
			Fields: map[string]float64{"Pres": 6.12345 + float64(i)*1000.0005, "OpenPres": 6, "_lost": 0}})
		if i != 3 {
			rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "212", Time: ti, Received: ti, MsgCount: int64(i + 1),
				Fields: map[string]float64{"Pres": -0.25 - float64(i)*0.0006, "OpenPres": 5.5, "_lost": 0}})
		}
	}
	day := time.Date(2026, 5, 2, 0, 0, 0, 0, a.Config.Location())
	for i := 0; i <= 96; i++ {
		ti := day.Add(time.Duration(i) * report.Quarter)
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: ti, Received: ti,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": 1000 + float64(i)*0.5, "_lost": 0}, Units: map[string]string{"E": "kWh"}})
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCSVForExcel: the CSV of a series, of several devices and of a
// report table, opened in LibreOffice as a Belgian opens it (and as an
// American does with sep=,), gives numbers and dates, not text: the
// values the JSON gives rounded to three decimals, the times of the
// zone's wall clock.
func TestCSVForExcel(t *testing.T) {
	testenv.Needs(t, "LibreOffice")
	a := excelFixture(t)
	c := newClient(t, a)
	rng := url.Values{"customer": {"finemeca"}, "sensor": {"air"}, "from": {"2026-05-02T10:00:00Z"}, "to": {"2026-05-02T10:05:00Z"}}
	get := func(path string, q url.Values, extra string) string {
		t.Helper()
		code, body := c.Do("GET", path+"?"+q.Encode()+extra, "")
		if code != 200 {
			t.Fatalf("%s?%s%s: HTTP %d %.300s", path, q.Encode(), extra, code, body)
		}
		return body
	}
	jsonSeries := func(device, field string) series.Series {
		q := url.Values{"device": {device}, "field": {field}}
		for k, v := range rng {
			q[k] = v
		}
		var s series.Series
		if err := json.Unmarshal([]byte(get("/api/v1/series", q, "")), &s); err != nil || len(s.Points) == 0 {
			t.Fatalf("the JSON series of %s %s: %v, %d points", device, field, err, len(s.Points))
		}
		return s
	}
	round3 := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	wall := func(tm time.Time) time.Time {
		y, mo, d := tm.In(a.Config.Location()).Date()
		h, mi, s := tm.In(a.Config.Location()).Clock()
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}

	// One series, in the locale's format and with sep=,.
	q := url.Values{"device": {"211"}, "field": {"Pres"}, "format": {"csv"}}
	for k, v := range rng {
		q[k] = v
	}
	pres := jsonSeries("211", "Pres")
	for _, f := range []struct {
		extra, lang, head string
		sep               rune
	}{{"", "fr-BE", "\ufeffTime (Europe/Brussels);Pres (bar)\n", ';'}, {"&sep=,", "en", "\ufeffTime (Europe/Brussels),Pres (bar)\n", ','}} {
		body := get("/api/v1/series", q, f.extra)
		if !strings.HasPrefix(body, f.head) || strings.Contains(body, "T10:") {
			t.Errorf("the CSV%s starts %.80q, want %q and times without T", f.extra, body, f.head)
		}
		sheet := testenv.Spreadsheet(t, []byte(body), f.sep, f.lang)
		if len(sheet) != len(pres.Points)+1 || sheet[0][0].Text != "Time (Europe/Brussels)" || sheet[0][1].Text != "Pres (bar)" {
			t.Fatalf("the sheet of the CSV%s: %+v, want a header and %d rows", f.extra, sheet, len(pres.Points))
		}
		for i, p := range pres.Points {
			row := sheet[i+1]
			if !row[0].IsNum || !row[0].Time().Equal(wall(p.Time)) || !row[1].IsNum || row[1].Num != round3(p.Value) {
				t.Errorf("sheet%s row %d: %+v, want %s and %v as numbers", f.extra, i+1, row, wall(p.Time).Format(time.DateTime), round3(p.Value))
			}
		}
	}
	// The values written by hand: 6.12345 to 4006.12545, three decimals.
	if got := get("/api/v1/series", q, ""); !strings.Contains(got, "\n2026-05-02 12:00:00;6,123\n") || !strings.Contains(got, "\n2026-05-02 12:04:00;4006,125\n") {
		t.Errorf("the CSV's rows:\n%s", got)
	}

	// Two devices, two fields: a row per time, 212's empty at 12:03.
	ex := url.Values{"devices": {"211,212"}, "fields": {"Pres,OpenPres"}}
	for k, v := range rng {
		ex[k] = v
	}
	body := get("/api/v1/export", ex, "")
	sheet := testenv.Spreadsheet(t, []byte(body), ';', "fr-BE")
	var head []string
	for _, h := range sheet[0] {
		head = append(head, h.Text)
	}
	if strings.Join(head, "|") != "Time (Europe/Brussels)|211 Pres (bar)|211 OpenPres (bar)|212 Pres (bar)|212 OpenPres (bar)" || len(sheet) != 6 {
		t.Fatalf("the export's sheet: %v, %d rows; want a column per device and field, 5 rows", head, len(sheet)-1)
	}
	cols := []series.Series{pres, jsonSeries("211", "OpenPres"), jsonSeries("212", "Pres"), jsonSeries("212", "OpenPres")}
	for i, row := range sheet[1:] {
		when := time.Date(2026, 5, 2, 12, i, 0, 0, time.UTC)
		if !row[0].IsNum || !row[0].Time().Equal(when) {
			t.Errorf("export row %d's time %+v, want %s", i+1, row[0], when.Format(time.DateTime))
		}
		for j, s := range cols {
			var want *float64
			for _, p := range s.Points {
				if wall(p.Time).Equal(when) {
					v := round3(p.Value)
					want = &v
				}
			}
			var got testenv.SheetCell // an empty cell past the row's last
			if j+1 < len(row) {
				got = row[j+1]
			}
			switch {
			case want == nil && (got.IsNum || got.Text != ""):
				t.Errorf("export row %d column %s: %+v, want an empty cell (no reading)", i+1, head[j+1], got)
			case want != nil && (!got.IsNum || got.Num != *want):
				t.Errorf("export row %d column %s: %+v, want %v", i+1, head[j+1], got, *want)
			}
		}
	}
	if !strings.Contains(body, "\n2026-05-02 12:03:00;3006,125;6;;\n") {
		t.Errorf("the export's row at 12:03 (212 silent):\n%s", body)
	}

	// The report's days: 2 kW through 2 May is 48 kWh.
	rq := url.Values{"customer": {"finemeca"}, "from": {"2026-05-02"}, "to": {"2026-05-03"}}
	var rep report.Report
	if err := json.Unmarshal([]byte(get("/api/v1/report", rq, "")), &rep); err != nil || len(rep.Energy.Days) != 1 || rep.Energy.Days[0].KWh == nil {
		t.Fatalf("the JSON report: %v, %+v", err, rep.Energy.Days)
	}
	days := get("/api/v1/report", rq, "&format=csv&table=days")
	if days != "\ufeffDay;Energy 301 (kWh);Energy (kWh);Estimated (kWh)\n2026-05-02;48,0;48,0;0,0\n" {
		t.Errorf("the days' CSV:\n%q", days)
	}
	if comma := get("/api/v1/report", rq, "&format=csv&table=days&sep=,"); comma != "\ufeffDay,Energy 301 (kWh),Energy (kWh),Estimated (kWh)\n2026-05-02,48.0,48.0,0.0\n" {
		t.Errorf("the days' CSV with sep=,:\n%q", comma)
	}
	sheet = testenv.Spreadsheet(t, []byte(days), ';', "fr-BE")
	if row := sheet[1]; len(row) != 4 || !row[0].IsNum || !row[0].Time().Equal(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)) ||
		!row[1].IsNum || row[1].Num != *rep.Energy.Days[0].KWh || !row[2].IsNum || row[2].Num != rep.Energy.KWh {
		t.Errorf("the days' sheet row: %+v, want 2 May 2026 and the JSON's %v kWh as numbers", row, *rep.Energy.Days[0].KWh)
	}
}
