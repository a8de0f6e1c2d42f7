package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/locale"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// formats write the report's figures in the PDF as the page and the mail
// write them (Funcs), so that the three read the same.
type formats struct {
	kwh                    func(any) string
	pct, money, nm3, hours func(float64) string
	diffPct                func(*float64) string
	when, day, last        func(time.Time) string
	cost                   func(any, string) string
	co2, co2kg             func(*float64) string
}

func formatsOf(fs map[string]any) formats {
	return formats{
		kwh: fs["kwh"].(func(any) string), pct: fs["pct"].(func(float64) string), diffPct: fs["diffpct"].(func(*float64) string),
		money: fs["money"].(func(float64) string), nm3: fs["nm3"].(func(float64) string), hours: fs["hours"].(func(float64) string),
		when: fs["when"].(func(time.Time) string), day: fs["day"].(func(time.Time) string), last: fs["last"].(func(time.Time) string),
		cost: fs["cost"].(func(any, string) string), co2: fs["co2"].(func(*float64) string), co2kg: fs["co2kg"].(func(*float64) string),
	}
}

// The PDF's page: A4 portrait, in millimetres.
const (
	pageMargin = 15.0
	headerH    = 16.0 // the band the header takes at the top of a page
	footerH    = 12.0 // and the footer at the bottom
	lineH      = 4.6  // a line of body text
	cellPad    = 1.2
	// fontName is the PDF's font: Go Regular and Go Bold, embedded, which
	// write any device name (é, ü, Ω, ³), whatever fonts the machine has.
	fontName = "go"
	// pages is replaced by the page count once the document is done.
	pages = "{nb}"
)

// pdfDoc is a report's PDF as it is written.
type pdfDoc struct {
	*fpdf.Fpdf
	r *Report
	f formats
	// bottom is the lowest y that content may reach on a page.
	bottom float64
	// width is the width between the margins.
	width float64
}

// PDF writes the report as an A4 PDF: the sections asked for (all when
// none is), with the same figures, tables and charts as the page; each
// page has the customer's name and logo, the period, the time it was made
// and its number, "page 2 of 5". A table that goes on to the next page
// repeats its header row there, and no row is cut.
func (r *Report) PDF(w io.Writer, sections []string) error {
	d := newPDFDoc(r)
	has := func(s string) bool { return len(sections) == 0 || slices.Contains(sections, s) }
	d.AddPage()
	d.title()
	for _, s := range []struct {
		name  string
		write func() error
	}{{"energy", d.energy}, {"air", d.air}, {"quality", d.quality}, {"baseline", d.baselines}} {
		if !has(s.name) {
			continue
		}
		if err := s.write(); err != nil {
			return err
		}
	}
	if err := d.Error(); err != nil {
		return fmt.Errorf("report PDF: %w", err)
	}
	return d.Output(w)
}

func newPDFDoc(r *Report) *pdfDoc {
	f := fpdf.New("P", "mm", "A4", "")
	f.AddUTF8FontFromBytes(fontName, "", goregular.TTF)
	f.AddUTF8FontFromBytes(fontName, "B", gobold.TTF)
	f.SetMargins(pageMargin, pageMargin+headerH, pageMargin)
	f.SetAutoPageBreak(true, pageMargin+footerH)
	f.AliasNbPages(pages)
	pw, ph := f.GetPageSize()
	d := &pdfDoc{Fpdf: f, r: r, f: formatsOf(Funcs(r.Locale)), bottom: ph - pageMargin - footerH, width: pw - 2*pageMargin}
	f.SetTitle("Report "+customerName(r)+", "+d.periodText(r.Period), true)
	f.SetCreator("sensorhub", true)
	// The made-at time, not the time of writing: the same report gives
	// the same document.
	f.SetCreationDate(r.Made)
	f.SetModificationDate(r.Made)
	if r.logo != nil {
		f.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: r.logoType}, bytes.NewReader(r.logo))
	}
	f.SetHeaderFunc(d.header)
	f.SetFooterFunc(d.footer)
	return d
}

