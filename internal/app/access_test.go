package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// client is a browser-like client of one sensorhub.
type client = testenv.WebClient

func newClient(t *testing.T, a *app.App) *client {
	return testenv.NewWebClient(t, "http://"+a.HTTPAddr())
}

type fixture struct {
	a          *app.App
	usersFile  string
	acmeAlert  int64
	finemecaID int64
}

// accessFixture starts sensorhub with two customers, a users file with a
// viewer of finemeca, an operator and an admin, and data of both
// customers: readings, rejected messages and alerts.
func accessFixture(t *testing.T, mutate func(*config.Config)) *fixture {
	usersFile := filepath.Join(t.TempDir(), "users.yaml")
	f := &auth.File{}
	for _, u := range []struct{ name, role, customer string }{
		{"alice", auth.RoleViewer, "finemeca"}, {"olga", auth.RoleOperator, ""}, {"root", auth.RoleAdmin, ""},
	} {
		hash, _ := auth.HashPassword(u.name + "-password")
		usr := auth.User{Username: u.name, PasswordHash: hash, Role: u.role}
		if u.customer != "" {
			usr.Customers = []string{u.customer}
		}
		f.Users = append(f.Users, usr)
	}
	if err := f.Save(usersFile); err != nil {
		t.Fatal(err)
	}
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.Customers = []string{"finemeca", "acme"}
		c.Auth.UsersFile = usersFile
		noSilence(c)
		if mutate != nil {
			mutate(c)
		}
	})
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	for i, k := range []store.DeviceKey{{Customer: "finemeca", Sensor: "air", Device: "201"}, {Customer: "acme", Sensor: "air", Device: "901"}} {
		for j := range 3 {
			rs = append(rs, reading.Reading{Customer: k.Customer, Sensor: k.Sensor, Device: k.Device, Time: base.Add(time.Duration(j) * time.Minute),
				Received: base, MsgCount: int64(j + 1), Fields: map[string]float64{"Pres": 5.5 + float64(i), "OpenPres": 6}})
		}
	}
	rejected := []reading.Rejected{
		{Topic: "finemeca/air/201", Payload: []byte(`{"Customer":"finemeca","bad":1}`), Reason: "missing device identity", Received: base, Source: "mqtt", Customer: "finemeca"},
		{Topic: "acme/air/901", Payload: []byte(`{"Customer":"acme","secret-of-acme":1}`), Reason: "missing device identity", Received: base, Source: "mqtt", Customer: "acme"},
	}
	if _, err := a.Store.Write(ctx, store.Batch{Readings: rs, Rejected: rejected}); err != nil {
		t.Fatal(err)
	}
	fx := &fixture{a: a, usersFile: usersFile}
	for _, k := range []store.DeviceKey{{Customer: "finemeca", Sensor: "air", Device: "201"}, {Customer: "acme", Sensor: "air", Device: "901"}} {
		ch := []store.AlertChange{{State: store.AlertState{AlertKey: store.AlertKey{Rule: "air-leak", DeviceKey: k}, Machine: json.RawMessage(`{}`)},
			Open: &store.Alert{Severity: "critical", Started: base, Message: "Air leak on " + k.Device}}}
		if err := a.Store.SaveAlerts(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if k.Customer == "acme" {
			fx.acmeAlert = ch[0].State.AlertID
		} else {
			fx.finemecaID = ch[0].State.AlertID
		}
	}
	return fx
}

// login is a client logged in as user, whose password is user-password.
func (fx *fixture) login(t *testing.T, user string) *client {
	t.Helper()
	c := newClient(t, fx.a)
	if code := c.Login(user, user+"-password"); code != http.StatusSeeOther {
		t.Fatalf("login of %s: HTTP %d", user, code)
	}
	return c
}

