// Command screenshots runs the sensorhub demo in this process and saves
// screenshots of its pages, made in headless Chromium, for the docs:
//
//	go run ./cmd/screenshots -out docs/screenshots
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
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
	shots := []struct{ name, path string }{
		{"overview", "/"},
		{"dashboard-air", "/d/air?device=201&range=24h"},
		{"dashboard-centrale", "/d/centrale?device=301&range=7d"},
		{"dashboard-devicev01", "/d/devicev01?device=100&range=7d"},
		{"live-air", "/live/air/201"},
		{"rejected", "/rejected"},
	}
	for _, s := range shots {
		if err := browser.Navigate(bctx, base+s.path); err != nil {
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
