package store

import (
	"strings"
)

// DeviceConds are the conditions of a device filter on the devices table,
// as every SQL engine writes them: LOWER and LIKE with \ escaping the
// wildcards that a search holds.
func DeviceConds(f DeviceFilter) Conds {
	var c Conds
	for _, col := range []struct{ name, v string }{{"customer", f.Customer}, {"sensor", f.Sensor}, {"device", f.Device}} {
		if col.v != "" {
			c.add(col.name+" = ?", col.v)
		}
	}
	c.in(f.Customers)
	if f.Search != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(f.Search)) + "%"
		var ors []string
		for _, col := range []string{"device", "name", "customer", "sensor", "gateway"} {
			ors = append(ors, "LOWER("+col+`) LIKE ? ESCAPE '\'`)
			c.Args = append(c.Args, like)
		}
		for _, k := range f.SearchAlso[:min(len(f.SearchAlso), 500)] {
			ors = append(ors, "(customer = ? AND sensor = ? AND device = ?)")
			c.Args = append(c.Args, k.Customer, k.Sensor, k.Device)
		}
		c.Where = append(c.Where, "("+strings.Join(ors, " OR ")+")")
	}
	if !f.SeenBefore.IsZero() {
		c.add("last_seen < ?", f.SeenBefore.UnixMilli())
	}
	if f.Losing {
		c.Where = append(c.Where, "lost > 0")
	}
	if f.Firing {
		c.Where = append(c.Where, `EXISTS (SELECT 1 FROM alerts a WHERE a.state = 'firing'
			AND a.customer = devices.customer AND a.sensor = devices.sensor AND a.device = devices.device)`)
	}
	return c
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// DeviceOrder is the ORDER BY of a device filter: its sort, then the
// device's key, so that pages do not overlap.
func DeviceOrder(f DeviceFilter) string {
	key := "customer, sensor, device"
	col := map[string]string{"kind": "sensor", "device": "device", "name": "name", "last_seen": "last_seen", "lost": "lost"}[f.Sort]
	dir := ""
	if f.Desc {
		dir = " DESC"
	}
	if col == "" {
		if f.Desc {
			return "customer DESC, sensor DESC, device DESC"
		}
		return key
	}
	return col + dir + ", " + key
}
