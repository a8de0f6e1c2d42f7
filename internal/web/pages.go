package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pages are the parsed templates; they are never run themselves, so that
// each locale's clone (localized) can take that locale's helpers.
var pages = template.Must(template.Must(template.New("").Funcs(report.Funcs(locale.Locale{})).ParseFS(templateFS, "templates/*.html")).Parse(report.AirTemplates))

// localized are the pages with the helpers of a locale, by its tag.
var localized sync.Map

// pagesIn are the pages whose figures and dates l writes.
func pagesIn(l locale.Locale) (*template.Template, error) {
	if t, ok := localized.Load(l.Tag()); ok {
		return t.(*template.Template), nil
	}
	t, err := pages.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(report.Funcs(l))
	got, _ := localized.LoadOrStore(l.Tag(), t)
	return got.(*template.Template), nil
}

// SilentAfter is how long without a message makes a device count as
// silent on the overview.
const SilentAfter = 10 * time.Minute

// Ranges are the quick time ranges of a dashboard.
var Ranges = []string{"1h", "24h", "7d", "30d"}

// Pages serves the web pages.
type Pages struct {
	Store    Store
	Plan     *plan.Live
	Location *time.Location
	Server   *Server
	leaks    fresh[int]
	fleets   fresh[store.Fleet]
	energies energyCache
}

// config is the configuration in force.
func (p *Pages) config() *config.Config { return p.Plan.Load().Config }

type page struct {
	Title, Nav, Zone string
	// Lang, DatePattern and TimePattern are the locale's, for <html lang>,
	// the date pickers and the scripts' dates (assets/locale.js).
	Lang, DatePattern, TimePattern string
	Kinds                          []kind
	// User and CSRF are the logged-in user and the session's CSRF token,
	// for the log-out form and the pages' scripts; empty without users.
	User, CSRF string
	// Banner is what every page must say first, such as a full disk.
	Banner string
	// Acts is false for a viewer, who may look but not acknowledge.
	Acts bool
	// Edits is true for who edits settings: admins, and operators given
	// customers.
	Edits bool
}

func (p *Pages) page(r *http.Request, title, nav string) page {
	l := locale.Or(p.config().Locale)
	pg := page{Title: title, Nav: nav, Zone: p.Location.String(), Lang: l.Tag(), DatePattern: l.DatePattern(), TimePattern: l.TimePattern()}
	for _, name := range p.config().SensorNames() {
		pg.Kinds = append(pg.Kinds, kind{Name: name, Title: p.kindTitle(name)})
	}
	if p.Server.Banner != nil {
		pg.Banner = p.Server.Banner()
	}
	pg.Acts = principalOf(r).Acts()
	pg.Edits = p.Server.Catalog != nil && editsSettings(principalOf(r))
	if a := p.Server.Access; a != nil {
		pg.User, pg.CSRF = principalOf(r).Name, a.csrfToken(r)
	}
	return pg
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	p.renderStatus(w, r, http.StatusOK, name, data)
}

func (p *Pages) renderStatus(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var buf strings.Builder
	t, err := pagesIn(locale.Or(p.config().Locale))
	if err == nil {
		err = t.ExecuteTemplate(&buf, name, data)
	}
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(buf.String()))
}

// routes adds the pages and assets to mux.
func (p *Pages) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.errorPage(p.overview))
	mux.HandleFunc("GET /d/{sensor}", p.errorPage(p.dashboard))
	mux.HandleFunc("GET /live/{sensor}/{device}", p.errorPage(p.live))
	mux.HandleFunc("GET /rejected", p.errorPage(p.rejected))
	mux.HandleFunc("GET /alerts", p.errorPage(p.alerts))
	mux.HandleFunc("GET /reports", p.errorPage(p.reports))
	mux.HandleFunc("/", p.errorPage(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "There is no page at "+r.URL.Path+".", http.StatusNotFound)
	}))
	if p.Server.Catalog != nil {
		p.settingsRoutes(mux)
	}
	if a := p.Server.Access; a != nil {
		mux.HandleFunc("/login", a.login(p))
		mux.HandleFunc("POST /logout", a.logout)
	}
	sub, _ := fs.Sub(assetFS, "assets")
	files := http.FileServerFS(sub)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			// Files only: a folder's listing is nobody's business.
			writeError(w, http.StatusNotFound, "no such asset")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})))
}

// kind is a sensor kind in the menu: its name in addresses, and its
// dashboard's title for people.
type kind struct{ Name, Title string }

