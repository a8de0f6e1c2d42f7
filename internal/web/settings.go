package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
)

// The settings pages edit the catalog in the browser, as the API does,
// with the same checks: admins everything, a customer's operators their
// customer's rules, notifiers and report schedules. Each item is a form
// of the configuration file's keys; an error is shown beside its field.

// formField is one key of an item's form.
type formField struct {
	Key, Label, Help string
	// Type is text, number, password, textarea, list (comma-separated),
	// select (Options), bool (a select of "", yes and no) or yaml (the
	// whole item).
	Type    string
	Options []string
	// Only, when set, is the value of the form's type field the field
	// belongs to (a notifier's SMTP settings: email).
	Only string
}

// settingsForms are the forms of each kind's items.
func (p *Pages) settingsForms(k catalog.Kind, customers []string) []formField {
	cfg := p.config()
	anyCustomer := append([]string{""}, customers...)
	switch k.Name() {
	case store.CatalogCustomers:
		// Its prices, keyed as under money: in the configuration file.
		return []formField{{Key: "yaml", Label: "Prices (YAML: currency, electricity, air_per_nm3, co2_kg_per_kwh; empty: those of money)", Type: "yaml"}}
	case store.CatalogRules:
		return []formField{
			{Key: "customer", Label: "Customer", Type: "select", Options: anyCustomer, Help: "empty: every customer's devices"},
			{Key: "sensor", Label: "Sensor kind", Type: "select", Options: append(cfg.SensorNames(), alert.AnySensor)},
			{Key: "devices", Label: "Devices", Type: "list", Help: "empty: every device of the kind"},
			{Key: "when", Label: "Fires when", Help: "an expression on the reading's fields, such as Pres < OpenPres"},
			{Key: "clear_when", Label: "Clears when", Help: "empty: when the condition no longer holds"},
			{Key: "for", Label: "For at least", Help: "such as 5m"},
			{Key: "no_data_for", Label: "Or silent for", Help: "such as 30m, instead of a condition"},
			{Key: "severity", Label: "Severity", Type: "select", Options: alert.Severities},
			{Key: "notify", Label: "Notify", Type: "list", Help: "notifiers: " + strings.Join(cfg.NotifierNames(), ", ")},
			{Key: "repeat_every", Label: "Repeat every", Help: "a reminder while it fires, such as 4h"},
			{Key: "notify_resolved", Label: "Tell when resolved", Type: "bool", Options: []string{"", "yes", "no"}, Help: "empty: yes"},
			{Key: "message", Label: "Message", Type: "textarea"},
		}
	case store.CatalogNotifiers:
		return []formField{
			{Key: "type", Label: "Type", Type: "select", Options: []string{"email", "webhook"}},
			{Key: "customer", Label: "Customer", Type: "select", Options: anyCustomer, Help: "empty: told of every customer's alerts"},
			{Key: "host", Label: "SMTP host", Only: "email"},
			{Key: "port", Label: "SMTP port", Type: "number", Only: "email"},
			{Key: "tls", Label: "TLS", Type: "select", Options: []string{"", "none", "starttls", "tls"}, Only: "email"},
			{Key: "username", Label: "SMTP user", Only: "email"},
			{Key: "password", Label: "SMTP password", Type: "password", Only: "email"},
			{Key: "from", Label: "From", Only: "email"},
			{Key: "to", Label: "To", Type: "list", Help: "e-mail addresses, separated by commas", Only: "email"},
			{Key: "url", Label: "Webhook URL", Only: "webhook"},
			{Key: "secret", Label: "Webhook secret", Type: "password", Help: "signs each request (X-Sensorhub-Signature)", Only: "webhook"},
			{Key: "timeout", Label: "Webhook timeout", Help: "empty: 10s", Only: "webhook"},
		}
	case store.CatalogDevices:
		return []formField{
			{Key: "name", Label: "Name", Help: "shown instead of the name in its messages"},
			{Key: "site", Label: "Site"},
			{Key: "line", Label: "Line"},
			{Key: "location", Label: "Location"},
			{Key: "tags", Label: "Tags", Type: "list", Help: "separated by commas"},
		}
	case store.CatalogUsers:
		return []formField{
			{Key: "role", Label: "Role", Type: "select", Options: auth.Roles},
			{Key: "customers", Label: "Customers", Type: "list", Help: "a viewer's customers, or an operator's of one plant; empty: every customer"},
			{Key: "password", Label: "Password", Type: "password", Help: "8 characters or more; left empty, it stays as it is"},
		}
	case store.CatalogTokens:
		return []formField{
			{Key: "user", Label: "Acts as user", Help: "the token does what this user may"},
			{Key: "customer", Label: "Or sends for customer", Type: "select", Options: anyCustomer, Help: "a token that only sends this customer's messages (POST /api/v1/ingest)"},
			{Key: "note", Label: "Note", Help: "what it is for"},
		}
	case store.CatalogReports:
		return []formField{
			{Key: "customer", Label: "Customer", Type: "select", Options: customers},
			{Key: "every", Label: "Every", Type: "select", Options: []string{"week", "month"}},
			{Key: "day", Label: "Day", Help: "a weekday for a week, 1 to 28 for a month"},
			{Key: "at", Label: "At", Help: "local time, such as 07:00"},
			{Key: "sections", Label: "Sections", Type: "list", Help: "energy, air, quality; empty: all"},
			{Key: "notify", Label: "Send with", Type: "list", Help: "e-mail notifiers: " + strings.Join(cfg.NotifierNames(), ", ")},
		}
	}
	return []formField{{Key: "yaml", Label: k.Singular() + " (YAML, the configuration file's keys)", Type: "yaml"}}
}

