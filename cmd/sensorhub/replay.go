package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// tokenEnv is the environment variable that gives commands talking to a
// running sensorhub their API token, when --token does not.
const tokenEnv = "SENSORHUB_TOKEN"

// cmdReplay asks a running sensorhub to decode again the raw messages it
// received in a time range (after a mapping fix), through its API.
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	from := fs.String("from", "", "start of the range: RFC 3339 (2026-05-03T00:00:00+02:00) or Unix milliseconds (required)")
	to := fs.String("to", "", "end of the range (default now)")
	sensor := fs.String("sensor", "", "only this sensor kind")
	base := fs.String("url", "http://127.0.0.1:8080", "the running sensorhub's HTTP address")
	token := fs.String("token", "", "API token of an operator or admin (default $"+tokenEnv+"); needed once sensorhub has users")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("replay: --from is required")
	}
	if *token == "" {
		*token = os.Getenv(tokenEnv)
	}
	q := url.Values{"from": {*from}}
	if *to != "" {
		q.Set("to", *to)
	}
	if *sensor != "" {
		q.Set("sensor", *sensor)
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(*base, "/")+"/api/v1/replay?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	client := &http.Client{Timeout: 30 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("replay: is sensorhub running at %s? %w", *base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusUnauthorized && *token == "":
		return fmt.Errorf("replay: sensorhub at %s has users and needs an API token (HTTP 401: %s): give one of an operator or admin with --token TOKEN or $%s (make one with sensorhub token add --user NAME)",
			*base, answer, tokenEnv)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("replay: sensorhub at %s refuses the token (HTTP 401: %s): give a valid token of an operator or admin with --token or $%s (sensorhub token list, sensorhub token add --user NAME)",
			*base, answer, tokenEnv)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("replay: the token may not replay (HTTP 403: %s): give a token of an operator or admin, not of a viewer nor an ingest token, with --token or $%s",
			answer, tokenEnv)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("replay: HTTP %d: %s", resp.StatusCode, answer)
	}
	fmt.Fprintf(stdout, "%s", body)
	return nil
}