// KindTitle is the title of the sensor kind name, for the templates.
func (pg page) KindTitle(name string) string {
	for _, k := range pg.Kinds {
		if k.Name == name {
			return k.Title
		}
	}
	return name
}

// kindTitle is what people call a sensor kind: its dashboard's title, or
// its name when the dashboard has none.
func (p *Pages) kindTitle(sensor string) string {
	if sc := p.config().Sensors[sensor]; sc != nil && sc.Dashboard.Title != "" {
		return sc.Dashboard.Title
	}
	return sensor
}

// errorPage shows the errors of a page's handler as a page like the
// others, with the menu, what went wrong and what to do, instead of the
// bare text or JSON the handler answered.
func (p *Pages) errorPage(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ew := &errorWriter{ResponseWriter: w}
		h(ew, r)
		if ew.code == 0 {
			return
		}
		msg := strings.TrimSpace(ew.body.String())
		var js struct{ Error string }
		if json.Unmarshal(ew.body.Bytes(), &js) == nil && js.Error != "" {
			msg = js.Error
		}
		back := ""
		if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && ref.RequestURI() != r.URL.RequestURI() {
			back = safeNext(ref.RequestURI())
		}
		p.renderStatus(w, r, ew.code, "error.html", struct {
			page
			Code          int
			Message, Back string
		}{p.page(r, http.StatusText(ew.code), ""), ew.code, msg, back})
	}
}

