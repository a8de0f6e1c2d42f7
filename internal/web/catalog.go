package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/store"
)

// The catalog over the API: customers, sensor kinds, alert rules,
// notifiers and report schedules. Those of the configuration file are
// read only; the others are created, changed and deleted while sensorhub
// runs, by admins, and a customer's operators for their customer's
// rules, notifiers and report schedules. Each process applies a change
// within seconds.

func (s *Server) catalogRoutes(mux *http.ServeMux) {
	for _, k := range catalog.Kinds {
		if k.Name() == store.CatalogDevices {
			// Devices' metadata is read with the devices and changed with
			// PATCH /api/v1/devices.
			mux.HandleFunc("PATCH /api/v1/devices", s.patchDevices)
			continue
		}
		mux.HandleFunc("GET /api/v1/"+k.Name(), func(w http.ResponseWriter, r *http.Request) { s.listItems(w, r, k) })
		mux.HandleFunc("GET /api/v1/"+k.Name()+"/{name}", func(w http.ResponseWriter, r *http.Request) { s.getItem(w, r, k) })
		mux.HandleFunc("DELETE /api/v1/"+k.Name()+"/{name}", func(w http.ResponseWriter, r *http.Request) { s.deleteItem(w, r, k) })
		if k.Name() == store.CatalogTokens {
			// A token's secret is made by sensorhub and shown once.
			mux.HandleFunc("POST /api/v1/tokens", s.postToken)
			continue
		}
		mux.HandleFunc("PUT /api/v1/"+k.Name()+"/{name}", func(w http.ResponseWriter, r *http.Request) { s.putItem(w, r, k) })
	}
	mux.HandleFunc("POST /api/v1/rules/{name}/preview", s.previewRule)
	mux.HandleFunc("GET /api/v1/audit", s.audit)
}

// previewRule serves POST /api/v1/rules/{name}/preview?customer=&sensor=&device=&hours=
// with a rule as PUT takes it: when it would have fired and resolved
// over the device's readings of the last hours (24 by default). Nothing
// is saved or sent.
func (s *Server) previewRule(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hours := 24
	if v := q.Get("hours"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 24*31 {
			writeError(w, http.StatusBadRequest, "hours must be 1 to 744")
			return
		}
		hours = n
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "a rule is at most 256 KiB of JSON")
		return
	}
	pv, err := s.preview(r, r.PathValue("name"), body, q.Get("customer"), q.Get("sensor"), q.Get("device"), time.Duration(hours)*time.Hour)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	writeJSON(w, pv)
}

// preview runs a rule over the readings of the device the principal
// sees (by its id, with its customer and kind when the id is not enough).
func (s *Server) preview(r *http.Request, name string, body []byte, customer, sensor, device string, span time.Duration) (catalog.Preview, error) {
	p := principalOf(r)
	if p.IngestOnly {
		return catalog.Preview{}, fmt.Errorf("%w: rule previews are not for an ingest token", catalog.ErrNotFound)
	}
	devs, err := s.visibleDevices(r, store.DeviceFilter{Customer: customer, Sensor: sensor, Device: device})
	switch {
	case err != nil:
		return catalog.Preview{}, err
	case device == "" || len(devs) == 0:
		return catalog.Preview{}, &catalog.FieldError{Field: "device", Msg: fmt.Sprintf("no device %q you can see", device)}
	case len(devs) > 1:
		return catalog.Preview{}, &catalog.FieldError{Field: "device", Msg: fmt.Sprintf("%d devices %q: give the customer and the sensor kind too", len(devs), device)}
	}
	to := time.Now()
	return catalog.PreviewRule(r.Context(), s.Plan.Load(), s.Store, name, body, store.DeviceKey{Customer: devs[0].Customer, Sensor: devs[0].Sensor, Device: devs[0].Device}, to.Add(-span), to)
}

