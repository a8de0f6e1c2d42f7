package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/compressor"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// oddName is a device name that a PDF with a Latin-1 font alone
// would not write.
const oddName = "Compresseur Ω-3 Nm³ éü"

// writeLogo writes a PNG of w x h pixels and returns its path.
func writeLogo(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{R: 0x1f, G: 0x6f, B: uint8(x), A: 0xff})
		}
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// brandedWeek is the fixture's week of 20 October with finemeca's name and
// logo (a PNG of 93 x 31 pixels) and a second air line, steady at 6.5
// bar on Wednesday morning, named with characters beyond Latin-1.
func brandedWeek(t *testing.T) *report.Report {
	t.Helper()
	src, st := fixture(t)
	src.Config.Branding = config.Branding{Customers: map[string]config.CustomerBrand{"finemeca": {Name: "Finemeca SA", Logo: writeLogo(t, 93, 31)}}}
	var rs []reading.Reading
	for i, at := 0, local(2025, 10, 22, 8, 0); i < 60; i, at = i+1, at.Add(time.Minute) {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "202", Name: oddName, Time: at.UTC(), Received: at.UTC(),
			MsgCount: int64(i + 1), Fields: map[string]float64{"Pres": 6.5, "OpenPres": 6}})
	}
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkPageNumbers: every page says its number of the count pdfinfo
// gives, and has the header and the made-at time.
func checkPageNumbers(t *testing.T, pages []string, header, made string) {
	t.Helper()
	for i, p := range pages {
		for _, want := range []string{fmt.Sprintf("page %d of %d", i+1, len(pages)), header, made} {
			if !strings.Contains(p, want) {
				t.Errorf("page %d does not say %q:\n%s", i+1, want, p)
			}
		}
	}
}

