package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/sim"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestAirDashboardExplainsItsFigures: the leak panel of the demo's air
// line says how its figures are computed and what the opening pressure
// is, and the compressor's specific power shows beside it.
func TestAirDashboardExplainsItsFigures(t *testing.T) {
	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: time.Hour}, func(c *config.Config) {
		c.Compressors = sim.Compressors(c.Customers[0])
	})
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/air?device=201&customer=finemeca&range=7d"); err != nil {
		t.Fatal(err)
	}
	const textJS = `[document.querySelector('[aria-label="Leaks per day"]').innerText, (document.getElementById("compressors").hidden ? "hidden: " : "") + document.getElementById("compressors").innerText]`
	var got []string
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		got = eval[[]string](t, ctx, textJS)
		if !strings.Contains(got[0], "Opening pressure") || !strings.Contains(got[1], "kW per Nm³/min") || strings.HasPrefix(got[1], "hidden") {
			return fmt.Errorf("leak panel %q, compressors %q", got[0], got[1])
		}
		return nil
	})
	for _, want := range []string{"Measured by", "Opening pressure: the pressure at which the line's valve opens", "normal cubic metres", "0.02 per Nm³", "x 365"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the leak panel lacks %q:\n%s", want, got[0])
		}
	}
	for _, want := range []string{"compressor-1", "kWh", "Nm³", "ISO 1217"} {
		if !strings.Contains(got[1], want) {
			t.Errorf("the compressors panel lacks %q:\n%s", want, got[1])
		}
	}
	t.Logf("leak panel: %s\ncompressors: %s", got[0], got[1])
}