// editsSettings: an admin, or an operator given customers.
func editsSettings(p *auth.Principal) bool {
	return !p.IngestOnly && (p.Role == auth.RoleAdmin || p.Role == auth.RoleOperator && p.Customers != nil)
}

func (p *Pages) settingsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/settings/rules", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /settings/audit", p.errorPage(p.settingsAudit))
	for _, k := range catalog.Kinds {
		mux.HandleFunc("GET /settings/"+k.Name(), p.errorPage(func(w http.ResponseWriter, r *http.Request) { p.settings(w, r, k, nil) }))
		mux.HandleFunc("POST /settings/"+k.Name(), func(w http.ResponseWriter, r *http.Request) { p.saveItem(w, r, k) })
		mux.HandleFunc("POST /settings/"+k.Name()+"/delete", func(w http.ResponseWriter, r *http.Request) { p.removeItem(w, r, k) })
	}
	mux.HandleFunc("POST /settings/notifiers/{name}/test", p.testNotifier)
	mux.HandleFunc("POST /settings/rules/preview", p.previewRule)
	mux.HandleFunc("POST /settings/sensors/preview", p.previewFormulas)
	mux.HandleFunc("POST /settings/devices/bulk", p.bulkDevices)
	mux.HandleFunc("POST /settings/reports/{name}/send", p.sendReport)
}

// itemForm is an item's form as shown: its values, and the error of a
// change refused.
type itemForm struct {
	Name, Source string
	Version      int64
	New          bool
	Values       map[string]string
	Errors       map[string]string
	Error        string
	// Preview is what a rule would have done on Device's readings.
	Device  string
	Preview *previewShown
	// Formulas are a sensor kind's fields derived on Device's newest
	// reading.
	Formulas []catalog.FormulaValue
}

// previewShown is a rule's preview as the page shows it.
type previewShown struct {
	Device   string
	Readings int
	Events   []struct{ Time, State, Message string }
}

type settingsPage struct {
	page
	Tabs     []catalog.Kind
	Kind     catalog.Kind
	Fields   []formField
	Items    []catalog.Item
	Edit     *itemForm
	Message  string
	Entries  []auditRow
	Editable func(catalog.Item) bool
	// SignInOff: no users, so users and tokens cannot be made here.
	SignInOff bool
	// Filter is the devices page's search.
	Filter url.Values
}

