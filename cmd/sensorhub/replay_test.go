package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestReplayWithUsers: once sensorhub has users, replay without a token
// fails saying how to give one; with an operator's token (--token, or
// SENSORHUB_TOKEN, the flag first) it replays; a viewer's token is told
// it may not.
func TestReplayWithUsers(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	addToken := func(user, role string, extra ...string) string {
		t.Helper()
		add := exec.Command(binary, append([]string{"user", "add", user, "--role", role, "--file", users}, extra...)...)
		add.Stdin = strings.NewReader(user + "-password\n")
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("user add %s: %v\n%s", user, err, out)
		}
		out, err := exec.Command(binary, "token", "add", "--user", user, "--file", users).Output()
		if err != nil {
			t.Fatalf("token add %s: %v", user, err)
		}
		return strings.TrimSpace(string(out))
	}
	operator := addToken("olga", "operator")
	viewer := addToken("victor", "viewer", "--customers", "finemeca")

	httpAddr := testenv.FreeAddr(t)
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte("mqtt: {builtin: {allow_anonymous: true}}\nauth: {users_file: "+users+"}\n"), 0o600)
	var logs testenv.SyncBuffer
	cmd := exec.Command(binary, "run", "--config", cfgPath, "--data", t.TempDir(), "--http", httpAddr, "--mqtt-listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sensorhub logs:\n%s", logs.String())
		}
	}()
	base := "http://" + httpAddr
	waitReady(t, base)
	start := time.Now().Add(-time.Second)
	body, _ := os.ReadFile("../../testdata/payloads/air.jsonl")
	req, _ := http.NewRequest("POST", base+"/api/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest with the operator's token: HTTP %d", resp.StatusCode)
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest("GET", base+"/api/v1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+operator)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var devs []struct{ Readings int }
		json.NewDecoder(resp.Body).Decode(&devs)
		if len(devs) != 1 || devs[0].Readings != 4 {
			return fmt.Errorf("devices %+v", devs)
		}
		return nil
	})

	replay := func(env string, args ...string) (string, error) {
		c := exec.Command(binary, append([]string{"replay", "--from", start.Format(time.RFC3339Nano), "--url", base}, args...)...)
		c.Env = append(os.Environ(), "SENSORHUB_TOKEN="+env)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	replayed := func(how, out string, err error) {
		t.Helper()
		var res struct{ Messages, Duplicates int }
		if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Messages != 4 || res.Duplicates != 4 {
			t.Errorf("replay %s: %v: %s; want the 4 messages replayed, 4 duplicates", how, err, out)
		}
	}

	out, err := replay("")
	if err == nil || !strings.Contains(out, "401") || !strings.Contains(out, "--token") || !strings.Contains(out, "SENSORHUB_TOKEN") {
		t.Errorf("replay without a token: %v: %s; want a failure naming --token and SENSORHUB_TOKEN", err, out)
	}
	out, err = replay("", "--token", "shk_not-a-token")
	if err == nil || !strings.Contains(out, "refuses the token") {
		t.Errorf("replay with an unknown token: %v: %s", err, out)
	}
	out, err = replay("", "--token", viewer)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "operator or admin") {
		t.Errorf("replay with a viewer's token: %v: %s", err, out)
	}
	out, err = replay("", "--token", operator)
	replayed("--token", out, err)
	out, err = replay(operator)
	replayed("SENSORHUB_TOKEN", out, err)
	out, err = replay(viewer, "--token", operator)
	replayed("--token over SENSORHUB_TOKEN", out, err)
}
