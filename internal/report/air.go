package report

import (
	"context"
	"sort"

	"github.com/sensorhub/sensorhub/internal/compressor"
	"github.com/sensorhub/sensorhub/internal/leak"
)

// AirTemplates say, beside the air figures of the page and the mail, how
// each is computed and with which installation figures: leakmethod of a
// Line, leakhow and sphow of the section.
const AirTemplates = `{{define "leakmethod"}}{{if eq .Method "flow"}}the air flow in the non-production hours{{with .FlowNlMin}}, a leak flow of {{fixed 0 .}} Nl/min{{end}}{{else}}pressure decay in {{num .Params.VolumeL 0}} l, atmospheric pressure {{.Params.AtmosphericBar}} bar{{end}}{{with .Reason}}; {{.}}{{end}}{{end}}` +
	`{{define "leakhow"}}How the air lost is computed: by pressure decay, while a line is below its opening pressure (the pressure its valve opens at: below it, the line loses air), it is the line's volume x the pressure drop / the atmospheric pressure; by flow, the leak flow is the mean air flow measured in the non-production hours, when only leaks use air, and as leaks run always, the air lost is that flow x the whole time. Nm³ are normal cubic metres, Nl/min normal litres per minute. A year is the mean cost per day over the days measured x 365.{{end}}` +
	`{{define "sphow"}}Specific power: the compressor's energy (kWh) over the air it delivered (Nm³) x 60, over the hours both its power meter and its flow meter read: kW per Nm³/min, as compressor makers publish it (ISO 1217); lower is better.{{end}}`

// Compressor is the specific power of one of the customer's compressors
// over the period.
type Compressor = compressor.Figures

// compressors computes the specific power of the customer's compressors
// (the configuration's compressors).
func (s *Source) compressors(ctx context.Context, customer string, p Period) ([]Compressor, error) {
	var out []Compressor
	for _, c := range s.Config.Compressors {
		if c.Customer != customer {
			continue
		}
		f, err := compressor.Load(ctx, s.Store, c, p.From, p.To, s.Location)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// total orders the lines by cost and adds them up.
func (a *Air) total() {
	cost := func(l Line) float64 {
		if l.Cost == nil {
			return -1
		}
		return *l.Cost
	}
	sort.SliceStable(a.Lines, func(i, j int) bool { return cost(a.Lines[i]) > cost(a.Lines[j]) })
	for _, l := range a.Lines {
		if l.Cost == nil || l.CostPerYear == nil {
			a.Unmeasured++
		}
		if l.Cost != nil {
			a.Cost += *l.Cost
		}
		if l.CostPerYear != nil {
			a.CostPerYear += *l.CostPerYear
		}
		if l.Worst != nil && (a.Worst == nil || lost(l.Worst) > lost(&a.Worst.Leak)) {
			a.Worst = &WorstLeak{Device: l.Device, Name: l.Name, Leak: *l.Worst}
		}
	}
}

// lost is a leak's air lost, 0 when not measured.
func lost(l *leak.Leak) float64 {
	if l.LostNm3 == nil {
		return 0
	}
	return *l.LostNm3
}