// customerName is the customer as a reader knows it: its name and, in
// brackets, its id, or its id alone.
func customerName(r *Report) string {
	if r.Name != "" && r.Name != r.Customer {
		return r.Name + " (" + r.Customer + ")"
	}
	return r.Customer
}

// periodText is a period for people: Mon 20 Oct to Sun 26 Oct 2025.
func (d *pdfDoc) periodText(p Period) string {
	return d.f.day(p.From) + " to " + d.f.last(p.To) // the locale's dates give the year
}

// header writes the top of every page: the logo, the customer and the
// period.
func (d *pdfDoc) header() {
	x, y := pageMargin, pageMargin
	if d.r.logo != nil {
		// The logo keeps its proportions at the header's height.
		d.ImageOptions("logo", x, y-2, 0, headerH-4, false, fpdf.ImageOptions{}, 0, "")
		if info := d.GetImageInfo("logo"); info != nil && info.Height() > 0 {
			x += info.Width()*(headerH-4)/info.Height() + 4
		}
	}
	d.SetXY(x, y)
	d.font("B", 11)
	d.CellFormat(0, 5, customerName(d.r), "", 2, "L", false, 0, "")
	d.SetX(x)
	d.font("", 8.5)
	d.CellFormat(0, 4.5, "Report of "+d.periodText(d.r.Period), "", 2, "L", false, 0, "")
	d.SetDrawColor(0xd0, 0xd7, 0xde)
	d.Line(pageMargin, pageMargin+headerH-3, pageMargin+d.width, pageMargin+headerH-3)
	d.SetXY(pageMargin, pageMargin+headerH)
}

// footer writes the bottom of every page: when the report was made and
// the page's number.
func (d *pdfDoc) footer() {
	_, ph := d.GetPageSize()
	d.SetXY(pageMargin, ph-pageMargin-footerH+5)
	d.font("", 8)
	d.SetTextColor(0x57, 0x60, 0x6a)
	half := d.width / 2
	d.CellFormat(half, 4, "Made "+d.r.Locale.DateTime(d.r.Made)+" ("+d.r.Zone+") by sensorhub", "", 0, "L", false, 0, "")
	d.CellFormat(half, 4, fmt.Sprintf("page %d of %s", d.PageNo(), pages), "", 0, "R", false, 0, "")
	d.SetTextColor(0x1f, 0x23, 0x28)
}

func (d *pdfDoc) font(style string, size float64) { d.SetFont(fontName, style, size) }

// title opens the first page: what the report covers and what it does
// not.
func (d *pdfDoc) title() {
	r := d.r
	d.font("B", 16)
	d.MultiCell(0, 7, "Report: "+customerName(r), "", "L", false)
	d.font("", 10)
	d.MultiCell(0, lineH+0.4, fmt.Sprintf("%s, compared with %s; times in %s.", d.periodText(r.Period), d.periodText(r.Previous), r.Zone), "", "L", false)
	for _, n := range r.Notes {
		d.note(n)
	}
	d.Ln(2)
}

// note writes what the figures do not cover, on a shaded band.
func (d *pdfDoc) note(text string) {
	d.Ln(1.5)
	d.font("", 10)
	d.SetFillColor(0xff, 0xf4, 0xe5)
	d.MultiCell(0, lineH+0.4, text, "", "L", true)
	d.SetFillColor(0xff, 0xff, 0xff)
}

// heading starts a section, on the next page when the section's first
// lines would not fit under it.
func (d *pdfDoc) heading(text string) {
	d.room(50)
	d.Ln(3)
	d.font("B", 13)
	d.CellFormat(0, 8, text, "", 1, "L", false, 0, "")
	d.font("", 10)
}

// room goes to the next page unless h millimetres fit on this one.
func (d *pdfDoc) room(h float64) {
	if d.GetY()+h > d.bottom {
		d.AddPage()
	}
}

// para writes a paragraph.
func (d *pdfDoc) para(text string) {
	d.font("", 10)
	d.MultiCell(0, lineH+0.4, text, "", "L", false)
	d.Ln(1)
}

