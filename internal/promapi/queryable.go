package promapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Store is what the Prometheus API reads: the devices with the fields
// each stored, and their values.
type Store interface {
	store.Reader
	store.FieldIndex
}

// Queryable is the store seen as Prometheus storage by one principal: it
// sees the series of its customers only, whatever the query says.
type Queryable struct {
	Store Store
	// Customers, when not nil, are the only customers whose series are
	// seen; empty sees none.
	Customers []string
	// IsCounter reports whether a field of a sensor kind is a counter;
	// nil knows none.
	IsCounter func(sensor, field string) bool

	// cache, when set, keeps the kinds' fields a while.
	cache *kindFieldsCache
}

// Querier implements storage.Queryable. mint and maxt are not kept: each
// selection reads the range its hints give.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{q: q, mint: mint, maxt: maxt}, nil
}

type querier struct {
	q          *Queryable
	mint, maxt int64
}

func (*querier) Close() error { return nil }

// ref is one series: one field of one device.
type ref struct {
	labels labels.Labels
	store.DeviceKey
	field, unit string
	kept        store.Kept
}

// selection is what the store is asked for a set of matchers: the device
// filter they push down, and whether they can match at all.
func (q *Queryable) selection(ms []*labels.Matcher) (store.DeviceFilter, bool) {
	f := store.DeviceFilter{Customers: q.Customers}
	for _, m := range ms {
		switch m.Name {
		case model.MetricNameLabel:
		case LabelCustomer, LabelSensor, LabelDevice:
			if m.Type == labels.MatchEqual {
				if m.Value == "" {
					return f, false // every series has the label
				}
				switch m.Name {
				case LabelCustomer:
					f.Customer = m.Value
				case LabelSensor:
					f.Sensor = m.Value
				default:
					f.Device = m.Value
				}
			} else if set := m.SetMatches(); m.Name == LabelCustomer && m.Type == labels.MatchRegexp && len(set) > 0 {
				// A dashboard variable of several customers:
				// customer=~"a|b".
				if f.Customers == nil {
					f.Customers = set
				} else {
					f.Customers = slices.DeleteFunc(slices.Clone(f.Customers), func(c string) bool { return !slices.Contains(set, c) })
				}
			}
		default:
			// No series has another label: a matcher on one keeps
			// every series or none.
			if !m.Matches("") {
				return f, false
			}
		}
	}
	return f, true
}

// series lists the series that match every matcher, ordered by device
// and field, without reading a value. The fields that the matchers on
// names and kinds keep are found first, each once: the devices are then
// read with those fields only.
func (q *Queryable) series(ctx context.Context, ms []*labels.Matcher) ([]ref, error) {
	f, ok := q.selection(ms)
	if !ok {
		return nil, nil
	}
	kinds := named(ms)
	if kinds == nil {
		var err error
		if kinds, err = q.kinds(ctx, f, ms); err != nil {
			return nil, err
		}
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	wanted := map[store.KindField]bool{}
	var fields []string
	for _, kf := range kinds {
		wanted[store.KindField{Sensor: kf.Sensor, FieldUnit: store.FieldUnit{Name: kf.Name}}] = true
		if !slices.Contains(fields, kf.Name) {
			fields = append(fields, kf.Name)
		}
	}
	if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == model.MetricNameLabel }) {
		fields = nil // every field: no need to name them
	}
	devs, err := q.Store.DeviceFields(ctx, f, fields)
	if err != nil {
		return nil, err
	}
	var out []ref
	for _, d := range devs {
		if !matchDevice(ms, d.DeviceKey) {
			continue
		}
		for _, fu := range d.Fields {
			if !wanted[store.KindField{Sensor: d.Sensor, FieldUnit: store.FieldUnit{Name: fu.Name}}] {
				continue
			}
			name := MetricName(d.Sensor, fu.Name)
			out = append(out, ref{
				labels:    labels.FromStrings(model.MetricNameLabel, name, LabelCustomer, d.Customer, LabelDevice, d.Device, LabelSensor, d.Sensor),
				DeviceKey: d.DeviceKey, field: fu.Name, unit: fu.Unit, kept: d.Kept,
			})
		}
	}
	return out, nil
}

// kinds lists the fields of sensor kinds that the devices of a filter
// stored and that the matchers on names and kinds keep.
func (q *Queryable) kinds(ctx context.Context, f store.DeviceFilter, ms []*labels.Matcher) ([]store.KindField, error) {
	var all []store.KindField
	var err error
	if q.cache != nil {
		all, err = q.cache.kindFields(ctx, q.Store, f)
	} else {
		all, err = q.Store.KindFields(ctx, f)
	}
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(kf store.KindField) bool {
		return !matchLabel(ms, LabelSensor, kf.Sensor) || !matchLabel(ms, model.MetricNameLabel, MetricName(kf.Sensor, kf.Name))
	}), nil
}

