package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
)

// endToEndSplit runs the split deployment as separate processes of the
// binary exe: one gateway and o.Ingestors ingestors, on the configured
// external broker, NATS queue and PostgreSQL store, and times the payloads
// from publish to stored.
func endToEndSplit(ctx context.Context, o Options, base *config.Config, payloads [][]byte) (float64, int64, error) {
	cfg := *base
	cfg.Queue.Prefix = fmt.Sprintf("%s_split%d", base.Queue.Prefix, o.Ingestors)
	cfg.MQTT.ClientID = cfg.Queue.Prefix
	// A fresh schema keeps this run's readings apart from any other's.
	dropSchema, err := freshSchema(ctx, &cfg)
	if err != nil {
		return 0, 0, err
	}
	defer dropSchema()
	defer dropStreams(&cfg)
	path := filepath.Join(base.DataDir, cfg.Queue.Prefix+".yaml")
	raw, err := cfg.Marshal()
	if err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return 0, 0, err
	}
	roles := []string{app.RoleGateway}
	for range o.Ingestors {
		roles = append(roles, app.RoleIngest)
	}
	var gatewayHTTP string
	for i, role := range roles {
		addr, err := freeAddr()
		if err != nil {
			return 0, 0, err
		}
		if i == 0 {
			gatewayHTTP = addr
		}
		cmd := exec.CommandContext(ctx, o.Binary, role, "--config", path, "--http", addr)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		defer func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}()
		if err := waitReady(ctx, addr); err != nil {
			return 0, 0, fmt.Errorf("%s process: %w\n%s", role, err, logs.String())
		}
	}
	st, err := app.OpenStore(ctx, &cfg, false, o.Log)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()

	// The gateway's count of messages taken paces the publisher, as the
	// in-process run does.
	var taken atomic.Int64
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for pctx.Err() == nil {
			if n, err := metrics.Scrape(ctx, gatewayHTTP, "sensorhub_messages_received_total"); err == nil {
				taken.Store(int64(n))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	pub, err := connect(cfg.MQTT.Broker, "sensorhub-bench-pub")
	if err != nil {
		return 0, 0, err
	}
	defer pub.Disconnect(100)
	start := time.Now()
	if err := publishAll(pub, cfg.Customers[0]+"/bench", payloads, o.QoS, o.Rate, taken.Load); err != nil {
		return 0, 0, err
	}
	return waitStored(ctx, st, len(payloads), start, taken.Load)
}

// freshSchema gives a PostgreSQL store a schema of its own, dropped by the
// returned function.
func freshSchema(ctx context.Context, cfg *config.Config) (func(), error) {
	if cfg.Store.Engine != "postgres" {
		return func() {}, nil
	}
	conn, err := pgx.Connect(ctx, cfg.Store.URL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	schema := pgx.Identifier{strings.ToLower(cfg.Queue.Prefix)}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		return nil, err
	}
	base := cfg.Store.URL
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("search_path", strings.ToLower(cfg.Queue.Prefix))
	u.RawQuery = q.Encode()
	cfg.Store.URL = u.String()
	return func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			conn.Close(context.Background())
		}
	}, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropStreams deletes the streams a run made on an external NATS server:
// each reserves its raw_max_bytes there.
func dropStreams(cfg *config.Config) {
	if cfg.Queue.Engine != "nats" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := jetstream.Connect(ctx, strings.Join(cfg.QueueURLs(), ","), jetstream.Options{Prefix: cfg.Queue.Prefix,
		RawMaxAge: cfg.Queue.RawMaxAge, ReadingsMaxAge: cfg.Queue.ReadingsMaxAge, RawMaxBytes: int64(cfg.Queue.RawMaxBytes)})
	if err != nil {
		return
	}
	defer q.Close()
	q.DeleteStreams(ctx)
}