// settings shows kind's items and, when ?edit=NAME or ?new=1, the form of
// one (or form, a change refused).
func (p *Pages) settings(w http.ResponseWriter, r *http.Request, k catalog.Kind, form *itemForm) {
	code := http.StatusOK
	if form != nil {
		code = http.StatusBadRequest
	}
	p.settingsStatus(w, r, k, form, code)
}

// settingsStatus is settings answered with code.
func (p *Pages) settingsStatus(w http.ResponseWriter, r *http.Request, k catalog.Kind, form *itemForm, code int) {
	pr := principalOf(r)
	if !editsSettings(pr) || p.Server.Catalog == nil {
		http.Error(w, "Only an admin, or an operator given customers, edits the settings.", http.StatusForbidden)
		return
	}
	_, items, err := p.Server.Catalog.List(r.Context(), k)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	data := settingsPage{page: p.page(r, "Settings", "settings"), Tabs: catalog.Kinds, Kind: k, Message: r.URL.Query().Get("saved"),
		Editable:  func(it catalog.Item) bool { return it.Source == "" && mayEdit(pr, k, it.Customer) },
		SignInOff: p.Server.Access == nil && (k.Name() == store.CatalogUsers || k.Name() == store.CatalogTokens)}
	if msg, ok := r.Context().Value(tokenShown{}).(string); ok {
		data.Message = msg
	}
	for _, it := range items {
		if seesItem(pr, k, it) {
			data.Items = append(data.Items, it)
		}
	}
	if k.Name() == store.CatalogDevices {
		// The fleet's devices, found as the overview finds them, with
		// what was said of each.
		if data.Items, err = p.fleetItems(r, k, data.Items); err != nil {
			p.Server.internal(w, r, err)
			return
		}
		data.Filter = r.URL.Query()
	}
	customers, err := p.customersOf(r)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	data.Fields = p.settingsForms(k, customers)
	q := r.URL.Query()
	switch {
	case form != nil:
		data.Edit = form
	case q.Get("new") != "":
		data.Edit = &itemForm{New: true, Values: map[string]string{}}
	case q.Get("edit") != "":
		i := slices.IndexFunc(data.Items, func(it catalog.Item) bool { return it.Name == q.Get("edit") })
		if i < 0 && k.Name() == store.CatalogDevices {
			// A device not on this page: what was said of it, if anything.
			if it, err := p.Server.Catalog.Get(r.Context(), k, q.Get("edit")); err == nil && seesItem(pr, k, it) {
				data.Items, i = append(data.Items, it), len(data.Items)
			} else if parts := strings.SplitN(q.Get("edit"), "/", 3); len(parts) == 3 {
				devs, err := p.Server.visibleDevices(r, store.DeviceFilter{Customer: parts[0], Sensor: parts[1], Device: parts[2]})
				if err == nil && len(devs) == 1 {
					data.Items, i = append(data.Items, catalog.Item{Kind: k, Name: q.Get("edit"), Customer: parts[0], Spec: json.RawMessage(`{}`)}), len(data.Items)
				}
			}
		}
		if i < 0 {
			http.Error(w, "There is no "+k.Singular()+" "+q.Get("edit")+".", http.StatusNotFound)
			return
		}
		it := data.Items[i]
		data.Edit = &itemForm{Name: it.Name, Source: it.Source, Version: it.Version, Values: formValues(data.Fields, it.Spec)}
	}
	p.renderStatus(w, r, code, "settings.html", data)
}

// fleetItems are the devices the request's search finds (100 at most),
// each with what the catalog says of it (said, the catalog's items).
func (p *Pages) fleetItems(r *http.Request, k catalog.Kind, said []catalog.Item) ([]catalog.Item, error) {
	q := r.URL.Query()
	devs, err := p.Server.visibleDevices(r, store.DeviceFilter{Search: strings.TrimSpace(q.Get("q")), Customer: q.Get("customer"), Sensor: q.Get("sensor"), Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]catalog.Item, 0, len(devs))
	for _, d := range devs {
		name := config.DeviceName(d.Customer, d.Sensor, d.Device)
		if i := slices.IndexFunc(said, func(it catalog.Item) bool { return it.Name == name }); i >= 0 {
			out = append(out, said[i])
			continue
		}
		out = append(out, catalog.Item{Kind: k, Name: name, Customer: d.Customer, Spec: json.RawMessage(`{}`)})
	}
	return out, nil
}

