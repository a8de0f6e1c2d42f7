package app_test

import (
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// pub runs the standalone mosquitto_pub client once and returns its output
// and whether it succeeded.
func pub(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	cmd := testenv.Command(t, "mosquitto_pub", append([]string{"-q", "1"}, args...)...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("mosquitto_pub: %v (install the mosquitto-clients package)", err)
	}
	return strings.TrimSpace(string(out)), err == nil
}

// TestBrokerLoginsAndACL: the built-in broker, with users and anonymous
// access off, refuses an anonymous client, a wrong password and a
// publication outside the user's topics, all tried with the standalone
// mosquitto_pub; a user's message in its topics is stored, over TCP and
// over TLS; and a user of one customer cannot send for another.
func TestBrokerLoginsAndACL(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("gw-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := testenv.WriteCerts(t, dir)
	tlsAddr := testenv.FreeAddr(t)
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.Customers = []string{"finemeca", "acme"}
		c.MQTT.Topics = []string{"finemeca/#", "acme/#"}
		c.MQTT.Builtin.AllowAnonymous = false
		c.MQTT.Builtin.Users = []config.BrokerUser{
			{Username: "finemeca-gw", PasswordHash: string(hash), Customer: "finemeca"},
			{Username: "acme-gw", PasswordHash: string(hash), Customer: "acme"},
		}
		c.MQTT.Builtin.TLS = config.BrokerTLS{Listen: tlsAddr, CertFile: certFile, KeyFile: keyFile}
	})
	host, port, _ := net.SplitHostPort(a.MQTTAddr())
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	msg := func(customer string, count int) string {
		return fmt.Sprintf(`{"Customer":%q,"idGateway":1,"idDevice":201,"Time":"2026-05-01 10:00:%02d","msgCount":%d,"Mod":"air","Pres":6.2,"OpenPres":6}`,
			customer, count, count)
	}
	stored := func(customer string) int64 {
		devs, err := a.Store.Devices(t.Context(), store.DeviceFilter{Customer: customer})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, d := range devs {
			n += d.Readings
		}
		return n
	}

	if out, ok := pub(t, "-h", host, "-p", port, "-t", "finemeca/air/201", "-m", msg("finemeca", 1)); ok || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("anonymous client: ok=%v %q, want refused as not authorised", ok, out)
	}
	if out, ok := pub(t, "-h", host, "-p", port, "-u", "finemeca-gw", "-P", "wrong-password", "-t", "finemeca/air/201", "-m", msg("finemeca", 2)); ok {
		t.Errorf("wrong password accepted: %q", out)
	}
	if out, ok := pub(t, "-h", host, "-p", port, "-u", "finemeca-gw", "-P", "gw-password", "-t", "acme/air/201", "-m", msg("finemeca", 3)); ok {
		t.Errorf("publication outside the user's topics accepted: %q", out)
	}
	// MQTT 5 clients are told why in the PUBACK.
	if out, ok := pub(t, "-V", "mqttv5", "-h", host, "-p", port, "-u", "finemeca-gw", "-P", "gw-password", "-t", "acme/air/201", "-m", msg("finemeca", 4)); !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("MQTT 5 publication outside the user's topics: ok=%v %q, want not authorised", ok, out)
	}
	if out, ok := pub(t, "-h", host, "-p", port, "-u", "finemeca-gw", "-P", "gw-password", "-t", "finemeca/air/201", "-m", msg("finemeca", 5)); !ok {
		t.Fatalf("the user's own topic: %q", out)
	}
	if out, ok := pub(t, "-h", "127.0.0.1", "-p", tlsPort, "--cafile", caFile, "-u", "finemeca-gw", "-P", "gw-password",
		"-t", "finemeca/air/201", "-m", msg("finemeca", 6)); !ok {
		t.Fatalf("over TLS: %q", out)
	}
	// acme's login publishes, in its own topics, a message naming finemeca:
	// refused, and kept under acme with the reason.
	if out, ok := pub(t, "-h", host, "-p", port, "-u", "acme-gw", "-P", "gw-password", "-t", "acme/air/7", "-m", msg("finemeca", 7)); !ok {
		t.Fatalf("acme's own topic: %q", out)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		n, err := a.Store.CountRejected(t.Context(), store.RejectedFilter{Customer: "acme"})
		if err != nil || n != 1 || stored("finemeca") != 2 {
			return fmt.Errorf("finemeca stored %d (want 2: over TCP and TLS), acme rejected %d (want 1): %v", stored("finemeca"), n, err)
		}
		return nil
	})
	// Failed logins of one address are limited: five a minute (one was
	// spent above), then even the right password is refused.
	for i := range 4 {
		if _, ok := pub(t, "-h", host, "-p", port, "-u", "acme-gw", "-P", "guess", "-t", "acme/air/7", "-m", msg("acme", 10+i)); ok {
			t.Fatalf("wrong password %d accepted", i)
		}
	}
	if out, ok := pub(t, "-h", host, "-p", port, "-u", "acme-gw", "-P", "gw-password", "-t", "acme/air/7", "-m", msg("acme", 20)); ok {
		t.Errorf("after five failed logins in a minute, the right password was accepted: %q", out)
	}
	rj, err := a.Store.Rejected(t.Context(), store.RejectedFilter{Customer: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rj) != 1 || !strings.Contains(rj[0].Reason, `customer "finemeca" refused: this sender may only send for "acme"`) {
		t.Errorf("rejected: %+v", rj)
	}
	if n := stored("acme"); n != 0 {
		t.Errorf("acme has %d readings", n)
	}
}

// TestBrokerWithoutLogins: a built-in broker with no users and anonymous
// access off would take nothing; sensorhub refuses to start and says how.
func TestBrokerWithoutLogins(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.HTTP.Listen, cfg.MQTT.Listen = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.Queue.Prefix = testenv.Unique(t)
	_, err := app.Start(t.Context(), cfg, app.Options{}, discard())
	if err == nil || !strings.Contains(err.Error(), "mqtt.builtin.users") || !strings.Contains(err.Error(), "allow_anonymous") {
		t.Fatalf("start with no broker logins: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
