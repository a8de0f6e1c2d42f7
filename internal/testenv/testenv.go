// Package testenv gives tests the addresses of the real services they run
// against, and fails (never skips) a test whose service is not there. The
// fast tier, go test -short, runs only what needs nothing outside the
// process: a test that needs a service or tool is skipped there, and only
// there.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NATSURL is the external NATS server with JetStream
// (SENSORHUB_TEST_NATS_URL, default nats://127.0.0.1:4222).
func NATSURL(t testing.TB) string {
	return require(t, "SENSORHUB_TEST_NATS_URL", "nats://127.0.0.1:4222", "NATS server (nats-server -js)")
}

// MosquittoURL is the external Mosquitto broker
// (SENSORHUB_TEST_MQTT_URL, default tcp://127.0.0.1:1883).
func MosquittoURL(t testing.TB) string {
	return require(t, "SENSORHUB_TEST_MQTT_URL", "tcp://127.0.0.1:1883", "Mosquitto")
}

// Needs skips t in the fast tier (go test -short): it needs what,
// something outside the process that the full run (scripts/test.sh) has.
func Needs(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: needs %s; scripts/test.sh runs it", what)
	}
}

// Slow skips t in the fast tier: it takes many seconds (it waits out a
// timeout, or builds the binary) and the full run has it.
func Slow(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: a slow test; scripts/test.sh runs it")
	}
}

// Command is exec.Command for a tool the full run installs (Mosquitto's
// standalone clients): the test is skipped in the fast tier.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	Needs(t, name)
	return exec.Command(name, args...)
}

func require(t testing.TB, env, def, what string) string {
	t.Helper()
	Needs(t, what)
	u := os.Getenv(env)
	if u == "" {
		u = def
	}
	host := u
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		host = p.Host
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is needed at %s (set %s to move it; .ci/run starts it): %v", what, u, env, err)
	}
	c.Close()
	return u
}

var seq atomic.Int64

// Unique returns a name unique to this test run, usable as a queue prefix
// or MQTT topic level on a shared server.
func Unique(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("t%d_%d_%s", os.Getpid(), seq.Add(1), name)
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, and that it gave no one else in this test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		// The system may give a port just closed again: two processes of
		// one test would then be given the same address.
		if !handed[addr] {
			handed[addr] = true
			return addr
		}
	}
}

// handed are the addresses FreeAddr gave in this test binary.
var (
	handedMu sync.Mutex
	handed   = map[string]bool{}
)

// Eventually polls cond every interval until it returns nil or total has
// passed, then fails the test with cond's last error.
func Eventually(t testing.TB, total, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", total, err)
		}
		time.Sleep(interval)
	}
}

// PostgresURL is the external PostgreSQL server's database
// (SENSORHUB_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test).
func PostgresURL(t testing.TB) string {
	return require(t, "SENSORHUB_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL")
}

// PostgresSchema creates a schema of its own for the test on the external
// PostgreSQL server, dropped when the test ends, and returns a URL whose
// connections use it.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	name := strings.ToLower(Unique(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// ActiveMQURL is the external ActiveMQ broker's STOMP address
// (SENSORHUB_TEST_STOMP_URL, default stomp://127.0.0.1:61613;
// scripts/activemq.sh starts one).
func ActiveMQURL(t testing.TB) string {
	return require(t, "SENSORHUB_TEST_STOMP_URL", "stomp://127.0.0.1:61613", "ActiveMQ (scripts/activemq.sh)")
}

// StartMosquitto starts a Mosquitto broker of the test's own on a free
// loopback port, with conf added to its configuration, until the test
// ends, and returns its tcp:// URL.
func StartMosquitto(t testing.TB, conf string) string {
	t.Helper()
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	RunMosquitto(t, addr, fmt.Sprintf("listener %s %s\nallow_anonymous true\npersistence false\n%s\n", port, host, conf))
	return "tcp://" + addr
}

// RunMosquitto runs Mosquitto with the configuration conf until the test
// ends, once it accepts connections at addr; its log is shown if the test
// fails.
func RunMosquitto(t testing.TB, addr, conf string) {
	t.Helper()
	Needs(t, "mosquitto")
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Fatal("mosquitto is needed (apt-get install mosquitto; .ci/run installs it)")
		}
	}
	dir := t.TempDir()
	path := dir + "/mosquitto.conf"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	log, _ := os.Create(dir + "/mosquitto.log")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(dir + "/mosquitto.log")
			t.Logf("mosquitto log:\n%s", out)
		}
	})
	Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// SmallDisk mounts a filesystem of its own of size bytes (tmpfs) for the
// test, unmounted when it ends, and returns its directory: a disk that
// fills for real. It needs root, as .ci/run has.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	Needs(t, "root, to mount a small filesystem")
	if os.Getuid() != 0 {
		t.Fatal("a test of a full disk mounts a small filesystem and needs root (run ./scripts/test.sh as root, as .ci/run does)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// GrowDisk makes the filesystem SmallDisk mounted on dir size bytes large.
func GrowDisk(t testing.TB, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs on %s to %d bytes: %v: %s", dir, size, err, out)
	}
}

// Fill writes a file of zeros into dir until the disk is full, and returns
// its path: removing it gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	return FillLeaving(t, dir, 0)
}

// FillLeaving writes a file of zeros into dir until the disk has no more
// than leave bytes free (or is full), and returns its path.
func FillLeaving(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := dir + "/filler"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if leave > 0 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err == nil && int64(st.Bavail)*int64(st.Bsize) <= leave {
				break
			}
		}
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	return path
}
