// Command screenshots runs the sensorhub demo in this process and saves
// screenshots of its pages, made in headless Chromium, for the docs:
//
//	go run ./cmd/screenshots -out docs/screenshots
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/report"
)

func main() {
	out := flag.String("out", "docs/screenshots", "directory for the PNG files")
	width := flag.Int("width", 1440, "browser width in CSS pixels (390 for a phone)")
	flag.Parse()
	if err := run(*out, *width); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(out string, width int) error {
	dir, err := os.MkdirTemp("", "sensorhub-screenshots")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MQTT.Builtin.AllowAnonymous = true // the demo devices connect without a login
	app.DemoSettings(cfg, true, time.Now())
	ctx := context.Background()
	a, err := app.Start(ctx, cfg, app.Options{Demo: true, DemoInterval: 2 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer a.Close()
	time.Sleep(3 * time.Second) // a few live readings after the history
	bctx, cancel, err := browser.Start(ctx, width, 1000)
	if err != nil {
		return err
	}
	defer cancel()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	base := "http://" + a.HTTPAddr()
	// The report of the demo's history: the last 7 whole days.
	today := time.Now().In(cfg.Location()).Format(time.DateOnly)
	week := time.Now().In(cfg.Location()).AddDate(0, 0, -7).Format(time.DateOnly)
	mail, err := reportMail(ctx, a, cfg, week, today, dir)
	if err != nil {
		return err
	}
	shots := []struct{ name, path string }{
		{"reports", "/reports?customer=finemeca&from=" + week + "&to=" + today},
		{"report-mail", "file://" + mail},
		{"overview", "/"},
		{"dashboard-air", "/d/air?device=201&range=24h"},
		{"dashboard-centrale", "/d/centrale?device=301&range=7d"},
		{"dashboard-devicev01", "/d/devicev01?device=100&range=7d"},
		{"live-air", "/live/air/201"},
		{"rejected", "/rejected"},
	}
	for _, s := range shots {
		url := base + s.path
		if strings.HasPrefix(s.path, "file://") {
			url = s.path
		}
		if err := browser.Navigate(bctx, url); err != nil {
			return err
		}
		// Wait until no panel says it is loading.
		for i := 0; i < 100; i++ {
			n, err := browser.Eval[int](bctx, `[...document.querySelectorAll(".state")].filter((e) => e.textContent.startsWith("Loading")).length`)
			if err == nil && n == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond) // charts finish drawing, the live page gets a reading
		png, err := browser.Screenshot(bctx)
		if err != nil {
			return err
		}
		path := filepath.Join(out, s.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}

// reportMail writes the report e-mail of a range as an HTML file whose
// images are the message's, for a screenshot of what a mail client shows.
func reportMail(ctx context.Context, a *app.App, cfg *config.Config, from, to, dir string) (string, error) {
	p, err := report.ParsePeriod(from, to, "", "", cfg.Location(), time.Now())
	if err != nil {
		return "", err
	}
	r, err := (&report.Source{Store: a.Store, Config: cfg, Location: cfg.Location()}).Make(ctx, "finemeca", p)
	if err != nil {
		return "", err
	}
	m, err := report.Mail(r, nil, "https://sensorhub.example.com")
	if err != nil {
		return "", err
	}
	html := m.HTML
	for name, png := range m.Inline {
		html = strings.ReplaceAll(html, "cid:"+name, "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png))
	}
	path := filepath.Join(dir, "report-mail.html")
	return path, os.WriteFile(path, []byte(html), 0o644)
}
