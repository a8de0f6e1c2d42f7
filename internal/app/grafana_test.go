package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// grafanaPanel is what the test reads of a dashboard's panel.
type grafanaPanel struct {
	Title    string
	Interval string
	Targets  []struct {
		Expr    string
		Instant bool
	}
	Panels []grafanaPanel // a row's
}

type grafanaDashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Name  string
			Query struct{ Query string }
		}
	}
	Panels []grafanaPanel
}

// labelValuesQuery is a query variable's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// TestGrafanaDashboardsAgainstTheDemo: the provisioned data source points
// at /prometheus, and every panel of the provisioned dashboards parses
// and returns data from the demo, for the first customer and device its
// variables find, as Grafana would ask for them.
func TestGrafanaDashboardsAgainstTheDemo(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "grafana")
	var ds struct {
		Datasources []struct {
			Type, URL string
			JSONData  map[string]any `yaml:"jsonData"`
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "provisioning", "datasources", "sensorhub.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !strings.HasSuffix(ds.Datasources[0].URL, "/prometheus") {
		t.Errorf("data source %+v, want one of type prometheus at .../prometheus", ds.Datasources)
	}

	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: 300 * time.Millisecond}, nil)
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		devs, err := a.Store.Devices(context.Background(), store.DeviceFilter{})
		if err != nil || len(devs) < 6 {
			return fmt.Errorf("%d demo devices, want 6: %v", len(devs), err)
		}
		return nil
	})
	c := promClient(t, "http://"+a.HTTPAddr()+"/prometheus", "")
	ctx := context.Background()
	files, _ := filepath.Glob(filepath.Join(dir, "dashboards", "*.json"))
	if len(files) != 3 {
		t.Fatalf("dashboards %v, want one for each of the 3 built-in kinds", files)
	}
	p := parser.NewParser(parser.Options{})
	now := time.Now()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// The variables, in order: each later one may use the earlier.
		vars := map[string]string{"$__rate_interval": "5m", "$__interval": "5m", "$__range": "24h"}
		expand := func(s string) string {
			for k, v := range vars {
				s = strings.ReplaceAll(s, k, v)
			}
			return s
		}
		for _, v := range d.Templating.List {
			m := labelValuesQuery.FindStringSubmatch(v.Query.Query)
			if m == nil {
				t.Fatalf("%s: variable %s: %q is not label_values(selector, label)", d.Title, v.Name, v.Query.Query)
			}
			vals, _, _, err := c.LabelValues(ctx, m[2], []string{expand(m[1])}, now.Add(-24*time.Hour), now)
			if err != nil || len(vals) == 0 {
				t.Fatalf("%s: variable %s (%s): %v %v, want values", d.Title, v.Name, v.Query.Query, vals, err)
			}
			vars["$"+v.Name] = string(vals[0])
		}
		panels := d.Panels
		n := 0
		for len(panels) > 0 {
			pn := panels[0]
			panels = append(panels[1:], pn.Panels...)
			for _, tg := range pn.Targets {
				n++
				expr := expand(tg.Expr)
				if _, err := p.ParseExpr(expr); err != nil {
					t.Errorf("%s / %s: %s does not parse: %v", d.Title, pn.Title, tg.Expr, err)
					continue
				}
				if err := panelData(ctx, c, expr, tg.Instant, pn.Interval, now); err != nil {
					t.Errorf("%s / %s: %s: %v", d.Title, pn.Title, expr, err)
				}
			}
		}
		if n < 5 {
			t.Errorf("%s: %d queries, want a dashboard's worth", d.Title, n)
		}
	}
}

// panelData runs a panel's query as Grafana would over the last week,
// at the panel's interval (5 minutes without one), and requires data.
func panelData(ctx context.Context, c promv1.API, expr string, instant bool, interval string, now time.Time) error {
	var v model.Value
	var err error
	if instant {
		v, _, _, err = c.Query(ctx, expr, now)
	} else {
		step := 5 * time.Minute
		if interval != "" {
			d, perr := model.ParseDuration(interval)
			if perr != nil {
				return perr
			}
			step = time.Duration(d)
		}
		v, _, _, err = c.QueryRange(ctx, expr, promv1.Range{Start: now.Add(-7 * 24 * time.Hour), End: now, Step: step})
	}
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case model.Vector:
		if len(v) > 0 {
			return nil
		}
	case model.Matrix:
		for _, s := range v {
			if len(s.Values) > 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("no data: %v", v)
}
