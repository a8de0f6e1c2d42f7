package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatalogExportApply: a catalog written by hand (a secret from the
// environment) is applied after a dry run that changes nothing; exported,
// applied to an empty store and exported again, it gives the same file.
// A file with a mistake, or an item the configuration file manages,
// changes nothing and says where; --prune deletes what the file lacks.
func TestCatalogExportApply(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte("customers: [finemeca]\nalerts:\n  notifiers:\n    ops: {type: webhook, url: \"https://hooks.example/ops\"}\n"), 0o600)
	sensorhub := func(wantOK bool, env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("sensorhub %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	file := filepath.Join(dir, "catalog.yaml")
	os.WriteFile(file, []byte(`customers:
  acme: {}
notifiers:
  acme-mail:
    type: email
    customer: acme
    host: smtp.acme.example
    from: hub@acme.example
    to: [maintenance@acme.example]
    username: hub
    password: ${ACME_SMTP_PASSWORD}
rules:
  acme-high: {customer: acme, sensor: air, when: "Pres > 7.5", for: 5m, severity: warning, notify: [acme-mail]}
reports:
  acme-weekly: {customer: acme, every: week, notify: [acme-mail]}
`), 0o600)
	a := []string{"--config", cfgPath, "--data", filepath.Join(dir, "a")}
	secret := []string{"ACME_SMTP_PASSWORD=s3cret"}
	out := sensorhub(true, secret, append([]string{"catalog", "apply", "--dry-run"}, append(a, file)...)...)
	for _, want := range []string{"+ customers acme", "+ notifiers acme-mail", "+ rules acme-high", "+ reports acme-weekly", "dry run: 4 changes, none made"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, out)
		}
	}
	if out := sensorhub(true, secret, append([]string{"catalog", "apply"}, append(a, file)...)...); !strings.Contains(out, "4 changes made") {
		t.Errorf("apply:\n%s", out)
	}
	if out := sensorhub(true, secret, append([]string{"catalog", "apply"}, append(a, file)...)...); !strings.Contains(out, "nothing to change") {
		t.Errorf("apply again:\n%s", out)
	}
	exported := sensorhub(true, nil, append([]string{"catalog", "export"}, a...)...)
	for _, want := range []string{"acme-high:", "password: s3cret", "air-leak:", "acme: {}"} {
		if !strings.Contains(exported, want) {
			t.Errorf("the export lacks %q:\n%s", want, exported)
		}
	}
	if strings.Contains(exported, "hooks.example") {
		t.Errorf("the export holds the configuration file's notifier:\n%s", exported)
	}

	// Into an empty store, and out again: the same file.
	again := filepath.Join(dir, "exported.yaml")
	os.WriteFile(again, []byte(exported), 0o600)
	b := []string{"--config", cfgPath, "--data", filepath.Join(dir, "b")}
	sensorhub(true, nil, append([]string{"catalog", "apply"}, append(b, again)...)...)
	if second := sensorhub(true, nil, append([]string{"catalog", "export"}, b...)...); second != exported {
		t.Errorf("exported, applied to an empty store and exported again:\n%s\nwant\n%s", second, exported)
	}

	// Mistakes change nothing and say where.
	bad := filepath.Join(dir, "bad.yaml")
	for text, want := range map[string]string{
		"rules:\n  hot: {sensor: air, when: \"Pres >\", severity: info}\n":  "rules.hot.when",
		"rules:\n  hot: {sensor: air, when: \"Pres > 9\", severity: hot}\n": "rules.hot.severity",
		"notifiers:\n  ops: {type: webhook, url: \"https://x.example\"}\n":  "managed in " + cfgPath,
		"rule:\n  hot: {}\n": "rule: not a kind of the catalog",
		"notifiers:\n  x: {type: email, password: ${NOT_SET_ANYWHERE}}\n": "NOT_SET_ANYWHERE",
	} {
		os.WriteFile(bad, []byte(text), 0o600)
		out := sensorhub(false, nil, append([]string{"catalog", "apply"}, append(a, bad)...)...)
		if !strings.Contains(out, want) || !strings.Contains(out, "nothing changed") {
			t.Errorf("applying %q: %s\nwant it to name %q", text, out, want)
		}
	}
	if out := sensorhub(true, nil, append([]string{"catalog", "export"}, a...)...); out != exported {
		t.Errorf("a refused apply changed the catalog:\n%s", out)
	}

	// --prune: the rule and report the file no longer has are deleted.
	os.WriteFile(bad, []byte(strings.Split(exported, "rules:")[0]), 0o600)
	out = sensorhub(true, nil, append([]string{"catalog", "apply", "--prune"}, append(a, bad)...)...)
	if !strings.Contains(out, "- rules acme-high") || !strings.Contains(out, "- rules air-leak") || !strings.Contains(out, "- reports acme-weekly") {
		t.Errorf("apply --prune:\n%s", out)
	}
	if out := sensorhub(true, nil, append([]string{"catalog", "export"}, a...)...); strings.Contains(out, "rules:") {
		t.Errorf("after --prune the catalog still has rules:\n%s", out)
	}
}

// TestUserOfACatalogCustomer: a customer created in the catalog (in
// Settings) can be given to a user of the users file, which the
// configuration's check and the start accept.
func TestUserOfACatalogCustomer(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %s\nauth: {users_file: %s}\n", filepath.Join(dir, "data"), filepath.Join(dir, "users.yaml"))), 0o600)
	file := filepath.Join(dir, "catalog.yaml")
	os.WriteFile(file, []byte("customers:\n  acme: {}\n"), 0o600)
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("", "catalog", "apply", "--config", cfgPath, file); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := run("bob-password\n", "user", "add", "bob", "--role", "viewer", "--customers", "acme", "--config", cfgPath); err != nil {
		t.Fatalf("a viewer of the catalog's customer acme: %v\n%s", err, out)
	}
	if out, err := run("eve-password\n", "user", "add", "eve", "--role", "viewer", "--customers", "nobody", "--config", cfgPath); err == nil || !strings.Contains(out, "nobody") {
		t.Errorf("a viewer of no customer: %v\n%s", err, out)
	}
	if out, err := run("", "check", "--config", cfgPath); err != nil || !strings.Contains(out, "ok") {
		t.Errorf("check: %v\n%s", err, out)
	}
}
