package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// alertStates are the values of GET /api/v1/alerts?state=.
var alertStates = []string{"firing", "resolved", "all"}

// alerts answers GET /api/v1/alerts: alerts newest first, filtered by
// state, rule, customer, sensor and device.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	q := r.URL.Query()
	f := store.AlertFilter{State: q.Get("state"), Rule: q.Get("rule"),
		DeviceKey: store.DeviceKey{Customer: q.Get("customer"), Sensor: q.Get("sensor"), Device: q.Get("device")},
		Customers: principalOf(r).Customers}
	if f.State != "" && !slices.Contains(alertStates, f.State) {
		writeError(w, http.StatusBadRequest, "state must be one of "+strings.Join(alertStates, ", "))
		return
	}
	if f.State == "all" {
		f.State = ""
	}
	var ok bool
	if f.Limit, f.BeforeID, ok = paging(w, q, "an alert id"); !ok {
		return
	}
	list, err := s.Store.Alerts(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"alerts": list})
}

func (s *Server) alertID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "alert id must be a positive number")
		return 0, false
	}
	return id, true
}

// alertDetail answers GET /api/v1/alerts/{id}: the alert and the log of
// its notifications.
func (s *Server) alertDetail(w http.ResponseWriter, r *http.Request) {
	id, ok := s.alertID(w, r)
	if !ok {
		return
	}
	a, ok := s.visibleAlert(w, r, id)
	if !ok {
		return
	}
	log, err := s.Store.Notifications(r.Context(), id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"alert": a, "notifications": log})
}

// visibleAlert finds an alert the principal may see: one of another
// customer is not found.
func (s *Server) visibleAlert(w http.ResponseWriter, r *http.Request, id int64) (store.Alert, bool) {
	a, err := s.Store.Alert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !principalOf(r).Sees(a.Customer)) {
		writeError(w, http.StatusNotFound, "no alert "+strconv.FormatInt(id, 10))
		return a, false
	}
	if err != nil {
		s.internal(w, r, err)
		return a, false
	}
	return a, true
}

// ackRequest is the body of POST /api/v1/alerts/{id}/ack.
type ackRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
}

// ack answers POST /api/v1/alerts/{id}/ack: the alert is acknowledged and
// not repeated until it resolves.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	id, ok := s.alertID(w, r)
	if !ok {
		return
	}
	if _, ok := s.visibleAlert(w, r, id); !ok {
		return
	}
	if forbidViewer(w, r, "acknowledge alerts") {
		return
	}
	var req ackRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be JSON such as {"by": "name", "comment": "why"}: `+err.Error())
		return
	}
	req.By = strings.TrimSpace(req.By)
	if s.Access != nil {
		req.By = principalOf(r).Name // who is logged in, not who the body says
	}
	if req.By == "" {
		writeError(w, http.StatusBadRequest, "by (who acknowledges) is required")
		return
	}
	if len(req.By) > 200 || len(req.Comment) > 2000 {
		writeError(w, http.StatusBadRequest, "by is at most 200 characters, comment 2000")
		return
	}
	a, err := s.Store.AckAlert(r.Context(), id, req.By, req.Comment, time.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no alert "+strconv.FormatInt(id, 10))
	case errors.Is(err, store.ErrNotFiring):
		writeError(w, http.StatusConflict, "alert "+strconv.FormatInt(id, 10)+" is "+a.State+", not firing: only a firing alert is acknowledged")
	case err != nil:
		s.internal(w, r, err)
	default:
		s.Log.Info("alert acknowledged", "alert", id, "rule", a.Rule, "device", a.Device, "by", req.By)
		writeJSON(w, a)
	}
}
