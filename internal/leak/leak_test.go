package leak_test

import (
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

func TestSampleLeak(t *testing.T) {
	var pres, open []store.Point
	for _, r := range storetest.Payloads(t, "air.jsonl") {
		pres = append(pres, store.Point{Time: r.Time, Value: r.Fields["Pres"]})
		open = append(open, store.Point{Time: r.Time, Value: r.Fields["OpenPres"]})
	}
	p := leak.Params{VolumeL: 500, CostPerNm3: 0.02, AtmosphericBar: 1.01325}
	rep := leak.Analyze(pres, open, storetest.Location, p)
	if len(rep.Days) != 1 {
		t.Fatalf("days %+v, want one", rep.Days)
	}
	d := rep.Days[0]
	// The leak: 5.91 at 08:01:00, 5.72 at 08:01:30, after 6.40 at 08:00:30.
	lost := 500 * (6.40 - 5.72) / 1.01325 / 1000
	if d.Day != "2022-05-02" || d.Leaks != 1 || d.Seconds != 30 || math.Abs(d.LostNm3-lost) > 1e-9 {
		t.Errorf("day %+v, want 2022-05-02, 1 leak, 30 s, %.4f Nm3", d, lost)
	}
	if math.Abs(d.Cost-lost*0.02) > 1e-12 || math.Abs(d.FlowNlMin-lost*1000/0.5) > 1e-6 {
		t.Errorf("cost %v flow %v", d.Cost, d.FlowNlMin)
	}
}

func TestLeaksAcrossDays(t *testing.T) {
	start := time.Date(2022, 5, 2, 22, 0, 0, 0, storetest.Location)
	var pres, open []store.Point
	// Every minute for two days; a leak 23:00-23:10 on each day, and one
	// from 23:55 to 00:05 that counts on the day it started.
	for i := 0; i < 2*24*60; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		v := 6.5
		if m := ts.In(storetest.Location).Hour()*60 + ts.In(storetest.Location).Minute(); m >= 23*60 && m < 23*60+10 || m >= 23*60+55 || m < 5 {
			v = 5.5
		}
		pres = append(pres, store.Point{Time: ts, Value: v})
		open = append(open, store.Point{Time: ts, Value: 6})
	}
	rep := leak.Analyze(pres, open, storetest.Location, leak.Params{VolumeL: 100, CostPerNm3: 1, AtmosphericBar: 1})
	var got []int
	for _, d := range rep.Days {
		got = append(got, d.Leaks)
	}
	if len(rep.Days) != 2 || rep.Days[0].Day != "2022-05-02" || got[0] != 2 || got[1] != 2 {
		t.Fatalf("days %+v", rep.Days)
	}
	if rep.Days[0].Seconds != 20*60 {
		t.Errorf("time in leak on the first day %v s, want 1200", rep.Days[0].Seconds)
	}
	if rep.CostPerYear <= 0 {
		t.Errorf("cost per year %v", rep.CostPerYear)
	}
}
