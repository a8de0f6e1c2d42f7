package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestUsersAndTokensOverTheAPI: an admin gives a plant's staff access
// with no restart: a user made over the API logs in within seconds and
// sees its customer only; its password is never shown; a token made for
// it works until it is deleted. A viewer manages no one.
func TestUsersAndTokensOverTheAPI(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) { c.Auth.LoginsPerMinute = 1000 })
	root, alice := fx.login(t, "root"), fx.login(t, "alice")
	send := func(c *client, method, path, body string) (int, string) {
		t.Helper()
		return c.Do(method, path, body, "Content-Type", "application/json", "X-CSRF-Token", c.CSRF)
	}
	if code, body := send(alice, "PUT", "/api/v1/users/dave", `{"role":"viewer","customers":["acme"],"password":"dave-password"}`); code != 403 {
		t.Errorf("a viewer makes a user: HTTP %d %s", code, body)
	}
	for body, field := range map[string]string{
		`{"role":"viewer","customers":["acme"]}`:                              "password",
		`{"role":"viewer","customers":["acme"],"password":"short"}`:           "password",
		`{"role":"boss","password":"dave-password"}`:                          "role",
		`{"role":"viewer","customers":["globex"],"password":"dave-password"}`: "customers",
	} {
		code, got := send(root, "PUT", "/api/v1/users/dave", body)
		var e struct{ Field string }
		json.Unmarshal([]byte(got), &e)
		if code != 400 || e.Field != field {
			t.Errorf("%s: HTTP %d %s, want 400 naming %s", body, code, got, field)
		}
	}
	if code, body := send(root, "PUT", "/api/v1/users/dave", `{"role":"operator","customers":["acme"],"password":"dave-password"}`); code != 201 {
		t.Fatalf("make dave: HTTP %d %s", code, body)
	}
	made := time.Now()
	dave := newClient(t, fx.a)
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code := dave.Login("dave", "dave-password"); code != http.StatusSeeOther {
			return fmt.Errorf("dave's login: HTTP %d", code)
		}
		return nil
	})
	t.Logf("a user made over the API logged in %s after", time.Since(made).Round(100*time.Millisecond))
	if code, body := dave.Do("GET", "/api/v1/devices", ""); code != 200 || strings.Contains(body, `"201"`) || !strings.Contains(body, `"901"`) {
		t.Errorf("dave, acme's operator, lists devices: HTTP %d %s", code, body)
	}
	for _, c := range []*client{root, alice} {
		if _, body := send(c, "GET", "/api/v1/users", ""); strings.Contains(body, "$2a$") || strings.Contains(body, "dave-password") {
			t.Errorf("the users' list shows a password: %s", body)
		}
	}
	// A change without a password keeps it.
	if code, body := send(root, "PUT", "/api/v1/users/dave", `{"role":"viewer","customers":["acme"]}`); code != 200 {
		t.Fatalf("change dave: HTTP %d %s", code, body)
	}

	code, body := send(root, "POST", "/api/v1/tokens", `{"user":"dave","note":"the plant's script"}`)
	var tok struct{ ID, Token string }
	if json.Unmarshal([]byte(body), &tok); code != 201 || !strings.HasPrefix(tok.Token, "shk_") {
		t.Fatalf("make a token: HTTP %d %s", code, body)
	}
	if code, body := send(root, "POST", "/api/v1/tokens", `{"user":"alice","note":"a user of the users file"}`); code != 201 {
		t.Errorf("a token of a user of the users file: HTTP %d %s", code, body)
	}
	if code, body := send(root, "PUT", "/api/v1/users/alice", `{"role":"admin","password":"alice-password"}`); code != 400 {
		t.Errorf("a user of the catalog named as one of the users file: HTTP %d %s, want 400", code, body)
	}
	if code, body := send(root, "POST", "/api/v1/tokens", `{"user":"nobody"}`); code != 400 {
		t.Errorf("a token of no user: HTTP %d %s", code, body)
	}
	bearer := func() int {
		req, _ := http.NewRequest("GET", "http://"+fx.a.HTTPAddr()+"/api/v1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code := bearer(); code != 200 {
			return fmt.Errorf("with the new token: HTTP %d", code)
		}
		return nil
	})
	if _, body := send(root, "GET", "/api/v1/tokens/"+tok.ID, ""); strings.Contains(body, tok.Token[10:]) || !strings.Contains(body, "the plant's script") {
		t.Errorf("the token as listed: %s", body)
	}
	if code, body := send(root, "DELETE", "/api/v1/users/dave", ""); code != 409 {
		t.Errorf("delete a user whose token is there: HTTP %d %s, want 409", code, body)
	}
	if code, body := send(root, "DELETE", "/api/v1/tokens/"+tok.ID, ""); code != 200 {
		t.Fatalf("revoke the token: HTTP %d %s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code := bearer(); code != 401 {
			return fmt.Errorf("with the revoked token: HTTP %d", code)
		}
		return nil
	})
	if code, body := send(root, "DELETE", "/api/v1/users/dave", ""); code != 200 {
		t.Fatalf("delete dave: HTTP %d %s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code, _ := dave.Do("GET", "/api/v1/devices", ""); code != 401 {
			return fmt.Errorf("dave, deleted, lists devices: HTTP %d", code)
		}
		return nil
	})
}
