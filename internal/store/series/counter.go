package series

// JitterShare is the share of a counter's previous value under which a
// drop is jitter, not a reset: meters, gateways and replays step a counter
// back by a little (49262.5 then 49262.4) without it having restarted.
// VictoriaMetrics draws the line at the same eighth.
const JitterShare = 1.0 / 8

// IsReset reports whether a counter that read prev and then v restarted
// from zero: it dropped by at least JitterShare of prev. A smaller drop is
// jitter.
func IsReset(prev, v float64) bool {
	return v < prev && prev-v >= prev*JitterShare
}

// CounterIncrease is how much a counter grew from prev to v, taken alone:
// a reset's new value is the increase (the counter restarted from zero),
// jitter adds nothing. Across more than two values, Counter also keeps
// the highest value as the baseline after jitter.
func CounterIncrease(prev, v float64) float64 {
	var c Counter
	c.Add(prev)
	inc, _ := c.Add(v)
	return inc
}

// Counter is what a counter's values add up to, in time order, kept so
// that two Counters of consecutive values merge into the Counter of them
// all: every counter increase in sensorhub (series, day summaries,
// rollups, reports) is this one rule.
//
// The rule: a value that drops by at least JitterShare of the value before
// it is a reset, and counts whole (the counter restarted from zero); a
// smaller drop is jitter and counts nothing; otherwise a value counts by
// how much it passes the baseline, the highest value since the last reset
// (so 100, 99.9, 100.5 increase by 0.5, not 0.6).
type Counter struct {
	N           int64
	First, Last float64
	// Peak is the highest value before the first reset; Top the highest
	// since the last one, the baseline of what follows.
	Peak, Top float64
	Increase  float64
	Resets    int64
}

// Point is the Counter of one value.
func Point(v float64) Counter {
	return Counter{N: 1, First: v, Last: v, Peak: v, Top: v}
}

// Add adds a later value: it returns the increase the value makes and
// whether it is a reset.
func (c *Counter) Add(v float64) (inc float64, reset bool) {
	resets := c.Resets
	inc = c.Merge(Point(v))
	return inc, c.Resets > resets
}

// Merge adds the Counter of later values and returns the increase they
// add, the step from c's last value to o's first included.
func (c *Counter) Merge(o Counter) float64 {
	if o.N == 0 {
		return 0
	}
	if c.N == 0 {
		*c = o
		return o.Increase
	}
	var inc float64
	if IsReset(c.Last, o.First) {
		inc = o.First + o.Increase
		c.Resets += 1 + o.Resets
		c.Top = o.Top
	} else {
		// Before o's first reset, o counted from its first value; after
		// c, it counts from c's baseline. Resets do not depend on the
		// baseline, so the rest of o is as it counted it.
		base := c.Top
		inc = o.Increase - (o.Peak - o.First) + max(base, o.Peak) - base
		if c.Resets == 0 {
			c.Peak = max(c.Peak, o.Peak)
		}
		if o.Resets == 0 {
			c.Top = max(base, o.Top)
		} else {
			c.Top = o.Top
		}
		c.Resets += o.Resets
	}
	c.N += o.N
	c.Last = o.Last
	c.Increase += inc
	return inc
}
