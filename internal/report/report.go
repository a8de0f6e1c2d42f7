// Package report computes the report of one customer over a period: the
// energy its meters consumed, what its air leaks cost, and how well its
// devices reported. Days, weeks and months are those of the configured
// zone.
package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/compressor"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/money"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Quarter is the demand interval: demand charges bill the highest
// 15-minute average power.
const Quarter = 15 * time.Minute

// GapAfter is the longest time between two readings of a device that is
// not a gap: a demand quarter. A reading lost on the radio now and then is
// counted as lost, not as a gap. The series' rule of an estimate is the
// same.
const GapAfter = series.GapAfter

// BaseloadPercentile is the percentile of the night's 15-minute demand
// that is the baseload: what runs when nothing should. Not the lowest
// quarter, which one missing reading or a power cut sets.
const BaseloadPercentile = 10

// Night is when the night share and the baseload are counted: from 22:00
// to 06:00 local time. The weekend is Saturday and Sunday.
const (
	NightStart = 22
	NightEnd   = 6
)

// Period is the half-open range [From, To) a report covers.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Kind is "week", "month" or "range".
	Kind string `json:"kind"`
}

// Week is the week (Monday to Monday, local time) holding t.
func Week(t time.Time, loc *time.Location) Period {
	day := series.DayStart(t, loc)
	back := (int(day.Weekday()) + 6) % 7 // days since Monday
	from := day.AddDate(0, 0, -back)
	return Period{From: from, To: from.AddDate(0, 0, 7), Kind: "week"}
}

// Month is the calendar month holding t.
func Month(t time.Time, loc *time.Location) Period {
	y, m, _ := t.In(loc).Date()
	from := time.Date(y, m, 1, 0, 0, 0, 0, loc)
	return Period{From: from, To: from.AddDate(0, 1, 0), Kind: "month"}
}

// Previous is the period before p: the week or month before, or a range
// as long just before.
func (p Period) Previous() Period {
	switch p.Kind {
	case "week":
		return Period{From: p.From.AddDate(0, 0, -7), To: p.From, Kind: p.Kind}
	case "month":
		return Period{From: p.From.AddDate(0, -1, 0), To: p.From, Kind: p.Kind}
	}
	return Period{From: p.From.Add(-p.To.Sub(p.From)), To: p.From, Kind: p.Kind}
}

// Report is a customer's report over a period.
type Report struct {
	Customer string `json:"customer"`
	// Name is the customer's name as people write it (branding), when
	// the configuration gives one.
	Name     string    `json:"name,omitempty"`
	Period   Period    `json:"period"`
	Previous Period    `json:"previous"`
	Zone     string    `json:"zone"`
	Made     time.Time `json:"made"`
	// Currency is that of the costs; empty when the customer has no
	// prices (money), whose costs are then null.
	Currency string  `json:"currency,omitempty"`
	Energy   Energy  `json:"energy"`
	Air      Air     `json:"air"`
	Quality  Quality `json:"quality"`
	// Baselines are the customer's energy baselines, tracked to the
	// period's end.
	Baselines []Baseline `json:"baselines"`
	// Notes say what the figures do not cover, such as days whose
	// readings retention removed.
	Notes []string `json:"notes"`
	// logo is the customer's logo for the PDF (branding), logoType its
	// format for the PDF: PNG or JPG.
	logo     []byte
	logoType string
	// Locale writes the figures and dates of the page, the e-mail and
	// the CSV files.
	Locale locale.Locale `json:"-"`
}

// Energy is what the customer's meters consumed.
type Energy struct {
	Meters []Meter `json:"meters"`
	// Days is every meter's kWh per local day, added up.
	Days []Day `json:"days"`
	// Profile is the meters' 15-minute demand added up, for the quarters
	// that every meter covers.
	Profile []Demand `json:"profile"`
	Total
	Charges
}

// Total is consumption over the period and how it compares.
type Total struct {
	KWh float64 `json:"kwh"`
	// PreviousKWh is the consumption of the period before, and DiffKWh
	// the difference; nil (no data) when no reading tells it: a
	// comparison with nothing is not one with 0 kWh.
	PreviousKWh *float64 `json:"previous_kwh"`
	DiffKWh     *float64 `json:"diff_kwh"`
	// DiffPct is the difference in percent of the previous period; nil
	// when the previous period consumed nothing or is not known.
	DiffPct *float64 `json:"diff_pct"`
	// Peak is the highest 15-minute demand, kW, and when its quarter
	// started.
	PeakKW float64   `json:"peak_kw"`
	PeakAt time.Time `json:"peak_at,omitzero"`
	// BaseloadKW is the BaseloadPercentile of the night's 15-minute
	// demand.
	BaseloadKW float64 `json:"baseload_kw"`
	// NightShare and WeekendShare are the parts of KWh consumed at night
	// (NightStart to NightEnd) and on Saturdays and Sundays.
	NightShare   float64 `json:"night_share"`
	WeekendShare float64 `json:"weekend_share"`
	Costs
}

