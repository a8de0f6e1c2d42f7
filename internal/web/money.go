package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/money"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// pricedSeries is a series of kWh with what each bucket cost and emitted
// (GET /api/v1/series?agg=increase&cost=1).
type pricedSeries struct {
	series.Series
	// Currency is that of Cost; Cost and CO2Kg are per bucket, as Points.
	Currency string        `json:"currency"`
	Cost     []store.Point `json:"cost"`
	CO2Kg    []store.Point `json:"co2_kg,omitempty"`
	// Total adds the buckets up.
	Total pricedTotal `json:"total"`
	// CostNote says when the buckets are priced less finely than by
	// quarter: the readings of the range are no longer kept.
	CostNote string `json:"cost_note,omitempty"`
}

type pricedTotal struct {
	KWh   float64  `json:"kwh"`
	Cost  float64  `json:"cost"`
	CO2Kg *float64 `json:"co2_kg,omitempty"`
}

// wantsCost checks a request for cost=1: a kWh counter's increase. It
// answers the request when it is not one.
func (s *Server) wantsCost(w http.ResponseWriter, r *http.Request, k store.DeviceKey, field, agg string) (want, ok bool) {
	if r.URL.Query().Get("cost") != "1" {
		return false, true
	}
	cfg := s.config()
	if agg != "increase" || cfg == nil || cfg.Sensors[k.Sensor] == nil || cfg.Sensors[k.Sensor].Units[field] != "kWh" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("cost=1 prices kWh: it needs agg=increase of a counter in kWh (sensors.%s.units.%s: kWh)", k.Sensor, field))
		return false, false
	}
	return true, true
}

// priced gives out, the kWh per bucket of q, their cost at the customer's
// tariff and their CO2; out as it is when the customer has no prices.
func (s *Server) priced(ctx context.Context, out series.Series, q series.Query) (any, error) {
	t := money.For(s.config(), q.Customer, s.Location)
	if t == nil {
		return out, nil
	}
	ps := pricedSeries{Series: out, Currency: t.Currency, Cost: []store.Point{}}
	quarters, note, err := s.quarters(ctx, q)
	if err != nil {
		return nil, err
	}
	ps.CostNote = note
	costs := bucketCosts(out.Points, quarters, t)
	for i, p := range out.Points {
		ps.Cost = append(ps.Cost, store.Point{Time: p.Time, Value: micro(costs[i])})
		ps.Total.KWh += p.Value
		ps.Total.Cost += costs[i]
		if t.HasCO2() {
			ps.CO2Kg = append(ps.CO2Kg, store.Point{Time: p.Time, Value: micro(t.CO2(p.Value))})
		}
	}
	if t.HasCO2() {
		co2 := micro(t.CO2(ps.Total.KWh))
		ps.Total.CO2Kg = &co2
	}
	ps.Total.KWh, ps.Total.Cost = micro(ps.Total.KWh), micro(ps.Total.Cost)
	return ps, nil
}

// quarters are the kWh of each quarter of q's range, for time-of-use
// prices; hours where retention left only the hourly aggregates, and
// none (each bucket at the price of its start) where not even those.
func (s *Server) quarters(ctx context.Context, q series.Query) ([]store.Point, string, error) {
	var beyond *series.RetentionError
	for _, step := range []time.Duration{money.Quarter, time.Hour} {
		q.Step = series.Step{Dur: step}
		out, err := series.Read(ctx, s.Store, q, s.Location)
		if errors.As(err, &beyond) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if step == time.Hour {
			return out.Points, "the readings of the range are no longer kept: each hour is priced at the price of its start", nil
		}
		return out.Points, "", nil
	}
	return nil, "the readings of the range are no longer kept: each bucket is priced at the price of its start", nil
}

// micro leaves v at a millionth: sums of prices carry binary noise
// (29.65300000000161) that an answer should not show.
func micro(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// bucketCosts are the cost of each bucket: its quarters' kWh at their
// prices, the kWh the quarters do not tell of (a bucket finer than a
// quarter, or without quarters) at the price of the bucket's start.
func bucketCosts(buckets, quarters []store.Point, t *money.Tariff) []float64 {
	costs := make([]float64, len(buckets))
	told := make([]float64, len(buckets))
	fine := len(buckets) > 1 && buckets[1].Time.Sub(buckets[0].Time) < money.Quarter
	if !fine {
		for _, q := range quarters {
			i := sort.Search(len(buckets), func(i int) bool { return buckets[i].Time.After(q.Time) }) - 1
			if i < 0 {
				continue
			}
			costs[i] += q.Value * t.Price(q.Time)
			told[i] += q.Value
		}
	}
	for i, b := range buckets {
		if rest := b.Value - told[i]; rest > 1e-9 || rest < -1e-9 {
			costs[i] += rest * t.Price(b.Time)
		}
	}
	return costs
}

// pricedLeaks are an air line's leak figures with the currency of their
// costs, when the customer has prices.
type pricedLeaks struct {
	leak.Report
	Currency string `json:"currency,omitempty"`
}

// leakFigures are rep with the customer's currency.
func (s *Server) leakFigures(rep leak.Report, customer string) pricedLeaks {
	out := pricedLeaks{Report: rep}
	if pr, ok := s.config().PricesOf(customer); ok {
		out.Currency = pr.Currency
	}
	return out
}