// seesItem: who sees an item. A customer is seen by those who see it;
// the sensor kinds by all; a rule or report schedule of every customer
// by all, a customer's by those who see the customer; notifiers by
// admins and operators only (they hold addresses), those of every
// customer by those who see every customer.
func seesItem(p *auth.Principal, k catalog.Kind, it catalog.Item) bool {
	switch {
	case p.IngestOnly:
		return false
	case k.Name() == store.CatalogUsers || k.Name() == store.CatalogTokens:
		return p.Role == auth.RoleAdmin
	case k.Name() == store.CatalogCustomers:
		return p.Sees(it.Name)
	case k.Name() == store.CatalogSensors:
		return true
	case k.Name() == store.CatalogNotifiers && p.Role == auth.RoleViewer:
		return false
	case k.Name() == store.CatalogNotifiers && it.Customer == "":
		// Addresses and webhook URLs of every customer's notifiers: not
		// for a plant's own staff.
		return p.All()
	}
	return it.Customer == "" || p.Sees(it.Customer)
}

// mayEdit: an admin edits every item; an operator given customers (a
// plant's own staff) the rules, notifiers and report schedules of its
// customers.
func mayEdit(p *auth.Principal, k catalog.Kind, customer string) bool {
	switch {
	case p.IngestOnly:
		return false
	case p.Role == auth.RoleAdmin:
		return true
	}
	return mayEditKind(p, k) && customer != "" && p.Sees(customer)
}

// mayEditKind: whether p edits any item of kind k.
func mayEditKind(p *auth.Principal, k catalog.Kind) bool {
	return !p.IngestOnly && (p.Role == auth.RoleAdmin || p.Role == auth.RoleOperator && p.Customers != nil && !k.AdminOnly())
}

// listItems serves GET /api/v1/<kind>: {"version", "<kind>": [{name,
// <singular>, customer, managed_in, version}]}.
func (s *Server) listItems(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	v, items, err := s.Catalog.List(r.Context(), k)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p := principalOf(r)
	seen := []catalog.Item{}
	for _, it := range items {
		if seesItem(p, k, it) {
			seen = append(seen, it)
		}
	}
	writeJSON(w, map[string]any{"version": v, k.Name(): seen})
}

// getItem serves GET /api/v1/<kind>/{name}, with the ETag of an item of
// the catalog for a conditional PUT or DELETE.
func (s *Server) getItem(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	it, err := s.seenItem(r, k)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	if it.Version > 0 {
		w.Header().Set("ETag", etag(it.Version))
	}
	writeJSON(w, it)
}

// seenItem is the item the request names, if its principal sees it.
func (s *Server) seenItem(r *http.Request, k catalog.Kind) (catalog.Item, error) {
	name := r.PathValue("name")
	it, err := s.Catalog.Get(r.Context(), k, name)
	if err == nil && !seesItem(principalOf(r), k, it) {
		err = fmt.Errorf("%w: %s %q", catalog.ErrNotFound, k.Singular(), name)
	}
	return it, err
}

// putItem serves PUT /api/v1/<kind>/{name} with the item as JSON, with
// the configuration file's keys: it creates or replaces an item of the
// catalog. If-Match makes it conditional on the version read (412 when
// another change came between), If-None-Match: * on its not existing.
func (s *Server) putItem(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	ifVersion, _, getErr, ok := s.editing(w, r, k)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "an item is at most 256 KiB of JSON")
		return
	}
	p := principalOf(r)
	name := r.PathValue("name")
	if k.Name() == store.CatalogUsers && s.Access == nil {
		writeError(w, http.StatusConflict, "sign-in is off (no users): name a users file (auth.users_file) in the configuration and restart, then add users here")
		return
	}
	if errors.Is(getErr, errHidden) {
		writeError(w, http.StatusConflict, k.Singular()+" "+name+" is taken: pick another name")
		return
	}
	change, err := s.Catalog.Check(r.Context(), k, name, body, ifVersion)
	// Whose item it is, before what is wrong with it.
	if change.Kind != "" && !mayEdit(p, k, change.Customer) {
		s.forbidEdit(w, p, k)
		return
	}
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	v, err := s.Catalog.Store.ChangeCatalog(r.Context(), p.Name, []store.CatalogChange{change})
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	s.Log.Info(k.Singular()+" saved", "name", name, "by", p.Name, "catalog_version", v)
	w.Header().Set("ETag", etag(v))
	w.Header().Set("Content-Type", "application/json")
	if errors.Is(getErr, catalog.ErrNotFound) {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(map[string]int64{"version": v})
}

