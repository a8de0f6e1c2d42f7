package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// cmdReplay asks a running sensorhub to decode again the raw messages it
// received in a time range (after a mapping fix), through its API.
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	from := fs.String("from", "", "start of the range: RFC 3339 (2026-05-03T00:00:00+02:00) or Unix milliseconds (required)")
	to := fs.String("to", "", "end of the range (default now)")
	sensor := fs.String("sensor", "", "only this sensor kind")
	base := fs.String("url", "http://127.0.0.1:8080", "the running sensorhub's HTTP address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("replay: --from is required")
	}
	q := url.Values{"from": {*from}}
	if *to != "" {
		q.Set("to", *to)
	}
	if *sensor != "" {
		q.Set("sensor", *sensor)
	}
	client := &http.Client{Timeout: 30 * time.Minute}
	resp, err := client.Post(strings.TrimSuffix(*base, "/")+"/api/v1/replay?"+q.Encode(), "", nil)
	if err != nil {
		return fmt.Errorf("replay: is sensorhub running at %s? %w", *base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("replay: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s", body)
	return nil
}