// named is what a name=value matcher names: the fields of kinds whose
// series have that name (split at each underscore), or nil without such
// a matcher. A series of one name is found without listing every kind's
// fields.
func named(ms []*labels.Matcher) []store.KindField {
	for _, m := range ms {
		if m.Name != model.MetricNameLabel || m.Type != labels.MatchEqual {
			continue
		}
		out := []store.KindField{}
		for _, name := range []string{m.Value, model.UnescapeName(m.Value, model.ValueEncodingEscaping)} {
			for i := range len(name) {
				kf := store.KindField{Sensor: name[:i], FieldUnit: store.FieldUnit{Name: name[i+1:]}}
				if name[i] == '_' && MetricName(kf.Sensor, kf.Name) == m.Value && !slices.Contains(out, kf) &&
					matchLabel(ms, LabelSensor, kf.Sensor) && matchLabel(ms, model.MetricNameLabel, m.Value) {
					out = append(out, kf)
				}
			}
		}
		return out
	}
	return nil
}

// pushed reports whether the store's device filter alone does what the
// matchers on customers and devices do: none but = on a device, = or a
// list of customers.
func pushed(ms []*labels.Matcher) bool {
	return !slices.ContainsFunc(ms, func(m *labels.Matcher) bool {
		switch {
		case m.Name != LabelCustomer && m.Name != LabelDevice:
			return false
		case m.Type == labels.MatchEqual:
			return false
		}
		return m.Name == LabelDevice || m.Type != labels.MatchRegexp || len(m.SetMatches()) == 0
	})
}

// matchDevice reports whether the device's labels match every matcher
// on them.
func matchDevice(ms []*labels.Matcher, k store.DeviceKey) bool {
	return matchLabel(ms, LabelCustomer, k.Customer) && matchLabel(ms, LabelSensor, k.Sensor) && matchLabel(ms, LabelDevice, k.Device)
}

// matchLabel reports whether a label's value matches every matcher on
// it.
func matchLabel(ms []*labels.Matcher, name, value string) bool {
	for _, m := range ms {
		if m.Name == name && !m.Matches(value) {
			return false
		}
	}
	return true
}