// errHidden is an item that exists and that the request's principal
// does not see.
var errHidden = errors.New("hidden")

// editing begins a change of an item of kind k: its condition, whether
// its principal edits items of k at all, and the item as it is
// (catalog.ErrNotFound when there is none, errHidden when the principal
// does not see it). An item it sees and may not change is answered 403.
// When not ok, it answered.
func (s *Server) editing(w http.ResponseWriter, r *http.Request, k catalog.Kind) (ifVersion int64, old catalog.Item, getErr error, ok bool) {
	if ifVersion, ok = conditional(w, r); !ok {
		return 0, old, nil, false
	}
	p := principalOf(r)
	if !mayEditKind(p, k) {
		s.forbidEdit(w, p, k)
		return 0, old, nil, false
	}
	old, getErr = s.Catalog.Get(r.Context(), k, r.PathValue("name"))
	switch {
	case getErr == nil && !seesItem(p, k, old):
		getErr = errHidden
	case getErr == nil && !mayEdit(p, k, old.Customer):
		s.forbidEdit(w, p, k)
		return 0, old, nil, false
	case getErr != nil && !errors.Is(getErr, catalog.ErrNotFound):
		s.catalogError(w, r, getErr)
		return 0, old, nil, false
	}
	return ifVersion, old, getErr, true
}

// postToken serves POST /api/v1/tokens with {"user"} (a token that acts
// as that user) or {"customer"} (one that may only send that customer's
// messages), and an optional "note": admins only. It answers 201 with
// the token's id and its secret, shown this once.
func (s *Server) postToken(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.editsKind(w, r, store.CatalogTokens)
	if !ok {
		return
	}
	if s.Access == nil {
		writeError(w, http.StatusConflict, "sign-in is off (no users): name a users file (auth.users_file) in the configuration and restart to use tokens")
		return
	}
	var req struct{ User, Customer, Note string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be {"user"} or {"customer"}, with an optional "note": `+err.Error())
		return
	}
	if (req.User == "") == (req.Customer == "") {
		writeError(w, http.StatusBadRequest, `give a "user" (the token acts as that user) or a "customer" (it may only send that customer's messages), not both`)
		return
	}
	id, secret, v, err := s.makeToken(r.Context(), p.Name, req.User, req.Customer, req.Note)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "token": secret, "version": v,
		"note": "keep the token now: it is not shown again; it works within seconds"})
}

