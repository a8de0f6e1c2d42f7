package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// TestReplayOfRolledUpDays: three days of a power meter's messages come
// through the queue and retention rolls their days up; a replay of the raw
// stream over their receive window, and ten of the messages sent again,
// are duplicates: the days' readings and consumption stay as they were.
func TestReplayOfRolledUpDays(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	p := startPipeline(t, cfg, 50, nil)
	from := time.Now().Add(-time.Minute)
	start := time.Date(2022, 5, 2, 0, 0, 0, 0, cfg.Location())
	var envs []reading.Envelope
	for i := range 3 * 96 {
		at := start.Add(time.Duration(i) * 15 * time.Minute)
		payload := fmt.Sprintf(`{"Customer":"finemeca","idGateway":171,"idDevice":301,"Mod":"centrale","Time":%q,"msgCount":%d,"P":3,"P-U":"kW","E":%d,"E-U":"kWh"}`,
			at.Format(time.DateTime), 1000+i, 100+i)
		envs = append(envs, reading.Envelope{Topic: "finemeca/centrale/301", Payload: []byte(payload), Received: time.Now(), Source: "mqtt"})
	}
	p.forward(t, envs)
	k := store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"}
	firstDay := func(agg string) float64 {
		t.Helper()
		got, err := series.Read(ctx, p.st, series.Query{DeviceKey: k, Field: "E", Agg: agg, Step: series.Step{Days: 1},
			From: start, To: start.AddDate(0, 0, 1)}, cfg.Location())
		if err != nil || len(got.Points) != 1 {
			t.Fatalf("%s of E on 2 May: %+v %v", agg, got.Points, err)
		}
		return got.Points[0].Value
	}
	// 96 intervals of 1 kWh: the reading at midnight on 3 May closes the
	// day.
	if n, inc := firstDay("count"), firstDay("increase"); n != 96 || inc != 96 {
		t.Fatalf("2 May as stored: %v readings, increase %v; want 96 and 96", n, inc)
	}
	removed, err := p.st.ApplyRetention(ctx, store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 30 * 24 * time.Hour} }}, time.Now())
	if err != nil || removed.Readings != 3*96 {
		t.Fatalf("retention: %+v %v, want the three days rolled up", removed, err)
	}

	res, err := p.in.Replay(ctx, p.q, from, time.Now().Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 3*96 || res.Stored != 0 || res.Duplicates != 3*96 {
		t.Errorf("replay: %+v, want %d messages, all duplicates", res, 3*96)
	}
	p.forward(t, envs[40:50])
	if n, inc := firstDay("count"), firstDay("increase"); n != 96 || inc != 96 {
		t.Errorf("2 May after the replay and 10 messages again: %v readings, increase %v; want 96 and 96", n, inc)
	}
	if again, err := p.st.ApplyRetention(ctx, store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 30 * 24 * time.Hour} }}, time.Now()); err != nil || again.Readings != 0 {
		t.Errorf("retention after the replay: %+v %v, want nothing to roll up", again, err)
	}
}
