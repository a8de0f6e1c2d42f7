package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// benchGet asks for url again and again, as a refreshing dashboard does,
// and requires an answer of 200 holding want.
func benchGet(b *testing.B, url, want string) {
	b.Helper()
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			b.Fatalf("%s: HTTP %d %.300s", url, resp.StatusCode, body)
		}
	}
}

// BenchmarkPrometheusRange30Days: 30 days of one weather module's
// temperature, read at 30 s, as a 5-minute query_range (the plain
// selector, and avg_over_time as /api/v1/series averages) and as
// sensorhub's own /api/v1/series at step=5m, through HTTP, on SQLite.
func BenchmarkPrometheusRange30Days(b *testing.B) {
	a := start(b, "embedded", app.Options{}, nil)
	k := storetest.LoadDays(b, a.Store, 30, 30*time.Second)
	if err := a.Store.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	to := time.Now().UTC().Truncate(time.Minute)
	from := to.Add(-30 * 24 * time.Hour)
	base := "http://" + a.HTTPAddr()
	sel := fmt.Sprintf(`devicev01_Temp{customer=%q, device=%q}`, k.Customer, k.Device)
	rng := fmt.Sprintf("&start=%d&end=%d&step=300", from.Unix(), to.Unix())
	b.Run("series", func(b *testing.B) {
		benchGet(b, fmt.Sprintf("%s/api/v1/series?customer=%s&sensor=%s&device=%s&field=Temp&from=%d&to=%d&step=5m&agg=avg",
			base, k.Customer, k.Sensor, k.Device, from.UnixMilli(), to.UnixMilli()), `"points":[[`)
	})
	b.Run("query_range", func(b *testing.B) {
		benchGet(b, base+"/prometheus/api/v1/query_range?query="+url.QueryEscape(sel)+rng, `"values":[[`)
	})
	b.Run("query_range/avg_over_time", func(b *testing.B) {
		benchGet(b, base+"/prometheus/api/v1/query_range?query="+url.QueryEscape("avg_over_time("+sel+"[5m])")+rng, `"values":[[`)
	})
}

// BenchmarkPrometheusPickers10000: the calls of Grafana's metric browser
// and of a dashboard's device variable over 10,000 power meters, each
// with a few readings, on SQLite.
func BenchmarkPrometheusPickers10000(b *testing.B) {
	a := start(b, "embedded", app.Options{}, nil)
	writeMeters(b, a, 10000, 2, func(d int) string { return "m" + strconv.Itoa(10000+d) })
	prom := "http://" + a.HTTPAddr() + "/prometheus/api/v1/"
	for _, c := range []struct{ name, path, want string }{
		{"labels", "labels", `"device"`},
		{"label_device_values", "label/device/values", `"m19999"`},
		{"label_name_values", "label/__name__/values", `"centrale_P"`},
		{"label_device_values_match", "label/device/values?match[]=" + url.QueryEscape(`centrale_P{customer="finemeca"}`), `"m19999"`},
	} {
		b.Run(c.name, func(b *testing.B) { benchGet(b, prom+c.path, c.want) })
	}
}
