package series

import (
	"math"
	"math/rand"
	"slices"
	"sort"
	"testing"
	"testing/quick"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// TestCounterSteps: the rule on a few values, the finding first.
func TestCounterSteps(t *testing.T) {
	cases := []struct {
		values []float64
		inc    float64
		resets int64
	}{
		{[]float64{49262.5, 49262.4, 49263}, 0.5, 0},
		{[]float64{100, 99.9, 100.5}, 0.5, 0},
		{[]float64{100, 87.6, 90}, 0, 0},  // less than an eighth down: jitter
		{[]float64{100, 87.5, 90}, 90, 1}, // an eighth down: restarted from zero, counts 87.5 then 2.5
		{[]float64{100, 0.5, 1}, 1, 1},
		{[]float64{5, 5, 5}, 0, 0},
	}
	for _, c := range cases {
		var cnt Counter
		for _, v := range c.values {
			cnt.Add(v)
		}
		if math.Abs(cnt.Increase-c.inc) > 1e-9 || cnt.Resets != c.resets {
			t.Errorf("%v: increase %v, %d resets; want %v, %d", c.values, cnt.Increase, cnt.Resets, c.inc, c.resets)
		}
	}
	if IsReset(49262.5, 49262.4) || !IsReset(8, 7) || IsReset(8, 7.01) {
		t.Error("IsReset draws the line elsewhere than an eighth of the value before")
	}
}

// jittery is a counter's values that only grow, by random steps, but for
// jitter: now and then a value up to a hundredth below the highest so far.
func jittery(r *rand.Rand, first float64, n int) []float64 {
	out := []float64{first}
	top := first
	for len(out) < n {
		if r.Intn(4) == 0 {
			out = append(out, top-r.Float64()*top/100)
			continue
		}
		top += r.Float64() * 10
		out = append(out, top)
	}
	return out
}

// total is what the values add up to, one at a time.
func total(vs []float64) Counter {
	var c Counter
	for _, v := range vs {
		c.Add(v)
	}
	return c
}

// merged is what the values add up to as Counters of random runs of them
// merged, as chunk summaries and rollups are.
func merged(r *rand.Rand, vs []float64) Counter {
	var c Counter
	for i := 0; i < len(vs); {
		j := i + 1 + r.Intn(8)
		c.Merge(total(vs[i:min(j, len(vs))]))
		i = j
	}
	return c
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// points are the values a minute apart.
func points(vs []float64) []store.Point {
	start := time.Date(2025, 11, 5, 0, 0, 0, 0, time.UTC)
	out := make([]store.Point, len(vs))
	for i, v := range vs {
		out[i] = store.Point{Time: start.Add(time.Duration(i) * time.Minute), Value: v}
	}
	return out
}

// aggregated is the increase of the points in buckets of an hour, added
// up, as agg=increase gives it.
func aggregated(pts []store.Point) float64 {
	var sum float64
	hours := Buckets{Of: func(t time.Time) time.Time { return t.Truncate(time.Hour) }, Next: func(t time.Time) time.Time { return t.Add(time.Hour) }}
	all := make([]Bucket, len(pts))
	for i, p := range pts {
		all[i] = pointBucket(p)
	}
	got, _ := Increases(all, nil, hours, time.Time{}, time.Time{}, nil)
	for _, p := range got {
		sum += p.Value
	}
	return sum
}

// TestJitterAddsNothing: over a counter that only grows but for small
// jitters, the increase is the highest value less the first, without a
// reset, however the values are split into summaries and buckets.
func TestJitterAddsNothing(t *testing.T) {
	f := func(seed int64) bool {
		r := rand.New(rand.NewSource(seed))
		vs := jittery(r, r.Float64()*1e6, 2+r.Intn(300))
		want := slices.Max(vs) - vs[0]
		one, all := total(vs), merged(r, vs)
		if !near(one.Increase, want) || one.Resets != 0 || !near(all.Increase, want) || all.Resets != 0 || all.Top != one.Top {
			t.Logf("seed %d: %d values, increase %v (merged %v), resets %d (%d); want %v", seed, len(vs), one.Increase, all.Increase, one.Resets, all.Resets, want)
			return false
		}
		// Aggregate rounds each bucket to 12 digits.
		if got := aggregated(points(vs)); math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Logf("seed %d: aggregated %v, want %v", seed, got, want)
			return false
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

// resetting is segments of a counter with jitter, each after the first
// restarted from zero (its first value below 1, the last before it 20 or
// more); and what each segment adds: from zero for all but the first.
func resetting(r *rand.Rand) (vs []float64, segments []float64) {
	n := 2 + r.Intn(5)
	for i := range n {
		first := r.Float64() // a restart: just above zero
		if i == 0 {
			first = r.Float64() * 1e5
		}
		seg := jittery(r, first, 2+r.Intn(60))
		if seg[len(seg)-1] < 20 {
			seg = append(seg, 20+first)
		}
		inc := slices.Max(seg) - seg[0]
		if i > 0 {
			inc = slices.Max(seg)
		}
		vs = append(vs, seg...)
		segments = append(segments, inc)
	}
	return vs, segments
}

// TestResetsAddSegments: over a counter that restarts from zero now and
// then, the increase is the sum of each segment's, every restart a reset,
// however the values are split.
func TestResetsAddSegments(t *testing.T) {
	f := func(seed int64) bool {
		r := rand.New(rand.NewSource(seed))
		vs, segs := resetting(r)
		var want float64
		for _, s := range segs {
			want += s
		}
		resets := int64(len(segs) - 1)
		one, all := total(vs), merged(r, vs)
		if !near(one.Increase, want) || one.Resets != resets || !near(all.Increase, want) || all.Resets != resets {
			t.Logf("seed %d: increase %v (merged %v), resets %d (%d); want %v, %d", seed, one.Increase, all.Increase, one.Resets, all.Resets, want, resets)
			return false
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

// TestReplayedSameTotals: a series sent again in part and out of order,
// then sorted by time and its duplicates dropped (as the store does),
// adds up to what it did.
func TestReplayedSameTotals(t *testing.T) {
	f := func(seed int64) bool {
		r := rand.New(rand.NewSource(seed))
		vs, _ := resetting(r)
		pts := points(vs)
		replayed := append([]store.Point(nil), pts...)
		for range r.Intn(len(pts)) {
			replayed = append(replayed, pts[r.Intn(len(pts))])
		}
		r.Shuffle(len(replayed), func(i, j int) { replayed[i], replayed[j] = replayed[j], replayed[i] })
		sort.SliceStable(replayed, func(i, j int) bool { return replayed[i].Time.Before(replayed[j].Time) })
		replayed = slices.CompactFunc(replayed, func(a, b store.Point) bool { return a.Time.Equal(b.Time) })
		again := make([]float64, len(replayed))
		for i, p := range replayed {
			again[i] = p.Value
		}
		one, back := total(vs), total(again)
		if !near(back.Increase, one.Increase) || back.Resets != one.Resets || aggregated(replayed) != aggregated(pts) {
			t.Logf("seed %d: replayed %v, %d resets; want %v, %d", seed, back.Increase, back.Resets, one.Increase, one.Resets)
			return false
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 300}); err != nil {
		t.Error(err)
	}
}
