package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// testRetention: a power meter of finemeca read every 30 minutes for a
// year, February to January (both changes of time included), and one of
// acme; retention at 1 February with finemeca's readings kept 60 days and
// hourly aggregates 100. Readings past their age are removed and nothing
// younger; the daily consumption over the whole range and the hourly
// power over the hourly range answer as before, from the aggregates, and
// say so; a query finer than what is kept gets the RetentionError;
// acme's readings, young rejected messages and alerts are untouched; a
// second run removes nothing; a late reading into a removed day joins its
// aggregates.
func testRetention(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	start := time.Date(2025, 2, 1, 0, 0, 0, 0, loc)
	end := time.Date(2026, 2, 1, 0, 0, 0, 0, loc)
	now := end
	acme := base
	acme.Customer, acme.Device = "acme", "901"
	var rs []reading.Reading
	e := 1000.0
	for i, ts := 0, start; ts.Before(end); i, ts = i+1, ts.Add(30*time.Minute) {
		// Noisy decimals, and a counter that grows faster by day.
		p := 3 + float64(i%37)*0.173
		if h := ts.In(loc).Hour(); h >= 7 && h < 18 {
			p += 20
		}
		e += p / 2
		for _, dev := range []reading.Reading{base, acme} {
			r := dev
			r.Time, r.Received, r.MsgCount = ts, ts, int64(i)
			r.Fields = map[string]float64{"E": math.Round(e*100) / 100, "P": math.Round(p*1000) / 1000}
			rs = append(rs, r)
		}
	}
	for i := 0; i < len(rs); i += 4000 {
		write(t, s, store.Batch{Readings: rs[i:min(i+4000, len(rs))]})
	}
	fine, other := key(base), key(acme)
	daily := series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: start, To: end}
	hourlyFrom, hourlyTo := time.Date(2025, 10, 24, 0, 0, 0, 0, loc), time.Date(2025, 12, 10, 0, 0, 0, 0, loc)
	hourly := series.Query{DeviceKey: fine, Field: "P", Agg: "avg", Step: series.Step{Dur: time.Hour}, From: hourlyFrom, To: hourlyTo}
	read := func(q series.Query) series.Series {
		t.Helper()
		out, err := series.Read(ctx(t), s, q, loc)
		if err != nil {
			t.Fatalf("%s %s from %s: %v", q.Field, q.Step, q.From.Format(time.DateOnly), err)
		}
		return out
	}
	wantDaily, wantHourly := read(daily), read(hourly)
	// Ranges that do not start or end on the aggregates' bounds: asked
	// again after retention, they answer the whole hours and local days
	// around them, as the readings did for those.
	partial := []struct{ asked, whole series.Query }{
		{series.Query{DeviceKey: fine, Field: "P", Agg: "avg", Step: series.Step{Dur: time.Hour}, From: time.Date(2025, 10, 25, 0, 20, 0, 0, loc), To: time.Date(2025, 10, 25, 4, 0, 0, 0, loc)},
			series.Query{DeviceKey: fine, Field: "P", Agg: "avg", Step: series.Step{Dur: time.Hour}, From: time.Date(2025, 10, 25, 0, 0, 0, 0, loc), To: time.Date(2025, 10, 25, 4, 0, 0, 0, loc)}},
		{series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: time.Date(2025, 11, 10, 13, 0, 0, 0, loc), To: time.Date(2025, 11, 20, 0, 0, 0, 0, loc)},
			series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: time.Date(2025, 11, 10, 0, 0, 0, 0, loc), To: time.Date(2025, 11, 20, 0, 0, 0, 0, loc)}},
		{series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: time.Date(2025, 11, 12, 0, 0, 0, 0, loc), To: time.Date(2025, 11, 12, 18, 0, 0, 0, loc)},
			series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: time.Date(2025, 11, 12, 0, 0, 0, 0, loc), To: time.Date(2025, 11, 13, 0, 0, 0, 0, loc)}},
	}
	wantPartial := make([]series.Series, len(partial))
	for i, c := range partial {
		wantPartial[i] = read(c.whole)
	}
	if len(wantDaily.Points) != 365 || len(wantHourly.Points) != 47*24+1 {
		t.Fatalf("before retention: %d days and %d hours, want 365 and %d", len(wantDaily.Points), len(wantHourly.Points), 47*24+1)
	}
	for _, p := range wantDaily.Points {
		if day := p.Time.In(loc).Format(time.DateOnly); day == "2025-03-30" || day == "2025-10-26" {
			t.Logf("%s, a day of %s: %.2f kWh", day, map[bool]string{true: "23 hours", false: "25 hours"}[day == "2025-03-30"], p.Value)
		}
	}
	rawCut := time.Date(2025, 12, 3, 0, 0, 0, 0, loc) // 1 February - 60 days
	var before int64
	for _, r := range rs {
		if r.Customer == "finemeca" && r.Time.Before(rawCut) {
			before++
		}
	}

	policy := store.Retention{Ages: func(customer, sensor string) store.Ages {
		if customer == "acme" {
			return store.Ages{}
		}
		return store.Ages{Raw: 60 * 24 * time.Hour, Hourly: 100 * 24 * time.Hour}
	}, Rejected: 30 * 24 * time.Hour, Alerts: 30 * 24 * time.Hour}
	oldAlert, youngAlert, firingAlert := retentionAlerts(t, s, now)
	write(t, s, store.Batch{Rejected: []reading.Rejected{
		{Topic: "finemeca/x", Payload: []byte(`{"old":1}`), Reason: "invalid JSON", Received: now.Add(-40 * 24 * time.Hour), Source: "mqtt"},
		{Topic: "finemeca/x", Payload: []byte(`{"young":1}`), Reason: "invalid JSON", Received: now.Add(-10 * 24 * time.Hour), Source: "mqtt"},
	}})

	removed, err := s.ApplyRetention(ctx(t), policy, now)
	if err != nil {
		t.Fatal(err)
	}
	daysBefore := func(day time.Time) int64 { return int64(math.Round(day.Sub(start).Hours() / 24)) }
	if removed.Readings != before || removed.Rejected != 1 || removed.Alerts != 1 || removed.HourlyDays != daysBefore(hourlyFrom) {
		t.Errorf("removed %+v, want %d readings, %d days of hourly aggregates (to 23 Oct), 1 rejected message, 1 alert",
			removed, before, daysBefore(hourlyFrom))
	}
	kept, err := s.Kept(ctx(t), fine)
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Raw.Equal(rawCut) || !kept.Hourly.Equal(hourlyFrom) || !kept.Daily.IsZero() {
		t.Errorf("kept %+v, want readings from %s and hourly aggregates from %s", kept, rawCut, hourlyFrom)
	}

	// Nothing younger removed: the raw points from the cut on, all of
	// acme's.
	pts, _, err := s.Points(ctx(t), store.RawQuery{DeviceKey: fine, Field: "E", From: start, To: end})
	if err != nil {
		t.Fatal(err)
	}
	if want := int(end.Sub(rawCut) / (30 * time.Minute)); len(pts) != want || pts[0].Time.Before(rawCut) {
		t.Errorf("%d raw points left from %s, want %d from %s", len(pts), pts[0].Time, want, rawCut)
	}
	if pts, _, _ := s.Points(ctx(t), store.RawQuery{DeviceKey: other, Field: "E", From: start, To: end}); len(pts) != len(rs)/2 {
		t.Errorf("acme has %d points, want all %d", len(pts), len(rs)/2)
	}

	// The same answers from the aggregates.
	sameSeries(t, "daily consumption", read(daily), wantDaily, series.ResolutionDaily)
	sameSeries(t, "hourly power", read(hourly), wantHourly, series.ResolutionHourly)
	for i, c := range partial {
		sameSeries(t, fmt.Sprintf("%s step %s from %s to %s", c.asked.Field, c.asked.Step, c.asked.From, c.asked.To), read(c.asked), wantPartial[i], c.asked.Step.String())
	}
	if got := read(series.Query{DeviceKey: fine, Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: rawCut, To: end}); got.Resolution != series.ResolutionRaw {
		t.Errorf("a range within the readings answered at %q", got.Resolution)
	}
	for _, q := range []series.Query{
		{DeviceKey: fine, Field: "P", From: start, To: end},
		{DeviceKey: fine, Field: "P", Agg: "avg", Step: series.Step{Dur: 15 * time.Minute}, From: hourlyFrom, To: end},
		{DeviceKey: fine, Field: "P", Agg: "avg", Step: series.Step{Dur: time.Hour}, From: start, To: end},
	} {
		_, err := series.Read(ctx(t), s, q, loc)
		var re *series.RetentionError
		if !errors.As(err, &re) || !re.Raw.Equal(rawCut) {
			t.Errorf("step %q from %s: %v, want the RetentionError naming the oldest reading", q.Step, q.From.Format(time.DateOnly), err)
		}
	}

	if rej, _ := s.Rejected(ctx(t), store.RejectedFilter{}); len(rej) != 1 || string(rej[0].Payload) != `{"young":1}` {
		t.Errorf("rejected messages left: %d, want the young one", len(rej))
	}
	if _, err := s.Alert(ctx(t), oldAlert); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the alert resolved 40 days ago: %v, want it removed", err)
	}
	for _, id := range []int64{youngAlert, firingAlert} {
		if _, err := s.Alert(ctx(t), id); err != nil {
			t.Errorf("alert %d: %v, want it kept", id, err)
		}
	}
	if ns, _ := s.Notifications(ctx(t), oldAlert); len(ns) != 0 {
		t.Errorf("the removed alert's notifications are left: %d", len(ns))
	}

	if again, err := s.ApplyRetention(ctx(t), policy, now); err != nil || again != (store.Removed{}) {
		t.Errorf("a second run: %+v %v, want nothing removed", again, err)
	}

	// A late reading into a removed day joins its aggregates.
	late := base
	late.Time = time.Date(2025, 11, 1, 12, 7, 0, 0, loc)
	late.Received, late.MsgCount = now, 99999
	late.Fields = map[string]float64{"P": 1000}
	write(t, s, store.Batch{Readings: []reading.Reading{late}})
	if again, err := s.ApplyRetention(ctx(t), policy, now); err != nil || again.Readings != 1 {
		t.Errorf("a run after a late reading: %+v %v, want it removed", again, err)
	}
	day := series.Query{DeviceKey: fine, Field: "P", Agg: "max", Step: series.Step{Days: 1},
		From: time.Date(2025, 11, 1, 0, 0, 0, 0, loc), To: time.Date(2025, 11, 2, 0, 0, 0, 0, loc)}
	if got := read(day); len(got.Points) != 1 || got.Points[0].Value != 1000 {
		t.Errorf("1 November after the late reading: %+v, want its maximum of 1000", got.Points)
	}

	// Daily aggregates past their age go too, and the range before them
	// answers nothing.
	policy.Ages = func(customer, _ string) store.Ages {
		if customer == "acme" {
			return store.Ages{}
		}
		return store.Ages{Raw: 60 * 24 * time.Hour, Hourly: 100 * 24 * time.Hour, Daily: 130 * 24 * time.Hour}
	}
	dailyFrom := time.Date(2025, 9, 24, 0, 0, 0, 0, loc)
	removed, err = s.ApplyRetention(ctx(t), policy, now)
	if err != nil || removed.DailyDays != daysBefore(dailyFrom) {
		t.Errorf("daily retention: %+v %v, want the %d days before 24 September", removed, err, daysBefore(dailyFrom))
	}
	_, err = series.Read(ctx(t), s, daily, loc)
	var re *series.RetentionError
	if !errors.As(err, &re) || !re.Daily.Equal(dailyFrom) {
		t.Errorf("daily consumption from 1 September after daily retention: %v", err)
	}
	// From 25 September, the increase across midnight comes from the last
	// value of the 24th's aggregates.
	daily.From = dailyFrom.AddDate(0, 0, 1)
	wantDaily.Points = wantDaily.Points[daysBefore(daily.From):]
	sameSeries(t, "daily consumption from 25 September", read(daily), wantDaily, series.ResolutionDaily)
}

