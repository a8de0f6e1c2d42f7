package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/money"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// EnergyFresh is how old the overview's energy figures may be: they read
// every power meter's readings of two days, so they are computed at most
// once in that time for a customer, off the page's request once the first
// are known, and every page shows the last ones.
const EnergyFresh = time.Minute

// energyLookback is how far before yesterday's midnight the meters'
// readings are read, for the reading before it whose interval crosses
// it; a meter silent for longer is asked for its reading before by
// itself, once a day.
const energyLookback = 6 * time.Hour

// dayEnergy is the energy of a customer's power meters over one local
// day, with its cost and CO2.
type dayEnergy struct {
	// Known is false when no reading tells of the day: no data, not 0.
	Known            bool
	KWh, Cost, CO2Kg float64
}

// customerEnergy is what the overview shows of a customer's meters.
type customerEnergy struct {
	Today, Yesterday dayEnergy
	// Currency is "" when the customer has no prices; HasCO2 is false
	// when it has no CO2 factor.
	Currency string
	HasCO2   bool
}

// quarterBuckets are the demand quarters a meter's increase is priced by,
// as the report prices it.
var quarterBuckets = series.Buckets{
	Of:   func(t time.Time) time.Time { return t.Truncate(money.Quarter) },
	Next: func(t time.Time) time.Time { return t.Add(money.Quarter) },
}

// priorPoints are the meters' readings before a time (the lookback's
// start), asked for one by one for the meters with none in the lookback.
type priorPoints struct {
	at  time.Time
	pts map[store.DeviceKey]*store.Point
}

// energyOf computes the energy of customer's power meters today (local,
// up to now) and yesterday: each counter's increase between two readings
// (series.Counter) shared by the quarters the interval covers in
// proportion to time (series.Spread), as the daily bars and the report
// count it, the increase of an interval that overlaps an invalid one left
// out, each quarter priced at its own price. The readings are read in
// bulk (store.FieldScanner) when the store can; prior keeps the readings
// asked for one by one between calls.
func energyOf(ctx context.Context, st Store, cfg *config.Config, customer string, loc *time.Location, now time.Time, prior *priorPoints) (customerEnergy, error) {
	var out customerEnergy
	t := money.For(cfg, customer, loc)
	if t != nil {
		out.Currency, out.HasCO2 = t.Currency, t.HasCO2()
	}
	today := series.DayStart(now, loc)
	yesterday := series.DayStart(today.Add(-time.Nanosecond), loc)
	tomorrow := series.DayStart(today.Add(36*time.Hour), loc)
	lo := yesterday.Add(-energyLookback)
	if prior.at != lo {
		*prior = priorPoints{at: lo, pts: map[store.DeviceKey]*store.Point{}}
	}
	// Every interval up to tomorrow: one may hold the interval from a
	// reading before lo.
	invalid, err := st.InvalidIntervals(ctx, store.InvalidQuery{Customer: customer, To: tomorrow})
	if err != nil {
		return out, err
	}
	invalidOf := map[store.DeviceKey][]store.InvalidInterval{}
	for _, iv := range invalid {
		k := store.DeviceKey{Customer: iv.Customer, Sensor: iv.Sensor, Device: iv.Device}
		invalidOf[k] = append(invalidOf[k], iv)
	}
	// The price of each quarter of the two days, looked up once.
	prices := make([]float64, tomorrow.Sub(yesterday)/money.Quarter)
	for i := range prices {
		prices[i] = math.NaN()
	}
	price := func(q time.Time) float64 {
		i := int(q.Sub(yesterday) / money.Quarter)
		if i < 0 || i >= len(prices) {
			return t.Price(q) // a zone whose midnight is not on a quarter
		}
		if math.IsNaN(prices[i]) {
			prices[i] = t.Price(q)
		}
		return prices[i]
	}
	field := func(k store.DeviceKey) string { return report.EnergyField(cfg.Sensors[k.Sensor]) }
	meter := func(k store.DeviceKey, pts []store.Point) error {
		if len(pts) == 0 {
			return nil
		}
		// The reading before yesterday's midnight opens the interval
		// across it.
		first, _ := slices.BinarySearchFunc(pts, yesterday, func(p store.Point, t time.Time) int { return p.Time.Compare(t) })
		var prev *store.Point
		switch {
		case first > 0:
			prev = &pts[first-1]
		case first == len(pts):
			return nil
		default:
			p, ok := prior.pts[k]
			if !ok {
				got, found, err := st.PointBefore(ctx, k, field(k), lo)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if found {
					p = &got
				}
				prior.pts[k] = p
			}
			prev = p
		}
		pts = pts[first:]
		var run series.Counter
		last := pts[0].Time
		if prev != nil {
			run, last = series.Point(prev.Value), prev.Time
		} else {
			run.Add(pts[0].Value)
			pts = pts[1:]
		}
		ivs := invalidOf[k]
		for _, p := range pts {
			inc, _ := run.Add(p.Value)
			if store.Excludes(ivs, last, p.Time) {
				inc = 0
			}
			series.Spread(last, p.Time, inc, yesterday, tomorrow, quarterBuckets, func(sh series.Share) {
				d := &out.Today
				if sh.Start.Before(today) {
					d = &out.Yesterday
				}
				d.Known = true
				d.KWh += sh.Inc
				if t != nil {
					d.Cost += sh.Inc * price(sh.Start)
				}
			})
			last = p.Time
		}
		return nil
	}
	if err := eachMeter(ctx, st, cfg, customer, field, lo, tomorrow, meter); err != nil {
		return out, err
	}
	for _, d := range []*dayEnergy{&out.Today, &out.Yesterday} {
		if t != nil {
			d.CO2Kg = micro(t.CO2(d.KWh))
		}
		d.KWh, d.Cost = micro(d.KWh), micro(d.Cost)
	}
	return out, nil
}

