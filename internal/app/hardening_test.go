package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestOpenServerRefusesOtherSites: a server without users, where everyone
// who reaches it is an admin, refuses what a page of another site in the
// same browser sends (a reading, an acknowledgement) and answers only to
// its own names, so that DNS rebinding cannot read the API.
func TestOpenServerRefusesOtherSites(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.PublicURL = "https://sensorhub.example.com" })
	c := newClient(t, a)
	reading := `{"Customer":"finemeca","idDevice":1,"Mod":"weath","Temp":1}`
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"a form of another site", "POST", "/api/v1/ingest?topic=finemeca/x", reading, []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403},
		{"a script of another site", "POST", "/api/v1/alerts/1/ack", `{}`, []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "application/json"}, 403},
		{"an old browser's cross-origin form", "POST", "/api/v1/rejected/replay", ``, []string{"Origin", "http://evil.example"}, 403},
		{"the same origin", "POST", "/api/v1/ingest?topic=finemeca/x", reading, []string{"Sec-Fetch-Site", "same-origin"}, 202},
		{"a device", "POST", "/api/v1/ingest?topic=finemeca/x", reading, nil, 202},
		{"a rebound name", "GET", "/api/v1/devices", "", []string{"Host", "attacker.example:8080"}, 421},
		{"localhost", "GET", "/api/v1/devices", "", []string{"Host", "localhost:8080"}, 200},
		{"[::1]", "GET", "/api/v1/devices", "", []string{"Host", "[::1]:8080"}, 200},
		{"public_url's host", "GET", "/api/v1/devices", "", []string{"Host", "sensorhub.example.com"}, 200},
		{"a probe by address", "GET", "/readyz", "", []string{"Host", "10.1.2.3:8080"}, 200},
	} {
		req, _ := http.NewRequest(tc.method, c.Base+tc.path, strings.NewReader(tc.body))
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			if tc.hdr[i] == "Host" {
				req.Host = tc.hdr[i+1]
			} else {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s: %d %s, want %d", tc.name, tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// TestSecurityHeaders: every answer carries a Content-Security-Policy
// without inline scripts that no framing passes, nosniff and a referrer
// policy; /assets/ lists no folder.
func TestSecurityHeaders(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	c := newClient(t, a)
	for _, path := range []string{"/", "/alerts", "/rejected", "/d/air", "/api/v1/devices", "/assets/app.css", "/healthz", "/api/v1/nope"} {
		resp, err := c.HTTP.Get(c.Base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	for _, path := range []string{"/assets/", "/assets/vendor/"} {
		code, body := c.Do("GET", path, "")
		if code != 404 || strings.Contains(body, "echarts") {
			t.Errorf("%s: %d %.200s, want 404 without a listing", path, code, body)
		}
	}
}

// TestAPIAnswers: a wrong method is 405 with Allow; alerts use the
// documented lower-case names; a step of ten years gives no bucket long
// before the range.
func TestAPIAnswers(t *testing.T) {
	fx := accessFixture(t, nil)
	root := newClient(t, fx.a)
	if root.Login("root", "root-password") != http.StatusSeeOther {
		t.Fatal("login")
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"POST", "/api/v1/devices", "GET"},
		{"DELETE", "/api/v1/alerts/1", "GET"},
		{"GET", "/api/v1/alerts/1/ack", "POST"},
	} {
		req, _ := http.NewRequest(tc.method, root.Base+tc.path, nil)
		req.Header.Set("X-CSRF-Token", root.CSRF)
		resp, err := root.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), tc.allow) {
			t.Errorf("%s %s: %d Allow %q, want 405 allowing %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
	}
	code, body := root.Do("GET", "/api/v1/alerts?state=all", "")
	if code != 200 || !strings.Contains(body, `"customer":"finemeca"`) || !strings.Contains(body, `"device":"201"`) || strings.Contains(body, `"Customer"`) {
		t.Errorf("alerts: %d %.300s, want lower-case names", code, body)
	}
	code, body = root.Do("GET", "/api/v1/series?device=201&field=Pres&agg=avg&step=87600h&from=2026-04-30T00:00:00Z&to=2026-05-02T00:00:00Z", "")
	if code != 200 || !strings.Contains(body, `"points":[[`) {
		t.Fatalf("ten-year step: %d %s", code, body)
	}
	var first int64
	fmt.Sscanf(body[strings.Index(body, `"points":[[`)+len(`"points":[[`):], "%d", &first)
	if from := time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC); time.UnixMilli(first).Before(from.Add(-24 * time.Hour)) {
		t.Errorf("ten-year step: first bucket at %s, long before %s", time.UnixMilli(first).UTC(), from)
	}
	code, body = root.Do("GET", "/api/v1/series?device=201&field=Pres&step=25h", "")
	if code != 400 || !strings.Contains(body, "whole number of days") {
		t.Errorf("step 25h: %d %s", code, body)
	}
}

// TestLoginLimitBehindProxy: behind a trusted proxy the limit keys on the
// address the proxy saw, not on what the client writes before it.
func TestLoginLimitBehindProxy(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) { c.HTTP.TrustProxyHeaders = true; c.Auth.LoginsPerMinute = 5 })
	c := newClient(t, fx.a)
	checked := 0
	for i := range 30 {
		form := url.Values{"username": {"root"}, "password": {"guess"}}
		code, _ := c.Do("POST", "/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
			"X-Forwarded-For", fmt.Sprintf("10.9.%d.%d, 203.0.113.7", i/200, i%200))
		if code == http.StatusUnauthorized {
			checked++
		}
	}
	if checked != 5 {
		t.Errorf("%d of 30 wrong passwords checked from one address behind the proxy, want 5", checked)
	}
}

