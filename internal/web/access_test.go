package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// site is a web server with users, on a real SQLite store holding one
// device, rejected message and firing alert for each of two customers.
type site struct {
	srv        *httptest.Server
	st         *sqlstore.Store
	logs       *testenv.SyncBuffer
	fineAlert  int64
	acmeAlert  int64
	tokens     map[string]string // secrets: "admin", "viewer", "ingest"
	ingestedBy []string          // the customer each ingest request was bound to
	mu         sync.Mutex
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, nil, nil)
}

// newSiteWith is newSite with edit's changes to its configuration (nil:
// none), on clock now (nil: time.Now).
func newSiteWith(t *testing.T, edit func(*config.Config), now func() time.Time) *site {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	s := &site{st: st, logs: &testenv.SyncBuffer{}, tokens: map[string]string{}}

	users := &auth.File{}
	for _, u := range []struct{ name, role, customer string }{{"root", auth.RoleAdmin, ""}, {"op", auth.RoleOperator, ""}, {"alice", auth.RoleViewer, "finemeca"}, {"acme-op", auth.RoleOperator, "acme"}} {
		h, _ := bcrypt.GenerateFromPassword([]byte(u.name+"-password"), bcrypt.MinCost)
		user := auth.User{Username: u.name, PasswordHash: string(h), Role: u.role}
		if u.customer != "" {
			user.Customers = []string{u.customer}
		}
		users.Users = append(users.Users, user)
	}
	for name, tok := range map[string][2]string{"admin": {"root", ""}, "viewer": {"alice", ""}, "ingest": {"", "finemeca"}} {
		secret, t2, err := auth.NewToken(tok[0], tok[1], name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[name] = secret
		users.Tokens = append(users.Tokens, t2)
	}
	path := filepath.Join(dir, "users.yaml")
	if err := users.Save(path); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(s.logs, nil))
	d, err := auth.NewDirectory(nil, path, cfg.Customers, log)
	if err != nil {
		t.Fatal(err)
	}
	sessions := NewSessions(time.Hour, time.Hour, false)
	ss := sqlite3store.New(st.DB())
	t.Cleanup(ss.StopCleanup)
	sessions.Store = ss

	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	keys := []store.DeviceKey{{Customer: "finemeca", Sensor: "air", Device: "201"}, {Customer: "acme", Sensor: "air", Device: "901"}}
	for _, k := range keys {
		for j := range 3 {
			rs = append(rs, reading.Reading{Customer: k.Customer, Sensor: k.Sensor, Device: k.Device, Name: "line-" + k.Device,
				Time: base.Add(time.Duration(j) * time.Minute), Received: base, MsgCount: int64(j + 1),
				Fields: map[string]float64{"Pres": 5.5, "OpenPres": 6, "leak": 1}})
		}
	}
	rejected := []reading.Rejected{
		{Topic: "finemeca/air/201", Payload: []byte(`{"bad":1}`), Reason: "missing device identity", Received: base, Source: "mqtt", Customer: "finemeca"},
		{Topic: "acme/air/901", Payload: []byte(`{"secret-of-acme":1}`), Reason: "missing device identity", Received: base, Source: "mqtt", Customer: "acme"},
	}
	if _, err := st.Write(ctx, store.Batch{Readings: rs, Rejected: rejected}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ch := []store.AlertChange{{State: store.AlertState{AlertKey: store.AlertKey{Rule: "air-leak", DeviceKey: k}, Machine: json.RawMessage(`{}`)},
			Open: &store.Alert{Name: "line-" + k.Device, Severity: "critical", Started: base, Message: "Air leak on " + k.Device}}}
		if err := st.SaveAlerts(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if k.Customer == "acme" {
			s.acmeAlert = ch[0].State.AlertID
		} else {
			s.fineAlert = ch[0].State.AlertID
		}
	}

	cat := &catalog.Catalog{Base: catalog.Base{Config: cfg}, Store: st, Log: log}
	p, err := cat.Load(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	server := &Server{Store: st, Location: time.UTC, Plan: plan.NewLive(p), Log: log, Registry: prometheus.NewRegistry(),
		Access: &Access{Dir: d, Sessions: sessions, Logins: &auth.AddressLimits{PerMinute: 100}, Log: log},
		Ingest: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := gateway.BoundCustomer(r.Context())
			s.mu.Lock()
			s.ingestedBy = append(s.ingestedBy, c)
			s.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}),
		Replay:    func(ctx context.Context, f store.RejectedFilter) (int, error) { return 0, nil },
		Profiling: true,
		Catalog:   cat,
		Now:       now,
	}
	s.srv = httptest.NewServer(server.Handler())
	t.Cleanup(s.srv.Close)
	return s
}