// eachMeter calls fn with the energy field's values in [from, to) of each
// of the customer's power meters: in a few queries when the store reads
// fields in bulk, else one meter at a time.
func eachMeter(ctx context.Context, st Store, cfg *config.Config, customer string, field func(store.DeviceKey) string, from, to time.Time, fn func(store.DeviceKey, []store.Point) error) error {
	if sc, ok := st.(store.FieldScanner); ok {
		return sc.EachPoints(ctx, customer, field, from, to, fn)
	}
	devs, err := st.Devices(ctx, store.DeviceFilter{Customer: customer})
	if err != nil {
		return err
	}
	for _, d := range devs {
		k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
		f := field(k)
		if f == "" {
			continue
		}
		pts, _, err := st.Points(ctx, store.RawQuery{DeviceKey: k, Field: f, From: from, To: to})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(k, pts); err != nil {
			return err
		}
	}
	return nil
}

// meterKinds reports whether a sensor kind of cfg meters energy (a
// counter in kWh).
func meterKinds(cfg *config.Config) bool {
	for _, name := range cfg.SensorNames() {
		if report.EnergyField(cfg.Sensors[name]) != "" {
			return true
		}
	}
	return false
}

// energyCache keeps each customer's last energy figures.
type energyCache struct {
	mu sync.Mutex
	of map[string]*energyEntry
}

// energyEntry is a customer's figures; run is held while they are
// computed, so that one computation at a time runs for a customer.
type energyEntry struct {
	run sync.Mutex
	// Under energyCache.mu: the figures, the day they are of (today's
	// midnight), when they were computed and with which configuration.
	fig customerEnergy
	day time.Time
	at  time.Time
	cfg *config.Config
	// prior is run's.
	prior priorPoints
}

// now is the server's clock.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// energy gives the figures of each customer the principal sees (in the
// order of the configuration), all of them of today, the local day that
// starts at day: those computed less than EnergyFresh ago, older ones
// while they are computed again in the background, and those of a
// customer not yet computed today (the first page, the first after
// midnight) computed now.
func (p *Pages) energy(r *http.Request) (figs []customerEnergy, day time.Time, err error) {
	now := p.Server.now()
	day = series.DayStart(now, p.Location)
	cfg := p.config()
	if !meterKinds(cfg) {
		return nil, day, nil
	}
	who := principalOf(r)
	for _, c := range cfg.Customers {
		if !who.Sees(c) {
			continue
		}
		e := p.energyEntry(c)
		fig, ok, stale := p.energyFigures(e, day, now, cfg)
		switch {
		case !ok:
			e.run.Lock()
			fig, ok, _ = p.energyFigures(e, day, now, cfg)
			if !ok {
				if fig, err = p.computeEnergy(r.Context(), e, c, cfg, now); err != nil {
					e.run.Unlock()
					return nil, day, err
				}
			}
			e.run.Unlock()
		case stale && e.run.TryLock():
			go func() {
				defer e.run.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				if _, err := p.computeEnergy(ctx, e, c, cfg, p.Server.now()); err != nil {
					p.Server.Log.Error("the overview's energy figures could not be computed; the last ones stay", "customer", c, "err", err)
				}
			}()
		}
		figs = append(figs, fig)
	}
	return figs, day, nil
}

