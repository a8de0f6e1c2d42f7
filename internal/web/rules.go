package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/store"
)

// The alert rules over the API: those of the configuration file, read
// only, and those of the catalog, which admins create, change and delete
// while sensorhub runs; the alert stage applies them within seconds.

func (s *Server) ruleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/rules", s.listRules)
	mux.HandleFunc("GET /api/v1/rules/{name}", s.getRule)
	mux.HandleFunc("PUT /api/v1/rules/{name}", s.putRule)
	mux.HandleFunc("DELETE /api/v1/rules/{name}", s.deleteRule)
	mux.HandleFunc("GET /api/v1/audit", s.audit)
}

// listRules serves GET /api/v1/rules: {"version", "rules": [{rule,
// managed_in, version}]}.
func (s *Server) listRules(w http.ResponseWriter, r *http.Request) {
	v, rules, err := s.Rules.List(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	seen := []catalog.Rule{}
	for _, rule := range rules {
		if seesRule(r, rule) {
			seen = append(seen, rule)
		}
	}
	writeJSON(w, map[string]any{"version": v, "rules": seen})
}

// getRule serves GET /api/v1/rules/{name}, with the ETag of a rule of
// the catalog for a conditional PUT or DELETE.
func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	rule, err := s.Rules.Get(r.Context(), r.PathValue("name"))
	if err == nil && !seesRule(r, rule) {
		err = fmt.Errorf("%w: rule %q", catalog.ErrNotFound, r.PathValue("name"))
	}
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	if rule.Version > 0 {
		w.Header().Set("ETag", etag(rule.Version))
	}
	writeJSON(w, rule)
}

// putRule serves PUT /api/v1/rules/{name} with a rule as JSON, with the
// configuration file's keys: an admin creates or replaces a rule of the
// catalog. If-Match makes it conditional on the version read (412 when
// another change came between), If-None-Match: * on its not existing.
func (s *Server) putRule(w http.ResponseWriter, r *http.Request) {
	ifVersion, ok := ruleChange(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "a rule is at most 64 KiB of JSON")
		return
	}
	name := r.PathValue("name")
	_, getErr := s.Rules.Get(r.Context(), name)
	v, err := s.Rules.Put(r.Context(), principalOf(r).Name, name, body, ifVersion)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	s.Log.Info("alert rule saved", "rule", name, "by", principalOf(r).Name, "catalog_version", v)
	w.Header().Set("ETag", etag(v))
	w.Header().Set("Content-Type", "application/json")
	if errors.Is(getErr, catalog.ErrNotFound) {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(map[string]int64{"version": v})
}

// deleteRule serves DELETE /api/v1/rules/{name}: an admin removes a rule
// of the catalog; its firing alerts resolve.
func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	ifVersion, ok := ruleChange(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	v, err := s.Rules.Delete(r.Context(), principalOf(r).Name, name, ifVersion)
	if err != nil {
		s.catalogError(w, r, err)
		return
	}
	s.Log.Info("alert rule deleted", "rule", name, "by", principalOf(r).Name, "catalog_version", v)
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
	entries, err := s.Rules.Store.Audit(r.Context(), aq)
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
			By: e.By, Kind: e.Kind, Name: e.Name, Customer: e.Customer, Before: orNull(e.Before), After: orNull(e.After)})
	}
	writeJSON(w, map[string]any{"entries": out})
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

// seesRule: a rule of every customer is seen by all who see alerts, a
// customer's by those who see the customer.
func seesRule(r *http.Request, rule catalog.Rule) bool {
	p := principalOf(r)
	return rule.Customer == "" && !p.IngestOnly || p.Sees(rule.Customer)
}

// etag is the ETag of a catalog version.
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// ruleChange lets only an admin change a rule, and reads its condition.
func ruleChange(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if forbidNonAdmin(w, r, "changes alert rules") {
		return 0, false
	}
	return conditional(w, r)
}

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
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusPreconditionFailed, "the rule changed since it was read; read it again and redo the change ("+err.Error()+")")
	default:
		s.internal(w, r, err)
	}
}