type client = testenv.WebClient

func (s *site) anonymous(t *testing.T) *client { return testenv.NewWebClient(t, s.srv.URL) }

func (s *site) withToken(t *testing.T, name string) *client {
	c := s.anonymous(t)
	c.Token = s.tokens[name]
	return c
}

// login logs in as user, whose password is user-password.
func (s *site) login(t *testing.T, user string) *client {
	t.Helper()
	c := s.anonymous(t)
	if code := c.Login(user, user+"-password"); code != http.StatusSeeOther {
		t.Fatalf("login of %s: HTTP %d", user, code)
	}
	return c
}

// send sends a request with the client's CSRF token; a body that starts
// with "{" is JSON, another a form.
func send(c *client, method, path, body string) (int, string) {
	c.T.Helper()
	ct := "application/x-www-form-urlencoded"
	if strings.HasPrefix(body, "{") {
		ct = "application/json"
	}
	return c.Do(method, path, body, "Content-Type", ct, "X-CSRF-Token", c.CSRF)
}

// TestEveryRouteForEveryone: each route's status for someone not logged
// in, a viewer of finemeca (by session and by token), an operator, an
// admin's token and an ingest token; a viewer never sees acme's device,
// message or alert.
// acmeDevice901 finds acme's device 901 in a body, not the digits 901 inside
// another number (a time's nanoseconds).
var acmeDevice901 = regexp.MustCompile(`(^|[^0-9])901([^0-9]|$)`)

