package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestBrokerSurvivesFileDescriptorExhaustion: while the process has no
// file descriptor left, the built-in broker cannot accept a connection;
// it says so in its check, and accepts again once descriptors are free,
// instead of stopping for good.
func TestBrokerSurvivesFileDescriptorExhaustion(t *testing.T) {
	ctx := context.Background()
	// The external NATS server: its connection is open before descriptors
	// run out, and no file of it is opened here meanwhile.
	q, err := jetstream.Connect(ctx, testenv.NATSURL(t), jetstream.Options{Prefix: testenv.Unique(t), RawMaxAge: time.Hour, RawMaxBytes: 64 << 20, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { q.DeleteStreams(ctx); q.Close() }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fw := &gateway.Forwarder{Publisher: q, Metrics: metrics.New(), Log: log}
	b, err := gateway.StartBroker(fw, gateway.BrokerOptions{Listen: "127.0.0.1:0", Topics: []string{"finemeca/#"},
		MaxPendingWrites: 1024, MaxInflight: 1024, MaxPacket: 1 << 20, AllowAnonymous: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cons, err := q.Consumer(ctx, queue.Raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(b.Addr().String())
	// The client is another process, started before this one runs out:
	// it connects a second later.
	pub := testenv.Command(t, "sh", "-c", fmt.Sprintf("sleep 1; mosquitto_pub -h %s -p %s -q 1 -t finemeca/air/1 -m hello", host, port))
	pub.Stdout, pub.Stderr = os.Stderr, os.Stderr
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	open, _ := os.ReadDir("/proc/self/fd")
	low := lim
	low.Cur = uint64(len(open) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	defer release()
	for {
		f, err := os.Open("/dev/null")
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, f)
	}
	// The connection waits in the backlog; the broker says it cannot take it.
	deadline := time.Now().Add(10 * time.Second)
	for b.Check(ctx) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	checkErr := b.Check(ctx)
	release()
	if checkErr == nil || !strings.Contains(checkErr.Error(), "too many open files") {
		t.Fatalf("while out of descriptors, the check said %v", checkErr)
	}
	if err := pub.Wait(); err != nil {
		t.Fatalf("mosquitto_pub after descriptors came back: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		ds, err := cons.Fetch(ctx, 10, 100*time.Millisecond)
		if err != nil || len(ds) != 1 {
			return fmt.Errorf("%d messages on the queue (%v), want the one sent", len(ds), err)
		}
		return nil
	})
	testenv.Eventually(t, 5*time.Second, 50*time.Millisecond, func() error {
		if err := b.Check(ctx); err != nil {
			return fmt.Errorf("after recovery: %v", err)
		}
		return nil
	})
}
