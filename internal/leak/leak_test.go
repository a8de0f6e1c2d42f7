package leak_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

func near(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-9 }

func show(v *float64) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(*v)
	return string(b)
}

// every returns points every step over [from, to), valued by v.
func every(from, to time.Time, step time.Duration, v func(time.Time) float64) []store.Point {
	var pts []store.Point
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		pts = append(pts, store.Point{Time: ts, Value: v(ts)})
	}
	return pts
}

func TestSampleLeak(t *testing.T) {
	var s leak.Series
	rs := storetest.Payloads(t, "air.jsonl")
	for _, r := range rs {
		s.Pressure = append(s.Pressure, store.Point{Time: r.Time, Value: r.Fields["Pres"]})
		s.Opening = append(s.Opening, store.Point{Time: r.Time, Value: r.Fields["OpenPres"]})
	}
	p := leak.Params{VolumeL: 500, CostPerNm3: 0.02, AtmosphericBar: 1.01325}
	rep := leak.Analyze(s, rs[0].Time, rs[len(rs)-1].Time, storetest.Location, p)
	if len(rep.Days) != 1 || rep.Method != leak.Decay {
		t.Fatalf("method %s, days %+v, want decay and one day", rep.Method, rep.Days)
	}
	d := rep.Days[0]
	// The leak: 5.91 at 08:01:00, 5.72 at 08:01:30, after 6.40 at 08:00:30.
	lost := 500 * (6.40 - 5.72) / 1.01325 / 1000
	if d.Day != "2022-05-02" || d.Leaks != 1 || d.Seconds != 30 || !near(d.LostNm3, lost) {
		t.Errorf("day %+v (lost %s), want 2022-05-02, 1 leak, 30 s, %.4f Nm3", d, show(d.LostNm3), lost)
	}
	if !near(d.Cost, lost*0.02) || !near(d.FlowNlMin, lost*1000/0.5) {
		t.Errorf("cost %s flow %s", show(d.Cost), show(d.FlowNlMin))
	}
}

// TestDecayOverTwoDays: a 20-minute leak on the first day, none on the
// second. V x dP / Patm = 1000 l x (6.5 - 5.5) bar / 1 bar = 1000 Nl =
// 1 Nm3, 0.05 at 0.05 per Nm3, 50 Nl/min over 20 minutes; the year is the
// mean of the two days, (0.05 + 0) / 2 x 365 = 9.125.
func TestDecayOverTwoDays(t *testing.T) {
	loc := storetest.Location
	from, to := time.Date(2022, 5, 2, 0, 0, 0, 0, loc), time.Date(2022, 5, 4, 0, 0, 0, 0, loc)
	leakFrom, leakTo := time.Date(2022, 5, 2, 10, 0, 0, 0, loc), time.Date(2022, 5, 2, 10, 20, 0, 0, loc)
	s := leak.Series{
		Pressure: every(from, to, 10*time.Minute, func(ts time.Time) float64 {
			switch {
			case ts.Equal(leakFrom):
				return 5.8
			case ts.After(leakFrom) && ts.Before(leakTo):
				return 5.5
			}
			return 6.5
		}),
		Opening: []store.Point{{Time: from, Value: 6}},
	}
	rep := leak.Analyze(s, from, to, loc, leak.Params{VolumeL: 1000, AtmosphericBar: 1, CostPerNm3: 0.05})
	if len(rep.Days) != 2 {
		t.Fatalf("days %+v, want two", rep.Days)
	}
	d1, d2 := rep.Days[0], rep.Days[1]
	if d1.Leaks != 1 || d1.Seconds != 1200 || !near(d1.LostNm3, 1) || !near(d1.Cost, 0.05) || !near(d1.FlowNlMin, 50) {
		t.Errorf("first day %+v: lost %s cost %s flow %s, want 1 leak, 1200 s, 1 Nm3, 0.05, 50 Nl/min", d1, show(d1.LostNm3), show(d1.Cost), show(d1.FlowNlMin))
	}
	if d2.Leaks != 0 || !near(d2.LostNm3, 0) || !near(d2.Cost, 0) {
		t.Errorf("second day %+v, want no leak and 0 Nm3", d2)
	}
	if !near(rep.Cost, 0.05) || !near(rep.CostPerYear, 9.125) {
		t.Errorf("cost %s a year %s, want 0.05 and 9.125", show(rep.Cost), show(rep.CostPerYear))
	}
	if y := rep.Year; y == nil || y.Days != 2 || y.First != "2022-05-02" || y.Last != "2022-05-03" {
		t.Errorf("year basis %+v, want 2 days, 2022-05-02 to 2022-05-03", y)
	}
}

