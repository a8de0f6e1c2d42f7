package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestReportCommand: sensorhub report prints a customer's week as text,
// JSON or a CSV table, writes it as a PDF with the configured customer's
// name to a file, and --send mails it now through a scheduled
// report's notifier to a real SMTP server.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	loc := config.Default().Location()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "sensorhub.db"), sqlstore.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	// Meter 301 counts 1 kWh an hour through the week of 20 October 2025,
	// which ends on a Sunday of 25 hours.
	var rs []reading.Reading
	start := time.Date(2025, 10, 20, 0, 0, 0, 0, loc)
	for i, at := 0, start; !at.After(start.AddDate(0, 0, 7)); i, at = i+1, at.Add(time.Hour) {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": float64(i), "_lost": 0}, Units: map[string]string{"E": "kWh"}})
	}
	if _, err := st.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	report := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"report", "--data", dir, "--customer", "finemeca", "--from", "2025-10-20", "--to", "2025-10-27"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("report %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := report(); !strings.Contains(out, "Energy: 169.0 kWh") || !strings.Contains(out, "centrale-atelier (301): 169 of 169 received") {
		t.Errorf("the text report:\n%s", out)
	}
	if out := report("--format", "csv", "--table", "days"); !strings.Contains(out, "2025-10-26,25.0,25.0,0.0\n") || !strings.Contains(out, "2025-10-20,24.0,24.0,0.0\n") {
		t.Errorf("the days as CSV:\n%s", out)
	}
	var r struct {
		Energy struct {
			KWh float64 `json:"kwh"`
		} `json:"energy"`
	}
	if err := json.Unmarshal([]byte(report("--format", "json")), &r); err != nil || r.Energy.KWh != 169 {
		t.Errorf("the JSON report: %+v %v", r, err)
	}

	// The PDF, with the customer's name and logo of the configuration.
	logo := filepath.Join(dir, "logo.png")
	var logoPNG bytes.Buffer
	if err := png.Encode(&logoPNG, image.NewGray(image.Rect(0, 0, 40, 20))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logo, logoPNG.Bytes(), 0o600)
	brandPath := filepath.Join(dir, "brand.yaml")
	os.WriteFile(brandPath, []byte("branding:\n  customers:\n    finemeca: {name: Finemeca SA, logo: "+logo+"}\n"), 0o600)
	pdfPath := filepath.Join(dir, "week.pdf")
	if out := report("--config", brandPath, "--format", "pdf", "--output", pdfPath); !strings.Contains(out, "wrote the report of finemeca, 2025-10-20 to 2025-10-26, to "+pdfPath) {
		t.Errorf("report --format pdf --output:\n%s", out)
	}
	pdf, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(testenv.PDFPages(t, pdf), "\f")
	// A reading an hour is a gap an hour: the meter's row lists 7 and
	// counts the rest, rather than fill pages.
	words := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Report: Finemeca SA (finemeca)", "2025-10-20 to 2025-10-26", "169.0 kWh", "centrale-atelier", "page 1 of 3", "page 3 of 3",
		"no reading 2025-10-20 06:00:00 to 2025-10-20", "and 162 more (0 resets, 169 gaps, 0 left out in all)"} {
		if !strings.Contains(words, want) {
			t.Errorf("the PDF does not say %q:\n%s", want, text)
		}
	}
	if out, err := exec.Command(binary, "report", "--data", dir, "--customer", "finemeca", "--format", "pdf").CombinedOutput(); err == nil || !strings.Contains(string(out), "--format pdf needs --output FILE") {
		t.Errorf("a PDF to the terminal: %v\n%s", err, out)
	}

	smtp := testenv.StartSMTP(t)
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`alerts:
  notifiers:
    maintenance: {type: email, host: %s, port: %d, from: sensorhub@example.com, to: [maintenance@example.com], tls: none}
reports:
  - {name: weekly, customer: finemeca, every: week, sections: [energy], notify: [maintenance]}
`, smtp.Host, smtp.Port)), 0o600)
	if out := report("--config", cfgPath, "--send", "weekly"); !strings.Contains(out, "sent the report of finemeca, 2025-10-20 to 2025-10-26, with maintenance") {
		t.Errorf("report --send:\n%s", out)
	}
	msgs := smtp.Messages(t)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Subject: Report finemeca, 2025-10-20 to 2025-10-26") || strings.Contains(msgs[0], "Compressed air") {
		t.Errorf("the mail sent (%d): want the weekly report with its energy section only:\n%.2000s", len(msgs), strings.Join(msgs, "\n---\n"))
	}
}
