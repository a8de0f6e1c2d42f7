package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// ValuesPerReading is what a reading of the reference load carries from
// the device: RSSI, SNR, three voltages, three currents, power, power
// factor and energy.
const ValuesPerReading = 11

// StoreOptions configures a run of a load into the store.
type StoreOptions struct {
	// Config is the sensorhub to measure; its data directory should be a
	// fresh one (and its PostgreSQL schema an empty one).
	Config *config.Config
	// Load is a file of device messages, one JSON object a line, such as
	// the reference load (shared/tools/gen_meters.py, or sensorhub bench
	// --gen-meters).
	Load string
	// Posters post the load to /api/v1/ingest at once, Lines lines a
	// request.
	Posters, Lines int
}

// StoreResult is what a run of a load into the store measured.
type StoreResult struct {
	Readings int
	// Posters and Lines are the ones the run used.
	Posters, Lines int
	Elapsed        time.Duration
	// Bytes is what the store takes once stopped cleanly: the SQLite file
	// and its write-ahead log, or every table of the PostgreSQL schema.
	Bytes int64
	// Tables is Bytes table by table (with its indexes and TOAST), on
	// PostgreSQL.
	Tables map[string]int64
	// PeakRSS is the process' peak resident memory, in bytes.
	PeakRSS int64
	// Encodings compares the encodings of chunks on the readings stored.
	Encodings []chunk.Candidate
}

// Rate is readings stored a second, over HTTP ingest.
func (r StoreResult) Rate() float64 { return float64(r.Readings) / r.Elapsed.Seconds() }

// BytesPerValue is the store's bytes per device value.
func (r StoreResult) BytesPerValue() float64 {
	return float64(r.Bytes) / float64(r.Readings*ValuesPerReading)
}

// Report writes the result for a person.
func (r StoreResult) Report(w io.Writer, o StoreOptions) {
	o.Posters, o.Lines = r.Posters, r.Lines
	fmt.Fprintf(w, "load                %s: %d readings, %d device values each\n", o.Load, r.Readings, ValuesPerReading)
	fmt.Fprintf(w, "store               %s\n", o.Config.Store.Engine)
	fmt.Fprintf(w, "HTTP ingest         %10.0f readings/s (%d posters, %d lines a request, %s until all stored)\n", r.Rate(), o.Posters, o.Lines, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "store size          %10d bytes after a clean stop\n", r.Bytes)
	for _, t := range slices.Sorted(maps.Keys(r.Tables)) {
		if r.Tables[t] > 0 {
			fmt.Fprintf(w, "  %-17s %10d bytes\n", t, r.Tables[t])
		}
	}
	fmt.Fprintf(w, "bytes/device value  %10.3f\n", r.BytesPerValue())
	fmt.Fprintf(w, "peak resident       %10.0f MiB\n", float64(r.PeakRSS)/(1<<20))
	if len(r.Encodings) > 0 {
		fmt.Fprintf(w, "encodings of the readings stored (bytes/device value):\n")
		for _, c := range r.Encodings {
			fmt.Fprintf(w, "  %-75s %8.3f\n", c.Name, float64(c.Bytes)/float64(r.Readings*ValuesPerReading))
		}
	}
}