// sameSeries compares what answered after retention with what the
// readings answered before.
func sameSeries(t *testing.T, what string, got, want series.Series, resolution string) {
	t.Helper()
	if got.Resolution != resolution {
		t.Errorf("%s answered at %q, want %q", what, got.Resolution, resolution)
	}
	if len(got.Points) != len(want.Points) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got.Points), len(want.Points))
	}
	for i, p := range got.Points {
		w := want.Points[i]
		if !p.Time.Equal(w.Time) || math.Abs(p.Value-w.Value) > 1e-6*math.Max(1, math.Abs(w.Value)) {
			t.Errorf("%s, bucket %d: %s %v, want %s %v", what, i, p.Time.In(loc), p.Value, w.Time.In(loc), w.Value)
			return
		}
	}
}

// retentionAlerts saves an alert resolved 40 days before now, one
// resolved 10 days before, and one firing for 100 days.
func retentionAlerts(t *testing.T, s store.Store, now time.Time) (old, young, firing int64) {
	ids := make([]int64, 3)
	for i, c := range []struct {
		rule     string
		resolved time.Duration
	}{{"old", 40 * 24 * time.Hour}, {"young", 10 * 24 * time.Hour}, {"firing", 0}} {
		k := store.AlertKey{Rule: c.rule, DeviceKey: leakKey.DeviceKey}
		started := now.Add(-100 * 24 * time.Hour)
		open := store.AlertChange{State: store.AlertState{AlertKey: k, Machine: json.RawMessage(`{}`)},
			Open:   &store.Alert{Severity: "warning", Started: started, Message: c.rule},
			Notify: []store.Notification{{Kind: "firing", Notifier: "mail", Event: json.RawMessage(`{}`), Created: started}}}
		ch := []store.AlertChange{open}
		if err := s.SaveAlerts(ctx(t), ch); err != nil {
			t.Fatal(err)
		}
		ids[i] = ch[0].State.AlertID
		if c.resolved > 0 {
			at := now.Add(-c.resolved)
			end := store.AlertChange{State: store.AlertState{AlertKey: k, Machine: json.RawMessage(`{}`), AlertID: ids[i]}, Resolve: &at}
			if err := s.SaveAlerts(ctx(t), []store.AlertChange{end}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids[0], ids[1], ids[2]
}

// testRemoveDevice: removing a device takes its readings, aggregates,
// alerts and notifications, and leaves every other device's; a device
// that sends again afterwards is a new one.
func testRemoveDevice(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	other := base
	other.Device = "302"
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i := range 3 * 96 {
		for _, d := range []reading.Reading{base, other} {
			r := d
			r.Time, r.Received, r.MsgCount = start.Add(time.Duration(i)*15*time.Minute), start, int64(i)
			r.Fields = map[string]float64{"E": float64(i), "P": 3}
			rs = append(rs, r)
		}
	}
	write(t, s, store.Batch{Readings: rs})
	// A day of the removed device rolled up, and alerts of both.
	if _, err := s.ApplyRetention(ctx(t), store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 24 * time.Hour} }},
		start.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var alerts []int64
	for _, k := range []store.DeviceKey{key(base), key(other)} {
		ch := []store.AlertChange{{State: store.AlertState{AlertKey: store.AlertKey{Rule: "r", DeviceKey: k}, Machine: json.RawMessage(`{}`)},
			Open:   &store.Alert{Severity: "warning", Started: start, Message: "m"},
			Notify: []store.Notification{{Kind: "firing", Notifier: "mail", Event: json.RawMessage(`{}`), Created: start}}}}
		if err := s.SaveAlerts(ctx(t), ch); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, ch[0].State.AlertID)
	}

	n, err := s.RemoveDevice(ctx(t), key(base))
	if err != nil || n != 2*96 {
		t.Fatalf("removing %s: %d readings, %v; want the 192 it had left", base.Device, n, err)
	}
	if _, _, err := s.Points(ctx(t), store.RawQuery{DeviceKey: key(base), Field: "E", From: start, To: start.Add(72 * time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("points of the removed device: %v, want ErrNotFound", err)
	}
	if _, err := s.Latest(ctx(t), key(base)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("latest of the removed device: %v, want ErrNotFound", err)
	}
	devs, _ := s.Devices(ctx(t), store.DeviceFilter{})
	if len(devs) != 1 || devs[0].Device != other.Device || devs[0].Readings != 2*96 {
		t.Errorf("devices after the removal: %+v, want %s alone with its 192 readings", devs, other.Device)
	}
	if _, err := s.Alert(ctx(t), alerts[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the removed device's alert: %v, want ErrNotFound", err)
	}
	if ns, _ := s.Notifications(ctx(t), alerts[0]); len(ns) != 0 {
		t.Errorf("the removed device's notifications are left: %d", len(ns))
	}
	if _, err := s.Alert(ctx(t), alerts[1]); err != nil {
		t.Errorf("the other device's alert: %v", err)
	}
	states, _ := s.AlertStates(ctx(t))
	if len(states) != 1 || states[0].Device != other.Device {
		t.Errorf("alert states after the removal: %+v, want the other device's", states)
	}
	if _, err := s.RemoveDevice(ctx(t), key(base)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing it again: %v, want ErrNotFound", err)
	}
	again := rs[len(rs)-2]
	again.Time = again.Time.Add(time.Hour)
	write(t, s, store.Batch{Readings: []reading.Reading{again}})
	if kept, err := s.Kept(ctx(t), key(base)); err != nil || kept != (store.Kept{}) {
		t.Errorf("the device sending again: kept %+v %v, want a new device", kept, err)
	}
	devs, _ = s.Devices(ctx(t), store.DeviceFilter{Customer: base.Customer})
	if len(devs) != 2 || devs[0].Device != base.Device || devs[0].Readings != 1 {
		t.Errorf("devices after it sent again: %+v, want it back with one reading", devs)
	}
}

// testReportOutbox: a report's period is recorded once per notifier; a
// new report's first period is skipped; a finished send is not pending
// again.
func testReportOutbox(t *testing.T, s store.Store) {
	from := time.Date(2025, 10, 20, 0, 0, 0, 0, loc)
	now := from.AddDate(0, 0, 7)
	queued, err := s.QueueReport(ctx(t), "weekly", from.AddDate(0, 0, -7), []string{"ops"}, now)
	if err != nil || queued {
		t.Fatalf("the first period of a new report: queued %v, %v; want it skipped", queued, err)
	}
	for i := range 2 {
		if queued, err := s.QueueReport(ctx(t), "weekly", from, []string{"ops", "boss"}, now); err != nil || queued != (i == 0) {
			t.Fatalf("the next period, time %d: queued %v, %v", i+1, queued, err)
		}
	}
	pending, err := s.PendingReports(ctx(t))
	if err != nil || len(pending) != 2 || !pending[0].From.Equal(from) || pending[0].Status != "pending" {
		t.Fatalf("pending %+v %v, want the week of %s to boss and ops", pending, err, from)
	}
	p := pending[0]
	p.Status, p.Attempts, p.Done = "sent", 1, now
	if err := s.FinishReport(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueueReport(ctx(t), "weekly", from, []string{"ops", "boss"}, now); err != nil {
		t.Fatal(err)
	}
	if pending, _ := s.PendingReports(ctx(t)); len(pending) != 1 || pending[0].Notifier == p.Notifier {
		t.Errorf("after one was sent and the period queued again: %+v, want the other notifier's only", pending)
	}
}

// testRolledDuplicates: a day of a power meter rolled up by retention
// (its readings removed, its aggregates kept); its readings sent again,
// by a replay of the receive window, as exact duplicates, or mixed with
// readings of that day that are new, are duplicates: the day's count and
// increase stay; a new one is stored once and joins the day once.
func testRolledDuplicates(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i := range 3 * 96 {
		r := base
		r.Time = start.Add(time.Duration(i) * 15 * time.Minute)
		r.Received, r.MsgCount = r.Time.Add(2*time.Second), int64(1000+i)
		r.Fields = map[string]float64{"E": float64(100 + i), "P": 3}
		if i == 30 {
			// A message without msgCount: told apart by its payload.
			r.MsgCount, r.Digest = reading.NoMsgCount, reading.PayloadDigest([]byte(`{"E":130}`))
		}
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs})
	k := key(base)
	dayOne := func(field, agg string) float64 {
		t.Helper()
		got, err := series.Read(ctx(t), s, series.Query{DeviceKey: k, Field: field, Agg: agg, Step: series.Step{Days: 1},
			From: start, To: start.AddDate(0, 0, 1)}, loc)
		if err != nil {
			t.Fatalf("%s %s of 10 March: %v", agg, field, err)
		}
		if len(got.Points) != 1 {
			t.Fatalf("%s %s of 10 March: %+v, want one day", agg, field, got.Points)
		}
		return got.Points[0].Value
	}
	kept := func() int64 {
		t.Helper()
		devs, err := s.Devices(ctx(t), store.DeviceFilter{Customer: base.Customer, Sensor: base.Sensor})
		if err != nil || len(devs) != 1 {
			t.Fatalf("devices: %+v %v", devs, err)
		}
		return devs[0].Readings
	}
	policy := store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 24 * time.Hour} }}
	now := start.AddDate(0, 0, 2).Add(time.Hour)
	if removed, err := s.ApplyRetention(ctx(t), policy, now); err != nil || removed.Readings != 96 {
		t.Fatalf("retention: %+v %v, want the 96 readings of 10 March removed", removed, err)
	}
	check := func(when string, pCount float64, readings int64) {
		t.Helper()
		// 96 intervals of 1: the reading at midnight on 11 March closes
		// the day.
		if n, inc, p := dayOne("E", "count"), dayOne("E", "increase"), dayOne("P", "count"); n != 96 || inc != 96 || p != pCount {
			t.Errorf("%s: 10 March has %v readings of E, an increase of %v and %v of P; want 96, 96 and %v", when, n, inc, p, pCount)
		}
		if n := kept(); n != readings {
			t.Errorf("%s: the device counts %d readings kept, want %d", when, n, readings)
		}
	}
	check("rolled up", 96, 192)

	if res := write(t, s, store.Batch{Readings: rs}); res.Stored != 0 || res.Duplicates != len(rs) {
		t.Errorf("a replay of the three days: %+v, want all %d duplicates", res, len(rs))
	}
	check("after a replay", 96, 192)
	if res := write(t, s, store.Batch{Readings: rs[25:35]}); res.Stored != 0 || res.Duplicates != 10 {
		t.Errorf("10 readings of 10 March again: %+v, want 10 duplicates", res)
	}
	check("after 10 duplicates", 96, 192)

	// Three readings of 10 March that were never stored, late, with five
	// that were.
	mixed := append([]reading.Reading(nil), rs[40:45]...)
	for i := range 3 {
		r := base
		r.Time = start.Add(time.Duration(i)*time.Hour + 7*time.Minute)
		r.Received, r.MsgCount = now, reading.NoMsgCount
		r.Digest = reading.PayloadDigest([]byte(fmt.Sprintf(`{"late":%d}`, i)))
		r.Fields = map[string]float64{"P": 50}
		mixed = append(mixed, r)
	}
	if res := write(t, s, store.Batch{Readings: mixed}); res.Stored != 3 || res.Duplicates != 5 {
		t.Errorf("5 readings of 10 March with 3 new ones: %+v, want 3 stored, 5 duplicates", res)
	}
	if res := write(t, s, store.Batch{Readings: mixed}); res.Stored != 0 || res.Duplicates != 8 {
		t.Errorf("the same again before retention ran: %+v, want 8 duplicates", res)
	}
	if removed, err := s.ApplyRetention(ctx(t), policy, now); err != nil || removed.Readings != 3 {
		t.Errorf("retention after the late readings: %+v %v, want the 3 new ones rolled up", removed, err)
	}
	check("after 3 new readings joined the day", 99, 192)
	if got := dayOne("P", "max"); got != 50 {
		t.Errorf("10 March's maximum of P: %v, want the new readings' 50", got)
	}
	if res := write(t, s, store.Batch{Readings: append(mixed, rs...)}); res.Stored != 0 || res.Duplicates != len(rs)+8 {
		t.Errorf("all of it again: %+v, want %d duplicates", res, len(rs)+8)
	}
	check("after all of it again", 99, 192)
}
