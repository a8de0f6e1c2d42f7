package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestDevicesMetadata: an admin names and places devices, one and
// several at once, without a restart: the device list and the overview
// show it within seconds and the search finds devices by it; a bad value
// is named; an operator of every
// customer and a viewer change nothing.
func TestDevicesMetadata(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) { c.Auth.LoginsPerMinute = 1000 })
	root, olga, alice := fx.login(t, "root"), fx.login(t, "olga"), fx.login(t, "alice")
	patch := func(c *client, query, body string) (int, string) {
		t.Helper()
		return c.Do("PATCH", "/api/v1/devices?"+query, body, "Content-Type", "application/json", "X-CSRF-Token", c.CSRF)
	}
	for c, name := range map[*client]string{olga: "an operator of every customer", alice: "a viewer"} {
		if code, body := patch(c, "device=901", `{"site":"Gent"}`); code != 403 {
			t.Errorf("%s places a device: HTTP %d %s", name, code, body)
		}
	}
	if code, body := patch(root, "device=901", `{"tags":"compressor"}`); code != 400 || !strings.Contains(body, "tags") {
		t.Errorf("tags as a string: HTTP %d %s, want 400 naming tags", code, body)
	}
	if code, body := patch(root, "device=999", `{"site":"Gent"}`); code != 404 {
		t.Errorf("no such device: HTTP %d %s", code, body)
	}
	if code, body := patch(root, "customer=acme&sensor=air&device=901", `{"name":"main compressor","site":"Gent","tags":["compressor","hall 2"]}`); code != 200 {
		t.Fatalf("place 901: HTTP %d %s", code, body)
	}
	// Several at once: every air device gets a line.
	if code, body := patch(root, "sensor=air", `{"line":"L1"}`); code != 200 || !strings.Contains(body, `"devices":2`) {
		t.Fatalf("a line for every air device: HTTP %d %s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		_, body := root.Do("GET", "/api/v1/devices?device=901", "")
		if !strings.Contains(body, `"meta":{"name":"main compressor","site":"Gent","line":"L1","tags":["compressor","hall 2"]}`) {
			return fmt.Errorf("device 901: %s", body)
		}
		return nil
	})
	if _, body := root.Do("GET", "/", ""); !strings.Contains(body, "main compressor") || !strings.Contains(body, "Gent · L1 · #compressor · #hall 2") {
		t.Errorf("the overview does not show what was said of 901")
	}
	// The search finds a device by what was said of it, in the viewer's
	// scope only.
	if _, body := root.Do("GET", "/api/v1/devices?q=gent", ""); !strings.Contains(body, `"device":"901"`) || strings.Contains(body, `"device":"201"`) {
		t.Errorf("a search for the site: %s", body)
	}
	if _, body := root.Do("GET", "/?q=hall", ""); !strings.Contains(body, "main compressor") {
		t.Errorf("the overview's search for a tag does not find 901")
	}
	if _, body := alice.Do("GET", "/api/v1/devices?q=gent", ""); body != "[]" && !strings.Contains(body, "[]") {
		t.Errorf("the viewer of finemeca searching acme's site: %s", body)
	}
	if _, body := alice.Do("GET", "/api/v1/devices", ""); strings.Contains(body, "Gent") || !strings.Contains(body, `"line":"L1"`) {
		t.Errorf("the viewer of finemeca sees: %s", body)
	}
	// The Settings page finds devices as the overview does, and edits one.
	if _, body := root.Do("GET", "/settings/devices?q=gent", ""); !strings.Contains(body, "acme/air/901") || !strings.Contains(body, "main compressor") || strings.Contains(body, "<td>finemeca/air/201") {
		t.Errorf("the devices page's search for a site:\n%s", body[strings.Index(body, "<main>"):])
	}
	form := url.Values{"csrf_token": {root.CSRF}, "item_name": {"acme/air/901"}, "version": {"0"}, "name": {"main compressor"}, "site": {"Gent"}, "line": {"L2"}}
	if code, body := root.Do("POST", "/settings/devices", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != http.StatusSeeOther {
		t.Fatalf("save a device's form: HTTP %d %.500s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if _, body := root.Do("GET", "/api/v1/devices?device=901", ""); !strings.Contains(body, `"line":"L2"`) {
			return fmt.Errorf("device 901: %s", body)
		}
		return nil
	})

	// null takes a key out.
	if code, body := patch(root, "device=901", `{"site":null}`); code != 200 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if _, body := root.Do("GET", "/api/v1/devices?device=901", ""); strings.Contains(body, "Gent") {
			return fmt.Errorf("device 901: %s", body)
		}
		return nil
	})
}
