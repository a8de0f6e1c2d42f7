package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// MarshalJSON writes a point as [unix milliseconds, value].
func (p Point) MarshalJSON() ([]byte, error) {
	return []byte("[" + strconv.FormatInt(p.Time.UnixMilli(), 10) + "," +
		strconv.FormatFloat(p.Value, 'g', -1, 64) + "]"), nil
}

// UnmarshalJSON reads a point written by MarshalJSON.
func (p *Point) UnmarshalJSON(b []byte) error {
	var pair [2]float64
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("point: want [ms, value]: %w", err)
	}
	p.Time, p.Value = time.UnixMilli(int64(pair[0])).UTC(), pair[1]
	return nil
}