// patchDevices serves PATCH /api/v1/devices?customer=&sensor=&device=
// with {"name", "site", "line", "location", "tags"}: the metadata of the
// device, of which the keys given are changed (null takes one out). Left
// without device, it changes every device the filter (customer, sensor,
// q as GET /api/v1/devices takes it) matches, at most 1000, at once:
// several are edited at once. Admins, and an operator given customers for
// its customers' devices. It answers {"version", "devices"}.
func (s *Server) patchDevices(w http.ResponseWriter, r *http.Request) {
	p, k, ok := s.editsKind(w, r, store.CatalogDevices)
	if !ok {
		return
	}
	var patch map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&patch); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be a JSON object of name, site, line, location, tags: `+err.Error())
		return
	}
	q := r.URL.Query()
	n, v, err := s.patchMatching(r, store.DeviceFilter{Customer: q.Get("customer"), Sensor: q.Get("sensor"), Device: q.Get("device"), Search: q.Get("q")}, patch)
	switch {
	case errors.Is(err, errNoDevice):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, errTooManyDevices):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, errNotYourDevice):
		s.forbidEdit(w, p, k)
	case err != nil:
		s.catalogError(w, r, err)
	default:
		writeJSON(w, map[string]any{"version": v, "devices": n})
	}
}

// Why several devices were not changed.
var (
	errNoDevice       = errors.New("no device matches")
	errTooManyDevices = errors.New("more than 1000 devices match: narrow the filter")
	errNotYourDevice  = errors.New("you edit the devices of your customers only")
)

// patchMatching sets patch on the metadata of every device f matches in
// the request's principal's scope, at most 1000, at once: how many, and
// the catalog's version.
func (s *Server) patchMatching(r *http.Request, f store.DeviceFilter, patch map[string]any) (int, int64, error) {
	f.Limit = 1001
	devs, err := s.visibleDevices(r, f)
	switch {
	case err != nil:
		return 0, 0, err
	case len(devs) == 0:
		return 0, 0, errNoDevice
	case len(devs) > 1000:
		return 0, 0, errTooManyDevices
	}
	changes, err := s.Catalog.PatchDevices(r.Context(), devs, patch)
	if err != nil {
		return 0, 0, err
	}
	p, k := principalOf(r), catalog.KindOf(store.CatalogDevices)
	for _, c := range changes {
		if !mayEdit(p, k, c.Customer) {
			return 0, 0, errNotYourDevice
		}
	}
	v, err := s.Catalog.Store.ChangeCatalog(r.Context(), p.Name, changes)
	if err != nil {
		return 0, 0, err
	}
	s.Log.Info("devices' metadata changed", "devices", len(devs), "by", p.Name, "catalog_version", v)
	return len(devs), v, nil
}

// makeToken makes a token of user (or of customer, to send its messages)
// in the catalog, by by: its id, its secret and the catalog's version.
func (s *Server) makeToken(ctx context.Context, by, user, customer, note string) (string, string, int64, error) {
	secret, t, err := auth.NewToken(user, customer, note, time.Now())
	if err != nil {
		return "", "", 0, err
	}
	body, _ := json.Marshal(map[string]any{"user": t.User, "customer": t.Customer, "note": t.Note, "hash": t.Hash, "created": t.Created})
	change, err := s.Catalog.Check(ctx, catalog.KindOf(store.CatalogTokens), t.ID, body, -1)
	if err != nil {
		return "", "", 0, err
	}
	v, err := s.Catalog.Store.ChangeCatalog(ctx, by, []store.CatalogChange{change})
	if err != nil {
		return "", "", 0, err
	}
	s.Log.Info("token made", "id", t.ID, "user", t.User, "customer", t.Customer, "by", by, "catalog_version", v)
	return t.ID, secret, v, nil
}

// editsKind is the request's principal and the kind named, when it
// edits items of the kind; else it answered 403.
func (s *Server) editsKind(w http.ResponseWriter, r *http.Request, kind string) (*auth.Principal, catalog.Kind, bool) {
	p, k := principalOf(r), catalog.KindOf(kind)
	if !mayEditKind(p, k) {
		s.forbidEdit(w, p, k)
		return p, k, false
	}
	return p, k, true
}

// forbidEdit answers a change its principal may not make.
func (s *Server) forbidEdit(w http.ResponseWriter, p *auth.Principal, k catalog.Kind) {
	msg := "only an admin changes " + k.Name()
	if !k.AdminOnly() {
		msg += ", or an operator its customers' " + k.Name()
	}
	writeError(w, http.StatusForbidden, msg)
}

// deleteItem serves DELETE /api/v1/<kind>/{name}: it removes an item of
// the catalog, unless other items need it (409). A rule's firing alerts
// resolve; a customer's messages are rejected from then on.
func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request, k catalog.Kind) {
	ifVersion, _, err, ok := s.editing(w, r, k)
	if !ok {
		return
	}
	p := principalOf(r)
	if errors.Is(err, errHidden) {
		err = fmt.Errorf("%w: %s %q", catalog.ErrNotFound, k.Singular(), r.PathValue("name"))
	}
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	name := r.PathValue("name")
	v, err := s.Catalog.Delete(r.Context(), p.Name, k, name, ifVersion)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	s.Log.Info(k.Singular()+" deleted", "name", name, "by", p.Name, "catalog_version", v)
	writeJSON(w, map[string]int64{"version": v})
}

// audit serves GET /api/v1/audit?kind=&name=&before=&limit= to admins:
// the catalog's changes, newest first, with what was before and after.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	if forbidNonAdmin(w, r, "reads the audit log") {
		return
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Kind: q.Get("kind"), Name: q.Get("name"), Limit: 100}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, "before must be an entry's id")
			return
		}
		aq.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be 1 to 1000")
			return
		}
		aq.Limit = n
	}
	entries, err := s.Catalog.Store.Audit(r.Context(), aq)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	type entry struct {
		ID       int64           `json:"id"`
		Version  int64           `json:"version"`
		At       string          `json:"at"`
		By       string          `json:"by"`
		Kind     string          `json:"kind"`
		Name     string          `json:"name"`
		Customer string          `json:"customer,omitempty"`
		Before   json.RawMessage `json:"before"`
		After    json.RawMessage `json:"after"`
	}
	out := make([]entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, entry{ID: e.ID, Version: e.Version, At: e.At.In(s.Location).Format("2006-01-02T15:04:05.000Z07:00"),
			By: e.By, Kind: e.Kind, Name: e.Name, Customer: e.Customer,
			Before: orNull(catalog.MaskSecrets(e.Kind, e.Before)), After: orNull(catalog.MaskSecrets(e.Kind, e.After))})
	}
	writeJSON(w, map[string]any{"entries": out})
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

// etag is the ETag of a catalog version.
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// conditional reads If-Match ("N", the ETag of the version read) or
// If-None-Match: * (create only): the ifVersion of a catalog change.
func conditional(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if m := strings.TrimSpace(r.Header.Get("If-None-Match")); m == "*" {
		return -1, true
	}
	m := strings.TrimSpace(r.Header.Get("If-Match"))
	if m == "" || m == "*" {
		return 0, true
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(m, "W/"), `"`), 10, 64)
	if err != nil || v <= 0 {
		writeError(w, http.StatusBadRequest, `If-Match must be the ETag a GET gave, such as "12"`)
		return 0, false
	}
	return v, true
}

// catalogError answers a refused catalog change with its status: 400
// naming the field, 404, 409 for what the file manages, 412 for a change
// made from an old version.
func (s *Server) catalogError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *catalog.FieldError
	switch {
	case errors.As(err, &fe):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": fe.Error(), "field": fe.Field})
	case errors.Is(err, catalog.ErrNotFound):
		writeError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), catalog.ErrNotFound.Error()+": ")+" does not exist")
	case errors.Is(err, catalog.ErrProvisioned):
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), catalog.ErrProvisioned.Error()+": "))
	case errors.Is(err, catalog.ErrInUse):
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), catalog.ErrInUse.Error()+": "))
	case errors.Is(err, store.ErrExists):
		// If-None-Match: * on an item that exists.
		_, what, _ := strings.Cut(err.Error(), store.ErrExists.Error()+": ")
		writeError(w, http.StatusPreconditionFailed, what+" already exists: PUT it without If-None-Match to replace it")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusPreconditionFailed, "it changed since it was read; read it again and redo the change ("+err.Error()+")")
	default:
		s.internal(w, r, err)
	}
}
