package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestSplitAlertFailover runs three alert processes on the real NATS
// server and PostgreSQL: the one holding the alert lease evaluates, the
// others stand by. Devices go hot and cold in rounds; the holder is
// killed with SIGKILL while a round's readings are on their way, and
// another takes over. Every event gives exactly one alert row and one
// webhook post: none lost, none doubled. Then a rule created through a
// web process fires in the alert process, and a customer created there
// has its messages stored by the ingest process, with no restart.
func TestSplitAlertFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes")
	}
	natsURL := testenv.NATSURL(t)
	pgURL := testenv.PostgresSchema(t)
	mqttURL := testenv.StartMosquitto(t, "")
	prefix := queuePrefix(t, natsURL)
	var mu sync.Mutex
	posts := map[string]int{} // by alert id and state
	byRule := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ ID, State, Device, Rule string }
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("webhook: %v", err)
		}
		mu.Lock()
		posts[ev.ID+" "+ev.State]++
		byRule[ev.Rule]++
		mu.Unlock()
	}))
	defer hook.Close()
	cfgPath := filepath.Join(t.TempDir(), "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
mqtt:
  broker: %s
  client_id: "sensorhub-${SENSORHUB_INSTANCE}"
  topics: ["%s/#"]
  qos: 1
queue: {engine: nats, urls: ["%s"], prefix: %s, raw_max_bytes: 256MiB}
store: {engine: postgres, url: "%s"}
alerts:
  evaluate_every: 1s
  failover_after: 3s
  notify: [hook]
  notifiers:
    hook: {type: webhook, url: "%s"}
  rules:
    - {name: hot, sensor: devicev01, when: "Temp > 50", clear_when: "Temp < 40", severity: warning}
`, mqttURL, prefix, natsURL, prefix, pgURL, hook.URL)), 0o600)
	newRole := func(name, cmd string) *role { return roleOf(t, cfgPath, name, cmd) }
	alerts := []*role{newRole("alert-1", "alert"), newRole("alert-2", "alert"), newRole("alert-3", "alert")}
	all := append([]*role{newRole("gateway", "gateway"), newRole("ingest", "ingest")}, alerts...)
	for _, r := range all {
		r.start()
	}
	defer func() { stopAll(t, all) }()
	holder := func(among []*role) *role {
		t.Helper()
		var h *role
		testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			var held []*role
			for _, r := range among {
				if r.metric(`sensorhub_lease_held{lease="alert"}`) == 1 {
					held = append(held, r)
				}
			}
			if len(held) != 1 {
				return fmt.Errorf("%d alert processes hold the lease", len(held))
			}
			h = held[0]
			return nil
		})
		return h
	}
	first := holder(alerts)

	db, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	count := func(q string) int64 {
		var n int64
		if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range posts {
			n += c
		}
		return n
	}
	// Round r: each device hot in rounds 2-3, 6-7, 10-11, cold otherwise:
	// it fires in rounds 2, 6 and 10 and resolves in 4, 8 and 12.
	const devices, rounds = 10, 12
	hot := func(r int) bool { return (r-2)%4 == 0 || (r-2)%4 == 1 }
	u, _ := url.Parse(mqttURL)
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	publish := func(r int) {
		var lines bytes.Buffer
		for d := range devices {
			temp := 20
			if hot(r) {
				temp = 60
			}
			fmt.Fprintf(&lines, `{"Customer":"finemeca","idGateway":1,"idDevice":%d,"Time":"%s","msgCount":%d,"Mod":"weath","Temp":%d}`+"\n",
				8000+d, base.Add(time.Duration(r)*time.Minute).Format("2006-01-02 15:04:05"), r, temp)
		}
		pub := testenv.Command(t, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", prefix+"/devicev01", "-l")
		pub.Stdin = &lines
		if out, err := pub.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	events := 0
	for r := 1; r <= rounds; r++ {
		if r > 1 && hot(r) != hot(r-1) {
			events += devices
		}
		publish(r)
		if r == 7 {
			// Round 7 changes nothing: the holder dies with its readings on
			// their way, not while it sends.
			first.stop(syscall.SIGKILL)
			t.Logf("%s, holding the lease, killed with round %d's readings on their way", first.name, r)
			continue
		}
		testenv.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
			if n := count(`SELECT COALESCE(SUM(readings), 0) FROM devices`); n < int64(devices*r) {
				return fmt.Errorf("round %d: %d readings stored", r, n)
			}
			if n := sent(); n < events {
				return fmt.Errorf("round %d: %d webhook posts, want %d", r, n, events)
			}
			return nil
		})
	}
	var rest []*role
	for _, r := range alerts {
		if r != first {
			rest = append(rest, r)
		}
	}
	next := holder(rest)
	t.Logf("%s took over", next.name)
	time.Sleep(3 * time.Second) // room for a post too many
	mu.Lock()
	for k, n := range posts {
		if n != 1 {
			t.Errorf("event %s posted %d times", k, n)
		}
	}
	if len(posts) != events {
		t.Errorf("%d events posted, want %d", len(posts), events)
	}
	mu.Unlock()
	if n := count(`SELECT COUNT(*) FROM alerts WHERE rule = 'hot'`); n != devices*3 {
		t.Errorf("%d alerts of rule hot, want %d (3 a device)", n, devices*3)
	}
	if n := count(`SELECT COUNT(*) FROM alerts WHERE rule = 'hot' AND state != 'resolved'`); n != 0 {
		t.Errorf("%d alerts of rule hot not resolved", n)
	}
	if n := count(`SELECT COUNT(*) FROM (SELECT device FROM alerts WHERE rule = 'hot' GROUP BY device HAVING COUNT(*) != 3) x`); n != 0 {
		t.Errorf("%d devices without exactly 3 alerts", n)
	}

	// A rule created through the web process fires in the alert process
	// holding the lease within seconds, with no restart: once a device.
	web := newRole("web", "web")
	all = append(all, web)
	web.start()
	req, _ := http.NewRequest(http.MethodPut, "http://"+web.http+"/api/v1/rules/any-temp",
		strings.NewReader(`{"sensor": "devicev01", "when": "Temp > 15", "severity": "info"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT a rule on the web process: HTTP %d", resp.StatusCode)
	}
	created, r := time.Now(), rounds
	testenv.Eventually(t, 10*time.Second, 500*time.Millisecond, func() error {
		r++
		publish(r)
		mu.Lock()
		defer mu.Unlock()
		if byRule["any-temp"] < devices {
			return fmt.Errorf("%d posts of the new rule, want %d", byRule["any-temp"], devices)
		}
		return nil
	})
	t.Logf("the rule made on the web process fired in %s %s after", next.name, time.Since(created).Round(100*time.Millisecond))
	publish(r + 1)
	time.Sleep(2 * time.Second)
	mu.Lock()
	if byRule["any-temp"] != devices {
		t.Errorf("%d posts of the new rule, want %d (one a device)", byRule["any-temp"], devices)
	}
	mu.Unlock()

	// A customer created through the web process: the ingest process
	// stores its messages within seconds, with no restart; before, they
	// were kept rejected as of an unknown customer.
	acme := func(n int) {
		line := fmt.Sprintf(`{"Customer":"acme","idGateway":1,"idDevice":9001,"Time":"%s","msgCount":%d,"Mod":"weath","Temp":21}`,
			base.Add(time.Duration(n)*time.Minute).Format("2006-01-02 15:04:05"), n)
		pub := testenv.Command(t, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-t", prefix+"/devicev01", "-m", line)
		if out, err := pub.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	acme(1)
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		if n := count(`SELECT COUNT(*) FROM rejected WHERE reason LIKE '%acme%'`); n != 1 {
			return fmt.Errorf("%d of acme's messages rejected, want 1", n)
		}
		return nil
	})
	req, _ = http.NewRequest(http.MethodPut, "http://"+web.http+"/api/v1/customers/acme", strings.NewReader(`{}`))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT a customer on the web process: HTTP %d", resp.StatusCode)
	}
	created, n := time.Now(), 1
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		n++
		acme(n)
		if got := count(`SELECT COUNT(*) FROM devices WHERE customer = 'acme'`); got != 1 {
			return fmt.Errorf("%d devices of acme stored", got)
		}
		return nil
	})
	t.Logf("the customer made on the web process had its messages stored %s after", time.Since(created).Round(100*time.Millisecond))
}

// TestRunKilledTakesItsAlertLeaseBack: a single `sensorhub run`, killed
// with SIGKILL, leaves its alert lease held. Started again on the same
// data directory (whose lock says no other process uses it), it takes the
// lease back at once instead of waiting alerts.failover_after for it to
// expire, which would leave the plant without alerts meanwhile.
func TestRunKilledTakesItsAlertLeaseBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sensorhub as a process")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
mqtt: {listen: "127.0.0.1:0", builtin: {allow_anonymous: true}}
alerts: {failover_after: 10m}
`, filepath.Join(dir, "data"))), 0o600)
	r := &role{t: t, name: "run", args: []string{"run", "--config", cfgPath}, http: testenv.FreeAddr(t)}
	held := func() {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			if v := r.metric(`sensorhub_lease_held{lease="alert"}`); v != 1 {
				return fmt.Errorf("the alert lease is not held (%v)", v)
			}
			return nil
		})
	}
	defer func() { stopAll(t, []*role{r}) }()
	r.start()
	held()
	r.stop(syscall.SIGKILL)
	r.start()
	held()
}