// Select implements storage.Querier: the series the matchers select,
// each read from the store when the engine comes to it, in the range of
// the hints.
func (qr *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	refs, err := qr.q.series(ctx, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	if sortSeries {
		slices.SortFunc(refs, func(a, b ref) int { return labels.Compare(a.labels, b.labels) })
	}
	mint, maxt := qr.mint, qr.maxt
	if hints != nil {
		mint, maxt = hints.Start, hints.End
	}
	return &seriesSet{ctx: ctx, q: qr.q, refs: refs, mint: mint, maxt: maxt, i: -1}
}

// LabelNames implements storage.LabelQuerier: every series has the same
// labels.
func (qr *querier) LabelNames(ctx context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	var any bool
	f, ok := qr.q.selection(ms)
	switch {
	case len(ms) == 0:
		// Every device that sent something stored a field.
		f.Limit = 1
		devs, err := qr.q.Store.Devices(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		any = len(devs) > 0
	case ok && pushed(ms):
		kinds, err := qr.q.kinds(ctx, f, ms)
		if err != nil {
			return nil, nil, err
		}
		any = len(kinds) > 0
	case ok:
		refs, err := qr.q.series(ctx, ms)
		if err != nil {
			return nil, nil, err
		}
		any = len(refs) > 0
	}
	if !any {
		return []string{}, nil, nil
	}
	return []string{model.MetricNameLabel, LabelCustomer, LabelDevice, LabelSensor}, nil, nil
}

// LabelValues implements storage.LabelQuerier. Names and kinds are read
// from the fields of sensor kinds, devices and customers from the device
// list, when no matcher asks more of a series: the pickers of a fleet of
// thousands of devices.
func (qr *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	f, ok := qr.q.selection(ms)
	byName := slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == model.MetricNameLabel })
	switch {
	case !ok || name != model.MetricNameLabel && name != LabelCustomer && name != LabelSensor && name != LabelDevice:
	case (name == model.MetricNameLabel || name == LabelSensor) && pushed(ms):
		kinds, err := qr.q.kinds(ctx, f, ms)
		if err != nil {
			return nil, nil, err
		}
		for _, kf := range kinds {
			if name == LabelSensor {
				seen[kf.Sensor] = true
			} else {
				seen[MetricName(kf.Sensor, kf.Name)] = true
			}
		}
	case name != model.MetricNameLabel && !byName:
		devs, err := qr.q.Store.Devices(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range devs {
			k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
			if matchDevice(ms, k) {
				seen[deviceLabel(k, name)] = true
			}
		}
	default:
		refs, err := qr.q.series(ctx, ms)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range refs {
			seen[r.labels.Get(name)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	out, _ = hints.ApplyLimit(out)
	return out, nil, nil
}

func deviceLabel(k store.DeviceKey, name string) string {
	switch name {
	case LabelCustomer:
		return k.Customer
	case LabelSensor:
		return k.Sensor
	}
	return k.Device
}

// seriesSet reads each series' values as the engine comes to it.
type seriesSet struct {
	ctx        context.Context
	q          *Queryable
	refs       []ref
	mint, maxt int64
	i          int
	cur        *listSeries
	err        error
	warnings   annotations.Annotations
}

func (s *seriesSet) Next() bool {
	if s.err != nil || s.i+1 >= len(s.refs) {
		return false
	}
	s.i++
	r := s.refs[s.i]
	samples, err := s.q.read(s.ctx, r, s.mint, s.maxt, &s.warnings)
	if err != nil {
		s.err = fmt.Errorf("read %s of %s/%s/%s: %w", r.field, r.Customer, r.Sensor, r.Device, err)
		return false
	}
	s.cur = &listSeries{labels: r.labels, samples: samples}
	return true
}

func (s *seriesSet) At() storage.Series                { return s.cur }
func (s *seriesSet) Err() error                        { return s.err }
func (s *seriesSet) Warnings() annotations.Annotations { return s.warnings }

// read is a series' values in [mint, maxt] (Unix milliseconds), one a
// millisecond: of readings of the same time, the last stored. Before the
// readings retention kept, the hourly aggregates answer, with a warning:
// the average of each hour, or a counter's last value, at the hour's end.
func (q *Queryable) read(ctx context.Context, r ref, mint, maxt int64, warnings *annotations.Annotations) (floats, error) {
	from, to := time.UnixMilli(mint), time.UnixMilli(maxt).Add(time.Millisecond)
	var out floats
	if raw := r.kept.Raw; !raw.IsZero() && from.Before(raw) {
		var err error
		if out, err = q.rolled(ctx, r, from, minTime(to, raw), warnings); err != nil {
			return nil, err
		}
		from = raw
	}
	if !from.Before(to) {
		return out, nil
	}
	pts, _, err := q.Store.Points(ctx, store.RawQuery{DeviceKey: r.DeviceKey, Field: r.field, From: from, To: to})
	if errors.Is(err, store.ErrNotFound) {
		return out, nil // removed since it was listed
	}
	if err != nil {
		return nil, err
	}
	out = slices.Grow(out, len(pts))
	for _, p := range pts {
		t := p.Time.UnixMilli()
		if n := len(out); n > 0 && out[n-1].t >= t {
			out[n-1].f = p.Value
			continue
		}
		out = append(out, fsample{t, p.Value})
	}
	return out, nil
}

// rolled is what the hourly aggregates keep of a series in [from, to),
// before the readings retention kept; a warning says so.
func (q *Queryable) rolled(ctx context.Context, r ref, from, to time.Time, warnings *annotations.Annotations) (floats, error) {
	k := r.kept
	warn := fmt.Errorf("the readings of %s/%s/%s before %s were removed by retention: hourly averages (a counter's last value of each hour) stand for them",
		r.Customer, r.Sensor, r.Device, k.Raw.UTC().Format(time.RFC3339))
	rr, ok := q.Store.(series.Rollups)
	if !ok || !k.Hourly.IsZero() && !to.After(k.Hourly) {
		warnings.Add(fmt.Errorf("the readings of %s/%s/%s before %s were removed by retention, and their hourly aggregates before %s",
			r.Customer, r.Sensor, r.Device, k.Raw.UTC().Format(time.RFC3339), k.Hourly.UTC().Format(time.RFC3339)))
		return nil, nil
	}
	if from.Before(k.Hourly) {
		from = k.Hourly
		warn = fmt.Errorf("%w; before %s nothing is kept at a finer step than a day, and this API does not read days", warn, k.Hourly.UTC().Format(time.RFC3339))
	}
	// An hour is stamped at its end: the hour that ends in range counts.
	hours, err := rr.Hours(ctx, store.RawQuery{DeviceKey: r.DeviceKey, Field: r.field, From: from.Add(-time.Hour).Truncate(time.Hour), To: to})
	warnings.Add(warn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	counter := q.IsCounter != nil && q.IsCounter(r.Sensor, r.field)
	var out floats
	for _, h := range hours {
		end := h.Start.Add(time.Hour)
		if end.Before(from) || !end.Before(to) || h.N == 0 {
			continue
		}
		v := h.Sum / float64(h.N)
		if counter {
			v = h.Last
		}
		out = append(out, fsample{end.UnixMilli(), v})
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// listSeries is a series whose values are read.
type listSeries struct {
	labels  labels.Labels
	samples floats
}

func (s *listSeries) Labels() labels.Labels { return s.labels }

func (s *listSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(s.samples)
}

// floats are float samples, handed out by pointer so that none is
// copied into an interface.
type floats []fsample

func (fs floats) Get(i int) chunks.Sample { return &fs[i] }
func (fs floats) Len() int                { return len(fs) }

type fsample struct {
	t int64
	f float64
}

func (s *fsample) T() int64                      { return s.t }
func (s *fsample) ST() int64                     { return 0 }
func (s *fsample) F() float64                    { return s.f }
func (s *fsample) H() *histogram.Histogram       { return nil }
func (s *fsample) FH() *histogram.FloatHistogram { return nil }
func (s *fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s *fsample) Copy() chunks.Sample           { c := *s; return &c }