// TestViewerSeesOnlyItsCustomer: a viewer of finemeca tries every
// endpoint and page for acme's data, with crafted parameters and the live
// stream: all refused or empty. The admin gets all of it.
func TestViewerSeesOnlyItsCustomer(t *testing.T) {
	fx := accessFixture(t, nil)
	alice, root := newClient(t, fx.a), newClient(t, fx.a)
	if alice.Login("alice", "alice-password") != http.StatusSeeOther || root.Login("root", "root-password") != http.StatusSeeOther {
		t.Fatal("login failed")
	}
	acme := fmt.Sprint(fx.acmeAlert)
	for _, tc := range []struct {
		method, path string
		// viewer: the status alice gets, and text her answer must not hold.
		viewer int
		hidden string
		// admin: the status root gets, and text his answer holds.
		admin int
		shown string
	}{
		{"GET", "/api/v1/devices", 200, `"901"`, 200, `"901"`},
		{"GET", "/api/v1/devices?customer=acme", 404, `"901"`, 200, `"901"`},
		{"GET", "/api/v1/latest?device=901", 404, "6.5", 200, "6.5"},
		{"GET", "/api/v1/latest?device=901&customer=acme&sensor=air", 404, "6.5", 200, "6.5"},
		{"GET", "/api/v1/series?device=901&customer=acme&field=Pres&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z", 404, "6.5", 200, "6.5"},
		{"GET", "/api/v1/leaks?device=901&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z", 404, "days", 200, "days"},
		{"GET", "/api/v1/alerts?state=all", 200, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/api/v1/alerts?state=all&customer=acme&device=901", 404, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/api/v1/alerts/" + acme, 404, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/api/v1/rejected", 200, "secret-of-acme", 200, "secret-of-acme"},
		{"GET", "/api/v1/rejected?customer=acme", 404, "secret-of-acme", 200, "secret-of-acme"},
		{"GET", "/api/v1/stream?customer=acme", 404, "connected", 0, ""},
		{"GET", "/", 200, "901", 200, "901"},
		{"GET", "/d/air?device=901", 404, `"device":"901"`, 200, `"device":"901"`},
		{"GET", "/d/air?device=901&customer=acme", 404, `"device":"901"`, 200, `"device":"901"`},
		{"GET", "/live/air/901", 404, `"device":"901"`, 200, `"device":"901"`},
		{"GET", "/live/air/901?customer=acme", 404, `"device":"901"`, 200, `"device":"901"`},
		{"GET", "/alerts?state=all", 200, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/alerts?state=all&customer=acme", 404, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/alerts?state=all&id=" + acme, 404, "Air leak on 901", 200, "Air leak on 901"},
		{"GET", "/rejected", 200, "secret-of-acme", 200, "secret-of-acme"},
	} {
		code, body := alice.Do(tc.method, tc.path, "")
		if code != tc.viewer || strings.Contains(body, tc.hidden) {
			t.Errorf("viewer %s %s: %d, want %d without %q:\n%.300s", tc.method, tc.path, code, tc.viewer, tc.hidden, body)
		}
		if tc.admin == 0 {
			continue // a stream: the admin's is tried below
		}
		code, body = root.Do(tc.method, tc.path, "")
		if code != tc.admin || !strings.Contains(body, tc.shown) {
			t.Errorf("admin %s %s: %d, want %d with %q:\n%.300s", tc.method, tc.path, code, tc.admin, tc.shown, body)
		}
	}
	// Her own customer's data she sees.
	if code, body := alice.Do("GET", "/api/v1/latest?device=201", ""); code != 200 || !strings.Contains(body, "5.5") {
		t.Errorf("viewer's own device: %d %s", code, body)
	}
	// Changes: acme's alert does not exist for her; her own she may not
	// acknowledge; she may neither replay nor send.
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/alerts/" + acme + "/ack", `{"comment":"x"}`, 404},
		{"/api/v1/alerts/" + fmt.Sprint(fx.finemecaID) + "/ack", `{"comment":"x"}`, 403},
		{"/api/v1/rejected/replay?customer=acme", "", 403},
		{"/api/v1/replay?from=2026-05-01T00:00:00Z", "", 403},
		{"/api/v1/ingest?topic=acme/air/901", `{"Customer":"acme","idDevice":901}`, 403},
	} {
		if code, body := alice.Post(tc.path, tc.body); code != tc.want {
			t.Errorf("viewer POST %s: %d, want %d: %s", tc.path, code, tc.want, body)
		}
	}
	if code, body := root.Post("/api/v1/alerts/"+acme+"/ack", `{"comment":"seen"}`); code != 200 || !strings.Contains(body, `"acked_by":"root"`) {
		t.Errorf("admin ack: %d %s", code, body)
	}

	// The live stream: alice, asking for acme's device, gets nothing of
	// it; finemeca's readings reach her.
	aliceAcme := liveReadings(t, alice.HTTP, alice.Base+"/api/v1/stream?sensor=air&device=901")
	aliceAll := liveReadings(t, alice.HTTP, alice.Base+"/api/v1/stream")
	rootAcme := liveReadings(t, root.HTTP, root.Base+"/api/v1/stream?customer=acme")
	publish := func(customer, device string, n int) {
		r := reading.Reading{Customer: customer, Sensor: "air", Device: device, Time: time.Now(), MsgCount: int64(100 + n),
			Fields: map[string]float64{"Pres": 7}}
		data, _ := json.Marshal(r)
		if err := fx.a.Queue.Publish(context.Background(), queue.Message{Stream: queue.Readings, Subject: r.Subject(), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	// The tail starts asynchronously: publish until the admin sees acme's.
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		publish("acme", "901", 1)
		select {
		case <-rootAcme:
			return nil
		default:
			return fmt.Errorf("the admin's stream got nothing yet")
		}
	})
	publish("finemeca", "201", 2)
	select {
	case d := <-aliceAll:
		if !strings.Contains(d, `"customer":"finemeca"`) {
			t.Errorf("viewer's stream: %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Error("the viewer's stream did not get her customer's reading")
	}
	for _, ch := range []<-chan string{aliceAcme, aliceAll} {
		for len(ch) > 0 {
			if d := <-ch; strings.Contains(d, "acme") {
				t.Errorf("viewer's stream carried acme's reading: %s", d)
			}
		}
	}
}

// TestCSRFSessionsAndLogins: a state-changing request of a session without
// its CSRF token is refused; a session ends after its idle time; the
// login attempts of one address are limited; no login, no data.
func TestCSRFSessionsAndLogins(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) {
		c.Auth.SessionIdle = 3 * time.Second
		c.Auth.LoginsPerMinute = 5
	})
	anon := newClient(t, fx.a)
	if code, _ := anon.Do("GET", "/api/v1/devices", ""); code != 401 {
		t.Errorf("API without login: %d, want 401", code)
	}
	if code, _ := anon.Do("GET", "/alerts", ""); code != http.StatusSeeOther {
		t.Errorf("page without login: %d, want a redirect to /login", code)
	}
	if code, _ := anon.Do("GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}

	olga := newClient(t, fx.a)
	if olga.Login("olga", "olga-password") != http.StatusSeeOther {
		t.Fatal("operator login")
	}
	ack := "/api/v1/alerts/" + fmt.Sprint(fx.finemecaID) + "/ack"
	if code, body := olga.Do("POST", ack, `{"comment":"x"}`, "Content-Type", "application/json"); code != 403 || !strings.Contains(body, "CSRF") {
		t.Errorf("ack without the CSRF token: %d %s, want 403", code, body)
	}
	if code, body := olga.Do("POST", ack, `{"comment":"x"}`, "Content-Type", "application/json", "X-CSRF-Token", "forged"); code != 403 {
		t.Errorf("ack with a wrong CSRF token: %d %s, want 403", code, body)
	}
	if code, body := olga.Do("POST", "/logout", ""); code != 403 {
		t.Errorf("logout without the CSRF token: %d %s, want 403", code, body)
	}
	if code, body := olga.Post(ack, `{"comment":"on it"}`); code != 200 || !strings.Contains(body, `"acked_by":"olga"`) {
		t.Errorf("ack with the CSRF token: %d %s", code, body)
	}
	if code, _ := olga.Post("/logout", ""); code != http.StatusSeeOther {
		t.Errorf("logout: %d", code)
	}
	if code, _ := olga.Do("GET", "/api/v1/devices", ""); code != 401 {
		t.Errorf("after logout: %d, want 401", code)
	}
	if olga.Login("olga", "olga-password") != http.StatusSeeOther {
		t.Fatal("operator login again")
	}
	// Idle past session_idle: the session is over.
	time.Sleep(3500 * time.Millisecond)
	if code, _ := olga.Do("GET", "/api/v1/devices", ""); code != 401 {
		t.Errorf("after the idle time: %d, want 401", code)
	}

	// Five attempts a minute from one address (two were olga's): the
	// sixth is refused even with the right password.
	mallory := newClient(t, fx.a)
	for i := range 3 {
		if code := mallory.Login("root", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, code)
		}
	}
	if code := mallory.Login("root", "root-password"); code != http.StatusTooManyRequests {
		t.Errorf("sixth attempt in a minute: %d, want 429", code)
	}
	// X-Forwarded-For is not trusted unless configured: it does not get
	// around the limit.
	form := url.Values{"username": {"root"}, "password": {"root-password"}}
	if code, _ := mallory.Do("POST", "/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-For", "10.0.0.9"); code != http.StatusTooManyRequests {
		t.Errorf("with a forged X-Forwarded-For: %d, want 429", code)
	}
}

// TestTokens: an API token acts as its user until revoked in the users
// file; an ingest token sends for its customer only, and a payload naming
// another is rejected and kept with the reason.
func TestTokens(t *testing.T) {
	fx := accessFixture(t, nil)
	f, err := auth.LoadFile(fx.usersFile)
	if err != nil {
		t.Fatal(err)
	}
	viewerSecret, viewerTok, _ := auth.NewToken("alice", "", "dashboard script", time.Now())
	ingestSecret, ingestTok, _ := auth.NewToken("", "finemeca", "line 3 gateway", time.Now())
	f.Tokens = append(f.Tokens, viewerTok, ingestTok)
	if err := f.Save(fx.usersFile); err != nil {
		t.Fatal(err)
	}
	script := newClient(t, fx.a)
	script.Token = viewerSecret
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		code, body := script.Do("GET", "/api/v1/devices", "")
		if code != 200 || !strings.Contains(body, `"201"`) || strings.Contains(body, `"901"`) {
			return fmt.Errorf("viewer token: %d %s", code, body)
		}
		return nil
	})
	// A token needs no CSRF token: it is not a cookie a browser sends by
	// itself. This one is a viewer's: it may not acknowledge.
	if code, _ := script.Do("POST", "/api/v1/alerts/"+fmt.Sprint(fx.finemecaID)+"/ack", `{"comment":"x"}`); code != 403 {
		t.Errorf("viewer token acknowledging: %d, want 403", code)
	}

	gw := newClient(t, fx.a)
	gw.Token = ingestSecret
	body := `{"Customer":"finemeca","idGateway":1,"idDevice":202,"Time":"2026-05-01 12:00:00","msgCount":1,"Mod":"air","Pres":6.1,"OpenPres":6}
{"Customer":"acme","idGateway":1,"idDevice":903,"Time":"2026-05-01 12:00:00","msgCount":1,"Mod":"air","Pres":6.1,"OpenPres":6}`
	if code, resp := gw.Do("POST", "/api/v1/ingest?topic=finemeca/air", body); code != 202 && code != 200 {
		t.Fatalf("ingest token: %d %s", code, resp)
	}
	if code, _ := gw.Do("GET", "/api/v1/devices", ""); code != 403 {
		t.Errorf("ingest token reading devices: %d, want 403", code)
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := fx.a.Store.Latest(context.Background(), store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: "202"}); err != nil {
			return fmt.Errorf("finemeca's message: %v", err)
		}
		list, err := fx.a.Store.Rejected(context.Background(), store.RejectedFilter{Customer: "finemeca", Reason: "refused"})
		if err != nil || len(list) != 1 || !strings.Contains(list[0].Reason, `customer "acme" refused: this sender may only send for "finemeca"`) {
			return fmt.Errorf("acme's message rejected as %+v (%v)", list, err)
		}
		return nil
	})
	if _, err := fx.a.Store.Latest(context.Background(), store.DeviceKey{Customer: "acme", Sensor: "air", Device: "903"}); err == nil {
		t.Error("the ingest token of finemeca stored a reading of acme")
	}

	// Revoked in the file: refused within seconds, without a restart.
	f.Tokens = f.Tokens[1:]
	if err := f.Save(fx.usersFile); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code, _ := script.Do("GET", "/api/v1/devices", ""); code != 401 {
			return fmt.Errorf("revoked token: %d, want 401", code)
		}
		return nil
	})
	if code, _ := gw.Do("POST", "/api/v1/ingest?topic=finemeca/air", `{"Customer":"finemeca"}`); code == 401 || code == 403 {
		t.Errorf("the other token was revoked too: %d", code)
	}
}