// figures writes labelled figures as two columns: what, how much.
func (d *pdfDoc) figures(rows [][2]string) {
	t := pdfTable{widths: []float64{0.32, 0.68}}
	body := make([][]string, len(rows))
	for i, r := range rows {
		body[i] = []string{r[0], r[1]}
	}
	d.table(t, body)
}

// chart draws one of Charts across the page, as the page and the mail
// show it.
func (d *pdfDoc) chart(name string) error {
	png, err := d.r.Chart(name)
	if err != nil {
		return fmt.Errorf("report PDF chart %s: %w", name, err)
	}
	// The PNG is drawn 17 cm by 6 cm (chart.go): the same proportions.
	h := d.width * 6 / 17
	d.room(h + 2)
	d.RegisterImageOptionsReader("chart-"+name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
	d.ImageOptions("chart-"+name, pageMargin, d.GetY(), d.width, h, false, fpdf.ImageOptions{}, 0, "")
	d.SetY(d.GetY() + h + 2)
	return nil
}

// pdfTable is how a table's columns are laid out: its header row, the
// columns' widths as parts of the page's width, and which are numbers
// (aligned right).
type pdfTable struct {
	head    []string
	widths  []float64
	numbers []bool
	// small sets the table in a smaller size, for one of many columns.
	small bool
}

// leadRows is how many rows a table starts a page with at least: a
// header row over one row at the foot of a page reads as a stray.
const leadRows = 3

// table writes a table: a row that does not fit on the page goes whole to
// the next, which repeats the header row first. Only a row taller than a
// whole page goes on over pages, its lines split between them.
func (d *pdfDoc) table(t pdfTable, rows [][]string) {
	widths := make([]float64, len(t.widths))
	for i, w := range t.widths {
		widths[i] = w * d.width
	}
	if t.head != nil {
		// The header row with its first rows (leadRows), never alone at
		// a page's end.
		head := d.cellLines(t, widths, t.head, "B").height()
		need := head
		for _, row := range rows[:min(len(rows), leadRows)] {
			need += d.cellLines(t, widths, row, "").height()
		}
		if need > d.bottom-pageMargin-headerH {
			// Rows taller than a page go on over pages anyway: a few
			// lines of them under the header row are enough here.
			need = head + leadRows*lineH + cellPad
		}
		d.room(need)
		d.headRow(t, widths)
	}
	for _, row := range rows {
		lines := d.cellLines(t, widths, row, "")
		if d.GetY()+lines.height() > d.bottom && d.GetY() > d.tableTop(t, widths) {
			d.nextTablePage(t, widths)
		}
		for first := 0; ; {
			room := int((d.bottom - d.GetY() - cellPad) / lineH)
			last := min(lines.count(), first+max(room, 1))
			d.row(t, widths, lines, first, last, false)
			if first = last; first >= lines.count() {
				break
			}
			d.nextTablePage(t, widths)
		}
	}
	d.Ln(2)
}

// tableTop is where a table's rows start on a page it goes on to: under
// the page's header and the table's header row.
func (d *pdfDoc) tableTop(t pdfTable, widths []float64) float64 {
	top := pageMargin + headerH
	if t.head != nil {
		top += d.cellLines(t, widths, t.head, "B").height()
	}
	return top
}

func (d *pdfDoc) nextTablePage(t pdfTable, widths []float64) {
	d.AddPage()
	if t.head != nil {
		d.headRow(t, widths)
	}
}

func (d *pdfDoc) headRow(t pdfTable, widths []float64) {
	d.SetFillColor(0xf6, 0xf8, 0xfa)
	lines := d.cellLines(t, widths, t.head, "B")
	d.row(t, widths, lines, 0, lines.count(), true)
	d.SetFillColor(0xff, 0xff, 0xff)
}

// rowLines are a row's cells wrapped in their columns, and the font
// style and size they were wrapped in.
type rowLines struct {
	cells [][]string
	style string
	size  float64
}

func (l rowLines) count() int {
	n := 1
	for _, c := range l.cells {
		n = max(n, len(c))
	}
	return n
}

func (l rowLines) height() float64 { return float64(l.count())*lineH + cellPad }

// cellLines wraps a row's cells in their columns, in the table's font of
// style ("B" for the header row).
func (d *pdfDoc) cellLines(t pdfTable, widths []float64, cells []string, style string) rowLines {
	size := 9.0
	if t.small {
		size = 7.5
	}
	d.font(style, size)
	out := rowLines{cells: make([][]string, len(cells)), style: style, size: size}
	for i, c := range cells {
		out.cells[i] = d.SplitText(c, widths[i])
	}
	return out
}

// row draws the lines [first, last) of a row: each cell's lines inside
// its box, shaded for a header row.
func (d *pdfDoc) row(t pdfTable, widths []float64, lines rowLines, first, last int, head bool) {
	x, y := pageMargin, d.GetY()
	h := float64(last-first)*lineH + cellPad
	fill := ""
	if head {
		fill = "F"
	}
	d.font(lines.style, lines.size)
	d.SetDrawColor(0xd0, 0xd7, 0xde)
	for i, cell := range lines.cells {
		d.Rect(x, y, widths[i], h, "D"+fill)
		align := "L"
		if i < len(t.numbers) && t.numbers[i] {
			align = "R"
		}
		for k := first; k < min(last, len(cell)); k++ {
			d.SetXY(x, y+cellPad/2+float64(k-first)*lineH)
			d.CellFormat(widths[i], lineH, cell[k], "", 0, align, false, 0, "")
		}
		x += widths[i]
	}
	d.SetXY(pageMargin, y+h)
}

// energy writes the energy section: the figures, the charts, the meters
// and the days.
func (d *pdfDoc) energy() error {
	e := d.r.Energy
	d.heading("Energy")
	if len(e.Meters) == 0 {
		d.para("No energy meter of this customer has readings in the period.")
		return nil
	}
	d.figures(d.energyFigures(e))
	for _, c := range []string{"days", "demand"} {
		if err := d.chart(c); err != nil {
			return err
		}
	}
	d.meters(e.Meters)
	d.days(e)
	return nil
}

// energyFigures are the energy section's figures, as the page gives them.
func (d *pdfDoc) energyFigures(e Energy) [][2]string {
	t := e.Total
	consumed := d.f.kwh(t.KWh) + " kWh"
	if t.PreviousKWh != nil {
		consumed += ", " + d.f.diffPct(t.DiffPct) + " against " + d.f.kwh(t.PreviousKWh) + " kWh"
	} else {
		consumed += ", no readings in the period before to compare with"
	}
	peak := d.f.kwh(t.PeakKW) + " kW"
	if !t.PeakAt.IsZero() {
		peak += ", " + d.f.when(t.PeakAt)
	}
	out := [][2]string{{"Consumed", consumed}}
	if cur := d.r.Currency; cur != "" {
		cost := d.f.cost(t.Cost, cur)
		if t.CO2Kg != nil {
			cost += ", " + d.f.co2(t.CO2Kg)
		}
		var months []string
		for _, p := range e.Demand {
			months = append(months, p.Month+": "+d.f.kwh(p.KW)+" kW, "+d.f.when(p.At))
		}
		out = append(out, [2]string{"Energy cost", cost}, [2]string{"Demand charge", strings.Join(append([]string{d.f.cost(e.DemandCharge, cur)}, months...), "; ")})
	}
	return append(out, [][2]string{
		{"Peak 15-minute demand", peak},
		{"Baseload", d.f.kwh(t.BaseloadKW) + " kW (10th percentile of the night's quarters)"},
		{"At night (22:00–06:00)", d.f.pct(t.NightShare)},
		{"On weekends", d.f.pct(t.WeekendShare)},
	}...)
}

// meters writes a row per meter, with what to check of it.
func (d *pdfDoc) meters(ms []Meter) {
	t := pdfTable{
		head:    []string{"Meter", "kWh", "Before", "Change", "Peak kW", "Peak at", "Baseload kW", "Night", "Weekend", "Check"},
		widths:  []float64{0.15, 0.08, 0.08, 0.08, 0.07, 0.1, 0.09, 0.07, 0.09, 0.19},
		numbers: []bool{false, true, true, true, true, false, true, true, true, false},
	}
	cur := d.r.Currency
	if cur != "" {
		// The costs after the kWh, as on the page, in a smaller size.
		t.head = slices.Insert(t.head, 2, "Cost "+cur, "kg CO2")
		t.widths = []float64{0.12, 0.07, 0.07, 0.06, 0.07, 0.07, 0.06, 0.09, 0.07, 0.06, 0.08, 0.18}
		t.numbers = slices.Insert(t.numbers, 2, true, true)
		t.small = true
	}
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		peakAt := ""
		if !m.PeakAt.IsZero() {
			peakAt = d.f.when(m.PeakAt)
		}
		row := []string{m.Name + " (" + m.Device + ")", d.f.kwh(m.KWh), d.f.kwh(m.PreviousKWh), d.f.diffPct(m.DiffPct), d.f.kwh(m.PeakKW), peakAt,
			d.f.kwh(m.BaseloadKW), d.f.pct(m.NightShare), d.f.pct(m.WeekendShare), d.meterChecks(m)}
		if cur != "" {
			row = slices.Insert(row, 2, d.f.cost(m.Cost, ""), d.f.co2kg(m.CO2Kg))
		}
		rows = append(rows, row)
	}
	d.table(t, rows)
}