// TestPDF: the PDF of the fixture's week has, on A4 pages numbered "page
// 2 of 3", the customer's name and logo, the period, the total kWh as the
// JSON gives it, the meter, the figures of the air lines (one named
// Compresseur Ω-3 Nm³ éü) and of the data quality, and the charts.
func TestPDF(t *testing.T) {
	r := brandedWeek(t)
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, nil); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("SENSORHUB_TEST_PDF_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "week.pdf"), pdf.Bytes(), 0o600) // to look at
	}
	pages := testenv.PDFPages(t, pdf.Bytes())
	if len(pages) < 2 {
		t.Fatalf("%d pages: the charts and tables of a week need more than one", len(pages))
	}
	checkPageNumbers(t, pages, "Finemeca SA (finemeca)", "Made "+r.Made.Format("2006-01-02 15:04:05")+" (Europe/Brussels)")
	all := strings.Join(pages, "\f")
	var js struct {
		Energy struct {
			KWh float64 `json:"kwh"`
		} `json:"energy"`
		Name string `json:"name"`
	}
	if b, err := json.Marshal(r); err != nil || json.Unmarshal(b, &js) != nil || js.Energy.KWh != 1331.5 || js.Name != "Finemeca SA" {
		t.Fatalf("the JSON gives %+v (%v), want 1331.5 kWh and the name Finemeca SA", js, err)
	}
	// 1331.5 kWh, 9.5 % more than 1216 (TestWeekByHand); the peak of
	// 36 kW; the air line 201's two leaks of 5 minutes in all, 0.79 Nm³
	// (0.78954) and 0.02 (0.015791); 202 had none; the meter 301 received
	// 669 of 676 messages, 7 lost, with 2 rejected messages.
	for _, want := range []string{
		"Report: Finemeca SA (finemeca)", "2025-10-20 to 2025-10-26",
		"1,331.5 kWh, +9.5 % against 1,216.0 kWh", "36.0 kW, 2025-10-23 10:15:00", "centrale-atelier (301)", "counter reset",
		"Compressed air", "air-line-1 (201)", "Worst leak", "0.49 Nm³, air-line-1, 2025-10-23 09:00:00, 3 min",
		oddName + " (202)", "Air lost Nm³",
		"2 rejected messages in the period",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the PDF does not say %q", want)
		}
	}
	for _, row := range []*regexp.Regexp{
		regexp.MustCompile(`air-line-1 \(201\)\s+2\s+5 min\s+0\.79\s+0\.02\s+`),
		regexp.MustCompile(`Compresseur Ω-3\s+0\s+0\s*s\s+0\.00\s+0\.00\s+0\.00\s+pressure decay in 500 l`),
		regexp.MustCompile(`centrale-atelier \(301\)\s+centrale\s+676\s+669\s+7\s+1\s+1\.75 h`),
		regexp.MustCompile(`2025-10-23\s+250\.0\s+250\.0`),
	} {
		if !row.MatchString(all) {
			t.Errorf("the PDF has no row %q", row)
		}
	}
	// The logo, at its size, on every page; the three charts once.
	list, err := exec.Command("pdfimages", "-list", writeTemp(t, pdf.Bytes())).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfimages: %v\n%s", err, list)
	}
	logos := regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+image\s+93\s+31\s`).FindAll(list, -1)
	charts := regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+image\s+\d+\s+227\s`).FindAll(list, -1)
	if len(logos) != len(pages) || len(charts) != 3 {
		t.Errorf("%d logos on %d pages and %d charts, want one a page and 3:\n%s", len(logos), len(pages), len(charts), list)
	}
	if name := report.PDFName(r); name != "report-finemeca-2025-W43.pdf" {
		t.Errorf("the PDF is named %q, want report-finemeca-2025-W43.pdf", name)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.pdf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPDFTableAcrossPages: a data quality of 50 devices goes on over
// pages; each page repeats the table's header row above its rows, and
// every row is whole on one page, its device with its figures.
func TestPDFTableAcrossPages(t *testing.T) {
	week := report.Week(local(2025, 10, 22, 15, 0), brussels)
	r := &report.Report{Customer: "acme", Period: week, Previous: week.Previous(), Zone: "Europe/Brussels", Made: local(2025, 10, 27, 7, 0)}
	for i := range report.WorstDevices {
		r.Quality.Devices = append(r.Quality.Devices, report.DeviceQuality{Sensor: "air", Device: strconv.Itoa(900 + i),
			Name: fmt.Sprintf("line %d with a name long enough to wrap over two lines of its cell", i), Expected: 1000, Received: int64(1000 - i), Lost: int64(i)})
	}
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"quality"}); err != nil {
		t.Fatal(err)
	}
	pages := testenv.PDFPages(t, pdf.Bytes())
	if dir := os.Getenv("SENSORHUB_TEST_PDF_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "table.txt"), []byte(strings.Join(pages, "\f")), 0o600) // to look at
	}
	if len(pages) < 3 {
		t.Fatalf("%d pages for 50 rows of two lines, want at least 3", len(pages))
	}
	checkPageNumbers(t, pages, "acme", "Made 2025-10-27 07:00:00")
	head := regexp.MustCompile(`Device\s+Kind\s+Expected\s+Received\s+Lost\s+Silent periods\s+Silent hours`)
	seen := map[int]int{}
	for n, p := range pages {
		loc := head.FindStringIndex(p)
		if loc == nil {
			t.Errorf("page %d has no header row:\n%s", n+1, p)
			continue
		}
		for _, m := range regexp.MustCompile(`line (\d+) with a name long enough\s+(?:to\s+)?air\s+1000\s+(\d+)\s+(\d+)\s+0\s+0\.00 h`).FindAllStringSubmatchIndex(p, -1) {
			i, _ := strconv.Atoi(p[m[2]:m[3]])
			received, _ := strconv.Atoi(p[m[4]:m[5]])
			lost, _ := strconv.Atoi(p[m[6]:m[7]])
			if m[0] < loc[0] || received != 1000-i || lost != i {
				t.Errorf("page %d: row of line %d (%d received, %d lost) above the header or with another's figures", n+1, i, received, lost)
			}
			// The rest of the name, on the row's next lines, follows it
			// on the same page.
			rest, _, _ := strings.Cut(p[m[1]:], "\nline ")
			if !strings.Contains(strings.Join(strings.Fields(rest), " "), "wrap over two lines of its cell ("+strconv.Itoa(900+i)+")") {
				t.Errorf("page %d: the row of line %d is cut", n+1, i)
			}
			seen[i] = n + 1
		}
	}
	if len(seen) != report.WorstDevices {
		t.Errorf("%d whole rows found, want %d: %v", len(seen), report.WorstDevices, seen)
	}
}