// errorWriter holds back an error answer (status 400 and above) for
// errorPage to show; other answers pass through.
type errorWriter struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (e *errorWriter) WriteHeader(code int) {
	if code >= http.StatusBadRequest {
		e.code = code
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorWriter) Write(b []byte) (int, error) {
	if e.code != 0 {
		return e.body.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

// DisplayName is the name people gave the device, else the one its
// messages carry.
func (d deviceRow) DisplayName() string {
	if d.Meta != nil && d.Meta.Name != "" {
		return d.Meta.Name
	}
	return d.Dev.Name
}

// Place is where people said the device is: site, line, location, tags.
func (d deviceRow) Place() string {
	if d.Meta == nil {
		return ""
	}
	var parts []string
	for _, s := range []string{d.Meta.Site, d.Meta.Line, d.Meta.Location} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	for _, t := range d.Meta.Tags {
		parts = append(parts, "#"+t)
	}
	return strings.Join(parts, " · ")
}

type deviceRow struct {
	Dev store.Device
	// Meta is what people said of the device (Settings, Devices); nil
	// for nothing.
	Meta                        *config.DeviceMeta
	Kind                        string
	Silent                      bool
	Ago, LastSeenText, LossText string
	RSSIText, SNRText           string
	Values                      []fieldValue
	// Firing counts the device's firing alerts.
	Firing int
	// Leaking is true while the device's leak field says so.
	Leaking bool
}

// fieldValue is one figure of a device's latest reading, as people read
// it; Class styles a state ("ok", "leak").
type fieldValue struct{ Name, Text, Class string }

// shownFields says how a sensor kind's dashboard shows its fields: the
// unit its panels give a field (°C rather than the payload's C), and the
// fields that are a yes/no state (a panel's mark_below, such as leak).
func shownFields(sc *config.Sensor) (units map[string]string, states map[string]bool) {
	units, states = map[string]string{}, map[string]bool{}
	if sc == nil {
		return units, states
	}
	for _, pn := range sc.Dashboard.Panels {
		if pn.MarkBelow != "" {
			states[pn.MarkBelow] = true
		}
		if pn.Unit == "" {
			continue
		}
		for _, f := range pn.Fields {
			if _, ok := units[f]; !ok {
				units[f] = pn.Unit
			}
		}
	}
	return units, states
}

// latestValues are the figures of a reading people read on the overview:
// the radio's own (_rssi, _snr, _lost) have their columns and are left
// out, a state field reads OK or its name in capitals.
func latestValues(rd *reading.Reading, sc *config.Sensor, l locale.Locale) (values []fieldValue, leaking bool) {
	units, states := shownFields(sc)
	names := make([]string, 0, len(rd.Fields))
	for k := range rd.Fields {
		if !strings.HasPrefix(k, "_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		v := rd.Fields[k]
		if states[k] {
			fv := fieldValue{Name: k, Text: "OK", Class: "ok"}
			if v != 0 {
				fv.Text, fv.Class, leaking = strings.ToUpper(k), "leak", true
			}
			values = append(values, fv)
			continue
		}
		unit, ok := units[k]
		if !ok {
			unit = rd.Units[k]
		}
		text := k + " " + l.Value(v)
		if unit != "" {
			text += " " + unit
		}
		values = append(values, fieldValue{Name: k, Text: text})
	}
	return values, leaking
}

func (p *Pages) localTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return locale.Or(p.config().Locale).DateTime(t.In(p.Location))
}

// Ago says how long ago t was, in the largest sensible unit.
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func num(f *float64, l locale.Locale) string {
	if f == nil {
		return "–"
	}
	return l.Value(*f)
}

// PerPage is how many devices a page of the overview lists.
const PerPage = 100

// overviewQuery is what the overview shows, all of it in its address so
// that a view can be bookmarked: the search, the filters, the order and
// the page.
type overviewQuery struct {
	Search, Kind, Customer   string
	Silent, Alerting, Losing bool
	Sort                     string
	Page                     int
}

func readOverviewQuery(q url.Values) overviewQuery {
	o := overviewQuery{Search: strings.TrimSpace(q.Get("q")), Kind: q.Get("kind"), Customer: q.Get("customer"),
		Silent: q.Get("silent") != "", Alerting: q.Get("alerting") != "", Losing: q.Get("losing") != "", Sort: q.Get("sort")}
	if _, _, err := deviceSort(o.Sort); err != nil {
		o.Sort = ""
	}
	o.Page, _ = strconv.Atoi(q.Get("page"))
	o.Page = max(o.Page, 1)
	return o
}

// filter is the store's filter of the query's devices.
func (o overviewQuery) filter(now time.Time) store.DeviceFilter {
	f := store.DeviceFilter{Search: o.Search, Sensor: o.Kind, Customer: o.Customer, Losing: o.Losing, Firing: o.Alerting}
	if o.Silent {
		f.SeenBefore = now.Add(-SilentAfter)
	}
	f.Sort, f.Desc, _ = deviceSort(o.Sort)
	return f
}

// Filtered reports whether the query narrows the fleet.
func (o overviewQuery) Filtered() bool {
	return o.Search != "" || o.Kind != "" || o.Customer != "" || o.Silent || o.Alerting || o.Losing
}

// URL is the overview's address for this query, with changes: "page" to a
// number, "sort" to a column (the same column again reverses it).
func (o overviewQuery) URL(key string, v any) string {
	switch key {
	case "page":
		o.Page = v.(int)
	case "sort":
		col := v.(string)
		if o.Sort == col {
			col = "-" + col
		}
		o.Sort, o.Page = col, 1
	}
	q := url.Values{}
	for k, val := range map[string]string{"q": o.Search, "kind": o.Kind, "customer": o.Customer, "sort": o.Sort} {
		if val != "" {
			q.Set(k, val)
		}
	}
	for k, on := range map[string]bool{"silent": o.Silent, "alerting": o.Alerting, "losing": o.Losing} {
		if on {
			q.Set(k, "1")
		}
	}
	if o.Page > 1 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// SortMark is the arrow beside the column the list is sorted by.
func (o overviewQuery) SortMark(col string) string {
	switch o.Sort {
	case col:
		return " ▲"
	case "-" + col:
		return " ▼"
	}
	return ""
}

func (p *Pages) overview(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	who := principalOf(r)
	now := time.Now()
	oq := readOverviewQuery(r.URL.Query())
	// The cards count the whole fleet the principal sees, in the store,
	// as of at most SummaryFresh ago.
	all := scoped(r, store.DeviceFilter{})
	fleet, err := p.fleets.get(scopeOf(all), now, func() (store.Fleet, error) {
		return p.Store.CountDevices(r.Context(), all, now.Add(-SilentAfter))
	})
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	f := p.Server.scoped(r, oq.filter(now))
	found := fleet.Devices
	if oq.Filtered() {
		fl, err := p.Store.CountDevices(r.Context(), f, now)
		if err != nil {
			p.Server.internal(w, r, err)
			return
		}
		found = fl.Devices
	}
	pages := max((found+PerPage-1)/PerPage, 1)
	oq.Page = min(oq.Page, pages)
	f.Limit, f.Offset, f.Latest = PerPage, (oq.Page-1)*PerPage, true
	devs, err := p.Store.Devices(r.Context(), f)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	rejected, err := p.Store.CountRejected(r.Context(), store.RejectedFilter{Customers: who.Customers})
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	leaking, leakKinds, err := p.leaking(r)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	energy, today, err := p.energy(r)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	lang := locale.Or(p.config().Locale)
	data := struct {
		page
		Devices []deviceRow
		// Total counts the devices the principal sees; Reporting and
		// Silent split them by whether they sent anything in SilentAfter;
		// Leaking counts those whose leak field is set now.
		Total, Reporting, Silent, Leaking int
		Lost, Expected, Rejected          int64
		LossText, SilentAfter             string
		Firing                            int
		// LeakKinds is true when a sensor kind has a leak field.
		LeakKinds bool
		// Query is the search, filters, order and page; Found counts the
		// devices it matches, on Pages pages; From and To number the rows
		// shown.
		Query                              overviewQuery
		Found, Pages, From, To, Prev, Next int
		Customers                          []string
		// Energy are the cards of today's and yesterday's energy of the
		// power meters; none without a kind of meter.
		Energy []energyCard
	}{page: p.page(r, "Overview", "overview"), Rejected: rejected, SilentAfter: fmt.Sprintf("%d min", int(SilentAfter.Minutes())),
		Total: fleet.Devices, Reporting: fleet.Devices - fleet.Silent, Silent: fleet.Silent, Lost: fleet.Lost, Expected: fleet.Expected,
		Leaking: leaking, LeakKinds: leakKinds, Query: oq, Found: found, Pages: pages, Prev: oq.Page - 1, Next: oq.Page + 1, Customers: p.customers(r),
		Energy: energyCards(energy, lang, today)}
	if len(devs) > 0 {
		data.From, data.To = f.Offset+1, f.Offset+len(devs)
	}
	firingOf, err := p.Store.CountFiring(r.Context(), who.Customers)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	for _, n := range firingOf {
		data.Firing += n
	}
	for _, d := range devs {
		row := deviceRow{Dev: d, Meta: p.config().Meta(d.Customer, d.Sensor, d.Device), Kind: p.kindTitle(d.Sensor), Silent: now.Sub(d.LastSeen) > SilentAfter, Ago: Ago(now.Sub(d.LastSeen)),
			Firing:       firingOf[store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}],
			LastSeenText: p.localTime(d.LastSeen), LossText: lang.Number(d.LossRatio*100, 1) + " %",
			RSSIText: num(d.RSSI, lang) + " dBm", SNRText: num(d.SNR, lang) + " dB"}
		if d.Latest != nil {
			row.Values, row.Leaking = latestValues(d.Latest, p.config().Sensors[d.Sensor], lang)
		}
		data.Devices = append(data.Devices, row)
	}
	if data.Expected > 0 {
		data.LossText = lang.Number(float64(data.Lost)/float64(data.Expected)*100, 1) + " %"
	}
	p.render(w, r, "overview.html", data)
}

// customers are the customers the principal may pick on the overview.
func (p *Pages) customers(r *http.Request) []string {
	if who := principalOf(r); !who.All() {
		return who.Customers
	}
	return p.config().Customers
}

func (p *Pages) rejected(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	customers := principalOf(r).Customers
	f := store.RejectedFilter{Reason: q.Get("reason"), Limit: 100, Customers: customers}
	f.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := p.Store.Rejected(r.Context(), f)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	total, err := p.Store.CountRejected(r.Context(), store.RejectedFilter{Reason: f.Reason, Customers: customers})
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	type item struct{ Time, Reason, Topic, Source, Payload string }
	data := struct {
		page
		Items  []item
		Total  int64
		Reason string
		Next   int64
	}{page: p.page(r, "Rejected messages", "rejected"), Total: total, Reason: f.Reason}
	for _, rj := range list {
		data.Items = append(data.Items, item{Time: p.localTime(rj.Received), Reason: rj.Reason, Topic: rj.Topic, Source: rj.Source,
			Payload: strings.ToValidUTF8(string(rj.Payload), "\uFFFD")})
	}
	if len(list) == f.Limit {
		data.Next = list[len(list)-1].ID
	}
	p.render(w, r, "rejected.html", data)
}

// ruleNames are the names of the alert rules in force (the
// configuration's and the catalog's), for the filter of the alerts page.
func (p *Pages) ruleNames() []string {
	var names []string
	for _, rule := range p.config().Alerts.Rules {
		names = append(names, rule.Name)
	}
	return names
}

func (p *Pages) alerts(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if !slices.Contains(alertStates, state) {
		state = "firing"
	}
	customers := principalOf(r).Customers
	f := store.AlertFilter{Rule: q.Get("rule"), Limit: 100, Customers: customers,
		DeviceKey: store.DeviceKey{Customer: q.Get("customer"), Sensor: q.Get("sensor"), Device: q.Get("device")}}
	if state != "all" {
		f.State = state
	}
	f.BeforeID, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := p.Store.Alerts(r.Context(), f)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	firingOf, err := p.Store.CountFiring(r.Context(), customers)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	firing := 0
	for _, n := range firingOf {
		firing += n
	}
	type item struct {
		A                        store.Alert
		Started, Resolved, Acked string
	}
	type logItem struct {
		N             store.Notification
		Created, Done string
	}
	type detail struct {
		ID  int64
		Log []logItem
	}
	data := struct {
		page
		Items         []item
		State         string
		States, Rules []string
		Filter        store.AlertFilter
		Firing        int
		Next          int64
		Detail        *detail
	}{page: p.page(r, "Alerts", "alerts"), State: state, States: alertStates, Filter: f, Firing: firing}
	data.Rules = p.ruleNames()
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return p.localTime(*t)
	}
	for _, a := range list {
		data.Items = append(data.Items, item{A: a, Started: p.localTime(a.Started), Resolved: at(a.Resolved), Acked: at(a.AckedAt)})
	}
	if len(list) == f.Limit {
		data.Next = list[len(list)-1].ID
	}
	if id, err := strconv.ParseInt(q.Get("id"), 10, 64); err == nil {
		if _, ok := p.Server.visibleAlert(w, r, id); !ok {
			return
		}
		log, err := p.Store.Notifications(r.Context(), id)
		if err != nil {
			p.Server.internal(w, r, err)
			return
		}
		data.Detail = &detail{ID: id}
		for _, n := range log {
			done := ""
			if !n.Done.IsZero() {
				done = p.localTime(n.Done)
			}
			data.Detail.Log = append(data.Detail.Log, logItem{N: n, Created: p.localTime(n.Created), Done: done})
		}
	}
	p.render(w, r, "alerts.html", data)
}

func (p *Pages) dashboard(w http.ResponseWriter, r *http.Request) {
	sensor := r.PathValue("sensor")
	sc, ok := p.config().Sensors[sensor]
	if !ok {
		http.Error(w, "There is no sensor kind "+sensor+" (kinds: "+strings.Join(p.config().SensorNames(), ", ")+").", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	// Without a device, the kind's first; with one, that one, found by
	// its key.
	devs, err := p.Server.visibleDevices(r, store.DeviceFilter{Sensor: sensor, Customer: q.Get("customer"), Device: q.Get("device"), Limit: 1})
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	device, customer, name := q.Get("device"), q.Get("customer"), ""
	if len(devs) > 0 {
		device, customer, name = devs[0].Device, devs[0].Customer, devs[0].Name
	} else if device != "" {
		http.Error(w, "There is no "+p.kindTitle(sensor)+" device "+device+" among those of your account.", http.StatusNotFound)
		return
	}
	dash := sc.Dashboard
	if dash.Title == "" {
		dash.Title = sensor
	}
	cfg, _ := json.Marshal(map[string]any{
		"sensor": sensor, "title": dash.Title, "customer": customer, "device": device, "zone": p.Location.String(),
		"panels": dash.Panels, "ranges": Ranges,
	})
	p.render(w, r, "dashboard.html", struct {
		page
		Sensor, Device, Customer, Name string
		Dashboard                      config.Dashboard
		Ranges                         []string
		JSON                           template.JS
	}{p.page(r, dash.Title, sensor), sensor, device, customer, name, dash, Ranges, template.JS(cfg)})
}

func (p *Pages) live(w http.ResponseWriter, r *http.Request) {
	sensor, device := r.PathValue("sensor"), r.PathValue("device")
	devs, err := p.Server.visibleDevices(r, store.DeviceFilter{Sensor: sensor, Customer: r.URL.Query().Get("customer"), Device: device, Limit: 1})
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	if len(devs) == 0 {
		http.Error(w, "There is no "+p.kindTitle(sensor)+" device "+device+" among those of your account.", http.StatusNotFound)
		return
	}
	customer := devs[0].Customer
	cfg, _ := json.Marshal(map[string]any{"sensor": sensor, "customer": customer, "device": device, "zone": p.Location.String()})
	p.render(w, r, "live.html", struct {
		page
		Sensor, Device, Customer string
		JSON                     template.JS
	}{p.page(r, "Live · "+p.kindTitle(sensor)+" "+device, ""), sensor, device, customer, template.JS(cfg)})
}