func TestEveryRouteForEveryone(t *testing.T) {
	s := newSite(t)
	fine, acme := strconv.FormatInt(s.fineAlert, 10), strconv.FormatInt(s.acmeAlert, 10)
	who := map[string]*client{
		"anonymous": s.anonymous(t), "viewer": s.login(t, "alice"), "operator": s.login(t, "op"),
		"viewer-token": s.withToken(t, "viewer"), "admin-token": s.withToken(t, "admin"), "ingest-token": s.withToken(t, "ingest"),
	}
	const from = "&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z"
	type want map[string]int // by client; "*" for the others
	routes := []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/healthz", "", want{"*": 200}},
		{"GET", "/readyz", "", want{"*": 200}},
		{"GET", "/metrics", "", want{"*": 200}},
		{"GET", "/assets/app.css", "", want{"*": 200}},
		{"GET", "/login", "", want{"*": 200}},
		{"GET", "/api/v1/devices", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/devices?customer=acme", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/series?customer=finemeca&sensor=air&device=201&field=Pres" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/series?customer=acme&sensor=air&device=901&field=Pres" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/series?device=901&field=Pres" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/series?device=201" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/series?device=901&field=Pres&format=csv" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/series?device=201&field=Pres&format=xls" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/export?devices=201,901&fields=Pres" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/export?devices=201&fields=Pres&sep=|" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/export?devices=201" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/latest?device=901", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/leaks?device=901" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/compressors?customer=acme" + from, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/compressors?sensor=air" + from, "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/rejected", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/rejected?customer=acme", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/alerts", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/alerts?state=maybe", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/alerts/" + acme, "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/alerts/x", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"POST", "/api/v1/alerts/" + fine + "/ack", `{"by":"x"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "*": 200}},
		{"POST", "/api/v1/alerts/" + acme + "/ack", `{"by":"x"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"POST", "/api/v1/alerts/999/ack", `{"by":"x"}`, want{"anonymous": 401, "ingest-token": 403, "*": 404}},
		{"POST", "/api/v1/alerts/" + fine + "/ack", `{"by":5}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "*": 400}},
		{"POST", "/api/v1/rejected/replay", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "*": 202}},
		{"POST", "/api/v1/ingest", `{"Customer":"finemeca"}`, want{"anonymous": 401, "viewer": 403, "viewer-token": 403, "*": 202}},
		{"DELETE", "/api/v1/devices", "", want{"anonymous": 401, "ingest-token": 403, "admin-token": 400, "*": 403}},
		{"PUT", "/api/v1/devices", "", want{"anonymous": 401, "ingest-token": 403, "*": 405}},
		{"GET", "/api/v1/rules", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/rules/air-leak", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/rules/none", "", want{"anonymous": 401, "ingest-token": 403, "*": 404}},
		{"PUT", "/api/v1/rules/high", `{"sensor":"air","when":"Pres > 8","severity":"info"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 201}},
		{"PUT", "/api/v1/rules/high", `{"sensor":"air","when":"Pres >","severity":"info"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 400}},
		{"PUT", "/api/v1/rules/air-leak", `{"sensor":"air","when":"Pres > 8","severity":"info"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 200}},
		{"PUT", "/api/v1/rules/acme-high", `{"customer":"acme","sensor":"air","when":"Pres > 8","severity":"info"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 201}},
		{"PUT", "/api/v1/rules/nobodys", `{"customer":"nobody","sensor":"air","when":"Pres > 8","severity":"info"}`, want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 400}},
		{"GET", "/api/v1/rules/acme-high", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/rules/high", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/rules", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}}, // a viewer of finemeca without acme's rule
		{"DELETE", "/api/v1/rules/high", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 200}},
		{"GET", "/api/v1/audit?kind=rules", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 403, "viewer-token": 403, "operator": 403, "admin-token": 200}},
		{"GET", "/api/v1/nothing", "", want{"anonymous": 401, "ingest-token": 403, "*": 404}},
		{"GET", "/api/v1/report?customer=finemeca&from=2026-04-27&to=2026-05-04", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/report?customer=acme&from=2026-04-27&to=2026-05-04", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/report?customer=nobody", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 404}},
		{"GET", "/api/v1/report?customer=finemeca&from=2026-05-04&to=2026-04-27", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&format=csv&table=quality&period=week&date=2026-05-01", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/report?customer=finemeca&format=csv&table=nope", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&format=pdf&period=week&date=2026-05-01", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		{"GET", "/api/v1/report?customer=acme&format=pdf&period=week&date=2026-05-01", "", want{"anonymous": 401, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/api/v1/report?customer=finemeca&format=docx", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report/chart?customer=finemeca&chart=days&period=week&date=2026-05-01", "", want{"anonymous": 401, "ingest-token": 403, "*": 200}},
		// Periods out of the range a report covers are the request's fault.
		{"GET", "/api/v1/report?customer=finemeca&period=month&date=9999-12-01", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&format=csv&table=quality&period=week&date=9999-12-28", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&from=9223372036854000000&to=9223372036854775807", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&from=-62135596800000&to=-62135510400000", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report?customer=finemeca&from=9999-12-30&to=9999-12-31T23:59:59Z", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/api/v1/report/chart?customer=finemeca&chart=days&period=month&date=0001-01-01", "", want{"anonymous": 401, "ingest-token": 403, "*": 400}},
		{"GET", "/reports?customer=finemeca&period=month&date=9999-12-01", "", want{"anonymous": 303, "ingest-token": 403, "*": 400}},
		{"GET", "/reports?customer=finemeca&period=week&date=2026-05-01", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/reports?customer=acme&period=week&date=2026-05-01", "", want{"anonymous": 303, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/alerts", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/alerts?id=" + acme, "", want{"anonymous": 303, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/rejected", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/d/air", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/d/air?customer=acme&device=901", "", want{"anonymous": 303, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/d/nokind", "", want{"anonymous": 303, "ingest-token": 403, "*": 404}},
		{"GET", "/live/air/901?customer=acme", "", want{"anonymous": 303, "ingest-token": 403, "viewer": 404, "viewer-token": 404, "*": 200}},
		{"GET", "/live/air/201", "", want{"anonymous": 303, "ingest-token": 403, "*": 200}},
		{"GET", "/debug/pprof/", "", want{"anonymous": 303, "admin-token": 200, "*": 403}},
		{"GET", "/debug/pprof/heap?debug=1", "", want{"anonymous": 303, "admin-token": 200, "*": 403}},
		{"GET", "/debug/pprof/cmdline", "", want{"anonymous": 303, "admin-token": 200, "*": 403}},
	}
	for _, rt := range routes {
		for _, name := range []string{"anonymous", "ingest-token", "viewer", "viewer-token", "operator", "admin-token"} {
			c := who[name]
			code, body := send(c, rt.method, rt.path, rt.body)
			w, ok := rt.want[name]
			if !ok {
				w = rt.want["*"]
			}
			if code != w {
				t.Errorf("%s %s as %s: HTTP %d, want %d: %.200s", rt.method, rt.path, name, code, w, body)
			}
			if strings.HasPrefix(name, "viewer") && code == 200 && rt.path != "/metrics" &&
				(acmeDevice901.MatchString(body) || strings.Contains(body, "secret-of-acme") || strings.Contains(body, `"acme"`)) {
				t.Errorf("%s %s as %s shows acme's data: %.300s", rt.method, rt.path, name, body)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ingestedBy) != 3 || s.ingestedBy[0] != "finemeca" || s.ingestedBy[1] != "" || s.ingestedBy[2] != "" {
		t.Errorf("ingest requests were bound to %q: want the ingest token's to finemeca, the operator's and admin's to none", s.ingestedBy)
	}
}

// TestSessionsNeedCSRF: a session's state-changing request needs the
// session's CSRF token; an API token needs none; a request another site
// makes in the browser is refused whatever it carries; logging out ends
// the session.
func TestSessionsNeedCSRF(t *testing.T) {
	s := newSite(t)
	ack := "/api/v1/alerts/" + strconv.FormatInt(s.fineAlert, 10) + "/ack"
	op := s.login(t, "op")
	for _, csrf := range []string{"", "forged", op.CSRF + "x"} {
		if code, body := op.Do(http.MethodPost, ack, `{"by":"op"}`, "Content-Type", "application/json", "X-CSRF-Token", csrf); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("ack with CSRF token %q: HTTP %d %s, want 403 naming the CSRF token", csrf, code, body)
		}
	}
	// The token of another session is no better.
	other := s.login(t, "root")
	if code, _ := op.Do(http.MethodPost, ack, `{"by":"op"}`, "Content-Type", "application/json", "X-CSRF-Token", other.CSRF); code != http.StatusForbidden {
		t.Errorf("ack with another session's CSRF token: HTTP %d, want 403", code)
	}
	if code, body := op.Post(ack, `{"by":"someone else"}`); code != http.StatusOK || !strings.Contains(body, `"acked_by":"op"`) {
		t.Errorf("ack with the CSRF token: HTTP %d %s, want 200 acknowledged by op (who is logged in)", code, body)
	}
	if code, _ := s.withToken(t, "admin").Post(ack, `{"by":"script"}`); code != http.StatusOK {
		t.Errorf("ack with an admin's API token: HTTP %d, want 200", code)
	}

	// A form another site posts, with the browser's cookies.
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+ack, strings.NewReader(`{"by":"op"}`))
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("X-CSRF-Token", op.CSRF)
	resp, err := op.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site POST with the session: HTTP %d, want 403", resp.StatusCode)
	}

	if code, _ := send(op, http.MethodPost, "/logout", url.Values{"csrf_token": {op.CSRF}}.Encode()); code != http.StatusSeeOther {
		t.Fatalf("logout: HTTP %d", code)
	}
	if code, _ := op.Do(http.MethodGet, "/api/v1/devices", ""); code != http.StatusUnauthorized {
		t.Errorf("the API after logout: HTTP %d, want 401", code)
	}
	if code, _ := op.Do(http.MethodGet, "/", ""); code != http.StatusSeeOther {
		t.Errorf("a page after logout: HTTP %d, want the redirect to the login", code)
	}
}

// TestLoginRedirectsStayOnSite: after a login, next may only lead to a
// path of this site; a wrong password says so without saying which part
// was wrong.
func TestLoginRedirectsStayOnSite(t *testing.T) {
	s := newSite(t)
	login := func(target string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := s.anonymous(t).HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for next, want := range map[string]string{
		"/alerts?state=all":      "/alerts?state=all",
		"/\\evil.example/x":      "/",
		"//evil.example/x":       "/",
		"https://evil.example":   "/",
		"/%5Cevil.example/x":     "/%5Cevil.example/x",
		"/\tevil":                "/",
		"javascript:alert(1)":    "/",
		"/ok\r\nSet-Cookie: x=1": "/",
	} {
		resp := login("/login", url.Values{"username": {"op"}, "password": {"op-password"}, "next": {next}})
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("login with next %q: HTTP %d to %q, want %q", next, resp.StatusCode, got, want)
		}
	}
	// next in the raw query: /login?next=/%5Cevil.example/x.
	if loc := login("/login?next=/%5Cevil.example/x", url.Values{"username": {"op"}, "password": {"op-password"}}).Header.Get("Location"); loc != "/" {
		t.Errorf("next=/%%5Cevil.example/x: redirected to %q, want /", loc)
	}
	for _, form := range []url.Values{{"username": {"op"}, "password": {"wrong-password"}}, {"username": {"nobody"}, "password": {"op-password"}}} {
		code, body := send(s.anonymous(t), http.MethodPost, "/login", form.Encode())
		if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password.") {
			t.Errorf("login %v: HTTP %d, want 401 with the same message for both", form, code)
		}
	}
	if !strings.Contains(s.logs.String(), "login failed") {
		t.Error("failed logins are not in the log")
	}
}

// TestInternalErrorGivesAnID: when the store fails, the client gets a 500
// with a request id and nothing of the error; the log has the error under
// that id.
func TestInternalErrorGivesAnID(t *testing.T) {
	s := newSite(t)
	admin := s.withToken(t, "admin")
	s.st.Close()
	for _, path := range []string{"/api/v1/devices", "/api/v1/alerts", "/"} {
		code, body := admin.Do(http.MethodGet, path, "")
		m := regexp.MustCompile(`request_id ([0-9a-f]{16})`).FindStringSubmatch(body)
		if code != http.StatusInternalServerError || m == nil {
			t.Fatalf("GET %s on a closed store: HTTP %d %s, want 500 with a request id", path, code, body)
		}
		if strings.Contains(body, "sql") || strings.Contains(body, "closed") {
			t.Errorf("GET %s: the answer holds the error: %s", path, body)
		}
		var logged string
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(line, "request_id="+m[1]) {
				logged = line
			}
		}
		if !strings.Contains(logged, "closed") || !strings.Contains(logged, "path="+path) {
			t.Errorf("GET %s: the log line of request %s is %q, want the error and the path", path, m[1], logged)
		}
	}
}

// TestRemoveDevice: only an admin removes a device, naming it whole and
// repeating its id; it is then gone from the API and the pages, the other
// customer's device stays, and the log says who removed it.
func TestRemoveDevice(t *testing.T) {
	s := newSite(t)
	const target = "/api/v1/devices?customer=acme&sensor=air&device=901"
	for _, c := range []*client{s.login(t, "op"), s.login(t, "alice"), s.withToken(t, "viewer")} {
		if code, body := send(c, http.MethodDelete, target+"&confirm=901", ""); code != http.StatusForbidden {
			t.Errorf("a non-admin removes a device: HTTP %d %s, want 403", code, body)
		}
	}
	root := s.login(t, "root")
	for _, q := range []string{"", "&confirm=902", "&confirm=9011"} {
		if code, body := send(root, http.MethodDelete, target+q, ""); code != http.StatusBadRequest || !strings.Contains(body, "confirm=901") {
			t.Errorf("DELETE %s: HTTP %d %s, want 400 asking for confirm=901", q, code, body)
		}
	}
	if code, body := send(root, http.MethodDelete, "/api/v1/devices?device=901&confirm=901", ""); code != http.StatusBadRequest {
		t.Errorf("a removal without customer and sensor: HTTP %d %s, want 400", code, body)
	}
	code, body := send(root, http.MethodDelete, target+"&confirm=901", "")
	if code != http.StatusOK || !strings.Contains(body, `"readings":3`) {
		t.Fatalf("the admin removes acme's 901: HTTP %d %s", code, body)
	}
	for path, want := range map[string]int{
		"/api/v1/latest?customer=acme&sensor=air&device=901": 404, "/d/air?customer=acme&device=901": 404,
		"/live/air/901?customer=acme": 404, "/api/v1/alerts/" + strconv.FormatInt(s.acmeAlert, 10): 404,
		"/api/v1/latest?customer=finemeca&sensor=air&device=201": 200,
	} {
		if code, _ := root.Do(http.MethodGet, path, ""); code != want {
			t.Errorf("GET %s after the removal: HTTP %d, want %d", path, code, want)
		}
	}
	for _, page := range []string{"/api/v1/devices", "/", "/alerts?state=all"} {
		if _, body := root.Do(http.MethodGet, page, ""); strings.Contains(body, "901") || !strings.Contains(body, "201") {
			t.Errorf("GET %s after the removal still shows 901, or lost 201", page)
		}
	}
	if code, _ := send(root, http.MethodDelete, target+"&confirm=901", ""); code != http.StatusNotFound {
		t.Errorf("removing it again: HTTP %d, want 404", code)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "device removed with all its data") || !strings.Contains(logs, "by=root") || !strings.Contains(logs, "device=901") {
		t.Errorf("the removal is not in the log with who did it:\n%s", logs)
	}
}
