package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// FieldError is one problem in the configuration, with the dotted path of
// the field and, when the file sets it, its line.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

type validator struct {
	f    *File
	errs []error
}

// name checks the name of one of a list of things (a rule, a report):
// not empty, without '/' or spaces, and not taken by one before it.
func (v *validator) name(field, what, name string, seen map[string]bool) {
	switch {
	case name == "" || strings.ContainsAny(name, "/ \t"):
		v.add(field, "%q: a %s needs a name without '/' or spaces", name, what)
	case seen[name]:
		v.add(field, "%s %q is defined twice", what, name)
	}
	seen[name] = true
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, v.f.Errorf(field, format, args...))
}

// Errorf makes the error of a field, with the line the file sets it on.
// f may be nil: the error then has no place.
func (f *File) Errorf(field, format string, args ...any) *FieldError {
	e := &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Line: f.Line(field)}
	if f != nil {
		e.File = f.Path
	}
	return e
}

// Validate checks the whole configuration and returns every problem found,
// each naming its field (and line, when f is the file it came from).
func (c *Config) Validate(f *File) error {
	v := &validator{f: f}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		v.add("timezone", "unknown time zone %q (use an IANA name such as Europe/Brussels)", c.Timezone)
	}
	if len(c.Customers) == 0 {
		v.add("customers", "at least one customer is needed: messages of other customers are rejected")
	}
	if c.Memory != 0 && c.Memory < 64<<20 {
		v.add("memory", "%s is too little for sensorhub (at least 64MiB; 0 for no limit)", c.Memory)
	}
	for i, cu := range c.Customers {
		if strings.TrimSpace(cu) == "" {
			v.add(fmt.Sprintf("customers.%d", i), "empty customer name")
		}
	}
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	v.address("http.listen", c.HTTP.Listen)
	c.validateAuth(v)
	if c.HTTP.MaxBody <= 0 {
		v.add("http.max_body", "must be positive")
	}
	c.validateMQTT(v)
	switch c.Queue.Engine {
	case "embedded":
	case "nats":
		if c.Queue.URL == "" && len(c.Queue.URLs) == 0 {
			v.add("queue.url", "required when queue.engine is nats (for example nats://127.0.0.1:4222), or queue.urls for a cluster")
		}
		natsURL := func(at, u string) {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
				v.add(at, "%q is not a nats://host:port or tls://host:port URL", u)
			}
		}
		if c.Queue.URL != "" {
			natsURL("queue.url", c.Queue.URL)
		}
		for i, u := range c.Queue.URLs {
			natsURL(fmt.Sprintf("queue.urls.%d", i), u)
		}
	case "activemq":
		if p, err := url.Parse(c.Queue.URL); err != nil || (p.Scheme != "stomp" && p.Scheme != "stomp+ssl") || p.Host == "" {
			v.add("queue.url", "%q is not a stomp://host:61613 or stomp+ssl://host:61614 URL (required when queue.engine is activemq)", c.Queue.URL)
		}
	default:
		v.add("queue.engine", "%q is not one of embedded, nats, activemq", c.Queue.Engine)
	}
	if c.Queue.Replicas != 1 && c.Queue.Replicas != 3 && c.Queue.Replicas != 5 {
		v.add("queue.replicas", "%d is not one of 1, 3, 5", c.Queue.Replicas)
	}
	if c.Queue.Prefix == "" || strings.ContainsAny(c.Queue.Prefix, ".*> \t") {
		v.add("queue.prefix", "%q must be a non-empty word without '.', '*', '>' or spaces", c.Queue.Prefix)
	}
	if c.Queue.RawMaxAge < time.Minute {
		v.add("queue.raw_max_age", "%s is too short to replay anything (at least 1m)", c.Queue.RawMaxAge)
	}
	if c.Queue.ReadingsMaxAge < time.Minute {
		v.add("queue.readings_max_age", "%s is too short (at least 1m)", c.Queue.ReadingsMaxAge)
	}
	switch c.Store.Engine {
	case "sqlite":
	case "postgres":
		if p, err := url.Parse(c.Store.URL); err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
			v.add("store.url", "%q is not a postgres://user:password@host:5432/database URL (required when store.engine is postgres)", c.Store.URL)
		}
	default:
		v.add("store.engine", "%q is not one of sqlite, postgres", c.Store.Engine)
	}
	if c.Store.CompactRows < 1 || c.Store.CompactRows > 1<<15 {
		v.add("store.compact_rows", "%d is out of range 1..32768", c.Store.CompactRows)
	}
	c.validateRetention(v)
	if b := c.Store.Backup; b.Every != 0 {
		if b.Every < time.Minute {
			v.add("store.backup.every", "%s is too short (at least 1m, or 0 for no scheduled backup)", b.Every)
		}
		if b.Keep < 1 {
			v.add("store.backup.keep", "%d: keep at least one backup", b.Keep)
		}
		if c.Store.Engine == "postgres" {
			v.add("store.backup", "scheduled backups are of the SQLite store; back PostgreSQL up with pg_dump or base backups (README, Backups)")
		}
	}
	if c.Store.CompactAge < time.Second {
		v.add("store.compact_age", "%s is too short (at least 1s)", c.Store.CompactAge)
	}
	c.validateElasticsearch(v)
	for _, l := range []struct {
		name     string
		v, least int
	}{{"ingest.max_depth", c.Ingest.MaxDepth, 1}, {"ingest.max_fields", c.Ingest.MaxFields, 8}, {"ingest.max_topic", c.Ingest.MaxTopic, 16}} {
		if l.v < l.least {
			v.add(l.name, "%d is too small (at least %d)", l.v, l.least)
		}
	}
	if c.Ingest.MaxPayload < 256 {
		v.add("ingest.max_payload", "%d bytes is too small for a device message (at least 256)", c.Ingest.MaxPayload)
	}
	if c.Ingest.MaxPayload > MaxPayloadLimit {
		v.add("ingest.max_payload", "%s is more than the queue carries (at most %s)", c.Ingest.MaxPayload, ByteSize(MaxPayloadLimit))
	}
	if c.Ingest.MaxClockSkew < time.Minute {
		v.add("ingest.max_clock_skew", "%s is too short for devices' clocks (at least 1m)", c.Ingest.MaxClockSkew)
	}
	if c.Ingest.BatchSize < 1 || c.Ingest.BatchSize > 10000 {
		v.add("ingest.batch_size", "%d is out of range 1..10000", c.Ingest.BatchSize)
	}
	if c.Ingest.BatchWait <= 0 || c.Ingest.BatchWait > 10*time.Second {
		v.add("ingest.batch_wait", "%s is out of range (0s, 10s]", c.Ingest.BatchWait)
	}
	c.validateSensors(v)
	c.validateInputs(v)
	c.validateModbus(v)
	c.validateDevices(v)
	c.validateAlerts(v)
	c.validateReports(v)
	c.validateBaselines(v)
	c.validateMoney(v)
	c.validateCompressors(v)
	c.validateBranding(v)
	return errors.Join(v.errs...)
}

