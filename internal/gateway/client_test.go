package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestClientOverTLS runs a real Mosquitto with a TLS listener and checks
// that the gateway's client, trusting the CA file, takes its messages.
func TestClientOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := testenv.WriteCerts(t, dir)
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	passwords := filepath.Join(dir, "passwords")
	if out, err := testenv.Command(t, "mosquitto_passwd", "-c", "-b", passwords, "sensorhub", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	settings := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\ncafile %s\ncertfile %s\nkeyfile %s\n",
		port, passwords, ca, cert, key)
	if os.Getuid() == 0 {
		settings += "user root\n" // as root, Mosquitto would switch to a user that cannot read the test's files
	}
	testenv.RunMosquitto(t, addr, settings)

	ctx := context.Background()
	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: "tls", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fw := &gateway.Forwarder{Publisher: q, Metrics: metrics.New(), Log: log}
	tlsCfg, err := gateway.TLSConfig(ca, "", "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := gateway.Connect(ctx, fw, gateway.ClientOptions{Broker: "ssl://" + addr, ClientID: testenv.Unique(t),
		Username: "sensorhub", Password: "s3cret", CleanSession: true, Topics: []string{"finemeca/#"}, QoS: 1, TLS: tlsCfg}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ready(); err != nil {
		t.Fatal(err)
	}
	pub := testenv.Command(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "--cafile", ca, "-u", "sensorhub", "-P", "s3cret",
		"-q", "1", "-t", "finemeca/air/201", "-m", `{"Customer":"finemeca"}`)
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub over TLS: %v: %s", err, out)
	}
	c, err := q.Consumer(ctx, queue.Raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Fetch(ctx, 1, 10*time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("fetch: %d messages, %v", len(ds), err)
	}
	env, err := reading.UnmarshalEnvelope(ds[0].Data())
	if err != nil || env.Topic != "finemeca/air/201" || string(env.Payload) != `{"Customer":"finemeca"}` || env.Source != "mqtt" {
		t.Fatalf("envelope %+v, %v", env, err)
	}

	// A client that does not trust the CA, and one with a wrong password,
	// are refused.
	untrusted, err := gateway.TLSConfig("", "", "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]gateway.ClientOptions{
		"untrusted CA":   {Username: "sensorhub", Password: "s3cret", TLS: untrusted},
		"wrong password": {Username: "sensorhub", Password: "guess", TLS: tlsCfg},
	} {
		o.Broker, o.ClientID, o.CleanSession, o.Topics, o.QoS = "ssl://"+addr, testenv.Unique(t), true, []string{"finemeca/#"}, 1
		o.ConnectWait = 2 * time.Second
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cl2, err := gateway.Connect(cctx, fw, o, log)
		cancel()
		if err == nil {
			ready := cl2.Ready()
			cl2.Close()
			if ready == nil {
				t.Errorf("%s: the client connected", name)
			}
		}
	}
}