// maxChecks is how many of a meter's resets, gaps and intervals left out
// its row lists; the others are counted (the page and the JSON list them
// all): a meter silent every other hour would fill pages.
const maxChecks = 8

// meterChecks are a meter's resets, gaps and intervals left out, a line
// each.
func (d *pdfDoc) meterChecks(m Meter) string {
	var out []string
	for _, t := range m.Resets {
		out = append(out, "counter reset "+d.f.when(t))
	}
	for _, g := range m.Gaps {
		out = append(out, "no reading "+d.f.when(g.From)+" to "+d.f.when(g.To)+" ("+d.f.hours(g.MissingHours)+" missing)")
	}
	if m.EstimatedKWh != 0 {
		out = append(out, d.f.kwh(m.EstimatedKWh)+" kWh estimated: spread over the gaps by time")
	}
	for _, iv := range m.Invalid {
		out = append(out, "left out "+d.f.when(iv.From)+" to "+d.f.when(iv.To)+": "+iv.Reason+" ("+iv.MarkedBy+")")
	}
	if len(out) > maxChecks {
		out = append(out[:maxChecks-1], fmt.Sprintf("and %d more (%d resets, %d gaps, %d left out in all)", len(out)-maxChecks+1, len(m.Resets), len(m.Gaps), len(m.Invalid)))
	}
	return strings.Join(out, "\n")
}