// Summary is what an item says in a few words, for the devices' list:
// name, site, line, location and tags.
func (settingsPage) Summary(it catalog.Item) string {
	var m config.DeviceMeta
	json.Unmarshal(it.Spec, &m)
	parts := []string{}
	for _, s := range []string{m.Name, m.Site, m.Line, m.Location} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	for _, t := range m.Tags {
		parts = append(parts, "#"+t)
	}
	return strings.Join(parts, " · ")
}

// customersOf are the customers of the catalog that the request's
// principal sees: those just created too, before the plan has them.
func (p *Pages) customersOf(r *http.Request) ([]string, error) {
	_, items, err := p.Server.Catalog.List(r.Context(), catalog.KindOf(store.CatalogCustomers))
	var out []string
	for _, it := range items {
		if principalOf(r).Sees(it.Name) {
			out = append(out, it.Name)
		}
	}
	return out, err
}

// formValues are an item's values in its form's fields.
func formValues(fields []formField, spec json.RawMessage) map[string]string {
	var doc map[string]any
	json.Unmarshal(spec, &doc)
	out := map[string]string{}
	for _, f := range fields {
		if f.Type == "yaml" {
			y, _ := yaml.Marshal(doc)
			out[f.Key] = string(y)
			continue
		}
		switch v := doc[f.Key].(type) {
		case nil:
		case []any:
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			out[f.Key] = strings.Join(parts, ", ")
		case string:
			out[f.Key] = shortDuration(v)
		case bool:
			out[f.Key] = map[bool]string{true: "yes", false: "no"}[v]
		default:
			out[f.Key] = fmt.Sprint(v)
		}
	}
	return out
}

// asYAML is an item's JSON as the configuration file writes it; empty
// for none.
func asYAML(spec json.RawMessage) string {
	var doc any
	if spec == nil || json.Unmarshal(spec, &doc) != nil {
		return string(spec)
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return string(spec)
	}
	return string(y)
}

// shortDuration writes a duration as people do ("1m", not "1m0s");
// another text is left as it is.
func shortDuration(s string) string {
	if _, err := time.ParseDuration(s); err != nil {
		return s
	}
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formJSON is the item a form sent, as the API takes it: the form's
// fields over base, the item as it was (nil for a new one), whose keys
// the form does not show stay.
func formJSON(fields []formField, form url.Values, base json.RawMessage) ([]byte, error) {
	doc := map[string]any{}
	if base != nil && !slices.ContainsFunc(fields, func(f formField) bool { return f.Type == "yaml" }) {
		json.Unmarshal(base, &doc)
	}
	for _, f := range fields {
		delete(doc, f.Key)
	}
	for _, f := range fields {
		v := strings.TrimSpace(form.Get(f.Key))
		if f.Type == "yaml" {
			if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
				return nil, &catalog.FieldError{Field: f.Key, Msg: "not YAML: " + err.Error()}
			}
			if doc == nil {
				doc = map[string]any{}
			}
			continue
		}
		if v == "" {
			continue
		}
		switch f.Type {
		case "list":
			var list []string
			for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			doc[f.Key] = list
		case "bool":
			switch v {
			case "yes":
				doc[f.Key] = true
			case "no":
				doc[f.Key] = false
			default:
				doc[f.Key] = v // refused, naming the field
			}
		case "number":
			if n, err := strconv.Atoi(v); err == nil {
				doc[f.Key] = n
			} else {
				doc[f.Key] = v // refused, naming the field
			}
		default:
			doc[f.Key] = v
		}
	}
	return json.Marshal(doc)
}