// Meter is one energy meter's figures.
type Meter struct {
	Sensor string `json:"sensor"`
	Device string `json:"device"`
	Name   string `json:"name"`
	Field  string `json:"field"`
	Days   []Day  `json:"days"`
	Total
	// Profile is the 15-minute demand, kW, of every quarter the meter's
	// readings cover without a gap.
	Profile []Demand `json:"profile"`
	// Resets are when the counter went back (the meter restarted or was
	// replaced): the consumption counts from zero again.
	Resets []time.Time `json:"resets"`
	// Gaps are the times without a reading longer than GapAfter in the
	// period, as the data quality gives them (silences).
	Gaps []Gap `json:"gaps"`
	// EstimatedKWh is the part of KWh spread over gaps: the counter's
	// increase across a gap is shared by the days and quarters it covers
	// in proportion to time (series.Spread).
	EstimatedKWh float64 `json:"estimated_kwh"`
	// Invalid are the intervals marked invalid in the period: the
	// consumption between readings that overlaps them is not counted.
	Invalid []store.InvalidInterval `json:"invalid"`
	// Flagged says the meter had a reset or a gap: its figures need a look.
	Flagged bool `json:"flagged"`
	// FromAggregates, when set, is when the meter's kept readings start,
	// after the period's start (store.retention): the kWh of the days
	// before come from the daily aggregates, every other figure covers the
	// days from then on.
	FromAggregates time.Time `json:"from_aggregates,omitzero"`
	// quarters are the kWh of each quarter, by its start, for the costs.
	quarters map[time.Time]float64
}

// Day is a local day's consumption.
type Day struct {
	Day   string    `json:"day"`
	Start time.Time `json:"start"`
	// KWh is nil (no data) for a day no reading tells of, not 0.
	KWh *float64 `json:"kwh"`
	// EstimatedKWh is the part of KWh that is the day's share of a gap's
	// consumption, spread over it by time: the meter was not read at the
	// day's edge.
	EstimatedKWh float64 `json:"estimated_kwh,omitempty"`
	Costs
}

// add adds kWh to the day's, and to its estimated part when estimated.
func (d *Day) add(kwh float64, estimated bool) {
	if d.KWh == nil {
		d.KWh = new(float64)
	}
	*d.KWh += kwh
	if estimated {
		d.EstimatedKWh += kwh
	}
}

// Value is the day's kWh, 0 for no data, for a chart's bar.
func (d Day) Value() float64 {
	if d.KWh == nil {
		return 0
	}
	return *d.KWh
}

// Demand is one quarter's average power.
type Demand struct {
	At time.Time `json:"at"`
	KW float64   `json:"kw"`
}

// Gap is a time without readings: MissingHours is its length less one
// usual interval between readings.
type Gap struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	MissingHours float64   `json:"missing_hours"`
}

// Air is what the customer's compressed-air lines lost to leaks.
type Air struct {
	// Lines are ordered by cost, the most expensive first.
	Lines []Line `json:"lines"`
	// Cost and CostPerYear add up the lines measured; Unmeasured counts
	// the others.
	Cost        float64 `json:"cost"`
	CostPerYear float64 `json:"cost_per_year"`
	Unmeasured  int     `json:"unmeasured,omitempty"`
	// Worst is the leak that lost the most air, on any line.
	Worst *WorstLeak `json:"worst,omitempty"`
	// Compressors are the specific power of the customer's compressors
	// (air.go).
	Compressors []Compressor `json:"compressors,omitempty"`
}