func (v *validator) address(field, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		v.add(field, "%q is not a host:port address", addr)
	}
}

func (c *Config) validateMQTT(v *validator) {
	m := c.MQTT
	if m.Broker == "builtin" {
		v.address("mqtt.listen", m.Listen)
	} else {
		u, err := url.Parse(m.Broker)
		switch {
		case err != nil || u.Host == "":
			v.add("mqtt.broker", "%q is neither builtin nor a broker URL such as tcp://host:1883", m.Broker)
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "ws" && u.Scheme != "wss":
			v.add("mqtt.broker", "scheme %q is not one of tcp, ssl, tls, mqtt, mqtts, ws, wss", u.Scheme)
		}
		if m.ClientID == "" && !m.CleanSession {
			v.add("mqtt.client_id", "a persistent session (clean_session: false) needs a fixed client_id")
		}
	}
	if len(c.SubscribedTopics()) == 0 {
		v.add("mqtt.topics", "at least one topic filter is needed (here or in an input's topics)")
	}
	for i, t := range m.Topics {
		if !validFilter(t) {
			v.add(fmt.Sprintf("mqtt.topics.%d", i), "%q is not a valid MQTT topic filter", t)
		}
	}
	if m.QoS != 0 && m.QoS != 1 {
		v.add("mqtt.qos", "%d is not 0 or 1", m.QoS)
	}
	if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
		v.add("mqtt.tls", "cert_file and key_file go together")
	}
	if m.Builtin.MaxInflight == 0 {
		v.add("mqtt.builtin.max_inflight", "must be positive")
	}
	if p := m.Builtin.MaxPacket; p < 1<<10 || p > 256<<20 {
		v.add("mqtt.builtin.max_packet", "%s is out of range 1 KiB..256 MiB", p)
	}
	if m.Builtin.MaxPendingWrites <= 0 {
		v.add("mqtt.builtin.max_pending_writes", "must be positive")
	}
	c.validateBrokerUsers(v)
	if t := m.Builtin.TLS; t != (BrokerTLS{}) {
		v.address("mqtt.builtin.tls.listen", t.Listen)
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.add("mqtt.builtin.tls.cert_file", "cannot load the certificate and key (cert_file, key_file): %v", err)
		}
	}
}