// maxDayColumns is how many meters the days' table has a column for; with
// more, it gives the total alone (the meters' table has each one's).
const maxDayColumns = 6

// days writes the kWh of each day, per meter and in all.
func (d *pdfDoc) days(e Energy) {
	meters := e.Meters
	if len(meters) > maxDayColumns {
		meters = nil
	}
	cur := d.r.Currency
	t := pdfTable{head: []string{"Day"}, widths: []float64{0.2}, numbers: []bool{false}}
	columns := len(meters) + 1
	if cur != "" {
		columns += 2
	}
	each := 0.8 / float64(columns)
	for _, m := range meters {
		t.head, t.widths, t.numbers = append(t.head, m.Name+" kWh"), append(t.widths, each), append(t.numbers, true)
	}
	t.head, t.widths, t.numbers = append(t.head, "Total kWh"), append(t.widths, each), append(t.numbers, true)
	if cur != "" {
		t.head, t.widths, t.numbers = append(t.head, "Cost "+cur, "kg CO2"), append(t.widths, each, each), append(t.numbers, true, true)
	}
	estimated := false
	rows := make([][]string, 0, len(e.Days))
	for i, day := range e.Days {
		row := []string{d.f.day(day.Start)}
		for _, m := range meters {
			cell := d.f.kwh(nil)
			if i < len(m.Days) && m.Days[i].Day == day.Day {
				cell = d.dayKWh(m.Days[i])
			}
			row = append(row, cell)
		}
		row = append(row, d.dayKWh(day))
		if cur != "" {
			row = append(row, d.f.cost(day.Cost, ""), d.f.co2kg(day.CO2Kg))
		}
		rows = append(rows, row)
		estimated = estimated || day.EstimatedKWh != 0
	}
	d.table(t, rows)
	if estimated {
		d.para("est.: the part of a day's kWh that is its share of a time without readings: what the meter counted across it, spread over it by time.")
	}
}