// postedForm is the form of kind k's item a request posted, and its
// fields; when not ok, it answered.
func (p *Pages) postedForm(w http.ResponseWriter, r *http.Request, k catalog.Kind) ([]formField, *itemForm, bool) {
	customers, err := p.customersOf(r)
	if err != nil {
		p.Server.internal(w, r, err)
		return nil, nil, false
	}
	fields := p.settingsForms(k, customers)
	form := &itemForm{Name: strings.TrimSpace(r.PostFormValue("item_name")), New: r.PostFormValue("new") != "", Values: map[string]string{}, Errors: map[string]string{}}
	form.Version, _ = strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	for _, f := range fields {
		form.Values[f.Key] = r.PostFormValue(f.Key)
	}
	return fields, form, true
}

// saveItem creates or changes an item from its form.
func (p *Pages) saveItem(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	pr := principalOf(r)
	if !editsSettings(pr) || !mayEditKind(pr, k) || p.Server.Catalog == nil {
		p.fail(w, r, http.StatusForbidden, "Only an admin changes "+k.Name()+(map[bool]string{false: ", or an operator its customers' " + k.Name()}[k.AdminOnly()])+".")
		return
	}
	fields, form, ok := p.postedForm(w, r, k)
	if !ok {
		return
	}
	name := form.Name
	ifVersion := int64(-1)
	if !form.New {
		ifVersion = form.Version
	}
	if k.Name() == store.CatalogTokens {
		p.newToken(w, r, form, fields)
		return
	}
	// Whose item it is, before what is wrong with it; the keys the form
	// does not show stay as they are.
	var base json.RawMessage
	old, err := p.Server.Catalog.Get(r.Context(), k, name)
	switch {
	case err == nil && !seesItem(pr, k, old):
		err = &catalog.FieldError{Field: "name", Msg: k.Singular() + " " + name + " is taken: pick another name"}
	case err == nil && !mayEdit(pr, k, old.Customer):
		err = &catalog.FieldError{Field: "customer", Msg: "you edit the items of your customers only: " + strings.Join(pr.Customers, ", ")}
	case err == nil:
		base = old.Spec
	case errors.Is(err, catalog.ErrNotFound):
		err = nil
	}
	var body []byte
	if err == nil {
		body, err = formJSON(fields, r.PostForm, base)
	}
	var change store.CatalogChange
	if err == nil {
		change, err = p.Server.Catalog.Check(r.Context(), k, name, body, ifVersion)
	}
	if err == nil && !mayEdit(pr, k, change.Customer) {
		err = &catalog.FieldError{Field: "customer", Msg: "you edit the items of your customers only: " + strings.Join(pr.Customers, ", ")}
	}
	var v int64
	if err == nil {
		v, err = p.Server.Catalog.Store.ChangeCatalog(r.Context(), pr.Name, []store.CatalogChange{change})
	}
	if err != nil {
		var fe *catalog.FieldError
		switch {
		case errors.As(err, &fe):
			form.place(fe, fields)
		case errors.Is(err, store.ErrConflict) && form.New:
			form.Error = k.Singular() + " " + name + " exists already: pick another name, or edit it"
		case errors.Is(err, store.ErrConflict):
			form.Error = "someone changed this " + k.Singular() + " since you opened it: open it again and redo your change"
		case errors.Is(err, catalog.ErrProvisioned):
			form.Error = strings.TrimPrefix(err.Error(), catalog.ErrProvisioned.Error()+": ")
		default:
			p.Server.internal(w, r, err)
			return
		}
		p.settings(w, r, k, form)
		return
	}
	p.Server.Log.Info(k.Singular()+" saved", "name", name, "by", pr.Name, "catalog_version", v)
	http.Redirect(w, r, "/settings/"+k.Name()+"?saved="+url.QueryEscape(k.Singular()+" "+name+" saved: in force within seconds"), http.StatusSeeOther)
}

// tokenShown carries, to the page, the secret of a token just made.
type tokenShown struct{}