// TestHeldBelowIsNotMeasurable: a line below its opening pressure from
// its first reading, over two days, has no pressure drop to measure: its
// air lost is null with the reason, not 0, on both days.
func TestHeldBelowIsNotMeasurable(t *testing.T) {
	loc := storetest.Location
	from, to := time.Date(2022, 5, 2, 0, 0, 0, 0, loc), time.Date(2022, 5, 4, 0, 0, 0, 0, loc)
	s := leak.Series{
		Pressure: every(from, to, time.Hour, func(time.Time) float64 { return 5.5 }),
		Opening:  []store.Point{{Time: from, Value: 6}},
	}
	rep := leak.Analyze(s, from, to, loc, leak.Params{VolumeL: 500, AtmosphericBar: 1, CostPerNm3: 0.05})
	if len(rep.Days) != 2 || rep.Days[0].Leaks != 1 || rep.Days[0].Unmeasured != 1 || rep.Days[1].Leaks != 0 {
		t.Fatalf("days %+v, want the leak on the first of two days, unmeasured", rep.Days)
	}
	for _, d := range rep.Days {
		if d.LostNm3 != nil || d.Reason != leak.HeldBelow {
			t.Errorf("%s: lost %s reason %q, want null: %q", d.Day, show(d.LostNm3), d.Reason, leak.HeldBelow)
		}
	}
	if rep.LostNm3 != nil || rep.Cost != nil || rep.CostPerYear != nil || rep.Reason != leak.HeldBelow {
		t.Errorf("lost %s cost %s year %s reason %q, want null figures and %q", show(rep.LostNm3), show(rep.Cost), show(rep.CostPerYear), rep.Reason, leak.HeldBelow)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"lost_nm3":null`) || !strings.Contains(string(b), `"reason":"the line was already below`) {
		t.Errorf("JSON %s, want lost_nm3 null with the reason", b)
	}
}

// flowParams measures leaks in the nights of the working days and at the
// weekend, on a flow meter in m3/h.
func flowParams(method string) leak.Params {
	return leak.Params{VolumeL: 500, AtmosphericBar: 1, CostPerNm3: 0.02, LeakMethod: config.LeakMethod{
		Method: method, Flow: "Flow", FlowUnit: "m3/h",
		Idle: []config.IdleWindow{{Days: []string{"sat", "sun"}}, {Days: []string{"mon..fri"}, From: "22:00", To: "06:00"}},
	}}
}

// TestFlowMethod: Friday to Sunday, a flow reading every hour. The idle
// readings are Friday 00:00-05:00 (Thursday's night) and 22:00-23:00 at
// 1.5 m3/h (8 readings) and the weekend's 48 at 3.25 m3/h: mean
// (8 x 1.5 + 48 x 3.25) / 56 = 3 m3/h = 50 Nl/min; production hours at
// 30 m3/h do not count. Leaks run always: 50 Nl/min x 1440 min = 72 Nm3
// a day, 1.44 at 0.02 per Nm3, 4.32 over the 3 days, 1.44 x 365 = 525.6 a
// year.
func TestFlowMethod(t *testing.T) {
	loc := storetest.Location
	from, to := time.Date(2022, 5, 6, 0, 0, 0, 0, loc), time.Date(2022, 5, 9, 0, 0, 0, 0, loc)
	s := leak.Series{Flow: every(from, to, time.Hour, func(ts time.Time) float64 {
		h := ts.In(loc).Hour()
		switch {
		case ts.In(loc).Weekday() != time.Friday:
			return 3.25
		case h < 6 || h >= 22:
			return 1.5
		}
		return 30
	})}
	for _, method := range []string{"flow", "auto"} {
		rep := leak.Analyze(s, from, to, loc, flowParams(method))
		if rep.Method != leak.Flow || rep.IdleReadings != 56 || !near(rep.FlowNlMin, 50) {
			t.Fatalf("%s: method %s, %d idle readings, flow %s; want flow, 56, 50 Nl/min", method, rep.Method, rep.IdleReadings, show(rep.FlowNlMin))
		}
		if len(rep.Days) != 3 || !near(rep.Days[1].LostNm3, 72) || !near(rep.Days[1].Cost, 1.44) {
			t.Fatalf("%s: days %+v, want 3 of 72 Nm3", method, rep.Days)
		}
		if !near(rep.LostNm3, 216) || !near(rep.Cost, 4.32) || !near(rep.CostPerYear, 525.6) {
			t.Errorf("%s: lost %s cost %s a year %s, want 216 Nm3, 4.32, 525.6", method, show(rep.LostNm3), show(rep.Cost), show(rep.CostPerYear))
		}
		if y := rep.Year; y == nil || y.Days != 3 || y.First != "2022-05-06" || y.Last != "2022-05-08" {
			t.Errorf("%s: year basis %+v, want the 3 days", method, y)
		}
	}
}

