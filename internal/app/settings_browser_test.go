package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// fillAndSave fills the settings form's fields in the browser and saves
// it; it returns the page's text once it answered.
func fillAndSave(t *testing.T, ctx context.Context, values map[string]string) string {
	t.Helper()
	v, _ := json.Marshal(values)
	eval[bool](t, ctx, fmt.Sprintf(`(() => {
  const f = document.querySelector("form.settings-form");
  for (const [k, v] of Object.entries(%s)) f.elements[k].value = v;
  window.__saved = false;
  f.requestSubmit();
  return true;
})()`, v))
	var text string
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `window.__saved === undefined && document.readyState === "complete" ? document.body.innerText : ""`)
		if err != nil || got == "" {
			now, _ := browser.Eval[string](ctx, `location.href + " " + document.body.innerText.slice(0, 300)`)
			return fmt.Errorf("the page did not answer yet (%v): %s", err, now)
		}
		text = got
		return nil
	})
	return text
}

// TestSettingsInTheBrowser: an admin onboards a customer in the browser,
// with no restart: the customer, an e-mail notifier of the customer's to
// a real SMTP server (a mistake first, shown beside its field; then a
// test e-mail), and a rule. The customer's readings over the threshold
// are accepted and send exactly one e-mail of the rule; the rule's
// preview shows it firing; a weekly report made in the browser is sent
// now. The audit log shows each change.
func TestSettingsInTheBrowser(t *testing.T) {
	srv := testenv.StartSMTP(t)
	a := start(t, "embedded", app.Options{}, nil)
	ctx := startBrowser(t)
	base := "http://" + a.HTTPAddr()
	open := func(path string) {
		t.Helper()
		if err := browser.Navigate(ctx, base+path); err != nil {
			t.Fatal(err)
		}
	}

	open("/")
	if !eval[bool](t, ctx, `!!document.querySelector('nav a[href="/settings"]')`) {
		t.Fatal("no Settings in the menu of an admin")
	}
	open("/settings/customers?new=1")
	if text := fillAndSave(t, ctx, map[string]string{"item_name": "acme"}); !strings.Contains(text, "customer acme saved") {
		t.Fatalf("after saving customer acme the page says:\n%s", text)
	}

	open("/settings/notifiers?new=1")
	mail := map[string]string{"item_name": "acme-mail", "type": "email", "customer": "acme", "host": "", "port": fmt.Sprint(srv.Port), "tls": "none",
		"from": "sensorhub@example.com", "to": "maintenance@acme.example"}
	fillAndSave(t, ctx, mail)
	beside := eval[string](t, ctx, `(() => { const e = document.querySelector("#f-host ~ .error"); return e ? e.textContent : "" })()`)
	if !strings.Contains(beside, "host") {
		t.Fatalf("a notifier without a host: the error beside the host field is %q; the page:\n%s", beside, eval[string](t, ctx, "document.body.innerText"))
	}
	if got := eval[string](t, ctx, `document.querySelector("#f-to").value`); got != mail["to"] {
		t.Errorf("the refused form lost what was typed: to is %q", got)
	}
	mail["host"] = srv.Host
	if text := fillAndSave(t, ctx, mail); !strings.Contains(text, "notifier acme-mail saved") {
		t.Fatalf("after saving the notifier the page says:\n%s", text)
	}
	// The test button, once the notifier is in force.
	testenv.Eventually(t, 10*time.Second, 500*time.Millisecond, func() error {
		open("/settings/notifiers")
		eval[bool](t, ctx, `(() => { document.querySelector('form[action="/settings/notifiers/acme-mail/test"] button').click(); return true })()`)
		time.Sleep(300 * time.Millisecond)
		if text := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(text, "Test sent with acme-mail") {
			return fmt.Errorf("after the test button: %.300s", text)
		}
		return nil
	})
	if msgs := waitMails(t, srv, 1); !strings.Contains(msgs[0], "A test of notifier acme-mail") {
		t.Errorf("the test e-mail:\n%s", msgs[0])
	}

	open("/settings/rules?new=1")
	rule := map[string]string{"item_name": "acme-high", "customer": "acme", "sensor": "air", "when": "Pres > 7.5", "clear_when": "Pres < 7",
		"for": "0s", "severity": "warning", "notify": "acme-mail"}
	if text := fillAndSave(t, ctx, rule); !strings.Contains(text, "rule acme-high saved") {
		t.Fatalf("after saving the rule the page says:\n%s", text)
	}
	created := time.Now()

	// acme's readings: accepted, and over the threshold.
	t0 := time.Now().Truncate(time.Second)
	count := 0
	publish := func(pres float64) {
		count++
		line := strings.Replace(airLine(t0.Add(time.Duration(count)*time.Second), count, pres), `"Customer":"finemeca"`, `"Customer":"acme"`, 1)
		mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", line)
	}
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		publish(8)
		if got := alertsIn(t, a, "state=firing&rule=acme-high"); len(got) != 1 || got[0].Customer != "acme" {
			return fmt.Errorf("alerts of acme-high firing: %+v", got)
		}
		return nil
	})
	t.Logf("the rule made in the browser fired %s after it was saved", time.Since(created).Round(100*time.Millisecond))
	for range 3 {
		publish(8.2)
	}
	time.Sleep(time.Second)
	msgs := waitMails(t, srv, 2)
	if !strings.Contains(msgs[1], "acme-high") {
		t.Errorf("the alert's e-mail:\n%s", msgs[1])
	}
	if rcpt := srv.Recipients(); len(rcpt) != 2 || rcpt[0] != "maintenance@acme.example" || rcpt[1] != rcpt[0] {
		t.Errorf("the e-mails went to %v, want maintenance@acme.example twice", rcpt)
	}
	var rejected struct{ Total int64 }
	getJSON(t, a, "/api/v1/rejected?customer=acme", &rejected)
	if rejected.Total != 0 {
		t.Errorf("%d of acme's messages rejected", rejected.Total)
	}

	// The rule's preview on the device's readings just stored: it fires.
	open("/settings/rules?edit=acme-high")
	eval[bool](t, ctx, `(() => { document.querySelector("#f-device").value = "201"; document.querySelector('button[formaction="/settings/rules/preview"]').click(); return true })()`)
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		got, err := browser.Eval[string](ctx, `(() => { const t = document.querySelector('table[aria-label="preview"]'); return t ? t.innerText : "" })()`)
		if err != nil || !strings.Contains(got, "acme/air/201") || !strings.Contains(got, "firing") {
			return fmt.Errorf("the preview shows %q (%v)", got, err)
		}
		return nil
	})
	if n := len(srv.Messages(t)); n != 2 {
		t.Errorf("%d e-mails after the preview, want the 2 before it", n)
	}

	// A weekly report for acme, sent now with its notifier.
	open("/settings/reports?new=1")
	if text := fillAndSave(t, ctx, map[string]string{"item_name": "acme-weekly", "customer": "acme", "every": "week", "notify": "acme-mail"}); !strings.Contains(text, "report acme-weekly saved") {
		t.Fatalf("after saving the report schedule the page says:\n%s", text)
	}
	testenv.Eventually(t, 10*time.Second, 500*time.Millisecond, func() error {
		open("/settings/reports")
		eval[bool](t, ctx, `(() => { window.confirm = () => true; document.querySelector('form[action="/settings/reports/acme-weekly/send"] button').click(); return true })()`)
		time.Sleep(500 * time.Millisecond)
		if text := eval[string](t, ctx, "document.body.innerText"); !strings.Contains(text, "sent with acme-mail") {
			return fmt.Errorf("after Send now: %.300s", text)
		}
		return nil
	})
	if msgs := waitMails(t, srv, 3); !strings.Contains(msgs[2], "acme") {
		t.Errorf("the report e-mail:\n%.500s", msgs[2])
	}

	open("/settings/audit")
	text := eval[string](t, ctx, "document.body.innerText")
	for _, want := range []string{"customers acme", "notifiers acme-mail (acme)", "rules acme-high (acme)", "reports acme-weekly (acme)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit log lacks %q:\n%s", want, text)
		}
	}
}