// TestMailAttachesPDF: the report's e-mail, sent to a real SMTP server,
// carries the PDF as application/pdf beside the CSV files, and the PDF
// reads as the report.
func TestMailAttachesPDF(t *testing.T) {
	r := brandedWeek(t)
	smtp := testenv.StartSMTP(t)
	mailer := &notify.Email{Host: smtp.Host, Port: smtp.Port, From: "sensorhub@example.com", To: []string{"maintenance@example.com"}, TLS: "none", Location: brussels}
	m, err := report.Mail(r, []string{"energy", "air"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mailer.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msgs := smtp.Raw()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	parts := testenv.MailAttachments(t, msgs[0])
	pdf, ok := parts["report-finemeca-2025-W43.pdf"]
	if !ok || pdf.Type != "application/pdf" {
		t.Fatalf("no report-finemeca-2025-W43.pdf as application/pdf among the attachments %v", parts)
	}
	if _, ok := parts["report-finemeca-2025-10-20-days.csv"]; !ok {
		t.Errorf("the CSV files are no longer attached beside the PDF: %v", parts)
	}
	all := strings.Join(testenv.PDFPages(t, pdf.Body), "\f")
	words := strings.Join(strings.Fields(all), " ")
	// The name wraps in its cell: its two lines.
	for _, want := range []string{"Finemeca SA (finemeca)", "2025-10-20 to 2025-10-26", "1,331.5 kWh", "Compresseur Ω-3", "Nm³ éü (202)"} {
		if !strings.Contains(words, want) {
			t.Errorf("the attached PDF does not say %q", want)
		}
	}
	// The sections of the schedule only: no data quality.
	if strings.Contains(all, "Data quality") {
		t.Errorf("the PDF of the energy and air sections has the data quality")
	}
}

// TestPDFRowTallerThanAPage: a row taller than a whole page (a device
// named with 3,000 characters) goes on over the pages after, under the
// table's header row on each, and none of its text is lost.
func TestPDFRowTallerThanAPage(t *testing.T) {
	week := report.Week(local(2025, 10, 22, 15, 0), brussels)
	r := &report.Report{Customer: "acme", Period: week, Previous: week.Previous(), Zone: "Europe/Brussels", Made: local(2025, 10, 27, 7, 0)}
	r.Quality.Devices = []report.DeviceQuality{
		{Sensor: "air", Device: "1", Name: "short", Expected: 10, Received: 9, Lost: 1},
		{Sensor: "air", Device: "2", Name: strings.Repeat("word ", 600) + "end", Expected: 20, Received: 20},
		{Sensor: "air", Device: "3", Name: "after", Expected: 30, Received: 28, Lost: 2},
	}
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"quality"}); err != nil {
		t.Fatal(err)
	}
	pages := testenv.PDFPages(t, pdf.Bytes())
	if len(pages) < 2 || len(pages) > 6 {
		t.Fatalf("%d pages for a row of about 120 lines, want it on 2 to 6", len(pages))
	}
	checkPageNumbers(t, pages, "acme", "Made 2025-10-27 07:00:00")
	words := 0
	for n, p := range pages {
		if !strings.Contains(p, "Expected") {
			t.Errorf("page %d has no header row", n+1)
		}
		words += strings.Count(p, "word")
	}
	all := strings.Join(pages, "\f")
	if words != 600 || !strings.Contains(all, "end (2)") || !regexp.MustCompile(`short \(1\)\s+air\s+10\s+9\s+1`).MatchString(all) ||
		!regexp.MustCompile(`after \(3\)\s+air\s+30\s+28\s+2`).MatchString(all) {
		t.Errorf("%d of 600 words of the long name, or a row lost:\n%s", words, all)
	}
}

// TestPDFBaseline: the PDF has the baseline's section as the page has it:
// the model fitted by hand in TestBaselineRegressedOnDegreeDays, what the
// week saved and the CUSUM, and a row per week since the reference, the
// report's week marked.
func TestPDFBaseline(t *testing.T) {
	src := baselineFixture(t, config.Baseline{Name: "heating", Customer: "finemeca", From: "2025-01-06", To: "2025-02-09",
		DegreeDays: &config.DegreeDays{Sensor: "devicev01", Device: "w1"}})
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 2, 26, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"baseline"}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(testenv.PDFPages(t, pdf.Bytes()), "\f")
	words := strings.Join(strings.Fields(all), " ")
	for _, want := range []string{"Baseline heating", "Reference: 2025-01-06 to 2025-02-09, per week, regressed on heating or cooling degree days of w1's Temp",
		"Expected: 1,000.0 kWh + 20.00 kWh per unit of the variable (R² 1.00 over 5 reference periods).",
		"This period: 50.0 kWh saved against the baseline", "cumulative since the reference: 255.0 kWh saved"} {
		if !strings.Contains(words, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, all)
		}
	}
	// Expected 2680, 1420, 1000 kWh; used 2546, 1349, 950; 84, 21 and 0
	// degree days; the EnPI 2546/84 = 30.3 and 1349/21 = 64.2 kWh per
	// degree day, none without any.
	for _, row := range []string{`2025-02-10\s+2,546\.0\s+2,680\.0\s+84\.0\s+30\.3\s+134\.0\s+-134\.0`, `2025-02-17\s+1,349\.0\s+1,420\.0\s+21\.0\s+64\.2\s+71\.0\s+-205\.0`,
		`2025-02-24, this period\s+950\.0\s+1,000\.0\s+0\.0\s+–\s+50\.0\s+-255\.0`} {
		if !regexp.MustCompile(row).MatchString(all) {
			t.Errorf("the PDF has no row %q:\n%s", row, all)
		}
	}
	if strings.Contains(all, "Compressed air") || strings.Contains(all, "Data quality") {
		t.Errorf("the PDF of the baseline section has other sections")
	}
}

