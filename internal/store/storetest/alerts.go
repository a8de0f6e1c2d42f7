package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

var leakKey = store.AlertKey{Rule: "air-leak", DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: "201"}}

// testAlerts follows one alert from firing to resolved: its state, its
// notifications' outbox, the acknowledgement, and the lists.
func testAlerts(t *testing.T, s store.Store) {
	c := ctx(t)
	t0 := time.Date(2022, 5, 2, 8, 1, 0, 0, time.UTC)
	fire := store.AlertChange{
		State: store.AlertState{AlertKey: leakKey, Machine: json.RawMessage(`{"state":"firing"}`)},
		Open: &store.Alert{Name: "air-line-1", Severity: "critical", Started: t0, Message: "Air leak",
			Values: map[string]float64{"Pres": 5.91, "OpenPres": 6}},
		Notify: []store.Notification{
			{Kind: "firing", Notifier: "mail", Event: json.RawMessage(`{"rule":"air-leak"}`), Created: t0},
			{Kind: "firing", Notifier: "hook", Event: json.RawMessage(`{"rule":"air-leak"}`), Created: t0},
		},
	}
	other := store.AlertChange{State: store.AlertState{
		AlertKey: store.AlertKey{Rule: "weak-signal", DeviceKey: leakKey.DeviceKey}, Machine: json.RawMessage(`{"state":"pending"}`)}}
	if err := s.SaveAlerts(c, []store.AlertChange{fire, other}); err != nil {
		t.Fatal(err)
	}
	states, err := s.AlertStates(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 {
		t.Fatalf("%d states, want 2", len(states))
	}
	var id int64
	for _, st := range states {
		if st.Rule == "air-leak" {
			id = st.AlertID
			if string(st.Machine) != `{"state":"firing"}` {
				t.Errorf("machine %s", st.Machine)
			}
		} else if st.AlertID != 0 {
			t.Errorf("%s has alert %d, want none", st.Rule, st.AlertID)
		}
	}
	if id == 0 {
		t.Fatal("the firing state does not name its alert")
	}
	a, err := s.Alert(c, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != "firing" || a.Rule != "air-leak" || a.Device != "201" || a.Values["Pres"] != 5.91 || !a.Started.Equal(t0) || a.Resolved != nil {
		t.Errorf("alert %+v", a)
	}
	pending, err := s.PendingNotifications(c, "mail", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].AlertID != id || pending[0].Kind != "firing" || string(pending[0].Event) != `{"rule":"air-leak"}` {
		t.Fatalf("pending mail %+v", pending)
	}
	n := pending[0]
	n.Status, n.Attempts, n.Done = store.NotificationSent, 2, t0.Add(time.Second)
	if err := s.FinishNotification(c, n); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.PendingNotifications(c, "mail", 10); len(p) != 0 {
		t.Errorf("a sent notification is still pending: %+v", p)
	}
	if p, _ := s.PendingNotifications(c, "hook", 10); len(p) != 1 {
		t.Errorf("the other notifier's notification: %+v", p)
	}

	if _, err := s.AckAlert(c, id+100, "ops", "", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ack of an unknown alert: %v, want ErrNotFound", err)
	}
	acked, err := s.AckAlert(c, id, "ops", "valve closed", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if acked.AckedBy != "ops" || acked.AckComment != "valve closed" || acked.AckedAt == nil {
		t.Errorf("acked %+v", acked)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{State: "firing"}); len(got) != 1 || got[0].ID != id {
		t.Errorf("firing alerts %+v", got)
	}
	if n, err := s.CountFiring(c, nil); err != nil || len(n) != 1 || n[leakKey.DeviceKey] != 1 {
		t.Errorf("firing alerts per device: %v %v, want 1 for %v", n, err, leakKey.DeviceKey)
	}
	if n, _ := s.CountFiring(c, []string{"someone-else"}); len(n) != 0 {
		t.Errorf("firing alerts of another customer: %v, want none", n)
	}
	// The acknowledgements since a cursor: this one, and none after it.
	if got, _ := s.Alerts(c, store.AlertFilter{State: "firing", AckedAfter: t0}); len(got) != 1 || got[0].ID != id {
		t.Errorf("alerts acknowledged after %v: %+v, want alert %d", t0, got, id)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{State: "firing", AckedAfter: t0.Add(time.Minute)}); len(got) != 0 {
		t.Errorf("alerts acknowledged after the acknowledgement: %+v, want none", got)
	}

	t1 := t0.Add(10 * time.Minute)
	resolve := store.AlertChange{
		State:   store.AlertState{AlertKey: leakKey, Machine: json.RawMessage(`{"state":"resolved"}`), AlertID: id},
		Resolve: &t1,
		Notify:  []store.Notification{{Kind: "resolved", Notifier: "mail", Event: json.RawMessage(`{}`), Created: t1}},
	}
	if err := s.SaveAlerts(c, []store.AlertChange{resolve}); err != nil {
		t.Fatal(err)
	}
	a, _ = s.Alert(c, id)
	if a.State != "resolved" || a.Resolved == nil || !a.Resolved.Equal(t1) {
		t.Errorf("resolved alert %+v", a)
	}
	if _, err := s.AckAlert(c, id, "ops", "", t1); !errors.Is(err, store.ErrNotFiring) {
		t.Errorf("ack of a resolved alert: %v, want ErrNotFiring", err)
	}
	states, _ = s.AlertStates(c)
	for _, st := range states {
		if st.AlertID != 0 {
			t.Errorf("%s still names alert %d after resolving", st.Rule, st.AlertID)
		}
	}
	log, err := s.Notifications(c, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || log[0].Status != store.NotificationSent || log[0].Attempts != 2 || log[2].Kind != "resolved" || log[2].Status != store.NotificationPending {
		t.Errorf("notification log %+v", log)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{State: "firing"}); len(got) != 0 {
		t.Errorf("firing alerts after resolving: %+v", got)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{DeviceKey: leakKey.DeviceKey}); len(got) != 1 {
		t.Errorf("the device's alerts: %+v", got)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{DeviceKey: store.DeviceKey{Device: "999"}}); len(got) != 0 {
		t.Errorf("another device's alerts: %+v", got)
	}
}

// testAlertsAtomic: a change that cannot be saved leaves nothing of the
// batch it came in.
func testAlertsAtomic(t *testing.T, s store.Store) {
	c := ctx(t)
	good := store.AlertChange{
		State: store.AlertState{AlertKey: leakKey, Machine: json.RawMessage(`{}`)},
		Open:  &store.Alert{Severity: "critical", Started: time.Now(), Message: "m"},
	}
	bad := store.AlertChange{
		State:  store.AlertState{AlertKey: store.AlertKey{Rule: "x", DeviceKey: leakKey.DeviceKey}, Machine: json.RawMessage(`{}`)},
		Notify: []store.Notification{{AlertID: 987654, Kind: "firing", Notifier: "mail", Event: json.RawMessage(`{}`)}},
	}
	if err := s.SaveAlerts(c, []store.AlertChange{good, bad}); err == nil {
		t.Fatal("a notification of an alert that does not exist was saved")
	}
	if states, _ := s.AlertStates(c); len(states) != 0 {
		t.Errorf("states after a failed save: %+v", states)
	}
	if got, _ := s.Alerts(c, store.AlertFilter{}); len(got) != 0 {
		t.Errorf("alerts after a failed save: %+v", got)
	}
}

// testFireAndResolveTogether: an alert opened and resolved by changes
// saved together (a gateway's buffered leak, already over, in one batch)
// is stored resolved, with both notifications attached to it, although
// the resolving change was made before the alert had an id.
func testFireAndResolveTogether(t *testing.T, s store.Store) {
	c := ctx(t)
	t0 := time.Date(2022, 5, 2, 8, 1, 0, 0, time.UTC)
	end := t0.Add(90 * time.Second)
	changes := []store.AlertChange{
		{
			State:  store.AlertState{AlertKey: leakKey, Machine: json.RawMessage(`{"state":"firing"}`)},
			Open:   &store.Alert{Name: "air-line-1", Severity: "critical", Started: t0, Message: "Air leak"},
			Notify: []store.Notification{{Kind: "firing", Notifier: "mail", Event: json.RawMessage(`{}`), Created: t0}},
		},
		{
			State:   store.AlertState{AlertKey: leakKey, Machine: json.RawMessage(`{"state":"resolved"}`)},
			Resolve: &end,
			Notify:  []store.Notification{{Kind: "resolved", Notifier: "mail", Event: json.RawMessage(`{}`), Created: end}},
		},
	}
	if err := s.SaveAlerts(c, changes); err != nil {
		t.Fatal(err)
	}
	all, err := s.Alerts(c, store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].State != "resolved" || all[0].Resolved == nil || !all[0].Resolved.Equal(end) {
		t.Fatalf("alerts %+v, want one, resolved at %s", all, end)
	}
	ns, err := s.Notifications(c, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Kind != "firing" || ns[1].Kind != "resolved" {
		t.Fatalf("notifications %+v, want firing then resolved", ns)
	}
	if changes[0].State.AlertID != all[0].ID || changes[1].State.AlertID != all[0].ID {
		t.Errorf("ids given back %d and %d, want %d", changes[0].State.AlertID, changes[1].State.AlertID, all[0].ID)
	}
	states, _ := s.AlertStates(c)
	if len(states) != 1 || states[0].AlertID != 0 {
		t.Errorf("states %+v, want the resolved state without an alert", states)
	}
	// A notification that names no alert is refused, and the whole save
	// with it: nothing half-saved.
	bad := []store.AlertChange{{
		State:  store.AlertState{AlertKey: store.AlertKey{Rule: "weak-signal", DeviceKey: leakKey.DeviceKey}, Machine: json.RawMessage(`{}`)},
		Notify: []store.Notification{{Kind: "resolved", Notifier: "mail", Event: json.RawMessage(`{}`), Created: end}},
	}}
	if err := s.SaveAlerts(c, bad); err == nil || store.IsUnavailable(err) {
		t.Errorf("a notification of no alert: %v, want a refusal about the change", err)
	}
}
