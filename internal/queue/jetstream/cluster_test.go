package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// startCluster starts three NATS servers with JetStream in this process,
// each on its own free client and route ports, routed to each other.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	port := func() int {
		_, p, _ := net.SplitHostPort(testenv.FreeAddr(t))
		n, _ := strconv.Atoi(p)
		return n
	}
	const nodes = 3
	var clientPorts, routePorts [nodes]int
	for i := range nodes {
		clientPorts[i], routePorts[i] = port(), port()
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var servers []*server.Server
	for i := range nodes {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "sensorhub-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		servers = append(servers, ns)
		t.Cleanup(ns.Shutdown)
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("%s not ready", ns.Name())
		}
	}
	return servers
}

// TestClusterNodeLoss runs the queue on a three-node JetStream cluster
// with streams replicated three times, and shuts down the raw stream's
// leader while messages are published and consumed: every message is
// consumed, and the stream holds each once.
func TestClusterNodeLoss(t *testing.T) {
	testenv.Slow(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	servers := startCluster(t)
	var urls []string
	for _, ns := range servers {
		urls = append(urls, ns.ClientURL())
	}
	o := opts(t)
	o.Replicas = 3
	var q *jetstream.Queue
	// The streams can be created once the cluster has elected its leader.
	testenv.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		cctx, c := context.WithTimeout(ctx, 5*time.Second)
		defer c()
		var err error
		q, err = jetstream.Connect(cctx, strings.Join(urls, ","), o)
		return err
	})
	defer q.Close()
	cons, err := q.Consumer(ctx, queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}

	const total, batch = 6000, 50
	var (
		mu       sync.Mutex
		got      = map[string]int{}
		retries  int
		pubDone  = make(chan struct{})
		consDone = make(chan struct{})
	)
	go func() {
		defer close(pubDone)
		for i := 0; i < total; i += batch {
			msgs := make([]queue.Message, 0, batch)
			for j := i; j < i+batch; j++ {
				id := fmt.Sprintf("m%05d", j)
				msgs = append(msgs, queue.Message{Stream: queue.Raw, Subject: "finemeca.air.1", ID: id, Data: []byte(id)})
			}
			// A publish that fails while the cluster elects a new leader is
			// sent again: the message IDs keep the stream from storing a
			// message twice.
			for ctx.Err() == nil {
				pctx, c := context.WithTimeout(ctx, 5*time.Second)
				err := q.Publish(pctx, msgs...)
				c()
				if err == nil {
					break
				}
				mu.Lock()
				retries++
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() {
		defer close(consDone)
		for ctx.Err() == nil {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == total {
				return
			}
			ds, err := cons.Fetch(ctx, 200, 500*time.Millisecond)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, d := range ds {
				if d.Ack(ctx) == nil {
					mu.Lock()
					got[string(d.Data())]++
					mu.Unlock()
				}
			}
		}
	}()

	// Once a third is consumed, the raw stream's leader goes away.
	testenv.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < total/3 {
			return fmt.Errorf("%d consumed", len(got))
		}
		return nil
	})
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	info, err := js.Stream(ctx, strings.ToUpper(o.Prefix)+"_RAW")
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	for _, ns := range servers {
		if ns.Name() == leader {
			ns.Shutdown()
			t.Logf("shut down %s, the raw stream's leader", leader)
		}
	}

	<-pubDone
	select {
	case <-consDone:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != total {
		t.Fatalf("consumed %d distinct messages of %d", len(got), total)
	}
	redelivered := 0
	for _, n := range got {
		redelivered += n - 1
	}
	info, err = js.Stream(ctx, strings.ToUpper(o.Prefix)+"_RAW")
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != total {
		t.Fatalf("the stream holds %d messages, want %d", n, total)
	}
	if l := info.CachedInfo().Cluster.Leader; l == leader || l == "" {
		t.Errorf("stream leader after the loss: %q", l)
	}
	t.Logf("%d messages consumed, %d delivered twice, %d publishes retried", total, redelivered, retries)
}
