package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestNothingLostAcrossCatalogChanges: while readings flow, the catalog
// changes again and again (a rule's threshold moved, customers added).
// Every message is stored once, none is taken twice or rejected, and the
// rule's alerts live on through the edits: one alert and one e-mail a
// device.
func TestNothingLostAcrossCatalogChanges(t *testing.T) {
	testenv.Needs(t, "mosquitto_pub")
	srv := testenv.StartSMTP(t)
	a := startAs(t, "embedded", app.Options{}, nil, mailTo(srv), false)
	const path = "/api/v1/rules/high-pressure"
	rule := func(threshold string) string {
		return `{"sensor": "air", "when": "Pres > ` + threshold + `", "clear_when": "Pres < 7", "severity": "warning", "for": "0s"}`
	}
	if code, _, body := request(t, a, http.MethodPut, path, rule("7.5")); code != http.StatusCreated {
		t.Fatalf("create the rule: HTTP %d %s", code, body)
	}
	// In force before the readings come: a reading of a device not yet
	// known is then the first the rule sees.
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if code, _, body := request(t, a, http.MethodGet, "/alerts", ""); code != http.StatusOK || !strings.Contains(body, "<option>high-pressure</option>") {
			return fmt.Errorf("the rule is not in force: HTTP %d", code)
		}
		return nil
	})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
	defer halt() // also when the test ends early
	edits := 0
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			threshold := []string{"7.6", "7.5"}[i%2]
			if code, _, body := request(t, a, http.MethodPut, path, rule(threshold)); code != http.StatusOK {
				t.Errorf("edit %d of the rule: HTTP %d %s", i, code, body)
				return
			}
			if code, _, body := request(t, a, http.MethodPut, fmt.Sprintf("/api/v1/customers/plant-%d", i), `{}`); code != http.StatusCreated {
				t.Errorf("customer %d: HTTP %d %s", i, code, body)
				return
			}
			edits++
			time.Sleep(50 * time.Millisecond)
		}
	})

	const devices, each = 5, 200
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	for d := range devices {
		lines := make([]string, each)
		for i := range lines {
			line := airLine(t0.Add(time.Duration(i)*time.Second), i+1, 8)
			lines[i] = strings.Replace(line, `"idDevice":201`, fmt.Sprintf(`"idDevice":%d`, 301+d), 1)
		}
		mosquittoPub(t, a.MQTTAddr(), fmt.Sprintf("finemeca/air/%d", 301+d), lines...)
	}
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		if n := testutil.ToFloat64(a.Metrics.Stored); n < devices*each {
			return fmt.Errorf("%v of %d messages stored", n, devices*each)
		}
		return nil
	})
	halt()
	t.Logf("%d changes of the catalog while %d messages were stored", 2*edits, devices*each)
	if edits < 3 {
		t.Errorf("only %d edits while the messages flowed: the test proves little", edits)
	}

	if n := testutil.ToFloat64(a.Metrics.Stored); n != devices*each {
		t.Errorf("%v readings stored, want %d", n, devices*each)
	}
	if n := testutil.ToFloat64(a.Metrics.Duplicates); n != 0 {
		t.Errorf("%v messages taken twice", n)
	}
	if n := testutil.CollectAndCount(a.Metrics.Rejected); n != 0 {
		t.Errorf("messages rejected (%d reasons)", n)
	}
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if got := alertsIn(t, a, "state=firing&rule=high-pressure"); len(got) != devices {
			return fmt.Errorf("%d alerts firing, want one a device (%d)", len(got), devices)
		}
		return nil
	})
	if got := alertsIn(t, a, "rule=high-pressure"); len(got) != devices {
		t.Errorf("%d alerts of the rule, want one a device (%d): an edit reset a state", len(got), devices)
	}
	waitMails(t, srv, devices)
	time.Sleep(time.Second) // a late extra e-mail would come by now
	if got := len(srv.Messages(t)); got != devices {
		t.Errorf("%d e-mails, want one a device (%d)", got, devices)
	}
}
