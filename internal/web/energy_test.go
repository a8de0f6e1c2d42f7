package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// energyNow is the clock of the energy tests: Wednesday 6 May 2026,
// 10:00 UTC (the site's zone); yesterday is Tuesday 5 May.
var energyNow = time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)

// meterReadings are a power meter's readings at 2 kW, every quarter from
// from to to (0.5 kWh each), leaving out those inside the gaps; its
// counter and message count are those of a meter read so since 1 May.
func meterReadings(customer, device string, from, to time.Time, gaps ...[2]time.Time) []reading.Reading {
	var rs []reading.Reading
	for at := from; !at.After(to); at = at.Add(15 * time.Minute) {
		inGap := false
		for _, g := range gaps {
			inGap = inGap || at.After(g[0]) && at.Before(g[1])
		}
		quarters := int64(at.Sub(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) / (15 * time.Minute))
		if !inGap {
			rs = append(rs, reading.Reading{Customer: customer, Sensor: "centrale", Device: device, Name: "meter-" + device, Gateway: "gw-1",
				Time: at, Received: at, MsgCount: quarters + 1, Fields: map[string]float64{"E": 1000 + float64(quarters)/2}, Units: map[string]string{"E": "kWh"}})
		}
	}
	return rs
}

// energyPrices are 0.20 EUR a kWh, 0.30 on weekdays from 07:00 to 22:00,
// 0.2 kg of CO2 a kWh; acme pays 0.10 USD a kWh.
func energyPrices(c *config.Config) {
	co2 := 0.2
	c.Money = &config.Money{Prices: config.Prices{Currency: "EUR", CO2KgPerKWh: &co2, Electricity: &config.Electricity{PriceKWh: 0.20,
		Bands: []config.Band{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "07:00", To: "22:00", PriceKWh: 0.30}}}},
		Customers: map[string]*config.Prices{"acme": {Currency: "USD", Electricity: &config.Electricity{PriceKWh: 0.10}}}}
}

var energyCardRe = regexp.MustCompile(`id="card-energy-(today|yesterday)">(.*)`)