// dayKWh is a day's kWh with its estimated part, as the page writes it.
func (d *pdfDoc) dayKWh(day Day) string {
	out := d.f.kwh(day.KWh)
	if day.EstimatedKWh != 0 {
		out += " (est. " + d.f.kwh(day.EstimatedKWh) + ")"
	}
	return out
}

// air writes the compressed-air section: what the leaks cost, the chart
// and the lines.
func (d *pdfDoc) air() error {
	a := d.r.Air
	d.heading("Compressed air")
	money := func(v float64) string { return strings.TrimSpace(d.f.money(v) + " " + d.r.Currency) }
	cost := money(a.Cost)
	if a.Unmeasured > 0 {
		cost += fmt.Sprintf(" (%d lines not measurable)", a.Unmeasured)
	}
	figures := [][2]string{{"Leaks cost", cost}, {"A year", money(a.CostPerYear) + " (mean cost per day over the days measured x 365)"}}
	if w := a.Worst; w != nil {
		figures = append(figures, [2]string{"Worst leak", d.orNotMeasurable(w.LostNm3, " Nm³") + ", " + w.Name + ", " + d.f.when(w.Start) + ", " + duration(w.Seconds)})
	}
	d.figures(figures)
	if len(a.Lines) == 0 {
		d.para("No air line of this customer has readings in the period.")
	} else if err := d.airLines(a.Lines); err != nil {
		return err
	}
	d.compressors(a.Compressors)
	return nil
}

// orNotMeasurable writes an air figure, or says it is not measurable.
func (d *pdfDoc) orNotMeasurable(v *float64, unit string) string {
	if v == nil {
		return "not measurable"
	}
	return d.f.nm3(*v) + unit
}

// airLines writes the leaks' chart and a row per line, with how its air
// lost is measured.
func (d *pdfDoc) airLines(lines []Line) error {
	if err := d.chart("air"); err != nil {
		return err
	}
	t := pdfTable{
		head:    []string{"Line", "Leaks", "Below opening pressure", "Air lost Nm³", strings.TrimSpace("Cost " + d.r.Currency), "A year", "Worst leak", "Measured by"},
		widths:  []float64{0.15, 0.06, 0.11, 0.1, 0.12, 0.1, 0.14, 0.22},
		numbers: []bool{false, true, true, true, true, true, false, false},
		small:   true,
	}
	money := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return d.f.money(*v)
	}
	rows := make([][]string, 0, len(lines))
	for _, l := range lines {
		worst := ""
		if l.Worst != nil {
			worst = d.f.when(l.Worst.Start) + ", " + duration(l.Worst.Seconds)
		}
		cost := money(l.Cost)
		if l.Cost != nil {
			cost += "\nat " + strconv.FormatFloat(l.PricePerNm3, 'f', -1, 64) + strings.TrimRight(" "+d.r.Currency, " ") + " per Nm³"
		}
		rows = append(rows, []string{l.Name + " (" + l.Device + ")", strconv.Itoa(l.Leaks), duration(l.SecondsBelow), d.orNotMeasurable(l.LostNm3, ""),
			cost, money(l.CostPerYear), worst, airText(d.r.Locale, "leakmethod", l)})
	}
	d.table(t, rows)
	d.para(airText(d.r.Locale, "leakhow", nil))
	return nil
}

