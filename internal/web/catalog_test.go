package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestCatalogForEveryone: who reads and changes which catalog items. An
// admin changes everything; an operator given a customer (acme) that
// customer's rules, notifiers and report schedules, and nothing else; an
// operator of every customer and the viewers change nothing; a viewer
// never sees another customer's items, and nobody sees a notifier's
// password or a user's. Only an admin manages users and tokens. A customer's rule or report cannot tell another customer's
// notifier; an item others need is not deleted.
func TestCatalogForEveryone(t *testing.T) {
	s := newSite(t)
	who := map[string]*client{
		"viewer": s.login(t, "alice"), "operator": s.login(t, "op"), "acme-op": s.login(t, "acme-op"),
		"admin": s.withToken(t, "admin"), "ingest": s.withToken(t, "ingest"),
	}
	const (
		acmeMail = `{"type":"email","customer":"acme","host":"smtp.acme.example","from":"hub@acme.example","to":["ops@acme.example"],"username":"hub","password":"s3cret-acme"}`
		fineMail = `{"type":"email","customer":"finemeca","host":"smtp.example","from":"hub@example.com","to":["ops@example.com"]}`
		acmeRule = `{"customer":"acme","sensor":"air","when":"Pres > 8","severity":"warning","notify":["acme-mail"]}`
	)
	steps := []struct {
		who, method, path, body string
		want                    int
	}{
		{"ingest", "GET", "/api/v1/customers", "", 403},
		{"viewer", "GET", "/api/v1/customers/acme", "", 404},
		{"acme-op", "GET", "/api/v1/customers/acme", "", 200},
		{"viewer", "GET", "/api/v1/sensors/air", "", 200},
		{"acme-op", "PUT", "/api/v1/customers/globex", `{}`, 403},
		{"operator", "PUT", "/api/v1/customers/globex", `{}`, 403},
		{"admin", "PUT", "/api/v1/customers/globex", `{"name":"initech"}`, 400},
		{"admin", "PUT", "/api/v1/customers/globex", `{}`, 201},
		{"admin", "PUT", "/api/v1/customers/a%20b", `{}`, 400},
		{"acme-op", "PUT", "/api/v1/sensors/air", `{"match":{"field":"Mod","equals":"air"},"keep":["Pres"]}`, 403},
		{"admin", "PUT", "/api/v1/sensors/flow", `{"match":{"field":"Mod","equals":"flow"},"keep":["Flow"],"units":{"Flow":"l/min"}}`, 201},
		{"admin", "PUT", "/api/v1/sensors/bad", `{"match":{"field":"Mod","equals":"bad"},"derive":{"x":"Flow +"}}`, 400},
		{"viewer", "PUT", "/api/v1/notifiers/acme-mail", acmeMail, 403},
		{"operator", "PUT", "/api/v1/notifiers/acme-mail", acmeMail, 403},
		{"acme-op", "PUT", "/api/v1/notifiers/acme-mail", acmeMail, 201},
		{"acme-op", "PUT", "/api/v1/notifiers/fine-mail", fineMail, 403},
		{"acme-op", "PUT", "/api/v1/notifiers/global-mail", strings.Replace(fineMail, `"customer":"finemeca",`, "", 1), 403},
		{"admin", "PUT", "/api/v1/notifiers/fine-mail", fineMail, 201},
		{"acme-op", "GET", "/api/v1/notifiers/fine-mail", "", 404},
		// Another customer's item is not taken over, nor its secret had.
		{"acme-op", "PUT", "/api/v1/notifiers/fine-mail", strings.Replace(acmeMail, "s3cret-acme", "********", 1), 409},
		{"acme-op", "DELETE", "/api/v1/notifiers/fine-mail", "", 404},
		{"admin", "PUT", "/api/v1/notifiers/moved", strings.Replace(acmeMail, "s3cret-acme", "********", 1), 400},
		{"viewer", "GET", "/api/v1/notifiers/fine-mail", "", 404},
		{"acme-op", "PUT", "/api/v1/rules/acme-high", acmeRule, 201},
		{"acme-op", "PUT", "/api/v1/rules/acme-high", strings.Replace(acmeRule, `"acme"`, `"finemeca"`, 1), 403},
		{"acme-op", "PUT", "/api/v1/rules/acme-leaks", strings.Replace(acmeRule, "acme-mail", "fine-mail", 1), 400},
		{"acme-op", "PUT", "/api/v1/rules/everyones", `{"sensor":"air","when":"Pres > 8","severity":"info"}`, 403},
		{"acme-op", "DELETE", "/api/v1/rules/air-leak", "", 403},
		{"viewer", "GET", "/api/v1/rules/acme-high", "", 404},
		{"acme-op", "PUT", "/api/v1/reports/acme-weekly", `{"customer":"acme","every":"week","notify":["acme-mail"]}`, 201},
		{"acme-op", "PUT", "/api/v1/reports/acme-weekly", `{"customer":"acme","every":"fortnight","notify":["acme-mail"]}`, 400},
		{"acme-op", "DELETE", "/api/v1/notifiers/acme-mail", "", 409},
		{"admin", "DELETE", "/api/v1/customers/finemeca", "", 409},
		{"acme-op", "DELETE", "/api/v1/reports/acme-weekly", "", 200},
		{"acme-op", "DELETE", "/api/v1/rules/acme-high", "", 200},
		{"acme-op", "DELETE", "/api/v1/notifiers/acme-mail", "", 200},
		{"acme-op", "GET", "/api/v1/notifiers/acme-mail", "", 404},
		{"acme-op", "PUT", "/api/v1/users/erin", `{"role":"viewer","customers":["acme"],"password":"erin-password"}`, 403},
		{"admin", "PUT", "/api/v1/users/erin", `{"role":"viewer","customers":["acme"],"password":"erin-password"}`, 201},
		{"admin", "GET", "/api/v1/users/erin", "", 200},
		{"viewer", "GET", "/api/v1/users/erin", "", 404},
		{"acme-op", "POST", "/api/v1/tokens", `{"user":"erin"}`, 403},
		{"admin", "POST", "/api/v1/tokens", `{"user":"erin","customer":"acme"}`, 400},
		{"admin", "POST", "/api/v1/tokens", `{"user":"erin"}`, 201},
		{"admin", "PUT", "/api/v1/tokens/abc", `{"user":"erin"}`, 405},
		{"acme-op", "GET", "/api/v1/audit", "", 403},
		{"admin", "GET", "/api/v1/audit?kind=notifiers", "", 200},
	}
	// What some answers say, by method, path and status.
	says := map[string]string{
		"DELETE /api/v1/notifiers/acme-mail 409": `notifier \"acme-mail\" is needed: report \"acme-weekly\" (notify.0):`,
	}
	for _, st := range steps {
		code, body := send(who[st.who], st.method, st.path, st.body)
		want := says[fmt.Sprint(st.method, " ", st.path, " ", st.want)]
		if code != st.want || !strings.Contains(body, want) {
			t.Errorf("%s %s as %s: HTTP %d, want %d saying %s: %.300s", st.method, st.path, st.who, code, st.want, want, body)
		}
		if strings.Contains(body, "s3cret") || strings.Contains(body, "$2a$") || strings.Contains(body, "erin-password") {
			t.Errorf("%s %s as %s shows a notifier's password: %.300s", st.method, st.path, st.who, body)
		}
	}

	// A 400 names the field; the secret given back masked is kept.
	code, body := send(who["admin"], "PUT", "/api/v1/notifiers/fine-mail", strings.Replace(fineMail, `"smtp.example"`, `""`, 1))
	var e struct{ Error, Field string }
	json.Unmarshal([]byte(body), &e)
	if code != 400 || e.Field != "host" {
		t.Errorf("a notifier without a host: HTTP %d %s, want 400 naming host", code, body)
	}
	if code, body := send(who["admin"], "PUT", "/api/v1/notifiers/pw", strings.Replace(acmeMail, "s3cret-acme", "first", 1)); code != 201 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	_, body = send(who["admin"], "GET", "/api/v1/notifiers/pw", "")
	var got struct {
		Notifier map[string]any
	}
	json.Unmarshal([]byte(body), &got)
	if got.Notifier["password"] != "********" {
		t.Errorf("the password is shown as %v, want masked", got.Notifier["password"])
	}
	got.Notifier["to"] = []string{"night@acme.example"}
	again, _ := json.Marshal(got.Notifier)
	if code, body := send(who["admin"], "PUT", "/api/v1/notifiers/pw", string(again)); code != 200 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	_, items, err := s.st.ReadCatalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Name == "pw" && !strings.Contains(string(it.Spec), `"password":"first"`) {
			t.Errorf("after a change with the password masked, the notifier is %s", it.Spec)
		}
	}
}