// energyEntry is customer's entry in the cache, made when it has none.
func (p *Pages) energyEntry(customer string) *energyEntry {
	p.energies.mu.Lock()
	defer p.energies.mu.Unlock()
	if p.energies.of == nil {
		p.energies.of = map[string]*energyEntry{}
	}
	e := p.energies.of[customer]
	if e == nil {
		e = &energyEntry{}
		p.energies.of[customer] = e
	}
	return e
}

// energyFigures are e's figures when they are of day (ok), and whether
// they are stale: older than EnergyFresh, or of another configuration.
func (p *Pages) energyFigures(e *energyEntry, day, now time.Time, cfg *config.Config) (fig customerEnergy, ok, stale bool) {
	p.energies.mu.Lock()
	defer p.energies.mu.Unlock()
	if !e.day.Equal(day) {
		return customerEnergy{}, false, true
	}
	return e.fig, true, now.Sub(e.at) >= EnergyFresh || e.cfg != cfg
}

// computeEnergy computes a customer's figures into e; e.run is held.
func (p *Pages) computeEnergy(ctx context.Context, e *energyEntry, customer string, cfg *config.Config, now time.Time) (customerEnergy, error) {
	fig, err := energyOf(ctx, p.Store, cfg, customer, p.Location, now, &e.prior)
	if err != nil {
		return fig, err
	}
	p.energies.mu.Lock()
	e.fig, e.day, e.at, e.cfg = fig, series.DayStart(now, p.Location), now, cfg
	p.energies.mu.Unlock()
	return fig, nil
}

// energyCard is one day's card on the overview.
type energyCard struct {
	Title string
	// KWh adds up every customer's meters; "–" when no reading tells of
	// the day.
	KWh string
	// Lines are the cost and CO2 by currency (never added across
	// currencies), with the kWh of each when there are several.
	Lines []string
}

// energyCards are the overview's cards of yesterday's and today's energy
// of figs, written in l; none without figures.
func energyCards(figs []customerEnergy, l locale.Locale, today time.Time) []energyCard {
	if len(figs) == 0 {
		return nil
	}
	pick := []func(customerEnergy) dayEnergy{
		func(f customerEnergy) dayEnergy { return f.Today },
		func(f customerEnergy) dayEnergy { return f.Yesterday },
	}
	titles := []string{"Energy today so far", "Energy yesterday"}
	var out []energyCard
	for i, of := range pick {
		card := energyCard{Title: titles[i], KWh: "–"}
		type group struct {
			currency string
			kwh      float64
			cost     float64
			co2      float64
			allCO2   bool
		}
		var groups []*group
		var total float64
		known := false
		for _, f := range figs {
			d := of(f)
			if !d.Known {
				continue
			}
			known = true
			total += d.KWh
			j := slices.IndexFunc(groups, func(g *group) bool { return g.currency == f.Currency })
			if j < 0 {
				groups = append(groups, &group{currency: f.Currency, allCO2: true})
				j = len(groups) - 1
			}
			g := groups[j]
			g.kwh += d.KWh
			g.cost += d.Cost
			g.co2 += d.CO2Kg
			g.allCO2 = g.allCO2 && f.HasCO2
		}
		if known {
			card.KWh = l.Number(micro(total), 1) + " kWh"
		}
		slices.SortFunc(groups, func(a, b *group) int {
			switch {
			case a.currency == b.currency:
				return 0
			case a.currency == "":
				return 1
			case b.currency == "":
				return -1
			case a.currency < b.currency:
				return -1
			}
			return 1
		})
		for _, g := range groups {
			var line string
			if len(groups) > 1 {
				line = l.Number(micro(g.kwh), 1) + " kWh: "
			}
			switch {
			case g.currency == "" && len(groups) > 1:
				line += "no prices"
			case g.currency == "":
				continue
			default:
				line += l.Number(math.Round(g.cost*100)/100, 2) + " " + g.currency
				if g.allCO2 {
					line += " · " + l.Number(micro(g.co2), 1) + " kg CO2"
				}
			}
			card.Lines = append(card.Lines, line)
		}
		if i == 1 {
			card.Title += " (" + l.Date(today.AddDate(0, 0, -1)) + ")"
		}
		out = append(out, card)
	}
	return out
}