// TestHTTPS: with http.tls the web server speaks HTTPS only, and its
// session cookie is HTTPS-only, HttpOnly and SameSite.
func TestHTTPS(t *testing.T) {
	ca, cert, key := testenv.WriteCerts(t, t.TempDir())
	fx := accessFixture(t, func(c *config.Config) { c.HTTP.TLS = config.HTTPTLS{CertFile: cert, KeyFile: key} })
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + fx.a.HTTPAddr()
	if resp, err := http.Get("http://" + fx.a.HTTPAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered with TLS configured")
		}
	}
	resp, err := hc.PostForm(base+"/login", url.Values{"username": {"root"}, "password": {"root-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(cookie, "Secure") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Errorf("login over HTTPS: %d, cookie %q", resp.StatusCode, cookie)
	}
}

// TestLoginInBrowser: in headless Chromium, a page asks for a login; the
// login form leads back to it; the alerts page's Acknowledge button works
// with the session's CSRF token and records who is logged in; logging out
// leads to the login page again.
func TestLoginInBrowser(t *testing.T) {
	fx := accessFixture(t, nil)
	ctx := startBrowser(t)
	base := "http://" + fx.a.HTTPAddr()
	if err := browser.Navigate(ctx, base+"/alerts?state=firing"); err != nil {
		t.Fatal(err)
	}
	if path := eval[string](t, ctx, `location.pathname + location.search`); !strings.HasPrefix(path, "/login?next=") {
		t.Fatalf("a page without login: at %s, want the login page", path)
	}
	eval[bool](t, ctx, `(() => { const f = document.querySelector("form"); f.username.value = "olga"; f.password.value = "olga-password"; f.submit(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		// Loaded, with its scripts: the Acknowledge button's handler is set.
		got, err := browser.Eval[string](ctx, `document.readyState + " " + location.pathname + " " + (document.querySelector(".user")?.textContent ?? "")`)
		if err != nil || got != "complete /alerts olga" {
			return fmt.Errorf("after login: %q %v", got, err)
		}
		return nil
	})
	eval[bool](t, ctx, `(() => { const f = document.querySelector("tr[data-alert='`+fmt.Sprint(fx.finemecaID)+`'] form.ack"); if (f.by) throw new Error("a logged-in user is asked a name"); if (!f.textContent.includes("olga")) throw new Error("the form does not say who acknowledges: " + f.textContent); f.comment.value = "valve closed"; f.querySelector("button").click(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		a, err := fx.a.Store.Alert(context.Background(), fx.finemecaID)
		if err != nil || a.AckedBy != "olga" || a.AckComment != "valve closed" {
			return fmt.Errorf("alert after the button: %+v %v", a, err)
		}
		return nil
	})
	// The page reloads after the acknowledgement: log out from the new one.
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `document.readyState + " " + document.querySelector("tr[data-alert='`+fmt.Sprint(fx.finemecaID)+`']").innerText`)
		// The comment shows once the page reloaded: the form before it
		// already says "as olga".
		if err != nil || !strings.HasPrefix(got, "complete ") || !strings.Contains(got, "valve closed") {
			return fmt.Errorf("the page after the acknowledgement: %q %v", got, err)
		}
		return nil
	})
	eval[bool](t, ctx, `(() => { document.querySelector("form.logout button").click(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `location.pathname`)
		if err != nil || got != "/login" {
			return fmt.Errorf("after logout: %q %v", got, err)
		}
		return nil
	})
}

// TestStreamsPerUser: one user has at most http.max_streams_per_user live
// streams open; the next is refused with 429 until one closes.
func TestStreamsPerUser(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) { c.HTTP.MaxStreamsPerUser = 2 })
	root := newClient(t, fx.a)
	if root.Login("root", "root-password") != http.StatusSeeOther {
		t.Fatal("login")
	}
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", root.Base+"/api/v1/stream", nil)
		resp, err := root.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range 2 {
		resp, cancel := open()
		cancels = append(cancels, cancel)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, cancel := open()
	body, _ := io.ReadAll(resp.Body)
	cancel()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "max_streams_per_user") {
		t.Fatalf("third stream: %d %s", resp.StatusCode, body)
	}
	cancels[0]()
	testenv.Eventually(t, 5*time.Second, 50*time.Millisecond, func() error {
		resp, cancel := open()
		cancels = append(cancels, cancel)
		if resp.StatusCode != 200 {
			return fmt.Errorf("after closing one: %d", resp.StatusCode)
		}
		return nil
	})
}

// TestSessionsSurviveRestart: sessions are kept in the store (SQLite or
// PostgreSQL), so a restart of the web server logs nobody out (and web
// processes on one store share them).
func TestSessionsSurviveRestart(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			pg := ""
			if engine == "postgres" {
				pg = testenv.PostgresSchema(t)
			}
			same := func(c *config.Config) {
				c.DataDir = dir
				if pg != "" {
					c.Store.Engine, c.Store.URL = "postgres", pg
				}
			}
			fx := accessFixture(t, same)
			c := newClient(t, fx.a)
			if c.Login("olga", "olga-password") != http.StatusSeeOther {
				t.Fatal("login")
			}
			if err := fx.a.Close(); err != nil {
				t.Fatal(err)
			}
			again := start(t, "embedded", app.Options{}, func(cfg *config.Config) {
				same(cfg)
				cfg.Customers = []string{"finemeca", "acme"}
				cfg.Auth.UsersFile = fx.usersFile
			})
			c.Base = "http://" + again.HTTPAddr()
			if code, body := c.Do("GET", "/api/v1/devices", ""); code != 200 || !strings.Contains(body, `"201"`) {
				t.Fatalf("the session after a restart: %d %s", code, body)
			}
			if code, _ := c.Post("/api/v1/alerts/"+fmt.Sprint(fx.finemecaID)+"/ack", `{"comment":"x"}`); code != 200 {
				t.Errorf("ack with the session's CSRF token after the restart: %d", code)
			}
		})
	}
}
