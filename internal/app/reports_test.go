package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// browserLogin logs a user in through the login page.
func browserLogin(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	if err := browser.Navigate(ctx, base+"/login"); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `(() => { const f = document.querySelector("form"); f.username.value = "`+user+`"; f.password.value = "`+user+`-password"; f.submit(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `document.readyState + " " + location.pathname`)
		if err != nil || got != "complete /" {
			return fmt.Errorf("after login: %q %v", got, err)
		}
		return nil
	})
}

// TestReportPageInBrowser: the report page in headless Chromium draws
// every section with its charts, shows the numbers the API gives, is not
// shown to a viewer of another customer, links to the report as a PDF
// file with the API's figures, and prints to PDF on A4 pages,
// a section a page, with no table row cut across two pages.
func TestReportPageInBrowser(t *testing.T) {
	testenv.Needs(t, "Chromium and pdftotext")
	fx := accessFixture(t, nil)
	loc := fx.a.Config.Location()
	from := time.Date(2026, 4, 27, 0, 0, 0, 0, loc)
	// A week of meter 301 every 15 minutes, with working days, and of
	// air line 202 every minute, with a leak a day.
	var rs []reading.Reading
	e := 5000.0
	for i, at := 0, from; !at.After(from.AddDate(0, 0, 7)); i, at = i+1, at.Add(15*time.Minute) {
		p := 3.0
		if l := at.In(loc); l.Weekday() != time.Saturday && l.Weekday() != time.Sunday && l.Hour() >= 7 && l.Hour() < 18 {
			p = 20 + float64(i%7)
		}
		e += p / 4
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": e, "_lost": 0}, Units: map[string]string{"E": "kWh"}})
	}
	for i, at := 0, from; at.Before(from.AddDate(0, 0, 7)); i, at = i+1, at.Add(time.Minute) {
		pres := 6.5
		if m := at.In(loc); m.Hour() == 9 && m.Minute() < 3 {
			pres = 5.6
		}
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "202", Name: "air-line-2", Time: at, Received: at,
			MsgCount: int64(1000 + i), Fields: map[string]float64{"Pres": pres, "OpenPres": 6, "_lost": 0}})
	}
	if _, err := fx.a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + fx.a.HTTPAddr()
	query := "customer=finemeca&from=2026-04-27&to=2026-05-04"

	root := newClient(t, fx.a)
	root.Login("root", "root-password")
	code, body := root.Do("GET", "/api/v1/report?"+query, "")
	var api report.Report
	if code != 200 || json.Unmarshal([]byte(body), &api) != nil {
		t.Fatalf("the API's report: HTTP %d %.300s", code, body)
	}

	if code, page := root.Do("GET", "/reports?"+query, ""); code != 200 || !strings.Contains(page, "Energy") {
		t.Fatalf("the report page: HTTP %d\n%.2000s", code, page)
	}
	ctx := startBrowser(t)
	browserLogin(t, ctx, base, "root")
	if err := browser.Navigate(ctx, base+"/reports?"+query); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		n, err := browser.Eval[int](ctx, `[...document.querySelectorAll("img.chart")].filter((i) => i.complete && i.naturalWidth > 400).length`)
		if err != nil || n != 3 {
			page, _ := browser.Eval[string](ctx, `location.href + " " + document.body.innerText.slice(0, 300) + [...document.querySelectorAll("img")].map((i) => i.src + ":" + i.complete + ":" + i.naturalWidth).join(" ")`)
			return fmt.Errorf("%d of 3 charts drawn (%v): %s", n, err, page)
		}
		return nil
	})
	sections := eval[[]string](t, ctx, `[...document.querySelectorAll("section.report-section")].map((s) => s.querySelector("h2").textContent + ":" + s.querySelectorAll("tbody tr").length)`)
	if strings.Join(sections, " ") != "Energy:8 Compressed air:2 Data quality:3" {
		t.Errorf("sections %v, want energy (a meter and 7 days), air (2 lines) and data quality (3 devices)", sections)
	}
	en, _ := locale.Parse("en")
	figures := eval[string](t, ctx, `document.querySelector("#energy .figures").innerText + "\n" + document.querySelector("#air .figures").innerText`)
	for _, want := range []string{
		en.Number(api.Energy.KWh, 1) + " kWh", // 1,234.5 kWh
		strconv.FormatFloat(api.Energy.PeakKW, 'f', 1, 64) + " kW",
		api.Energy.PeakAt.In(loc).Format("2006-01-02 15:04:05"),
		strconv.FormatFloat(api.Air.Cost, 'f', 2, 64),
		fmt.Sprintf("%.2f", api.Air.CostPerYear),
	} {
		if !strings.Contains(figures, want) {
			t.Errorf("the page does not show the API's %q:\n%s", want, figures)
		}
	}
	if len(api.Air.Lines) != 2 || api.Air.Lines[0].Device != "202" || api.Air.Lines[0].Leaks != 7 || api.Energy.KWh < 1000 {
		t.Errorf("the API's report: lines %+v, %v kWh; want line 202 first with a leak a day, and a working week", api.Air.Lines, api.Energy.KWh)
	}

	// The page's PDF link: the report as a PDF file, with the API's
	// figures.
	href := eval[string](t, ctx, `document.querySelector("a.pdf").href`)
	resp, err := root.HTTP.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="report-finemeca-2026-W18.pdf"` {
		t.Fatalf("the page's PDF link %s: HTTP %d, %s, %s", href, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	text := strings.Join(testenv.PDFPages(t, file), "\f")
	for _, want := range []string{"Report: finemeca", "2026-04-27 to 2026-05-03", en.Number(api.Energy.KWh, 1) + " kWh",
		"centrale-atelier (301)", "air-line-2 (202)", "page 1 of "} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, text)
		}
	}

	// Printed: A4 pages, a section each, no row across two of them.
	pdf, err := browser.PrintPDF(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	os.WriteFile(path, pdf, 0o600)
	info, err := exec.Command("pdfinfo", path).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, info)
	}
	pages, _ := strconv.Atoi(regexp.MustCompile(`Pages:\s+(\d+)`).FindStringSubmatch(string(info))[1])
	if !strings.Contains(string(info), "(A4)") || pages < 3 {
		t.Fatalf("the printed report: %d pages:\n%s\nwant A4, a page or more a section", pages, info)
	}
	pageText := make([]string, pages+1)
	for p := 1; p <= pages; p++ {
		out, err := exec.Command("pdftotext", "-f", strconv.Itoa(p), "-l", strconv.Itoa(p), "-layout", path, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		pageText[p] = strings.Join(strings.Fields(string(out)), " ")
	}
	// A row is whole when one page holds every word of it (a cell's
	// words may wrap differently on paper than on the screen, and break at
	// a hyphen).
	words := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' || r == '\n' })
	}
	rows := eval[[][]string](t, ctx, `[...document.querySelectorAll(".report tbody tr")].map((r) => [...r.cells].map((c) => c.innerText.trim()))`)
	for _, row := range rows {
		whole := false
		for p := 1; p <= pages && !whole; p++ {
			on := map[string]bool{}
			for _, w := range words(pageText[p]) {
				on[w] = true
			}
			whole = true
			for _, w := range words(strings.Join(row, " ")) {
				whole = whole && on[w]
			}
		}
		if !whole {
			t.Errorf("no page of the PDF holds the whole row %q:\n%s", row, strings.Join(pageText[1:], "\n----\n"))
		}
	}
	for _, section := range []string{"Compressed air", "Data quality"} {
		starts := false
		for p := 2; p <= pages; p++ {
			starts = starts || strings.HasPrefix(pageText[p], section)
		}
		if !starts {
			t.Errorf("no printed page starts with the section %s", section)
		}
	}

	// A viewer of finemeca asking for acme's report.
	viewer := startBrowser(t)
	browserLogin(t, viewer, base, "alice")
	if err := browser.Navigate(viewer, base+"/reports?customer=acme&from=2026-04-27&to=2026-05-04"); err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, viewer, `document.body.innerText`); !strings.Contains(got, "no customer acme") {
		t.Errorf("a viewer of finemeca on acme's report sees %.300q, want no such customer", got)
	}
	if code, _ := newClient(t, fx.a).Do("GET", "/reports?customer=acme", ""); code != 303 {
		t.Errorf("the report page without a login: HTTP %d, want the redirect to the login", code)
	}
}