// Line is one air line's leaks.
type Line struct {
	Sensor       string  `json:"sensor"`
	Device       string  `json:"device"`
	Name         string  `json:"name"`
	Leaks        int     `json:"leaks"`
	SecondsBelow float64 `json:"seconds_below"`
	// Method is how the air lost is measured (leak.Decay or leak.Flow),
	// with the installation figures Params.
	Method string      `json:"method"`
	Params leak.Params `json:"params"`
	// LostNm3, Cost and FlowNlMin (the leak flow, with the flow method)
	// are null when not measurable; Reason says why.
	LostNm3 *float64 `json:"lost_nm3"`
	// PricePerNm3 is what a Nm3 of the line's air costs: the customer's
	// money.air_per_nm3, else its sensor kind's leak.cost_per_nm3.
	PricePerNm3 float64  `json:"price_per_nm3"`
	Cost        *float64 `json:"cost"`
	FlowNlMin   *float64 `json:"flow_nl_min,omitempty"`
	// CostPerYear is the mean cost per day over the days measured (Year)
	// x 365, as on the dashboard.
	CostPerYear *float64   `json:"cost_per_year"`
	Year        *leak.Year `json:"year,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Worst       *leak.Leak `json:"worst,omitempty"`
}

// WorstLeak is a leak with its line.
type WorstLeak struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	leak.Leak
}

// WorstDevices is how many devices the data quality of the page, the JSON
// and the mail lists, those that reported worst first; the others are
// counted (Quality.Rest), and the quality CSV lists every device.
const WorstDevices = 50

// Quality is how well the devices reported.
type Quality struct {
	// Devices are the WorstDevices devices that reported worst, the worst
	// first: the most hours silent, then the most messages lost, then
	// the fewest received.
	Devices []DeviceQuality `json:"devices"`
	// Rest adds up the devices not in Devices.
	Rest QualityRest `json:"rest"`
	// Rejected counts the customer's messages rejected in the period.
	Rejected int64 `json:"rejected"`
	// all is every device's figures, in the order of the device list:
	// the CSV's.
	all []QualityRow
}

// QualityRest adds up the devices of a report that its data quality does
// not list.
type QualityRest struct {
	Devices int `json:"devices"`
	// Lossy counts those that lost messages, Silent those with a time
	// without readings.
	Lossy    int   `json:"lossy"`
	Silent   int   `json:"silent"`
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	Lost     int64 `json:"lost"`
}

// DeviceQuality is one device's messages: Expected is what its msgCount
// shows sent (Received + Lost).
type DeviceQuality struct {
	Sensor   string `json:"sensor"`
	Device   string `json:"device"`
	Name     string `json:"name"`
	Expected int64  `json:"expected"`
	Received int64  `json:"received"`
	Lost     int64  `json:"lost"`
	// Silent are its times without a reading longer than GapAfter.
	Silent []Gap `json:"silent"`
}

// QualityRow is a device's data quality as the CSV gives it: its silent
// periods counted and their missing hours added up.
type QualityRow struct {
	Sensor, Device, Name     string
	Expected, Received, Lost int64
	SilentPeriods            int
	SilentHours              float64
}

// row is q as the CSV gives it.
func (q *DeviceQuality) row() QualityRow {
	r := QualityRow{Sensor: q.Sensor, Device: q.Device, Name: q.Name, Expected: q.Expected, Received: q.Received, Lost: q.Lost, SilentPeriods: len(q.Silent)}
	for _, g := range q.Silent {
		r.SilentHours += g.MissingHours
	}
	return r
}

// worse orders devices the worst first: the most hours silent, the most
// messages lost, the fewest received, then by kind and device.
func worse(a, b QualityRow) int {
	return cmp.Or(cmp.Compare(b.SilentHours, a.SilentHours), cmp.Compare(b.Lost, a.Lost), cmp.Compare(a.Received, b.Received),
		cmp.Compare(a.Sensor, b.Sensor), cmp.Compare(a.Device, b.Device))
}

// Rows are every device's data quality, in the order of the device list.
func (q *Quality) Rows() []QualityRow {
	if q.all != nil {
		return q.all
	}
	out := make([]QualityRow, len(q.Devices))
	for i := range q.Devices {
		out[i] = q.Devices[i].row()
	}
	return out
}

// Source is what a report reads.
type Source struct {
	Store    store.Reader
	Config   *config.Config
	Location *time.Location
	// Now stamps the report; time.Now when nil.
	Now func() time.Time
	// Log is told of a logo that cannot be read; nil tells no one.
	Log *slog.Logger
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ErrNoCustomer is a report asked for a customer that is not configured.
var ErrNoCustomer = errors.New("no such customer")

// Make computes the report of customer over p.
func (s *Source) Make(ctx context.Context, customer string, p Period) (*Report, error) {
	if !slices.Contains(s.Config.Customers, customer) {
		return nil, fmt.Errorf("%w: %q (customers: %v)", ErrNoCustomer, customer, s.Config.Customers)
	}
	if !p.From.Before(p.To) {
		return nil, fmt.Errorf("the period's start %s is not before its end %s", p.From, p.To)
	}
	now := s.now()
	r := &Report{Customer: customer, Period: p, Previous: p.Previous(), Zone: s.Location.String(), Made: now.In(s.Location), Notes: []string{},
		Locale: locale.Or(s.Config.Locale)}
	s.brand(r)
	devs, err := s.Store.Devices(ctx, store.DeviceFilter{Customer: customer, Latest: true})
	if err != nil {
		return nil, err
	}
	r.Energy.Meters, r.Air.Lines, r.Quality.Devices = []Meter{}, []Line{}, []DeviceQuality{}
	// newest is the latest time from which a device's readings are kept.
	var newest time.Time
	// The data quality reads every device in one pass, after.
	reported := make(map[store.DeviceKey]qualityOf, len(devs))
	for _, d := range devs {
		k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
		kept, err := s.kept(ctx, k)
		if err != nil {
			return nil, err
		}
		if kept.After(newest) {
			newest = kept
		}
		reported[k] = qualityOf{name: d.Name, kept: kept, field: qualityField(d)}
		sc := s.Config.Sensors[d.Sensor]
		if field := EnergyField(sc); field != "" {
			m, err := s.meter(ctx, k, d.Name, field, p, r.Previous, kept)
			if err != nil {
				return nil, fmt.Errorf("meter %s: %w", d.Device, err)
			}
			if m != nil {
				r.Energy.Meters = append(r.Energy.Meters, *m)
			}
		}
		if sc != nil && sc.Leak != nil {
			l, err := s.line(ctx, k, d.Name, s.Config.LeakFor(customer, sc.Leak, d.Device), sc.Leak, p)
			if err != nil {
				return nil, fmt.Errorf("air line %s: %w", d.Device, err)
			}
			if l != nil {
				r.Air.Lines = append(r.Air.Lines, *l)
			}
		}
	}
	if err := s.quality(ctx, customer, p, devs, reported, &r.Quality); err != nil {
		return nil, err
	}
	r.Energy.Days, r.Energy.Profile, r.Energy.Total = sumMeters(r.Energy.Meters, s.Location)
	price(r, money.For(s.Config, customer, s.Location))
	if newest.After(r.Previous.From) {
		r.Notes = append(r.Notes, fmt.Sprintf("Readings before %s are no longer kept (store.retention): the kWh of the days before it come from "+
			"the daily aggregates; the 15-minute demand, peak, baseload, shares, resets and gaps, leaks and data quality cover the days from it.",
			locale.Or(s.Config.Locale).Date(newest.In(s.Location))))
	}
	r.Air.total()
	if r.Air.Compressors, err = s.compressors(ctx, customer, p); err != nil {
		return nil, err
	}
	if r.Baselines, err = s.baselines(ctx, customer, p, devs); err != nil {
		return nil, err
	}
	if r.Quality.Rejected, err = s.Store.CountRejected(ctx, store.RejectedFilter{Customer: customer, From: p.From, To: p.To}); err != nil {
		return nil, err
	}
	r.round()
	return r, nil
}

// round leaves the figures at a millionth: sums of many decimal values
// carry binary noise (173.3000000000029) that a table should not show.
func (r *Report) round() {
	rd := func(v *float64) { *v = math.Round(*v*1e6) / 1e6 }
	total := func(t *Total) {
		for _, v := range []*float64{&t.KWh, t.PreviousKWh, t.DiffKWh, &t.PeakKW, &t.BaseloadKW, &t.NightShare, &t.WeekendShare, t.DiffPct} {
			if v != nil {
				rd(v)
			}
		}
		roundCosts(rd, &t.Costs)
	}
	days := func(ds []Day) {
		for i := range ds {
			if ds[i].KWh != nil {
				rd(ds[i].KWh)
			}
			rd(&ds[i].EstimatedKWh)
			roundCosts(rd, &ds[i].Costs)
		}
	}
	demand := func(ds []Demand) {
		for i := range ds {
			rd(&ds[i].KW)
		}
	}
	total(&r.Energy.Total)
	days(r.Energy.Days)
	demand(r.Energy.Profile)
	for i := range r.Energy.Meters {
		m := &r.Energy.Meters[i]
		total(&m.Total)
		rd(&m.EstimatedKWh)
		days(m.Days)
		demand(m.Profile)
	}
	for i := range r.Air.Lines {
		l := &r.Air.Lines[i]
		rd(&l.SecondsBelow)
		for _, v := range []*float64{l.LostNm3, l.Cost, l.CostPerYear} {
			if v != nil {
				rd(v)
			}
		}
	}
	if r.Energy.DemandCharge != nil {
		rd(r.Energy.DemandCharge)
	}
	for i := range r.Energy.Demand {
		rd(&r.Energy.Demand[i].KW)
		rd(&r.Energy.Demand[i].Charge)
	}
	rd(&r.Air.Cost)
	rd(&r.Air.CostPerYear)
	for i := range r.Baselines {
		r.Baselines[i].round(rd)
	}
	for i := range r.Air.Compressors {
		c := &r.Air.Compressors[i]
		for _, in := range append([]*compressor.Interval{&c.Period}, pointers(c.Days)...) {
			rd(&in.KWh)
			rd(&in.Nm3)
			if in.SpecificPower != nil {
				rd(in.SpecificPower)
			}
		}
	}
}

// pointers are pointers to each of vs.
func pointers[T any](vs []T) []*T {
	out := make([]*T, len(vs))
	for i := range vs {
		out[i] = &vs[i]
	}
	return out
}

// EnergyField is the counter in kWh of a sensor kind: its energy; "" for a
// kind that meters no energy.
func EnergyField(sc *config.Sensor) string {
	if sc == nil {
		return ""
	}
	for _, c := range sc.Counters {
		if sc.Units[c] == "kWh" {
			return c
		}
	}
	return ""
}

// sample is a counter reading.
type sample struct {
	t time.Time
	v float64
}

// counter reads a counter's values in [from, to), with the one before
// from and the one at or after to, so that the consumption of the
// intervals across the period's edges counts (its part in the period).
func (s *Source) counter(ctx context.Context, k store.DeviceKey, field string, from, to time.Time) ([]sample, error) {
	pts, _, err := s.Store.Points(ctx, store.RawQuery{DeviceKey: k, Field: field, From: from, To: to})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []sample
	if before, ok, err := s.Store.PointBefore(ctx, k, field, from); err != nil {
		return nil, err
	} else if ok {
		out = append(out, sample{before.Time, before.Value})
	}
	for _, p := range pts {
		out = append(out, sample{p.Time, p.Value})
	}
	if after, ok, err := series.PointAfter(ctx, s.Store, k, field, to); err != nil {
		return nil, err
	} else if ok {
		out = append(out, sample{after.Time, after.Value})
	}
	return out, nil
}

// days and quarters are the buckets a meter's consumption is spread over.
func days(loc *time.Location) series.Buckets {
	start := func(t time.Time) time.Time { return series.DayStart(t, loc) }
	return series.Buckets{Of: start, Next: func(t time.Time) time.Time { return start(t.Add(36 * time.Hour)) }}
}

var quarters = series.Buckets{
	Of:   func(t time.Time) time.Time { return t.Truncate(Quarter) },
	Next: func(t time.Time) time.Time { return t.Add(Quarter) },
}

// meter computes a meter's figures; its readings are kept from kept
// (zero: all are).
func (s *Source) meter(ctx context.Context, k store.DeviceKey, name, field string, p, prev Period, kept time.Time) (*Meter, error) {
	rolled, err := s.rolledKWh(ctx, k, field, p, kept)
	if err != nil {
		return nil, err
	}
	// The readings from where they are kept: the days before are the
	// aggregates'.
	cur, err := s.counter(ctx, k, field, later(p.From, kept), p.To)
	if err != nil || len(cur) == 0 && len(rolled) == 0 {
		return nil, err
	}
	m := &Meter{Sensor: k.Sensor, Device: k.Device, Name: name, Field: field, Resets: []time.Time{}, Gaps: []Gap{}, Profile: []Demand{}}
	byDay := map[string]*Day{}
	for _, d := range rolled {
		byDay[d.Day] = &d
		m.KWh += d.Value()
		m.EstimatedKWh += d.EstimatedKWh
	}
	if len(rolled) > 0 {
		m.FromAggregates = kept
	}
	demand := map[time.Time]float64{}
	broken := map[time.Time]bool{}
	inv, err := s.invalid(ctx, k, p.To)
	if err != nil {
		return nil, err
	}
	m.Invalid = inv.within(p, s.Location)
	byDays := days(s.Location)
	// The days before the kept readings are the aggregates'.
	from := later(p.From, kept)
	run := counterOf(cur)
	for i := 1; i < len(cur); i++ {
		a, b := cur[i-1], cur[i]
		inc, reset := run.Add(b.v)
		if reset && b.t.Before(p.To) {
			m.Resets = append(m.Resets, b.t.In(s.Location))
		}
		excluded := inv.excludes(a.t, b.t)
		if excluded {
			inc = 0
		}
		series.Spread(a.t, b.t, inc, from, p.To, byDays, func(sh series.Share) {
			day := sh.Start.In(s.Location).Format(time.DateOnly)
			if byDay[day] == nil {
				byDay[day] = &Day{Day: day, Start: sh.Start.In(s.Location)}
			}
			byDay[day].add(sh.Inc, sh.Estimated)
			m.KWh += sh.Inc
			if sh.Estimated {
				m.EstimatedKWh += sh.Inc
			}
		})
		series.Spread(a.t, b.t, inc, from, p.To, quarters, func(sh series.Share) {
			local := sh.Start.In(s.Location)
			if night(local) {
				m.NightShare += sh.Inc
			}
			if weekend(local) {
				m.WeekendShare += sh.Inc
			}
			// A quarter that holds a share of a gap's consumption, or
			// of an invalid interval, is no measured demand.
			demand[sh.Start] += sh.Inc
			if sh.Estimated || excluded {
				broken[sh.Start] = true
			}
		})
	}
	m.Gaps = s.silences(cur, from, s.until(p))
	m.quarters = demand
	for _, d := range byDay {
		m.Days = append(m.Days, *d)
	}
	sort.Slice(m.Days, func(i, j int) bool { return m.Days[i].Start.Before(m.Days[j].Start) })
	m.Days = fillDays(m.Days, p, s.Location, s.now())
	var nights []float64
	for q, kwh := range demand {
		if broken[q] {
			continue
		}
		d := Demand{At: q.In(s.Location), KW: kwh * float64(time.Hour/Quarter)}
		m.Profile = append(m.Profile, d)
		if night(d.At) {
			nights = append(nights, d.KW)
		}
	}
	sort.Slice(m.Profile, func(i, j int) bool { return m.Profile[i].At.Before(m.Profile[j].At) })
	for _, d := range m.Profile {
		if d.KW > m.PeakKW {
			m.PeakKW, m.PeakAt = d.KW, d.At
		}
	}
	m.BaseloadKW = percentile(nights, BaseloadPercentile)
	if m.KWh > 0 {
		m.NightShare /= m.KWh
		m.WeekendShare /= m.KWh
	} else {
		m.NightShare, m.WeekendShare = 0, 0
	}
	var before []sample
	if kept.Before(prev.To) {
		if before, err = s.counter(ctx, k, field, later(prev.From, kept), prev.To); err != nil {
			return nil, err
		}
	}
	rolledBefore, err := s.rolledKWh(ctx, k, field, prev, kept)
	if err != nil {
		return nil, err
	}
	// Known when readings of the period before tell it: two at least
	// (one, such as the reading that closes the period, tells nothing).
	if len(before) > 1 || len(rolledBefore) > 0 {
		kwh := inv.consumption(before, prev.From, prev.To)
		for _, d := range rolledBefore {
			kwh += d.Value()
		}
		m.PreviousKWh = &kwh
	}
	m.compare()
	m.Flagged = len(m.Resets) > 0 || len(m.Gaps) > 0
	return m, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// kept is from when a device's readings are kept (zero: all are).
func (s *Source) kept(ctx context.Context, k store.DeviceKey) (time.Time, error) {
	lc, ok := s.Store.(interface {
		Kept(context.Context, store.DeviceKey) (store.Kept, error)
	})
	if !ok {
		return time.Time{}, nil
	}
	kept, err := lc.Kept(ctx, k)
	return kept.Raw, err
}

// rolledKWh are the kWh of the days of p before the kept readings, from
// the daily aggregates that retention left of them.
func (s *Source) rolledKWh(ctx context.Context, k store.DeviceKey, field string, p Period, kept time.Time) ([]Day, error) {
	if !p.From.Before(kept) {
		return nil, nil
	}
	q := series.Query{DeviceKey: k, Field: field, From: p.From, To: kept, Step: series.Step{Days: 1}, Agg: "increase"}
	if p.To.Before(kept) {
		q.To = p.To
	}
	res, err := series.Read(ctx, s.Store, q, s.Location)
	var re *series.RetentionError
	if errors.As(err, &re) || errors.Is(err, store.ErrNotFound) {
		return nil, nil // nothing is kept of those days
	}
	if err != nil {
		return nil, err
	}
	estimated := map[int64]float64{}
	for _, e := range res.Estimated {
		estimated[e.Time.UnixMilli()] = e.Value
	}
	var out []Day
	for _, pt := range res.Points {
		t := pt.Time.In(s.Location)
		kwh := pt.Value
		out = append(out, Day{Day: t.Format(time.DateOnly), Start: t, KWh: &kwh, EstimatedKWh: estimated[pt.Time.UnixMilli()]})
	}
	return out, nil
}

// compare fills the difference to the previous period, when it is
// known.
func (t *Total) compare() {
	t.DiffKWh, t.DiffPct = nil, nil
	if t.PreviousKWh == nil {
		return
	}
	diff := t.KWh - *t.PreviousKWh
	t.DiffKWh = &diff
	if *t.PreviousKWh > 0 {
		pct := diff / *t.PreviousKWh * 100
		t.DiffPct = &pct
	}
}

// fillDays gives every day of the period up to now: those no reading
// tells of without kWh (no data); the days to come not at all.
func fillDays(days []Day, p Period, loc *time.Location, now time.Time) []Day {
	have := map[string]Day{}
	for _, d := range days {
		have[d.Day] = d
	}
	out := []Day{}
	for d := p.From; d.Before(p.To) && d.Before(now); d = d.AddDate(0, 0, 1) {
		key := d.In(loc).Format(time.DateOnly)
		if x, ok := have[key]; ok {
			out = append(out, x)
		} else {
			out = append(out, Day{Day: key, Start: d})
		}
	}
	return out
}

// sumMeters adds the meters up: days, totals, and the shares, peak and
// baseload of the summed demand.
func sumMeters(ms []Meter, loc *time.Location) ([]Day, []Demand, Total) {
	var t Total
	days := map[string]*Day{}
	var order []string
	demand := map[time.Time]float64{}
	count := map[time.Time]int{}
	for _, m := range ms {
		t.KWh += m.KWh
		if m.PreviousKWh != nil {
			if t.PreviousKWh == nil {
				t.PreviousKWh = new(float64)
			}
			*t.PreviousKWh += *m.PreviousKWh
		}
		t.NightShare += m.NightShare * m.KWh
		t.WeekendShare += m.WeekendShare * m.KWh
		for _, d := range m.Days {
			if days[d.Day] == nil {
				days[d.Day] = &Day{Day: d.Day, Start: d.Start}
				order = append(order, d.Day)
			}
			if d.KWh != nil {
				days[d.Day].add(*d.KWh, false)
				days[d.Day].EstimatedKWh += d.EstimatedKWh
			}
		}
		for _, d := range m.Profile {
			demand[d.At.UTC()] += d.KW
			count[d.At.UTC()]++
		}
	}
	if t.KWh > 0 {
		t.NightShare /= t.KWh
		t.WeekendShare /= t.KWh
	}
	var nights []float64
	var at []time.Time
	profile := []Demand{}
	for q := range demand {
		at = append(at, q)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for _, q := range at {
		// A quarter of the total needs every meter's.
		if count[q] < len(ms) {
			continue
		}
		profile = append(profile, Demand{At: q.In(loc), KW: demand[q]})
		if demand[q] > t.PeakKW {
			t.PeakKW, t.PeakAt = demand[q], q.In(loc)
		}
		if night(q.In(loc)) {
			nights = append(nights, demand[q])
		}
	}
	t.BaseloadKW = percentile(nights, BaseloadPercentile)
	t.compare()
	sort.Strings(order)
	out := []Day{}
	for _, d := range order {
		out = append(out, *days[d])
	}
	return out, profile, t
}

func night(t time.Time) bool { h := t.Hour(); return h >= NightStart || h < NightEnd }

func weekend(t time.Time) bool { return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday }

// percentile is the nearest-rank percentile of vs; 0 without values.
func percentile(vs []float64, pct int) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	rank := int(math.Ceil(float64(pct) / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// usualInterval is the median time between readings.
func usualInterval(ss []sample) time.Duration {
	if len(ss) < 2 {
		return 0
	}
	ds := make([]time.Duration, 0, len(ss)-1)
	for i := 1; i < len(ss); i++ {
		ds = append(ds, ss[i].t.Sub(ss[i-1].t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func gap(from, to time.Time, usual time.Duration) Gap {
	return Gap{From: from, To: to, MissingHours: (to.Sub(from) - usual).Hours()}
}

// line computes an air line's leaks with its figures lp.
func (s *Source) line(ctx context.Context, k store.DeviceKey, name string, lp leak.Params, l *config.Leak, p Period) (*Line, error) {
	series, err := leak.Load(ctx, s.Store, k, l.Pressure, l.Opening, lp, p.From, p.To)
	var missing *leak.FieldError
	if errors.As(err, &missing) && missing.Field == l.Pressure {
		return nil, nil
	}
	if err != nil && !errors.As(err, &missing) {
		return nil, err
	}
	if len(series.Pressure) == 0 && len(series.Flow) == 0 {
		return nil, nil
	}
	rep := leak.Analyze(series, p.From, p.To, s.Location, lp)
	out := &Line{Sensor: k.Sensor, Device: k.Device, Name: name, Method: rep.Method, Params: rep.Params, PricePerNm3: lp.CostPerNm3,
		LostNm3: rep.LostNm3, Cost: rep.Cost, FlowNlMin: rep.FlowNlMin, CostPerYear: rep.CostPerYear, Year: rep.Year, Reason: rep.Reason}
	if w := rep.Worst; w != nil {
		local := *w
		local.Start, local.End = w.Start.In(s.Location), w.End.In(s.Location)
		out.Worst = &local
	}
	for _, d := range rep.Days {
		out.Leaks += d.Leaks
		out.SecondsBelow += d.Seconds
	}
	return out, nil
}

// qualityOf is what the data quality needs of a device: its name, from
// when its readings are kept, and the field that counts its messages.
type qualityOf struct {
	name  string
	kept  time.Time
	field string
}

// qualityField is the field whose values count a device's messages: the
// messages lost before each reading when it has msgCount; otherwise any
// field of its newest reading ("" without one).
func qualityField(d store.Device) string {
	if d.Latest == nil {
		return ""
	}
	if _, ok := d.Latest.Fields[reading.FieldLost]; ok {
		return reading.FieldLost
	}
	field := ""
	for f := range d.Latest.Fields {
		if field == "" || f < field {
			field = f
		}
	}
	return field
}

// quality works out the data quality of devs: every device's figures in
// q's rows, the WorstDevices worst with their silent periods in
// q.Devices, the others added up in q.Rest. One device's readings are
// held at a time.
func (s *Source) quality(ctx context.Context, customer string, p Period, devs []store.Device, reported map[store.DeviceKey]qualityOf, q *Quality) error {
	end := s.until(p)
	q.all = make([]QualityRow, 0, len(devs))
	each := func(k store.DeviceKey, pts []store.Point) error {
		d, ok := reported[k]
		if !ok {
			return nil // a device written since the list was read
		}
		start := later(p.From, d.kept)
		if d.kept.IsZero() && d.field != "" && !slices.ContainsFunc(pts, func(pt store.Point) bool { return !pt.Time.Before(start) }) {
			// Nothing of it removed and no reading in the period or
			// before: it first reported after the period, and is not one
			// of the period's devices.
			if _, before, err := s.Store.PointBefore(ctx, k, d.field, start); err != nil || !before {
				return err
			}
		}
		dq := s.deviceQuality(k, d, pts, start, end)
		row := dq.row()
		q.all = append(q.all, row)
		// Keep the worst, in order: a short list, so insertion is cheap.
		i, _ := slices.BinarySearchFunc(q.Devices, row, func(x DeviceQuality, r QualityRow) int { return worse(x.row(), r) })
		if i < WorstDevices {
			q.Devices = slices.Insert(q.Devices, i, dq)
			if len(q.Devices) > WorstDevices {
				q.Devices = q.Devices[:WorstDevices]
			}
		}
		return nil
	}
	if !p.From.Before(end) {
		for _, d := range devs {
			if err := each(store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}, nil); err != nil {
				return err
			}
		}
	} else if sc, ok := s.Store.(store.FieldScanner); ok {
		field := func(k store.DeviceKey) string { return reported[k].field }
		if err := sc.EachPoints(ctx, customer, field, p.From, end, each); err != nil {
			return fmt.Errorf("data quality: %w", err)
		}
	} else {
		for _, d := range devs {
			k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
			var pts []store.Point
			if f := reported[k].field; f != "" {
				var err error
				pts, _, err = s.Store.Points(ctx, store.RawQuery{DeviceKey: k, Field: f, From: p.From, To: end})
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("device %s: %w", d.Device, err)
				}
			}
			if err := each(k, pts); err != nil {
				return err
			}
		}
	}
	// The rest: every device not listed.
	listed := make(map[[2]string]bool, len(q.Devices))
	for _, d := range q.Devices {
		listed[[2]string{d.Sensor, d.Device}] = true
	}
	for _, row := range q.all {
		if listed[[2]string{row.Sensor, row.Device}] {
			continue
		}
		q.Rest.Devices++
		q.Rest.Expected += row.Expected
		q.Rest.Received += row.Received
		q.Rest.Lost += row.Lost
		if row.Lost > 0 {
			q.Rest.Lossy++
		}
		if row.SilentPeriods > 0 {
			q.Rest.Silent++
		}
	}
	return nil
}

// deviceQuality is a device's messages and silences in [start, end) from
// the values of its quality field in the period (those before start, which
// retention removed the rest of the day of, do not count).
func (s *Source) deviceQuality(k store.DeviceKey, d qualityOf, pts []store.Point, start, end time.Time) DeviceQuality {
	q := DeviceQuality{Sensor: k.Sensor, Device: k.Device, Name: d.name, Silent: []Gap{}}
	if !start.Before(end) {
		return q
	}
	if i, _ := slices.BinarySearchFunc(pts, start, func(p store.Point, t time.Time) int { return p.Time.Compare(t) }); i > 0 {
		pts = pts[i:]
	}
	ss := make([]sample, len(pts))
	for i, pt := range pts {
		ss[i] = sample{pt.Time, pt.Value}
		q.Received++
		if d.field == reading.FieldLost {
			q.Lost += int64(pt.Value)
		}
	}
	q.Silent = s.silences(ss, start, end)
	q.Expected = q.Received + q.Lost
	return q
}

// until is the end of the time a device could have reported in during a
// period: now in a period not over yet.
func (s *Source) until(p Period) time.Time {
	if now := s.now(); now.Before(p.To) {
		return now
	}
	return p.To
}

// silences are the times in [start, end) without a reading longer than
// GapAfter: between two readings of ss (in time order), from start to the
// first and from the last to end. The data quality's silent periods and a
// meter's gaps are both this, so that a meter's Check column and its
// silent periods agree when its energy is in every reading.
func (s *Source) silences(ss []sample, start, end time.Time) []Gap {
	out := []Gap{}
	if !start.Before(end) {
		return out
	}
	lo, _ := slices.BinarySearchFunc(ss, start, func(x sample, t time.Time) int { return x.t.Compare(t) })
	hi, _ := slices.BinarySearchFunc(ss, end, func(x sample, t time.Time) int { return x.t.Compare(t) })
	ss = ss[lo:hi]
	if len(ss) == 0 {
		return append(out, Gap{From: start.In(s.Location), To: end.In(s.Location), MissingHours: end.Sub(start).Hours()})
	}
	usual := usualInterval(ss)
	edged := make([]sample, 0, len(ss)+2)
	edged = append(append(append(edged, sample{t: start}), ss...), sample{t: end})
	for i := 1; i < len(edged); i++ {
		if edged[i].t.Sub(edged[i-1].t) > GapAfter {
			out = append(out, gap(edged[i-1].t.In(s.Location), edged[i].t.In(s.Location), usual))
		}
	}
	return out
}

// FirstDay and EndDay bound the periods a report covers, in its zone: the
// period, and the one before that it is compared with, lie in [FirstDay,
// EndDay). Times past year 9999 have no RFC 3339 form, and no device
// reported before 1900.
var (
	FirstDay = civil{1900, time.January, 1}
	EndDay   = civil{9999, time.December, 1}
)

// civil is a date without a zone.
type civil struct {
	Year  int
	Month time.Month
	Day   int
}

func (c civil) in(loc *time.Location) time.Time {
	return time.Date(c.Year, c.Month, c.Day, 0, 0, 0, 0, loc)
}

func (c civil) String() string { return fmt.Sprintf("%04d-%02d-%02d", c.Year, c.Month, c.Day) }

// ParsePeriod reads a period: from and to (RFC 3339, or dates in loc),
// or a kind ("week" or "month", "week" when empty) and a date in it (the
// last whole one before now when empty). A period out of [FirstDay,
// EndDay) is an error that says so.
func ParsePeriod(from, to, kind, date string, loc *time.Location, now time.Time) (Period, error) {
	p, err := parsePeriod(from, to, kind, date, loc, now)
	if err != nil {
		return p, err
	}
	if p.Previous().From.Before(FirstDay.in(loc)) || p.To.After(EndDay.in(loc)) {
		return Period{}, fmt.Errorf("the period %s to %s is out of range: a report covers days from %s (with the period before, which it is compared with) until %s",
			p.From.Format(time.DateOnly), p.To.Format(time.DateOnly), FirstDay, EndDay)
	}
	return p, nil
}

func parsePeriod(from, to, kind, date string, loc *time.Location, now time.Time) (Period, error) {
	at := func(name, s string) (time.Time, error) {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			return t, nil
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms).In(loc), nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s %q is neither a date (2025-10-20), an RFC 3339 time nor Unix milliseconds", name, s)
		}
		return t.In(loc), nil
	}
	if from != "" || to != "" {
		if from == "" || to == "" {
			return Period{}, errors.New("give both from and to, or neither (and period=week|month)")
		}
		f, err := at("from", from)
		if err != nil {
			return Period{}, err
		}
		t, err := at("to", to)
		if err != nil {
			return Period{}, err
		}
		if !f.Before(t) {
			return Period{}, fmt.Errorf("from %s is not before to %s", from, to)
		}
		if t.Sub(f) > 366*24*time.Hour {
			return Period{}, errors.New("a report covers at most a year")
		}
		p := Period{From: f, To: t, Kind: "range"}
		if w := Week(f, loc); w.From.Equal(f) && w.To.Equal(t) {
			p.Kind = "week"
		} else if m := Month(f, loc); m.From.Equal(f) && m.To.Equal(t) {
			p.Kind = "month"
		}
		return p, nil
	}
	var p func(time.Time, *time.Location) Period
	switch kind {
	case "", "week":
		p = Week
	case "month":
		p = Month
	default:
		return Period{}, fmt.Errorf("period %q is not week or month", kind)
	}
	if date == "" {
		last := p(now, loc).Previous()
		return last, nil
	}
	d, err := at("date", date)
	if err != nil {
		return Period{}, err
	}
	return p(d, loc), nil
}
