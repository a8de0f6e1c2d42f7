package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/store"
)

// markRequest is the body of POST /api/v1/devices/intervals.
type markRequest struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// forbidNonAdmin answers 403 to all but an admin: what would be done
// changes totals for everyone.
func forbidNonAdmin(w http.ResponseWriter, r *http.Request, what string) bool {
	if p := principalOf(r); p.Role != auth.RoleAdmin || p.IngestOnly {
		writeError(w, http.StatusForbidden, "only an admin "+what)
		return true
	}
	return false
}

// markInvalid serves POST /api/v1/devices/intervals?customer=&sensor=&device=
// with {"from", "to", "reason"}: an admin marks an interval of a device's
// readings invalid, so that the counter increase over it is left out of
// totals.
func (s *Server) markInvalid(w http.ResponseWriter, r *http.Request) {
	if forbidNonAdmin(w, r, "marks an interval invalid") {
		return
	}
	k, ok := s.resolve(w, r)
	if !ok {
		return
	}
	var req markRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be JSON such as {"from": "2025-11-05T10:00:00+01:00", "to": "2025-11-05T11:00:00+01:00", "reason": "meter swapped"}: `+err.Error())
		return
	}
	iv := store.InvalidInterval{DeviceKey: k, Reason: strings.TrimSpace(req.Reason), MarkedBy: principalOf(r).Name, MarkedAt: time.Now()}
	var err error
	if iv.From, err = parseTime(req.From); err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	if iv.To, err = parseTime(req.To); err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	switch {
	case !iv.From.Before(iv.To):
		writeError(w, http.StatusBadRequest, "from must be before to")
		return
	case iv.Reason == "" || len(iv.Reason) > 2000:
		writeError(w, http.StatusBadRequest, "reason (why the readings are invalid) is required, at most 2000 characters")
		return
	}
	iv, err = s.Store.MarkInvalid(r.Context(), iv)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no device "+k.Device)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Log.Warn("interval marked invalid", "customer", k.Customer, "sensor", k.Sensor, "device", k.Device,
		"from", iv.From, "to", iv.To, "reason", iv.Reason, "by", iv.MarkedBy, "id", iv.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(iv)
}

// invalidIntervals serves GET /api/v1/devices/intervals?customer=&sensor=&device=&from=&to=:
// a customer's intervals marked invalid, for whoever sees the customer.
func (s *Server) invalidIntervals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("customer") == "" {
		writeError(w, http.StatusBadRequest, "the customer parameter is required")
		return
	}
	if hiddenCustomer(w, r) {
		return
	}
	f := store.InvalidQuery{Customer: q.Get("customer"), Sensor: q.Get("sensor"), Device: q.Get("device")}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(b.name); v != "" {
			t, err := parseTime(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, b.name+": "+err.Error())
				return
			}
			*b.t = t
		}
	}
	ivs, err := s.Store.InvalidIntervals(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, ivs)
}

// removeInvalid serves DELETE /api/v1/devices/intervals?customer=&id=: an
// admin removes a mark, and the interval counts again.
func (s *Server) removeInvalid(w http.ResponseWriter, r *http.Request) {
	if forbidNonAdmin(w, r, "removes an invalid interval") {
		return
	}
	q := r.URL.Query()
	id, err := strconv.ParseInt(q.Get("id"), 10, 64)
	if q.Get("customer") == "" || err != nil {
		writeError(w, http.StatusBadRequest, "customer and id (a number) name the interval to remove")
		return
	}
	err = s.Store.RemoveInvalid(r.Context(), q.Get("customer"), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no invalid interval %d of customer %s", id, q.Get("customer")))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Log.Warn("invalid interval removed", "customer", q.Get("customer"), "id", id, "by", principalOf(r).Name)
	writeJSON(w, map[string]any{"removed": id})
}
