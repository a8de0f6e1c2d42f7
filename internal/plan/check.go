package plan

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/elastic"
	"github.com/sensorhub/sensorhub/internal/input"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Check validates cfg as a whole: what package config knows of its
// settings (Config.Validate) and what only the packages that use them
// know (the users and their file, the series of a dashboard panel, the
// Elasticsearch index, the fields of a kind). Every problem names its
// field and, with the file cfg was read from (nil for none), its line.
func Check(cfg *config.Config, f *config.File) error {
	errs := unjoin(cfg.Validate(f))
	for _, check := range []func(*config.Config, *config.File) []error{checkSensors, checkInputs, checkModbus, checkAuth, checkElasticsearch, checkLeakFields, checkLocale} {
		errs = append(errs, check(cfg, f)...)
	}
	return errors.Join(errs...)
}

// checkLocale checks that the locale is one package locale writes.
func checkLocale(c *config.Config, f *config.File) []error {
	if _, err := locale.Parse(c.Locale); err != nil {
		return []error{f.Errorf("locale", "%v", err)}
	}
	return nil
}

// checkSensors checks what the series and formulas know of a kind: its
// panels' aggregations and steps, and that its counters are fields.
func checkSensors(c *config.Config, f *config.File) []error {
	var errs []error
	for _, name := range c.SensorNames() {
		s := c.Sensors[name]
		if s == nil {
			continue
		}
		at := "sensors." + name
		for i, p := range s.Dashboard.Panels {
			at := fmt.Sprintf("%s.dashboard.panels.%d", at, i)
			for j, a := range append([]string{p.Agg}, p.Aggs...) {
				if a != "" && !slices.Contains(series.Aggregations, a) {
					errs = append(errs, f.Errorf(fmt.Sprintf("%s.aggs.%d", at, j), "%q is not one of %s", a, strings.Join(series.Aggregations, ", ")))
				}
			}
			if _, err := series.ParseStep(p.Step); err != nil {
				errs = append(errs, f.Errorf(at+".step", "%v", err))
			}
		}
		stored := StoredFields(s)
		for i, field := range s.Counters {
			if stored != nil && !slices.Contains(stored, field) && s.Derive[field] == "" {
				errs = append(errs, f.Errorf(fmt.Sprintf("%s.counters.%d", at, i), "%q is neither kept nor derived", field))
			}
		}
	}
	return errs
}

// checkInputs checks what each input's format knows of its settings,
// and the payload decoders the kinds name.
func checkInputs(c *config.Config, f *config.File) []error {
	var errs []error
	for i, in := range c.Inputs {
		for _, p := range input.Check(in) {
			errs = append(errs, f.Errorf(fmt.Sprintf("inputs.%d.%s", i, p.Field), "%s", p.Msg))
		}
	}
	for _, name := range c.SensorNames() {
		if s := c.Sensors[name]; s != nil && s.PayloadDecoder != "" && input.PayloadDecoders[s.PayloadDecoder] == nil {
			errs = append(errs, f.Errorf("sensors."+name+".payload_decoder", "%q is not one of %s", s.PayloadDecoder,
				strings.Join(slices.Sorted(maps.Keys(input.PayloadDecoders)), ", ")))
		}
	}
	return errs
}

// checkModbus checks the register maps of the Modbus devices and of
// modbus.maps.
func checkModbus(c *config.Config, f *config.File) []error {
	var errs []error
	for i, d := range c.Modbus.Devices {
		for _, p := range modbus.CheckDevice(d, c.Modbus.Maps) {
			errs = append(errs, f.Errorf(fmt.Sprintf("modbus.devices.%d.%s", i, p.Field), "%s", p.Msg))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Modbus.Maps)) {
		for _, p := range modbus.CheckMap("modbus.maps."+name, c.Modbus.Maps[name]) {
			errs = append(errs, f.Errorf(p.Field, "%s", p.Msg))
		}
	}
	return errs
}

// checkAuth checks the users, those of the users file, the users of the
// tokens, and that a server reachable from other machines asks who is
// there.
func checkAuth(c *config.Config, f *config.File) []error {
	var errs []error
	a := c.Auth
	names := map[string]bool{}
	for i, u := range a.Users {
		if err := auth.CheckUser(&u, c.Customers); err != nil {
			// Each problem on its key: "role \"boss\" is not...".
			for _, line := range strings.Split(err.Error(), "\n") {
				at := fmt.Sprintf("auth.users.%d", i)
				if key, _, _ := strings.Cut(line, " "); slices.Contains([]string{"username", "password_hash:", "role", "customers:"}, key) {
					at += "." + strings.TrimSuffix(key, ":")
				}
				errs = append(errs, f.Errorf(at, "%s", line))
			}
		}
		names[u.Username] = true
	}
	users := len(a.Users)
	if a.UsersFile != "" {
		file, err := auth.LoadFile(a.UsersFile)
		if err != nil {
			errs = append(errs, f.Errorf("auth.users_file", "%v", err))
		} else {
			for i, u := range file.Users {
				// Its customers may be the catalog's: the running sensorhub
				// checks them against those in force.
				if err := auth.CheckUser(&u, nil); err != nil {
					errs = append(errs, f.Errorf("auth.users_file", "%s, user %d (%s): %v", a.UsersFile, i+1, u.Username, strings.ReplaceAll(err.Error(), "\n", "; ")))
				}
				// On the other user: one of the catalog is then left out,
				// not the whole plan.
				if j := slices.IndexFunc(a.Users, func(o config.User) bool { return o.Username == u.Username }); j >= 0 {
					errs = append(errs, f.Errorf(fmt.Sprintf("auth.users.%d.username", j), "user %q is also in the users file %s", u.Username, a.UsersFile))
				}
				names[u.Username] = true
			}
			users += len(file.Users)
		}
	}
	for i, tk := range a.Tokens {
		if tk.ID != "" && tk.Hash != "" && tk.Customer == "" && !names[tk.User] {
			errs = append(errs, f.Errorf(fmt.Sprintf("auth.tokens.%d.user", i), "token %s: %q is not a user (of auth.users or the users file)", tk.ID, tk.User))
		}
	}
	if users == 0 && !loopback(c.HTTP.Listen) {
		errs = append(errs, f.Errorf("http.listen", "%q is reachable from other machines, and without users everyone who reaches it is an admin: "+
			"add users (auth.users, or auth.users_file with sensorhub user add), or listen on 127.0.0.1", c.HTTP.Listen))
	}
	return errs
}

// loopback reports whether addr listens on the loopback interface only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // reported as a bad address
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkElasticsearch(c *config.Config, f *config.File) []error {
	if len(c.Elasticsearch.URLs) == 0 {
		return nil
	}
	if err := elastic.CheckIndex(c.Elasticsearch.Index); err != nil {
		return []error{f.Errorf("elasticsearch.index", "%v", err)}
	}
	return nil
}