// TestFormulaPreview: a sensor kind's formulas, as typed in its form,
// derived on a device's newest reading with the stored one before it as
// the previous; a formula that does not compile is named; nothing saved.
func TestFormulaPreview(t *testing.T) {
	s := newSite(t)
	admin := s.withToken(t, "admin")
	kind := "match: {field: Mod, equals: air}\nkeep: [Pres, OpenPres]\nderive:\n  margin: Pres - OpenPres\n  drop: Pres - prev(Pres)\n"
	form := url.Values{"item_name": {"air"}, "version": {"1"}, "yaml": {kind}, "device": {"201"}}
	code, body := send(admin, "POST", "/settings/sensors/preview", form.Encode())
	if code != 200 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	// 201's readings: Pres 5.5 three times, with OpenPres 6.
	for _, want := range []string{"<td>margin</td><td>-0.5</td>", "<td>drop</td><td>0</td>", "<td>Pres</td><td>5.5</td>", "derived"} {
		if !strings.Contains(body, want) {
			t.Errorf("the preview lacks %q:\n%s", want, body)
		}
	}
	form.Set("yaml", strings.Replace(kind, "Pres - OpenPres", "Pres -", 1))
	if code, body := send(admin, "POST", "/settings/sensors/preview", form.Encode()); code != 400 || !strings.Contains(body, "margin") {
		t.Errorf("a formula that does not compile: HTTP %d %s", code, body)
	}
	_, items, _ := s.st.ReadCatalog(t.Context())
	for _, it := range items {
		if it.Kind == "sensors" && it.Name == "air" && strings.Contains(string(it.Spec), "margin") {
			t.Errorf("the preview saved the kind: %s", it.Spec)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for in, want := range map[string]string{"1m0s": "1m", "1h0m0s": "1h", "1m30s": "1m30s", "10s": "10s", "2h30m0s": "2h30m", "Pres > 1": "Pres > 1"} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%q) = %q, want %q", in, got, want)
		}
	}
}