// newToken makes a token from its form and shows its secret, this once.
func (p *Pages) newToken(w http.ResponseWriter, r *http.Request, form *itemForm, fields []formField) {
	k := catalog.KindOf(store.CatalogTokens)
	if p.Server.Access == nil {
		form.Error = "sign-in is off (no users): name a users file (auth.users_file) in the configuration and restart to use tokens"
		p.settings(w, r, k, form)
		return
	}
	user, customer := strings.TrimSpace(form.Values["user"]), strings.TrimSpace(form.Values["customer"])
	if (user == "") == (customer == "") {
		form.Error = "give a user (the token acts as that user) or a customer (it only sends that customer's messages), not both"
		p.settings(w, r, k, form)
		return
	}
	id, secret, _, err := p.Server.makeToken(r.Context(), principalOf(r).Name, user, customer, strings.TrimSpace(form.Values["note"]))
	if err != nil {
		p.refuse(w, r, k, form, fields, err)
		return
	}
	msg := "Token " + id + " made: " + secret + " (copy it now: it is not shown again; it works within seconds)"
	r = r.WithContext(context.WithValue(r.Context(), tokenShown{}, msg))
	r.URL.RawQuery = ""
	p.settings(w, r, k, nil)
}

// previewing reads the form of a preview: its fields, the item as the
// API takes it (or why it is not one) and the device it names. When not
// ok, it answered.
func (p *Pages) previewing(w http.ResponseWriter, r *http.Request, k catalog.Kind) ([]formField, *itemForm, []byte, bool, error) {
	if pr := principalOf(r); !editsSettings(pr) || p.Server.Catalog == nil {
		p.fail(w, r, http.StatusForbidden, "Only an admin, or an operator given customers, edits the settings.")
		return nil, nil, nil, false, nil
	}
	fields, form, ok := p.postedForm(w, r, k)
	if !ok {
		return nil, nil, nil, false, nil
	}
	form.Device = strings.TrimSpace(r.PostFormValue("device"))
	body, err := formJSON(fields, r.PostForm, nil)
	return fields, form, body, true, err
}

// previewRule runs the rule of the form over the last 24 h of the
// device the form names and shows the form again with what it would have
// done; nothing is saved.
func (p *Pages) previewRule(w http.ResponseWriter, r *http.Request) {
	k := catalog.KindOf(store.CatalogRules)
	fields, form, body, ok, err := p.previewing(w, r, k)
	if !ok {
		return
	}
	name := form.Name
	if name == "" {
		name = "preview"
	}
	var pv catalog.Preview
	if err == nil {
		pv, err = p.Server.preview(r, name, body, form.Values["customer"], form.Values["sensor"], form.Device, 24*time.Hour)
	}
	if err != nil {
		p.refuse(w, r, k, form, fields, err)
		return
	}
	shown := &previewShown{Device: pv.Device.Customer + "/" + pv.Device.Sensor + "/" + pv.Device.Device, Readings: pv.Readings}
	for _, e := range pv.Events {
		shown.Events = append(shown.Events, struct{ Time, State, Message string }{p.localTime(e.Time), e.State, e.Message})
	}
	form.Preview = shown
	r.URL.RawQuery = ""
	p.settingsStatus(w, r, k, form, http.StatusOK)
}

// previewFormulas derives the fields of the sensor kind of the form on
// the newest reading of the device the form names, and shows the form
// again with them; nothing is saved.
func (p *Pages) previewFormulas(w http.ResponseWriter, r *http.Request) {
	k := catalog.KindOf(store.CatalogSensors)
	fields, form, body, ok, err := p.previewing(w, r, k)
	if !ok {
		return
	}
	if err == nil {
		var devs []store.Device
		if devs, err = p.Server.visibleDevices(r, store.DeviceFilter{Sensor: form.Name, Device: form.Device}); err == nil {
			switch {
			case len(devs) == 0:
				err = &catalog.FieldError{Field: "device", Msg: fmt.Sprintf("no device %q of kind %s that you can see", form.Device, form.Name)}
			default:
				d := devs[0]
				form.Formulas, err = catalog.PreviewFormulas(r.Context(), p.Store, form.Name, body, store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device})
			}
		}
	}
	if err != nil {
		p.refuse(w, r, k, form, fields, err)
		return
	}
	r.URL.RawQuery = ""
	p.settingsStatus(w, r, k, form, http.StatusOK)
}