func validFilter(f string) bool {
	if f == "" {
		return false
	}
	parts := strings.Split(f, "/")
	for i, p := range parts {
		if strings.Contains(p, "#") && (p != "#" || i != len(parts)-1) {
			return false
		}
		if strings.Contains(p, "+") && p != "+" {
			return false
		}
	}
	return true
}

func (c *Config) validateDevices(v *validator) {
	for _, key := range slices.Sorted(maps.Keys(c.Devices)) {
		at := "devices." + key
		parts := strings.Split(key, "/")
		switch {
		case len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "":
			v.add(at, "%q: a device is named customer/sensor/device", key)
		case !slices.Contains(c.Customers, parts[0]):
			v.add(at, "%q is not one of the customers %v", parts[0], c.Customers)
		case c.Sensors[parts[1]] == nil:
			v.add(at, "%q is not a sensor kind (%s)", parts[1], strings.Join(c.SensorNames(), ", "))
		case c.Devices[key] == nil:
			v.add(at, "empty")
		}
	}
}

// validateInputs checks what every input has: a format, topics, and
// sensor kinds that are configured; package input checks each format's
// own settings (plan.Check).
func (c *Config) validateInputs(v *validator) {
	for i, in := range c.Inputs {
		at := fmt.Sprintf("inputs.%d", i)
		if in.Format == "" {
			v.add(at+".format", "an input needs a format")
		}
		if len(in.Topics) == 0 {
			v.add(at+".topics", "an input reads at least one topic filter")
		}
		for j, t := range in.Topics {
			if !validFilter(t) {
				v.add(fmt.Sprintf("%s.topics.%d", at, j), "%q is not a valid MQTT topic filter", t)
			}
		}
		if in.Sensor != "" && c.Sensors[in.Sensor] == nil {
			v.add(at+".sensor", "%q is not a sensor kind (sensors: %s)", in.Sensor, strings.Join(c.SensorNames(), ", "))
		}
		for _, dev := range slices.Sorted(maps.Keys(in.Devices)) {
			if k := in.Devices[dev]; c.Sensors[k] == nil {
				v.add(at+".devices."+dev, "%q is not a sensor kind (sensors: %s)", k, strings.Join(c.SensorNames(), ", "))
			}
		}
	}
}

func (c *Config) validateSensors(v *validator) {
	if len(c.Sensors) == 0 {
		v.add("sensors", "at least one sensor kind is needed")
	}
	for _, name := range c.SensorNames() {
		s := c.Sensors[name]
		at := "sensors." + name
		if s == nil {
			v.add(at, "empty sensor definition")
			continue
		}
		if strings.ContainsAny(name, ".*> \t/") {
			v.add(at, "sensor name %q must not contain '.', '*', '>', '/' or spaces", name)
		}
		m := s.Match
		if m.Field == "" && m.Topic == "" {
			v.add(at+".match", "give field (with equals) or topic, or both")
		}
		if m.Field != "" && m.Equals == "" {
			v.add(at+".match.equals", "required with match.field")
		}
		if m.Topic != "" && !validFilter(m.Topic) {
			v.add(at+".match.topic", "%q is not a valid MQTT topic filter", m.Topic)
		}
		for i, p := range s.Dashboard.Panels {
			at := fmt.Sprintf("%s.dashboard.panels.%d", at, i)
			if !slices.Contains(PanelTypes, p.Type) {
				v.add(at+".type", "%q is not one of %s", p.Type, strings.Join(PanelTypes, ", "))
			}
			if len(p.Fields) == 0 {
				v.add(at+".fields", "a panel shows at least one field")
			}
		}
		if l := s.Leak; l != nil {
			if l.Pressure == "" || l.Opening == "" {
				v.add(at+".leak", "pressure and opening name the fields compared")
			}
			validateLeakMethod(v, at+".leak", l.LeakMethod)
			for dev, p := range l.Devices {
				validateLeakMethod(v, at+".leak.devices."+dev, p.LeakMethod)
				if p.VolumeL <= 0 || p.AtmosphericBar <= 0 || p.CostPerNm3 < 0 {
					v.add(at+".leak.devices."+dev, "volume_l and atmospheric_bar must be positive, cost_per_nm3 not negative")
				}
			}
			if l.VolumeL <= 0 || l.AtmosphericBar <= 0 || l.CostPerNm3 < 0 {
				v.add(at+".leak", "volume_l and atmospheric_bar must be positive, cost_per_nm3 not negative")
			}
		}
		seen := map[string]bool{}
		for i, k := range s.Keep {
			if k == "" || seen[k] {
				v.add(fmt.Sprintf("%s.keep.%d", at, i), "empty or repeated field %q", k)
			}
			seen[k] = true
		}
	}
}