// TestStreamsEndWithTheirAccess: a live stream ends within seconds of its
// token's revocation, and of its session's logout.
func TestStreamsEndWithTheirAccess(t *testing.T) {
	fx := accessFixture(t, nil)
	secret, f := fx.addToken(t, "root", "", "wall display")
	display := newClient(t, fx.a)
	display.Token = secret
	olga := newClient(t, fx.a)
	if olga.Login("olga", "olga-password") != http.StatusSeeOther {
		t.Fatal("login")
	}
	open := func(c *client) (*bufio.Reader, func()) {
		var resp *http.Response
		testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
			req, _ := http.NewRequestWithContext(context.Background(), "GET", c.Base+"/api/v1/stream", nil)
			if c.Token != "" {
				req.Header.Set("Authorization", "Bearer "+c.Token)
			}
			r, err := (&http.Client{Jar: c.HTTP.Jar}).Do(req)
			if err != nil {
				return err
			}
			if r.StatusCode != 200 {
				r.Body.Close()
				return fmt.Errorf("stream: %d", r.StatusCode)
			}
			resp = r
			return nil
		})
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	ends := func(name string, rd *bufio.Reader) {
		done := make(chan string, 1)
		go func() {
			var last string
			for {
				line, err := rd.ReadString('\n')
				if strings.HasPrefix(line, "event: ") {
					last = line
				}
				if err != nil {
					done <- last
					return
				}
			}
		}()
		select {
		case last := <-done:
			if !strings.Contains(last, "ended") {
				t.Errorf("%s: the stream closed after %q, want an ended event", name, last)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the stream still runs 5 s later", name)
		}
	}
	rd, closeDisplay := open(display)
	defer closeDisplay()
	f.Tokens = nil
	if err := f.Save(fx.usersFile); err != nil {
		t.Fatal(err)
	}
	ends("revoked token", rd)

	rd, closeOlga := open(olga)
	defer closeOlga()
	if code, _ := olga.Post("/logout", ""); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	ends("logout", rd)
}

// TestLeaksWithOverflowingValues: pressures whose leak figures overflow
// give figures JSON carries and say how many leaks could not be
// estimated, never an empty answer.
func TestLeaksWithOverflowingValues(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	var lines []string
	for i, p := range []string{"1.7e308", "-1.7e308", "6.5", "-1.7e308", "6.5"} {
		lines = append(lines, fmt.Sprintf(`{"Customer":"finemeca","idDevice":210,"Mod":"air","Time":"2026-05-01 10:0%d:00","msgCount":%d,"Pres":%s,"OpenPres":6}`, i, i+1, p))
	}
	if code := postIngest(t, a, "finemeca/air/210", strings.Join(lines, "\n")); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	c := newClient(t, a)
	var code int
	var body string
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		code, body = c.Do("GET", "/api/v1/leaks?device=210&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z", "")
		if code != 200 || !strings.Contains(body, `"leaks":2`) {
			return fmt.Errorf("leaks: %d %s", code, body)
		}
		return nil
	})
	if !strings.Contains(body, `"unmeasured":2`) || !strings.Contains(body, `"lost_nm3":null`) || !strings.Contains(body, `"reason":"pressures so far out of range`) {
		t.Errorf("leaks: %s, want both overflowing leaks not measurable, with the reason", body)
	}
}