// bulkDevices sets the site, line, location or tags (those filled in) of
// every device the filter matches, at once.
func (p *Pages) bulkDevices(w http.ResponseWriter, r *http.Request) {
	pr := principalOf(r)
	k := catalog.KindOf(store.CatalogDevices)
	if !editsSettings(pr) || !mayEditKind(pr, k) {
		p.fail(w, r, http.StatusForbidden, "Only an admin, or an operator given customers, edits devices.")
		return
	}
	patch := map[string]any{}
	for _, key := range []string{"site", "line", "location"} {
		if v := strings.TrimSpace(r.PostFormValue(key)); v != "" {
			patch[key] = v
		}
	}
	if v := strings.TrimSpace(r.PostFormValue("tags")); v != "" {
		var tags []string
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
		patch["tags"] = tags
	}
	msg := "Nothing to set: fill in a site, line, location or tags."
	if len(patch) > 0 {
		f := store.DeviceFilter{Customer: r.PostFormValue("customer"), Sensor: r.PostFormValue("sensor"), Search: strings.TrimSpace(r.PostFormValue("q"))}
		n, _, err := p.Server.patchMatching(r, f, patch)
		msg = fmt.Sprintf("%d devices changed: in force within seconds.", n)
		if err != nil {
			msg = "Nothing changed: " + err.Error()
		}
	}
	http.Redirect(w, r, "/settings/devices?saved="+url.QueryEscape(msg), http.StatusSeeOther)
}

// refuse shows the form again with err, the error of a refused change
// or preview; another error is the server's.
func (p *Pages) refuse(w http.ResponseWriter, r *http.Request, k catalog.Kind, form *itemForm, fields []formField, err error) {
	var fe *catalog.FieldError
	if !errors.As(err, &fe) {
		p.Server.internal(w, r, err)
		return
	}
	form.place(fe, fields)
	p.settings(w, r, k, form)
}

// place shows a refused item's error beside the field of fields it is
// of; above the form when it is of none (the item's name, a preview's
// device). A form of the whole item as YAML shows its keys' errors
// beside it.
func (f *itemForm) place(fe *catalog.FieldError, fields []formField) {
	field, _, _ := strings.Cut(fe.Field, ".")
	shown := slices.ContainsFunc(fields, func(ff formField) bool { return ff.Key == field })
	if !shown && len(fields) == 1 && fields[0].Type == "yaml" && field != "device" {
		field, shown = fields[0].Key, true
	}
	if !shown || fe.Field == "name" {
		f.Error = fe.Error()
		return
	}
	f.Errors[field] = fe.Error()
}

// removeItem deletes an item of the catalog.
func (p *Pages) removeItem(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	pr := principalOf(r)
	name := r.PostFormValue("item_name") // a device's has slashes: not in the path
	if p.Server.Catalog == nil || !mayEditKind(pr, k) {
		p.fail(w, r, http.StatusForbidden, "You may not delete "+k.Name()+".")
		return
	}
	old, err := p.Server.Catalog.Get(r.Context(), k, name)
	if err == nil && (!seesItem(pr, k, old) || !mayEdit(pr, k, old.Customer)) {
		p.fail(w, r, http.StatusForbidden, "You may not delete "+k.Singular()+" "+name+".")
		return
	}
	if err == nil {
		_, err = p.Server.Catalog.Delete(r.Context(), pr.Name, k, name, 0)
	}
	if err != nil {
		p.fail(w, r, http.StatusConflict, err.Error())
		return
	}
	done := k.Singular() + " " + name + " deleted"
	if k.Name() == "devices" {
		done = "what was said of device " + name + " cleared; its readings stay"
	}
	http.Redirect(w, r, "/settings/"+k.Name()+"?saved="+url.QueryEscape(done), http.StatusSeeOther)
}