// TestPDFCosts: with prices, the PDF gives the costs, CO2 and demand
// charge the text of TestCostsInTablesAndMail gives, per meter and per
// day, and the estimated part of Tuesday, whose gap of two hours the
// counter's increase is spread over.
func TestPDFCosts(t *testing.T) {
	src, _ := fixture(t)
	src.Config.Money = config.DemoMoney()
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"energy", "air"}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(testenv.PDFPages(t, pdf.Bytes()), "\f")
	words := strings.Join(strings.Fields(all), " ")
	week := fmt.Sprintf("%.2f EUR", 412.955)
	for _, want := range []string{"Energy cost " + week + ", 213.0 kg CO2", "Demand charge 450.00 EUR; 2025-10: 36.0 kW, 2025-10-23 10:15:00",
		"Cost EUR kg CO2", "Leaks cost 0.02 EUR"} {
		if !strings.Contains(words, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, all)
		}
	}
	for _, row := range []string{`2025-10-26\s+50\.0\s+50\.0\s+12\.50\s+8\.0`, `centrale-atelier\s+1,331\.5\s+412\.9[56]\s+213\.0\s+1,216\.0`} {
		if !regexp.MustCompile(row).MatchString(all) {
			t.Errorf("the PDF has no row %q:\n%s", row, all)
		}
	}
}

// TestPDFEstimatedDays: the days of a silence give the part of their kWh
// that is estimated, as TestGapIsSpreadOverItsDays works it out: 8 kWh
// of Tuesday's 48, all of Wednesday's, 8 of Thursday's; 64 in all.
func TestPDFEstimatedDays(t *testing.T) {
	src, _ := meterWithGap(t, local(2025, 10, 28, 20, 0), local(2025, 10, 30, 4, 0))
	r, _ := meterOf(t, src, report.Week(local(2025, 10, 29, 12, 0), brussels))
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"energy"}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(testenv.PDFPages(t, pdf.Bytes()), "\f")
	for _, row := range []string{`2025-10-28\s+48\.0 \(est\. 8\.0\)\s+48\.0 \(est\. 8\.0\)`, `2025-10-29\s+48\.0 \(est\. 48\.0\)`,
		`2025-10-30\s+48\.0 \(est\. 8\.0\)`, `2025-10-27\s+48\.0\s+48\.0\n`, `64\.0 kWh estimated:\s+spread over the gaps`, `est\.: the part of a day's kWh`} {
		if !regexp.MustCompile(row).MatchString(all) {
			t.Errorf("the PDF has no %q:\n%s", row, all)
		}
	}
}

// TestPDFAirNotMeasurable: a line whose air lost is not measurable says
// so with its reason instead of 0, and the compressors' specific power is
// given, or why it is not known.
func TestPDFAirNotMeasurable(t *testing.T) {
	week := report.Week(local(2025, 10, 22, 15, 0), brussels)
	sp := 6.25
	r := &report.Report{Customer: "acme", Period: week, Previous: week.Previous(), Zone: "Europe/Brussels", Made: local(2025, 10, 27, 7, 0), Currency: "EUR"}
	r.Air.Unmeasured = 1
	r.Air.Lines = []report.Line{{Sensor: "air", Device: "7", Name: "line 7", Leaks: 1, SecondsBelow: 600, Method: "flow", Reason: "no flow reading in the non-production hours"}}
	r.Air.Compressors = []report.Compressor{{Name: "GA 30", Period: compressor.Interval{KWh: 125, Nm3: 1200, SpecificPower: &sp}},
		{Name: "GA 11", Reason: compressor.NoAir}}
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, []string{"air"}); err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(strings.Join(testenv.PDFPages(t, pdf.Bytes()), " ")), " ")
	for _, want := range []string{"Leaks cost 0.00 EUR (1 lines not measurable)", "line 7 (7) 1 10 min not – – the air flow in the measurable non-production hours; no flow reading in the non-production hours",
		"Compressor specific power", "GA 30 125.0 1,200.00 6.25", "GA 11 0.0 0.00 not known: " + compressor.NoAir, "Specific power: the compressor's energy"} {
		if !strings.Contains(words, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, words)
		}
	}
}