// IsCounter reports whether field is a declared counter of the sensor kind.
func (c *Config) IsCounter(sensor, field string) bool {
	s := c.Sensors[sensor]
	return s != nil && slices.Contains(s.Counters, field)
}

// SensorNames returns the sensor kinds in a stable order.
func (c *Config) SensorNames() []string {
	names := make([]string, 0, len(c.Sensors))
	for n := range c.Sensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Location returns the configured time zone; Validate has checked it.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func (c *Config) validateBrokerUsers(v *validator) {
	seen := map[string]bool{}
	for i, u := range c.MQTT.Builtin.Users {
		at := fmt.Sprintf("mqtt.builtin.users.%d", i)
		switch {
		case u.Username == "":
			v.add(at+".username", "empty username")
		case seen[u.Username]:
			v.add(at+".username", "%q is given twice", u.Username)
		}
		seen[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			v.add(at+".password_hash", "not a bcrypt hash (make one with: sensorhub hash-password): %v", err)
		}
		if !slices.Contains(c.Customers, u.Customer) {
			v.add(at+".customer", "%q is not one of customers %v", u.Customer, c.Customers)
		}
		for j, t := range u.Topics {
			if !validFilter(t) {
				v.add(fmt.Sprintf("%s.topics.%d", at, j), "%q is not a topic filter", t)
			}
		}
	}
}

// BrokerUsers are the built-in broker's logins, each with its topics (by
// default, its customer's).
func (c *Config) BrokerUsers() []BrokerUser {
	out := make([]BrokerUser, len(c.MQTT.Builtin.Users))
	for i, u := range c.MQTT.Builtin.Users {
		if len(u.Topics) == 0 {
			u.Topics = []string{u.Customer + "/#"}
		}
		out[i] = u
	}
	return out
}

func (c *Config) validateAuth(v *validator) {
	a := c.Auth
	ids := map[string]bool{}
	for i, tk := range a.Tokens {
		at := fmt.Sprintf("auth.tokens.%d", i)
		switch {
		case tk.ID == "" || ids[tk.ID]:
			v.add(at+".id", "%q: a token needs an id of its own", tk.ID)
		case tk.Hash == "":
			v.add(at+".hash", "token %s has no hash", tk.ID)
		case tk.Customer != "" && !slices.Contains(c.Customers, tk.Customer):
			v.add(at+".customer", "%q is not one of the customers %v", tk.Customer, c.Customers)
		}
		ids[tk.ID] = true
	}
	// The users, the users file and the users of tokens are checked where
	// the plan is compiled (plan.Check), with package auth.
	if a.SessionLifetime <= 0 || a.SessionIdle <= 0 {
		v.add("auth.session_lifetime", "session_lifetime and session_idle must be positive")
	}
	if a.LoginsPerMinute < 1 {
		v.add("auth.logins_per_minute", "must be at least 1")
	}
	if t := c.HTTP.TLS; t != (HTTPTLS{}) {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.add("http.tls.cert_file", "cannot load the certificate and key (cert_file, key_file): %v", err)
		}
	}
	if c.HTTP.MaxStreamsPerUser < 1 {
		v.add("http.max_streams_per_user", "must be at least 1")
	}
	if c.HTTP.MaxConnections < 16 {
		v.add("http.max_connections", "%d is too few (at least 16)", c.HTTP.MaxConnections)
	}
	if pr := c.HTTP.Prometheus; pr.LookbackDelta < time.Second {
		v.add("http.prometheus.lookback_delta", "%s is below 1s", pr.LookbackDelta)
	}
	if pr := c.HTTP.Prometheus; pr.Timeout < time.Second {
		v.add("http.prometheus.timeout", "%s is below 1s", pr.Timeout)
	}
	if c.HTTP.Prometheus.MaxSamples < 1 {
		v.add("http.prometheus.max_samples", "must be at least 1")
	}
	if c.HTTP.Prometheus.MaxConcurrent < 1 {
		v.add("http.prometheus.max_concurrent", "must be at least 1")
	}
}