// testNotifier sends a test notification with a notifier as it is in
// force, and says how it went.
func (p *Pages) testNotifier(w http.ResponseWriter, r *http.Request) {
	pr := principalOf(r)
	k := catalog.KindOf(store.CatalogNotifiers)
	name := r.PathValue("name")
	it, err := p.Server.Catalog.Get(r.Context(), k, name)
	if err != nil || !seesItem(pr, k, it) || !mayEdit(pr, k, it.Customer) && pr.Role != auth.RoleAdmin {
		p.fail(w, r, http.StatusForbidden, "You may not test notifier "+name+".")
		return
	}
	n := p.Plan.Load().Notifiers[name]
	msg := "Test sent with " + name + ": check that it arrived."
	if n == nil {
		msg = "Notifier " + name + " is not in force yet; try again in a few seconds."
	} else {
		// A global notifier's test is of no customer: "test", as its
		// sensor and device are.
		customer := cmp.Or(it.Customer, "test")
		ev := notify.Event{ID: "test", Rule: "test", Severity: "info", State: "firing", Customer: customer, Sensor: "test", Device: "test",
			Time: time.Now(), Message: "A test of notifier " + name + " from sensorhub, sent by " + pr.Name + "."}
		if _, err := notify.Send(r.Context(), n, ev, notify.Backoff{Attempts: 1}, p.Server.Log); err != nil {
			msg = "The test with " + name + " failed: " + err.Error()
		}
	}
	http.Redirect(w, r, "/settings/notifiers?saved="+url.QueryEscape(msg), http.StatusSeeOther)
}

// sendReport sends a report schedule's report of its last whole period
// now, with its notifiers as they are in force, whether or not it was
// sent before, and says how it went.
func (p *Pages) sendReport(w http.ResponseWriter, r *http.Request) {
	pr := principalOf(r)
	k := catalog.KindOf(store.CatalogReports)
	name := r.PathValue("name")
	it, err := p.Server.Catalog.Get(r.Context(), k, name)
	if err != nil || !seesItem(pr, k, it) || !mayEdit(pr, k, it.Customer) {
		p.fail(w, r, http.StatusForbidden, "You may not send report "+name+".")
		return
	}
	pl := p.Plan.Load()
	i := slices.IndexFunc(pl.Config.Reports, func(sc config.ReportSchedule) bool { return sc.Name == name })
	if i < 0 {
		http.Redirect(w, r, "/settings/reports?saved="+url.QueryEscape("Report "+name+" is not in force yet; try again in a few seconds."), http.StatusSeeOther)
		return
	}
	sc := pl.Config.Reports[i]
	msg := p.Server.sendReportNow(r.Context(), pl, &sc, pr.Name)
	http.Redirect(w, r, "/settings/reports?saved="+url.QueryEscape(msg), http.StatusSeeOther)
}

// fail shows an error page with code.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	p.renderStatus(w, r, code, "error.html", struct {
		page
		Code          int
		Message, Back string
	}{p.page(r, http.StatusText(code), ""), code, msg, ""})
}

// auditRow is an audit entry as the page shows it.
type auditRow struct {
	At, By, Kind, Name, Customer string
	Before, After                string
}

// settingsAudit shows the catalog's changes, newest first: admins only.
func (p *Pages) settingsAudit(w http.ResponseWriter, r *http.Request) {
	if pr := principalOf(r); pr.Role != auth.RoleAdmin || pr.IngestOnly || p.Server.Catalog == nil {
		http.Error(w, "Only an admin reads the audit log.", http.StatusForbidden)
		return
	}
	q := store.AuditQuery{Kind: r.URL.Query().Get("kind"), Limit: 200}
	entries, err := p.Server.Catalog.Store.Audit(r.Context(), q)
	if err != nil {
		p.Server.internal(w, r, err)
		return
	}
	data := settingsPage{page: p.page(r, "Audit log", "settings"), Tabs: catalog.Kinds}
	for _, e := range entries {
		row := auditRow{At: p.localTime(e.At), By: e.By, Kind: e.Kind, Name: e.Name, Customer: e.Customer}
		row.Before, row.After = asYAML(catalog.MaskSecrets(e.Kind, e.Before)), asYAML(catalog.MaskSecrets(e.Kind, e.After))
		data.Entries = append(data.Entries, row)
	}
	p.render(w, r, "settings.html", data)
}