// TestFlowWithoutIdleReadings: flow readings in production hours only
// cannot tell the leaks' flow; auto falls back on the decay.
func TestFlowWithoutIdleReadings(t *testing.T) {
	loc := storetest.Location
	from, to := time.Date(2022, 5, 6, 8, 0, 0, 0, loc), time.Date(2022, 5, 6, 18, 0, 0, 0, loc)
	s := leak.Series{
		Flow:     every(from, to, time.Hour, func(time.Time) float64 { return 30 }),
		Pressure: every(from, to, time.Hour, func(time.Time) float64 { return 6.5 }),
		Opening:  []store.Point{{Time: from, Value: 6}},
	}
	rep := leak.Analyze(s, from, to, loc, flowParams("flow"))
	if rep.Method != leak.Flow || rep.LostNm3 != nil || rep.CostPerYear != nil || rep.Reason != leak.NoIdleFlow {
		t.Errorf("flow: method %s lost %s a year %s reason %q, want null with %q", rep.Method, show(rep.LostNm3), show(rep.CostPerYear), rep.Reason, leak.NoIdleFlow)
	}
	rep = leak.Analyze(s, from, to, loc, flowParams("auto"))
	if rep.Method != leak.Decay || !near(rep.LostNm3, 0) || len(rep.Days) != 1 || rep.Days[0].Share != 10.0/24 {
		t.Errorf("auto: method %s lost %s days %+v, want decay, 0 Nm3, one day at 10/24", rep.Method, show(rep.LostNm3), rep.Days)
	}
}

func TestLeaksAcrossDays(t *testing.T) {
	start := time.Date(2022, 5, 2, 22, 0, 0, 0, storetest.Location)
	var s leak.Series
	// Every minute for two days; a leak 23:00-23:10 on each day, and one
	// from 23:55 to 00:05 that counts on the day it started.
	for i := 0; i < 2*24*60; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		v := 6.5
		if m := ts.In(storetest.Location).Hour()*60 + ts.In(storetest.Location).Minute(); m >= 23*60 && m < 23*60+10 || m >= 23*60+55 || m < 5 {
			v = 5.5
		}
		s.Pressure = append(s.Pressure, store.Point{Time: ts, Value: v})
		s.Opening = append(s.Opening, store.Point{Time: ts, Value: 6})
	}
	rep := leak.Analyze(s, start, start.Add(48*time.Hour), storetest.Location, leak.Params{VolumeL: 100, CostPerNm3: 1, AtmosphericBar: 1})
	var got []int
	for _, d := range rep.Days {
		got = append(got, d.Leaks)
	}
	if len(rep.Days) != 3 || rep.Days[0].Day != "2022-05-02" || got[0] != 2 || got[1] != 2 || got[2] != 0 {
		t.Fatalf("days %+v", rep.Days)
	}
	if rep.Days[0].Seconds != 20*60 {
		t.Errorf("time in leak on the first day %v s, want 1200", rep.Days[0].Seconds)
	}
	// Each leak drops 1 bar in 100 l: 0.1 Nm3, 0.4 over the range's
	// 2 days (2/24 + 1 + 22/24).
	if !near(rep.Cost, 0.4) || !near(rep.CostPerYear, 0.4/2*365) {
		t.Errorf("cost %s a year %s, want 0.4 and 73", show(rep.Cost), show(rep.CostPerYear))
	}
}
