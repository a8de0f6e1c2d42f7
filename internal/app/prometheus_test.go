package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
)

// TestPrometheusAPIAsGrafanaCallsIt makes the calls Grafana's Prometheus
// data source makes, with the official client, as an admin's token, a
// viewer's token and a viewer's password: the admin finds every series,
// the viewer of finemeca nothing of acme's.
func TestPrometheusAPIAsGrafanaCallsIt(t *testing.T) {
	secrets := map[string]string{}
	a, _ := startLab(t, func(c *config.Config) {
		for _, u := range []struct{ name, role, customer string }{{"root", auth.RoleAdmin, ""}, {"alice", auth.RoleViewer, "finemeca"}} {
			h, _ := bcrypt.GenerateFromPassword([]byte(u.name+"-password"), bcrypt.MinCost)
			user := auth.User{Username: u.name, PasswordHash: string(h), Role: u.role}
			if u.customer != "" {
				user.Customers = []string{u.customer}
			}
			c.Auth.Users = append(c.Auth.Users, user)
			secret, tok, err := auth.NewToken(u.name, "", "grafana", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			secrets[u.name] = secret
			c.Auth.Tokens = append(c.Auth.Tokens, tok)
		}
	}, func() string { return "Bearer " + secrets["root"] })
	ctx := context.Background()
	base := "http://" + a.HTTPAddr() + "/prometheus"
	admin := promClient(t, base, "Bearer "+secrets["root"])

	// Saving the data source: build info, then a query of 1+1.
	bi, err := admin.Buildinfo(ctx)
	if err != nil || !strings.HasPrefix(bi.Version, "3.") {
		t.Errorf("buildinfo %+v %v, want a Prometheus 3 version", bi, err)
	}
	v, _, _, err := admin.Query(ctx, "1+1", time.Now())
	if s, ok := v.(*model.Scalar); err != nil || !ok || s.Value != 2 {
		t.Errorf("1+1: %v %v, want the scalar 2", v, err)
	}
	// The metric browser and pickers.
	names, _, _, err := admin.LabelNames(ctx, nil, time.Now().Add(-time.Hour), time.Now())
	if err != nil || fmt.Sprint(names) != "__name__, customer, device, sensor" {
		t.Errorf("labels %v %v", names, err)
	}
	metrics, _, _, err := admin.LabelValues(ctx, "__name__", nil, time.Time{}, time.Time{})
	if err != nil || fmt.Sprint(metrics) != "[lab_E lab_P lab_T lab__lost]" {
		t.Errorf("metric names %v %v, want the lab kind's fields and the messages lost", metrics, err)
	}
	devices, _, _, err := admin.LabelValues(ctx, "device", []string{`lab_T{customer="acme"}`}, time.Time{}, time.Time{})
	if err != nil || fmt.Sprint(devices) != "[d4 d5]" {
		t.Errorf("acme's devices %v %v, want [d4 d5]", devices, err)
	}
	sets, _, _, err := admin.Series(ctx, []string{`{__name__=~"lab_.*", device="d1"}`}, time.Time{}, time.Time{})
	if err != nil || len(sets) != 4 || sets[0]["customer"] != "finemeca" || sets[0]["sensor"] != "lab" {
		t.Errorf("d1's series %v %v, want 4 with its customer and kind", sets, err)
	}
	md, err := admin.Metadata(ctx, "", "")
	if err != nil || len(md["lab_E"]) != 1 || md["lab_E"][0].Type != promv1.MetricTypeCounter || md["lab_E"][0].Unit != "kWh" ||
		md["lab_T"][0].Type != promv1.MetricTypeGauge || md["lab_T"][0].Unit != "C" {
		t.Errorf("metadata %+v %v, want lab_E a counter in kWh, lab_T a gauge in C", md, err)
	}
	// d2 is silent from 100 to 120 minutes: at 118 minutes its last value
	// is 19 minutes old, past the 5 minutes of the default lookback, not
	// of a lookback_delta of 30 minutes.
	d2 := `lab_T{device="d2"}`
	if v, _, _, err := admin.Query(ctx, d2, labAt(118)); err != nil || len(v.(model.Vector)) != 0 {
		t.Errorf("%s at 118 minutes: %v %v, want nothing", d2, v, err)
	}
	if v, _, _, err := admin.Query(ctx, d2, labAt(118), promv1.WithLookbackDelta(30*time.Minute)); err != nil || len(v.(model.Vector)) != 1 {
		t.Errorf("%s at 118 minutes with a lookback of 30m: %v %v, want its last value", d2, v, err)
	}
	v, _, _, err = admin.QueryRange(ctx, `sum by (customer) (increase(lab_E[1h]))`, promv1.Range{Start: labAt(60), End: labAt(240), Step: time.Hour})
	if m, ok := v.(model.Matrix); err != nil || !ok || len(m) != 2 || len(m[0].Values) != 4 {
		t.Errorf("hourly increase per customer: %v %v, want 2 series of 4 points", v, err)
	}

	// The viewer of finemeca, by token or by password.
	for _, viewer := range []string{"Bearer " + secrets["alice"], "Basic " + basic("alice", "alice-password")} {
		c := promClient(t, base, viewer)
		for _, q := range []string{`lab_T{customer="acme"}`, `{__name__=~"lab_.+", device=~"d4|d5"}`, `lab_E{customer!="finemeca"}`} {
			if v, _, _, err := c.Query(ctx, q, labAt(290)); err != nil || len(v.(model.Vector)) != 0 {
				t.Errorf("viewer: %s: %v %v, want nothing", q, v, err)
			}
		}
		if v, _, _, err := c.Query(ctx, `count(lab_T)`, labAt(290)); err != nil || len(v.(model.Vector)) != 1 || v.(model.Vector)[0].Value != 3 {
			t.Errorf("viewer: count(lab_T): %v %v, want finemeca's 3", v, err)
		}
		if vals, _, _, err := c.LabelValues(ctx, "customer", nil, time.Time{}, time.Time{}); err != nil || fmt.Sprint(vals) != "[finemeca]" {
			t.Errorf("viewer: customers %v %v, want [finemeca]", vals, err)
		}
		if sets, _, _, err := c.Series(ctx, []string{`{customer="acme"}`}, time.Time{}, time.Time{}); err != nil || len(sets) != 0 {
			t.Errorf("viewer: acme's series %v %v, want none", sets, err)
		}
	}

	// A GET as a browser's address bar makes it; without credentials, or
	// with wrong ones, Prometheus' 401 rather than the login page.
	for _, c := range []struct {
		auth string
		code int
	}{{"Bearer " + secrets["root"], http.StatusOK}, {"", http.StatusUnauthorized}, {"Basic " + basic("alice", "wrong-password"), http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape("sum(lab_P)")+"&time=1741010000.5", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct{ Status string }
		if resp.StatusCode != c.code || json.Unmarshal(body, &env) != nil || (c.code == http.StatusOK) != (env.Status == "success") {
			t.Errorf("GET with %q: HTTP %d %s, want %d", c.auth, resp.StatusCode, body, c.code)
		}
	}
}

func basic(user, password string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