// energyCardsOf are the texts of the overview's energy cards, by day.
func energyCardsOf(t *testing.T, c *client) map[string]string {
	t.Helper()
	code, body := c.Do("GET", "/", "")
	if code != 200 {
		t.Fatalf("GET /: HTTP %d: %.300s", code, body)
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	out := map[string]string{}
	for _, m := range energyCardRe.FindAllStringSubmatch(body, -1) {
		out[m[1]] = strings.Join(strings.Fields(tags.ReplaceAllString(strings.ReplaceAll(m[2], "</div><div", "</div> | <div"), " ")), " ")
	}
	return out
}

func (s *site) write(t *testing.T, rs []reading.Reading) {
	t.Helper()
	if _, err := s.st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
}

// TestOverviewEnergy: two finemeca meters at 2 kW, one of them silent
// from 20:00 yesterday to 04:00 today, give 96 kWh yesterday (60 kWh at
// 0.30, 36 at 0.20: 25.20 EUR; 19.2 kg CO2) and 38 kWh today up to 09:30
// (10 kWh at 0.30, 28 at 0.20: 8.60 EUR; 7.6 kg); the silent meter's
// increase across midnight is shared by time, 8 kWh to each day. Acme's
// meter, read yesterday from 10:00 to 12:00 only, gives 4 kWh and 0.40
// USD yesterday and no data today. A viewer of finemeca sees finemeca's
// figures alone, an operator of acme acme's and a dash for today, an
// admin one line per currency. Yesterday's figures are those of the
// daily bars and of the report for the same meters.
func TestOverviewEnergy(t *testing.T) {
	s := newSiteWith(t, energyPrices, func() time.Time { return energyNow })
	today := time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	last := today.Add(9*time.Hour + 30*time.Minute)
	s.write(t, meterReadings("finemeca", "m1", yesterday.Add(-15*time.Minute), last))
	s.write(t, meterReadings("finemeca", "m2", yesterday.Add(-15*time.Minute), last, [2]time.Time{yesterday.Add(20 * time.Hour), today.Add(4 * time.Hour)}))
	s.write(t, meterReadings("acme", "a1", yesterday.Add(10*time.Hour), yesterday.Add(12*time.Hour)))

	for _, c := range []struct {
		user             string
		today, yesterday string
	}{
		{"alice", "Energy today so far | 38.0 kWh | 8.60 EUR · 7.6 kg CO2", "Energy yesterday (2026-05-05) | 96.0 kWh | 25.20 EUR · 19.2 kg CO2"},
		{"acme-op", "Energy today so far | –", "Energy yesterday (2026-05-05) | 4.0 kWh | 0.40 USD · 0.8 kg CO2"},
		{"root", "Energy today so far | 38.0 kWh | 8.60 EUR · 7.6 kg CO2",
			"Energy yesterday (2026-05-05) | 100.0 kWh | 96.0 kWh: 25.20 EUR · 19.2 kg CO2 | 4.0 kWh: 0.40 USD · 0.8 kg CO2"},
	} {
		got := energyCardsOf(t, s.login(t, c.user))
		if got["today"] != c.today || got["yesterday"] != c.yesterday {
			t.Errorf("%s sees\n  %q\n  %q\nwant\n  %q\n  %q", c.user, got["today"], got["yesterday"], c.today, c.yesterday)
		}
	}

	// The same day through the daily bars and the report.
	root := s.login(t, "root")
	var bars, todayBars float64
	for _, m := range []string{"m1", "m2"} {
		pts := dailyBars(t, root, m, yesterday)
		if len(pts) != 2 {
			t.Fatalf("the daily bars of %s are %v, want two", m, pts)
		}
		bars += pts[0].Value
		todayBars += pts[1].Value
	}
	if math.Abs(todayBars-38) > 1e-6 {
		t.Errorf("today: daily bars %v kWh; the overview says 38", todayBars)
	}
	code, body := root.Do("GET", "/api/v1/report?customer=finemeca&from=2026-05-05&to=2026-05-06", "")
	var rep struct {
		Energy struct {
			KWh  float64 `json:"kwh"`
			Cost *float64
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || rep.Energy.Cost == nil {
		t.Fatalf("report: HTTP %d %.300s", code, body)
	}
	if math.Abs(bars-96) > 1e-6 || math.Abs(rep.Energy.KWh-96) > 1e-6 || math.Abs(*rep.Energy.Cost-25.2) > 1e-6 {
		t.Errorf("yesterday: daily bars %v kWh, report %v kWh %v EUR; the overview says 96 kWh, 25.20 EUR", bars, rep.Energy.KWh, *rep.Energy.Cost)
	}
}

// TestOverviewEnergyWithoutPrices: without money, the cards give kWh and
// no price; an interval marked invalid is left out as the daily bars
// leave it out; without a kind of meter there is no card.
func TestOverviewEnergyWithoutPrices(t *testing.T) {
	s := newSiteWith(t, nil, func() time.Time { return energyNow })
	today := time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	s.write(t, meterReadings("finemeca", "m1", yesterday.Add(-15*time.Minute), today.Add(2*time.Hour)))
	// Marked before the first overview: the figures are computed at most
	// once a minute.
	code, body := s.withToken(t, "admin").Do("POST", "/api/v1/devices/intervals?customer=finemeca&sensor=centrale&device=m1", fmt.Sprintf(`{"from":%q,"to":%q,"reason":"meter swapped"}`,
		yesterday.Add(10*time.Hour).Format(time.RFC3339), yesterday.Add(11*time.Hour).Format(time.RFC3339)), "Content-Type", "application/json")
	if code != 200 && code != 201 {
		t.Fatalf("marking an interval invalid: HTTP %d %s", code, body)
	}
	wantKWhOfM1(t, s.login(t, "root"), 46, 4, "without prices, an hour invalid yesterday")

	s = newSiteWith(t, func(c *config.Config) { delete(c.Sensors, "centrale"); energyPrices(c) }, func() time.Time { return energyNow })
	if got := energyCardsOf(t, s.login(t, "root")); len(got) != 0 {
		t.Errorf("without a kind of meter the overview shows energy cards %q", got)
	}
}

// dailyBars are a finemeca meter's daily bars of the day from and the day
// after, as its dashboard reads them.
func dailyBars(t *testing.T, c *client, device string, from time.Time) []store.Point {
	t.Helper()
	q := url.Values{"customer": {"finemeca"}, "sensor": {"centrale"}, "device": {device}, "field": {"E"}, "agg": {"increase"}, "step": {"1d"},
		"from": {from.Format(time.RFC3339)}, "to": {from.AddDate(0, 0, 2).Format(time.RFC3339)}}
	code, body := c.Do("GET", "/api/v1/series?"+q.Encode(), "")
	var sr struct{ Points []store.Point }
	if code != 200 || json.Unmarshal([]byte(body), &sr) != nil {
		t.Fatalf("series of %s: HTTP %d %.300s", device, code, body)
	}
	return sr.Points
}

// TestOverviewEnergyRefreshes: the figures are those computed last for a
// minute; after it a page shows them still while they are computed again
// in the background, and the pages after show the new ones; after
// midnight the first page computes the new day's at once.
func TestOverviewEnergyRefreshes(t *testing.T) {
	var clock atomic.Int64
	clock.Store(energyNow.UnixNano())
	s := newSiteWith(t, nil, func() time.Time { return time.Unix(0, clock.Load()).UTC() })
	today := time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)
	s.write(t, meterReadings("finemeca", "m1", today.Add(-15*time.Minute), today.Add(time.Hour)))
	root := s.login(t, "root")
	if got := energyCardsOf(t, root)["today"]; got != "Energy today so far | 2.0 kWh" {
		t.Fatalf("today: %q, want 2.0 kWh", got)
	}
	// An hour more of readings, 30 s later: the figures of the first page.
	s.write(t, meterReadings("finemeca", "m1", today.Add(time.Hour), today.Add(2*time.Hour)))
	clock.Store(energyNow.Add(30 * time.Second).UnixNano())
	if got := energyCardsOf(t, root)["today"]; got != "Energy today so far | 2.0 kWh" {
		t.Errorf("30 s later: %q, want the figures computed first, 2.0 kWh", got)
	}
	clock.Store(energyNow.Add(EnergyFresh).UnixNano())
	energyCardsOf(t, root)
	deadline := time.Now().Add(10 * time.Second)
	for got := ""; got != "Energy today so far | 4.0 kWh"; got = energyCardsOf(t, root)["today"] {
		if time.Now().After(deadline) {
			t.Fatalf("a minute later the figures are still %q, want 4.0 kWh", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.Store(today.AddDate(0, 0, 1).Add(time.Minute).UnixNano())
	got := energyCardsOf(t, root)
	if got["today"] != "Energy today so far | –" || got["yesterday"] != "Energy yesterday (2026-05-06) | 4.0 kWh" {
		t.Errorf("after midnight: %q; want no data today, 4.0 kWh yesterday", got)
	}
}

// TestOverviewEnergyAcrossALongGap: a meter at 2 kW silent from 11:00 the
// day before yesterday to 02:00 today, longer than the readings read
// before yesterday, has its increase across the gap shared by time: 48
// kWh yesterday, 4 today, as its daily bars.
func TestOverviewEnergyAcrossALongGap(t *testing.T) {
	s := newSiteWith(t, nil, func() time.Time { return energyNow })
	today := time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	s.write(t, meterReadings("finemeca", "m1", yesterday.Add(-14*time.Hour), today.Add(2*time.Hour), [2]time.Time{yesterday.Add(-13 * time.Hour), today.Add(2 * time.Hour)}))
	wantKWhOfM1(t, s.login(t, "root"), 48, 4, "across a gap of 39 h")
}

// wantKWhOfM1 checks that the overview's cards, without a price, and
// finemeca's meter m1's daily bars give yesterday (5 May) and today so
// many kWh.
func wantKWhOfM1(t *testing.T, c *client, yesterday, today float64, what string) {
	t.Helper()
	got := energyCardsOf(t, c)
	if want := fmt.Sprintf("Energy yesterday (2026-05-05) | %.1f kWh", yesterday); got["yesterday"] != want {
		t.Errorf("%s: yesterday %q, want %q", what, got["yesterday"], want)
	}
	if want := fmt.Sprintf("Energy today so far | %.1f kWh", today); got["today"] != want {
		t.Errorf("%s: today %q, want %q", what, got["today"], want)
	}
	if bars := dailyBars(t, c, "m1", time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)); len(bars) != 2 || bars[0].Value != yesterday || bars[1].Value != today {
		t.Errorf("%s: the daily bars of yesterday and today are %v, want %v and %v kWh", what, bars, yesterday, today)
	}
}