// compressors writes the compressors' specific power, when the customer
// has any.
func (d *pdfDoc) compressors(cs []Compressor) {
	if len(cs) == 0 {
		return
	}
	d.room(30)
	d.font("B", 11)
	d.CellFormat(0, 7, "Compressor specific power", "", 1, "L", false, 0, "")
	t := pdfTable{head: []string{"Compressor", "Energy kWh", "Air Nm³", "kW per Nm³/min"}, widths: []float64{0.4, 0.2, 0.2, 0.2}, numbers: []bool{false, true, true, true}}
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		sp := "not known: " + c.Reason
		if v := c.Period.SpecificPower; v != nil {
			sp = strconv.FormatFloat(*v, 'f', 2, 64)
		}
		rows = append(rows, []string{c.Name, d.f.kwh(c.Period.KWh), d.f.nm3(c.Period.Nm3), sp})
	}
	d.table(t, rows)
	d.para(airText(d.r.Locale, "sphow", nil))
}

// airHow are the page's and the mail's words on how the air figures are
// measured (AirTemplates), for the PDF.
var airHow = template.Must(template.New("air").Funcs(Funcs(locale.Locale{})).Parse(AirTemplates))

// airText is one of airHow's templates over data, as l writes figures;
// "" should it fail. airHow itself is never run, so that it can be
// cloned with each locale's helpers.
func airText(l locale.Locale, name string, data any) string {
	var b strings.Builder
	t, err := airHow.Clone()
	if err == nil {
		err = t.Funcs(Funcs(l)).ExecuteTemplate(&b, name, data)
	}
	if err != nil {
		return ""
	}
	return b.String()
}

// quality writes the data quality section: the devices that reported
// worst and the others added up.
func (d *pdfDoc) quality() error {
	q := d.r.Quality
	d.heading("Data quality")
	d.para(fmt.Sprintf("%d rejected messages in the period.", q.Rejected))
	t := pdfTable{
		head:    []string{"Device", "Kind", "Expected", "Received", "Lost", "Silent periods", "Silent hours"},
		widths:  []float64{0.28, 0.1, 0.1, 0.1, 0.08, 0.17, 0.17},
		numbers: []bool{false, false, true, true, true, true, true},
	}
	rows := make([][]string, 0, len(q.Devices))
	for _, dq := range q.Devices {
		r := dq.row()
		rows = append(rows, []string{r.Name + " (" + r.Device + ")", r.Sensor, strconv.FormatInt(r.Expected, 10), strconv.FormatInt(r.Received, 10),
			strconv.FormatInt(r.Lost, 10), strconv.Itoa(r.SilentPeriods), d.f.hours(r.SilentHours)})
	}
	d.table(t, rows)
	if rest := q.Rest; rest.Devices > 0 {
		d.para(fmt.Sprintf("The devices that reported worst first; %d more devices: %d of %d messages received, %d lost; %d of them lost messages, %d had silent periods. "+
			"The quality CSV lists every device.", rest.Devices, rest.Received, rest.Expected, rest.Lost, rest.Lossy, rest.Silent))
	}
	return nil
}

// baselines writes a section per energy baseline, as the page does: its
// reference and model, what the period saved, the CUSUM chart (under the
// first baseline with a model: it draws them all) and its periods.
func (d *pdfDoc) baselines() error {
	charted := false
	for i := range d.r.Baselines {
		b := &d.r.Baselines[i]
		title := "Baseline " + b.Name
		if b.Device != "" {
			title += " (" + b.Device + ")"
		}
		d.heading(title)
		d.para(d.baselineReference(b))
		if b.Note != "" {
			d.note(b.Note)
		}
		if b.Model == nil {
			continue
		}
		d.para(describeModel(d.r, b.Model))
		saved := "no whole " + b.Every + " to compare"
		if b.SavingsKWh != nil {
			saved = d.f.kwh(b.SavingsKWh) + " kWh saved against the baseline (negative: more used than expected)"
		}
		d.para("This period: " + saved + "; cumulative since the reference: " + d.f.kwh(-b.CUSUMKWh) + " kWh saved.")
		if !charted {
			if err := d.chart("cusum"); err != nil {
				return err
			}
			charted = true
		}
		d.baselinePeriods(b)
	}
	return nil
}