// AuthOn reports whether the web server asks who is there: users are
// configured, or a users file is.
func (c *Config) AuthOn() bool { return len(c.Auth.Users) > 0 || c.Auth.UsersFile != "" }

// QueueURLs are the NATS servers to connect to.
func (c *Config) QueueURLs() []string {
	var out []string
	if c.Queue.URL != "" {
		out = append(out, c.Queue.URL)
	}
	return append(out, c.Queue.URLs...)
}

func (c *Config) validateElasticsearch(v *validator) {
	es := c.Elasticsearch
	for i, u := range es.URLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			v.add(fmt.Sprintf("elasticsearch.urls.%d", i), "%q is not an http(s)://host:9200 URL", u)
		}
	}
	if len(es.URLs) == 0 {
		return
	}
	if es.FlushBytes < 1<<10 {
		v.add("elasticsearch.flush_bytes", "%d bytes is too small (at least 1KiB)", es.FlushBytes)
	}
	if es.FlushInterval <= 0 {
		v.add("elasticsearch.flush_interval", "must be positive")
	}
}

// StoreName says where the store is, for the log: the SQLite file, or
// the PostgreSQL server and database (without the password).
func (c *Config) StoreName() string {
	if c.Store.Engine == "postgres" {
		if u, err := url.Parse(c.Store.URL); err == nil {
			return "postgres://" + u.Host + u.Path
		}
		return "postgres"
	}
	return c.StorePath()
}

// StorePath is the SQLite file's path.
func (c *Config) StorePath() string {
	if c.Store.Path != "" {
		return c.Store.Path
	}
	return filepath.Join(c.DataDir, "sensorhub.db")
}

// validateRetention checks that each age keeps at least a day and that
// aggregates are kept at least as long as what they sum up.
func (c *Config) validateRetention(v *validator) {
	r := &c.Store.Retention
	if r.Every < time.Minute {
		v.add("store.retention.every", "%s is too short (at least 1m)", r.Every)
	}
	check := func(at string, a Ages) {
		for name, age := range map[string]Age{"raw": a.Raw, "hourly": a.Hourly, "daily": a.Daily} {
			if age > 0 && age < Day {
				v.add(at+name, "%s is too short: data is removed by whole days (at least 1d)", age)
			}
		}
	}
	longer := func(at string, a Ages) {
		keep := func(x Age) time.Duration {
			if x <= 0 {
				return 1<<63 - 1
			}
			return x.Duration()
		}
		if a.Raw <= 0 {
			// Readings kept forever: no aggregate is ever made.
			return
		}
		if keep(a.Hourly) < keep(a.Raw) {
			v.add(at+"hourly", "%s keeps hourly aggregates for less time than the readings (%s) they sum up", a.Hourly, a.Raw)
		}
		if keep(a.Daily) < keep(a.Hourly) {
			v.add(at+"daily", "%s keeps daily aggregates for less time than the hourly ones (%s)", a.Daily, a.Hourly)
		}
	}
	check("store.retention.", r.Ages)
	longer("store.retention.", r.Ages)
	for _, age := range []struct {
		name string
		a    Age
	}{{"rejected", r.Rejected}, {"alerts", r.Alerts}, {"audit", r.Audit}} {
		if age.a > 0 && age.a < Day {
			v.add("store.retention."+age.name, "%s is too short (at least 1d)", age.a)
		}
	}
	for cu, a := range r.Customers {
		at := "store.retention.customers." + cu + "."
		v.customer(c, "store.retention.customers."+cu, cu)
		check(at, a)
		longer(at, r.For(cu, ""))
	}
	for kind, a := range r.Sensors {
		at := "store.retention.sensors." + kind + "."
		if c.Sensors[kind] == nil {
			v.add("store.retention.sensors."+kind, "unknown sensor kind %q (use one of %s)", kind, strings.Join(c.SensorNames(), ", "))
		}
		check(at, a)
		longer(at, r.For("", kind))
	}
}

// customer checks that name is one of the configuration's customers.
func (v *validator) customer(c *Config, field, name string) {
	if !slices.Contains(c.Customers, name) {
		v.add(field, "%q is not one of the customers %v", name, c.Customers)
	}
}