// Store posts a load to sensorhub's HTTP ingest, times it until every
// reading is stored, stops sensorhub cleanly (which folds every reading
// into chunks), and measures the store's size.
func Store(ctx context.Context, o StoreOptions) (StoreResult, error) {
	var res StoreResult
	if o.Posters < 1 {
		o.Posters = runtime.GOMAXPROCS(0)
	}
	if o.Lines < 1 {
		o.Lines = 1000
	}
	res.Posters, res.Lines = o.Posters, o.Lines
	bodies, n, err := loadBodies(o.Load, o.Lines)
	if err != nil {
		return res, err
	}
	res.Readings = n
	cfg := o.Config
	drop, err := freshSchema(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer drop()
	a, err := app.Start(ctx, cfg, app.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return res, err
	}
	defer dropStreams(cfg)
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	start := time.Now()
	work := make(chan []byte)
	errs := make(chan error, o.Posters)
	var wg sync.WaitGroup
	for range o.Posters {
		wg.Go(func() {
			for body := range work {
				if err := post(ctx, "http://"+a.HTTPAddr()+"/api/v1/ingest?topic="+cfg.Customers[0]+"/bench", body); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return res, err
	default:
	}
	if _, _, err := waitStored(ctx, a.Store, n, start, a.Forwarded); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	st := a.Store
	// The encodings, compared on what the store holds: its chunks, read
	// before the stop folds the rest in (compacted here for that).
	if err := st.Compact(ctx); err != nil {
		return res, err
	}
	var groups [][]reading.Reading
	if err := st.ForEachChunk(ctx, func(rs []reading.Reading) error { groups = append(groups, rs); return nil }); err != nil {
		return res, err
	}
	if res.Encodings, err = chunk.Compare(groups); err != nil {
		return res, err
	}
	groups = nil
	closed = true
	if err := a.Close(); err != nil {
		return res, err
	}
	res.PeakRSS = peakRSS()
	res.Bytes, res.Tables, err = storeBytes(ctx, cfg)
	return res, err
}

// loadBodies reads a load file into request bodies of lines lines each.
func loadBodies(path string, lines int) ([][]byte, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var bodies [][]byte
	var cur bytes.Buffer
	n, inBody := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
		n++
		if inBody++; inBody == lines {
			bodies = append(bodies, bytes.Clone(cur.Bytes()))
			cur.Reset()
			inBody = 0
		}
	}
	if cur.Len() > 0 {
		bodies = append(bodies, cur.Bytes())
	}
	return bodies, n, sc.Err()
}

func post(ctx context.Context, url string, body []byte) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			return nil
		case http.StatusServiceUnavailable:
			time.Sleep(100 * time.Millisecond) // held back: send again
		default:
			return fmt.Errorf("ingest: HTTP %d: %s", resp.StatusCode, msg)
		}
	}
}

// storeBytes is what the store takes on disk, and on PostgreSQL table by
// table.
func storeBytes(ctx context.Context, cfg *config.Config) (int64, map[string]int64, error) {
	if cfg.Store.Engine != "postgres" {
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			if st, err := os.Stat(cfg.StorePath() + suffix); err == nil {
				total += st.Size()
			}
		}
		return total, nil, nil
	}
	db, err := sql.Open("pgx", cfg.Store.URL)
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = current_schema()`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var total int64
	tables := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return 0, nil, err
		}
		tables[name], total = n, total+n
	}
	return total, tables, rows.Err()
}

// peakRSS is the process' peak resident memory.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// Meters writes the reference load: devices power meters (centrale) every
// 30 s for hours hours from 2026-11-01 00:00 local time, with the noise of
// real meters, one JSON message a line: the same as
// shared/tools/gen_meters.py, with Go's random numbers.
func Meters(w io.Writer, devices int, hours float64) error {
	r := rand.New(rand.NewPCG(1, 1))
	bw := bufio.NewWriter(w)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	round := func(v float64, digits int) float64 {
		p := math.Pow(10, float64(digits))
		return math.Round(v*p) / p
	}
	for i := range int(hours * 120) {
		t := t0.Add(time.Duration(30*i) * time.Second).Format("2006-01-02 15:04:05")
		for d := range devices {
			fmt.Fprintf(bw, `{"Customer": "finemeca", "idGateway": 171, "idDevice": %d, "Device": "m%d", "Time": %q, "msgCount": %d, "RSSI": %d, "SNR": %v, "Mod": "centrale", `+
				`"U1": %v, "U2": %v, "U3": %v, "I1": %v, "I2": %v, "I3": %v, "P": %v, "PF": %v, "E": %v, "E-U": "kWh"}`+"\n",
				20000+d, d, t, i+1, -60-r.IntN(21), round(2+8*r.Float64(), 1),
				round(230+r.NormFloat64(), 1), round(230+r.NormFloat64(), 1), round(230+r.NormFloat64(), 1),
				round(17+0.5*r.NormFloat64(), 1), round(17+0.5*r.NormFloat64(), 1), round(17+0.5*r.NormFloat64(), 1),
				round(11+0.3*r.NormFloat64(), 2), round(0.93+0.01*r.NormFloat64(), 2), round(1000+float64(d)+float64(i)*0.01, 1))
		}
	}
	return bw.Flush()
}
