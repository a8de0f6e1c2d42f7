package report

import (
	"bytes"
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Charts are the report's charts, for the page and the e-mail: PNG images
// (mail clients show them; they run no script and draw no SVG).
var Charts = []string{"days", "demand", "air", "cusum"}

var (
	blue  = color.RGBA{R: 0x1f, G: 0x6f, B: 0xb5, A: 0xff}
	red   = color.RGBA{R: 0xb4, G: 0x23, B: 0x18, A: 0xff}
	width = 17 * vg.Centimeter // A4's width less its margins
)

// Chart draws one of Charts as a PNG image.
func (r *Report) Chart(name string) ([]byte, error) {
	p, err := r.Plot(name)
	if err != nil {
		return nil, err
	}
	w, err := p.WriterTo(width, 6*vg.Centimeter, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Plot is one of Charts before it is drawn.
func (r *Report) Plot(name string) (*plot.Plot, error) {
	p := plot.New()
	defer sans(p)
	switch name {
	case "days":
		p.Title.Text = "Energy per day (kWh)"
		vals := make(plotter.Values, len(r.Energy.Days))
		labels := make([]string, len(r.Energy.Days))
		for i, d := range r.Energy.Days {
			vals[i] = d.Value()
			labels[i] = d.Start.Format("Mon 2")
			if d.KWh == nil {
				labels[i] += "\nno data"
			} else if d.EstimatedKWh > 0 {
				labels[i] += "\nestimated"
			}
		}
		if err := bars(p, vals, labels, blue); err != nil {
			return nil, err
		}
	case "demand":
		p.Title.Text = "15-minute demand (kW)"
		if r.Energy.PeakKW > 0 {
			p.Title.Text += fmt.Sprintf(", peak %s kW on %s", r.Locale.Number(r.Energy.PeakKW, kwhDecimals), r.Locale.DateTime(r.Energy.PeakAt))
		}
		pts := make(plotter.XYs, len(r.Energy.Profile))
		for i, d := range r.Energy.Profile {
			pts[i] = plotter.XY{X: float64(d.At.Unix()), Y: d.KW}
		}
		line, err := plotter.NewLine(pts)
		if err != nil && len(pts) > 0 {
			return nil, err
		}
		if line != nil {
			line.Color = blue
			p.Add(line)
		}
		if r.Energy.PeakKW > 0 {
			// A dot on the peak, which the title names.
			peak, _ := plotter.NewScatter(plotter.XYs{{X: float64(r.Energy.PeakAt.Unix()), Y: r.Energy.PeakKW}})
			peak.GlyphStyle = draw.GlyphStyle{Color: red, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
			p.Add(peak)
		}
		p.X.Tick.Marker = dayTicks{loc: r.Period.From.Location()}
		p.Y.Min = 0
	case "air":
		p.Title.Text = "Cost of air leaks per line"
		vals := make(plotter.Values, len(r.Air.Lines))
		labels := make([]string, len(r.Air.Lines))
		for i, l := range r.Air.Lines {
			if l.Cost != nil {
				vals[i] = *l.Cost
			}
			labels[i] = l.Name
			if labels[i] == "" {
				labels[i] = l.Device
			}
		}
		if err := bars(p, vals, labels, red); err != nil {
			return nil, err
		}
	case "cusum":
		if err := r.cusumPlot(p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no chart %q (charts: %v)", name, Charts)
	}
	return p, nil
}

// sans sets the plot's text in a sans-serif face, like the page and the
// mail around it (gonum's default is a serif one).
func sans(p *plot.Plot) {
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.Legend.TextStyle.Font,
		&p.X.Label.TextStyle.Font, &p.X.Tick.Label.Font, &p.Y.Label.TextStyle.Font, &p.Y.Tick.Label.Font} {
		f.Variant = "Sans"
	}
}

func bars(p *plot.Plot, vals plotter.Values, labels []string, c color.Color) error {
	if len(vals) == 0 {
		return nil
	}
	b, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	b.Color, b.LineStyle.Color = c, c
	p.Add(b)
	p.NominalX(labels...)
	p.Y.Min = 0
	return nil
}

// dayTicks marks the days of a time axis in Unix seconds.
type dayTicks struct{ loc *time.Location }

func (d dayTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	t := time.Unix(int64(min), 0).In(d.loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, d.loc)
	for ; float64(day.Unix()) <= max; day = day.AddDate(0, 0, 1) {
		if float64(day.Unix()) >= min {
			out = append(out, plot.Tick{Value: float64(day.Unix()), Label: day.Format("Mon 2")})
		}
	}
	return out
}
