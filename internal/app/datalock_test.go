package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestOneRunPerDataDirectory: a second sensorhub on the data directory of
// a running one is refused, naming the one that holds it, before it opens
// the embedded queue; one told to wait starts once the first has stopped,
// and finds what the first stored.
func TestOneRunPerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	first := start(t, "embedded", app.Options{}, func(c *config.Config) { c.DataDir = dir })
	payload := `{"Customer":"finemeca","idDevice":500,"Mod":"weath","msgCount":1,"Temp":21.5}`
	if code := postIngest(t, first, "finemeca/devicev01/500", payload); code != http.StatusAccepted {
		t.Fatalf("ingest: HTTP %d", code)
	}
	stored(t, first)

	second := func(wait time.Duration, logs io.Writer) (*app.App, error) {
		cfg := config.Default()
		cfg.DataDir = dir
		cfg.HTTP.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.MQTT.Builtin.AllowAnonymous = true
		cfg.Store.Retention.Ages = config.Ages{Raw: config.Forever, Hourly: config.Forever, Daily: config.Forever}
		if err := cfg.Validate(nil); err != nil {
			t.Fatal(err)
		}
		return app.Start(context.Background(), cfg, app.Options{LockWait: wait}, slog.New(slog.NewTextHandler(logs, nil)))
	}
	_, err := second(0, io.Discard)
	if !errors.Is(err, app.ErrDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) ||
		!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--lock-wait") {
		t.Fatalf("a second sensorhub on the data directory: %v; want it refused, naming the directory, the holder and --lock-wait", err)
	}

	var logs testenv.SyncBuffer
	started := make(chan *app.App, 1)
	go func() {
		a, err := second(time.Minute, &logs)
		if err != nil {
			t.Error(err)
		}
		started <- a
	}()
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "waiting for the other sensorhub to stop") {
			return errors.New("the waiting sensorhub does not say so")
		}
		return nil
	})
	select {
	case <-started:
		t.Fatal("a second sensorhub started while the first runs")
	case <-time.After(time.Second):
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	var next *app.App
	select {
	case next = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting sensorhub did not start once the first stopped")
	}
	if next == nil {
		t.FailNow()
	}
	t.Cleanup(func() { next.Close() })
	stored(t, next)
}

// stored waits until a's store has the reading of device 500.
func stored(t *testing.T, a *app.App) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var r struct{ Fields map[string]float64 }
		if code := getJSON(t, a, "/api/v1/latest?device=500", &r); code != http.StatusOK || r.Fields["Temp"] != 21.5 {
			return fmt.Errorf("latest of device 500: HTTP %d %v", code, r.Fields)
		}
		return nil
	})
}