// TestStreamsPerAddressWithoutUsers: without users every client is the
// same principal: the live-stream limit counts per client address, so
// that one client cannot take every stream.
func TestStreamsPerAddressWithoutUsers(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.HTTP.MaxStreamsPerUser = 2 })
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	open := func(local string) int {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a.HTTPAddr()+"/api/v1/stream", nil)
		resp, err := clientFrom(local).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	for i := range 2 {
		if code := open("127.0.0.1"); code != 200 {
			t.Fatalf("stream %d: %d", i+1, code)
		}
	}
	if code := open("127.0.0.1"); code != http.StatusTooManyRequests {
		t.Errorf("third stream of one address: %d, want 429", code)
	}
	if code := open("127.0.0.2"); code != 200 {
		t.Errorf("another address: %d, want its own streams", code)
	}
}

// clientFrom is an HTTP client whose connections leave from the loopback
// address local (any of 127.0.0.0/8).
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestReplayKeepsTheSendersBinding: a message sent with acme's ingest
// token, rejected before its customer was looked at (its topic over
// ingest.max_topic), stays acme's: once the limit is raised and it is
// replayed, naming finemeca gets it refused again, never stored as
// finemeca's.
func TestReplayKeepsTheSendersBinding(t *testing.T) {
	dir := t.TempDir()
	fx := accessFixture(t, func(c *config.Config) { c.DataDir, c.Ingest.MaxTopic = dir, 16 })
	secret, _ := fx.addToken(t, "", "acme", "acme gateway")
	gw := newClient(t, fx.a)
	gw.Token = secret
	body := `{"Customer":"finemeca","idDevice":777,"Mod":"air","Time":"2026-05-01 12:00:00","msgCount":1,"Pres":6.1,"OpenPres":6}`
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code, resp := gw.Do("POST", "/api/v1/ingest?topic=finemeca/air/a-long-topic", body); code != 202 {
			return fmt.Errorf("ingest with acme's token: %d %s", code, resp)
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		list, err := fx.a.Store.Rejected(context.Background(), store.RejectedFilter{Reason: "topic too long"})
		if err != nil || len(list) != 1 || list[0].Customer != "acme" || list[0].Binding != "acme" {
			return fmt.Errorf("rejected %+v (%v), want it kept as acme's", list, err)
		}
		return nil
	})
	if err := fx.a.Close(); err != nil {
		t.Fatal(err)
	}
	again := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.DataDir, c.Customers, c.Auth.UsersFile = dir, []string{"finemeca", "acme"}, fx.usersFile
	})
	root := newClient(t, again)
	if root.Login("root", "root-password") != http.StatusSeeOther {
		t.Fatal("login")
	}
	if code, resp := root.Post("/api/v1/rejected/replay", ""); code != http.StatusAccepted {
		t.Fatalf("replay: %d %s", code, resp)
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		list, err := again.Store.Rejected(context.Background(), store.RejectedFilter{})
		if err != nil || len(list) != 3 {
			return fmt.Errorf("rejected %+v (%v)", list, err)
		}
		for _, r := range list {
			if strings.Contains(r.Topic, "a-long-topic") && strings.Contains(r.Reason, `customer "finemeca" refused: this sender may only send for "acme"`) {
				return nil
			}
		}
		return fmt.Errorf("the replayed message: %+v, want refused as acme's", list)
	})
	if _, err := again.Store.Latest(context.Background(), store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: "777"}); err == nil {
		t.Error("acme's message became a finemeca reading on replay")
	}
}

// addToken adds an API token to the users file (of user, or an ingest
// token of customer) and returns its secret and the file as saved.
func (fx *fixture) addToken(t *testing.T, user, customer, note string) (string, *auth.File) {
	t.Helper()
	f, err := auth.LoadFile(fx.usersFile)
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.NewToken(user, customer, note, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.Tokens = append(f.Tokens, tok)
	if err := f.Save(fx.usersFile); err != nil {
		t.Fatal(err)
	}
	return secret, f
}