// baselineReference says what a baseline compares with.
func (d *pdfDoc) baselineReference(b *Baseline) string {
	text := "Reference: " + d.f.day(b.Reference.From) + " to " + d.f.last(b.Reference.To) + ", per " + b.Every
	if v := b.Variable; v != nil {
		if v.Kind == "degree_days" {
			text += ", regressed on heating or cooling degree days of " + v.Device + "'s " + v.Field
		} else {
			text += ", regressed on the production counted by " + v.Device + "'s " + v.Field
		}
		return text + ": an ISO 50001 energy baseline, normalised as ISO 50006 says."
	}
	return text + ": an ISO 50001 energy baseline."
}

// baselinePeriods writes a row per period since the reference; those of
// the report's period say so.
func (d *pdfDoc) baselinePeriods(b *Baseline) {
	first := "Day"
	if b.Every == "week" {
		first = "Week of"
	}
	t := pdfTable{head: []string{first, "Actual kWh", "Expected kWh"}, widths: []float64{0.22, 0.13, 0.13}, numbers: []bool{false, true, true}}
	if v := b.Variable; v != nil {
		head := "Variable"
		if v.Unit != "" {
			head += " (" + v.Unit + ")"
		}
		t.head, t.widths, t.numbers = append(t.head, head), append(t.widths, 0.13), append(t.numbers, true)
	}
	enpi := "EnPI (kWh)"
	if b.Variable != nil {
		enpi = "EnPI (kWh per unit)"
	}
	t.head, t.numbers = append(t.head, enpi, "Saved kWh", "CUSUM kWh"), append(t.numbers, true, true, true)
	rest := (1 - sum(t.widths)) / 3
	t.widths = append(t.widths, rest, rest, rest)
	rows := make([][]string, 0, len(b.Periods))
	for _, p := range b.Periods {
		start := d.f.day(p.Start)
		if b.InReport(p, d.r.Period) {
			start += ", this period"
		}
		row := []string{start, d.f.kwh(p.KWh), d.f.kwh(p.ExpectedKWh)}
		if b.Variable != nil {
			row = append(row, d.f.kwh(p.X))
		}
		rows = append(rows, append(row, d.f.kwh(p.EnPI), d.f.kwh(p.SavingsKWh), d.f.kwh(p.CUSUMKWh)))
	}
	if len(rows) == 0 {
		d.para("No " + b.Every + " since the reference yet.")
		return
	}
	d.table(t, rows)
}

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}

// PDFName is the name of a report's PDF: report-<customer>-<period>.pdf,
// the period as its week (2026-W48), its month (2026-11) or its days.
func PDFName(r *Report) string {
	from := r.Period.From
	var period string
	switch r.Period.Kind {
	case "week":
		y, w := from.ISOWeek()
		period = fmt.Sprintf("%d-W%02d", y, w)
	case "month":
		period = from.Format("2006-01")
	default:
		period = from.Format(time.DateOnly) + "-to-" + r.Period.To.Add(-time.Nanosecond).Format(time.DateOnly)
	}
	return "report-" + r.Customer + "-" + period + ".pdf"
}

// brand gives r its customer's name and logo (branding). A logo that
// cannot be read, though it could at start-up, is told to the log and
// left out: the report goes without it rather than not at all.
func (s *Source) brand(r *Report) {
	name, path, field := s.Config.Brand(r.Customer)
	r.Name = name
	if path == "" {
		return
	}
	data, format, err := config.ReadLogo(path)
	if err != nil {
		if s.Log != nil {
			s.Log.Warn("the report's logo cannot be read: the PDF is made without it", "customer", r.Customer, "field", field, "err", err)
		}
		return
	}
	r.logo, r.logoType = data, map[string]string{"png": "PNG", "jpeg": "JPG"}[format]
}
