// Package config holds sensorhub's configuration: the built-in defaults, the
// loading of one YAML file over them, and its validation.
package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. The zero value is not useful: start from
// Default() or Load().
type Config struct {
	// Timezone is the zone of the devices' zone-less Time and of day
	// boundaries in queries.
	Timezone string `yaml:"timezone"`
	// Locale is how pages, reports, e-mails and CSV files write numbers
	// and dates, a BCP 47 tag such as fr-BE (package locale).
	Locale string `yaml:"locale"`
	// Customers are the tenants whose messages are accepted.
	Customers []string `yaml:"customers"`
	// DataDir holds the embedded queue's and store's files.
	DataDir string `yaml:"data_dir"`
	// PublicURL is where people reach the web pages, for the links in
	// alert notifications, such as https://sensorhub.example.com.
	PublicURL string `yaml:"public_url"`
	// Memory is what a sensorhub process aims to stay within: the Go
	// runtime's memory limit (GOMEMLIMIT, unless the environment sets
	// it, and lower under a smaller cgroup limit) and the bound of the
	// store's caches come from it; 0 sets none (a cgroup's limit still
	// does).
	Memory ByteSize `yaml:"memory"`

	Log  Log  `yaml:"log"`
	HTTP HTTP `yaml:"http"`
	MQTT MQTT `yaml:"mqtt"`
	// Inputs say which format reads the messages of which topics; topics
	// no input names are read as the Finemeca gateways' flat JSON.
	Inputs []Input `yaml:"inputs,omitempty"`
	// Modbus are the Modbus TCP devices the gateway polls.
	Modbus  Modbus             `yaml:"modbus,omitempty"`
	Queue   Queue              `yaml:"queue"`
	Store   Store              `yaml:"store"`
	Ingest  Ingest             `yaml:"ingest"`
	Sensors map[string]*Sensor `yaml:"sensors"`
	Alerts  Alerts             `yaml:"alerts"`
	// Reports are sent by e-mail on a schedule.
	Reports []ReportSchedule `yaml:"reports,omitempty"`
	// Baselines are energy baselines the reports compare with.
	Baselines []Baseline `yaml:"baselines,omitempty"`
	// Branding is the customers' names and logos on reports' PDF.
	Branding Branding `yaml:"branding,omitempty"`
	// Devices are what people say of devices beside what they send, by
	// "customer/sensor/device".
	Devices map[string]*DeviceMeta `yaml:"devices,omitempty"`
	Auth    Auth                   `yaml:"auth"`
	// Money are the prices of energy and compressed air and the CO2 of a
	// kWh; nil shows no costs.
	Money *Money `yaml:"money,omitempty"`
	// Compressors pair a compressor's power meter with its air flow, for
	// its specific power (compressors.go).
	Compressors []Compressor `yaml:"compressors,omitempty"`

	Elasticsearch Elasticsearch `yaml:"elasticsearch"`
}

// Alerts are the alert rules and who they tell.
type Alerts struct {
	// EvaluateEvery is how often silences, pending alerts and repeats are
	// checked; readings are evaluated as they come.
	EvaluateEvery time.Duration `yaml:"evaluate_every"`
	// FailoverAfter is how long the alert processes standing by wait for
	// the one evaluating (the holder of the alert lease) before one takes
	// over, when it stops renewing it (killed, cut off from the store).
	FailoverAfter time.Duration `yaml:"failover_after"`
	// Notify are the notifiers of rules that name none.
	Notify []string `yaml:"notify"`
	// Notifiers by name.
	Notifiers map[string]*Notifier `yaml:"notifiers"`
	// Rules replace the built-in ones when the file gives any; with a
	// store, they add to the catalog's (package catalog).
	Rules []Rule `yaml:"rules"`
}

// AnySensor in a rule's sensor applies it to every sensor kind.
const AnySensor = "*"

// Rule is an alert rule as the configuration writes it (package alert
// compiles it).
type Rule struct {
	Name string `yaml:"name"`
	// Customer, when given, limits the rule to that customer's devices:
	// the rule is the customer's.
	Customer string `yaml:"customer,omitempty"`
	// Sensor is a sensor kind, or * for all.
	Sensor string `yaml:"sensor"`
	// Devices, when given, limits the rule to these device ids.
	Devices []string `yaml:"devices,omitempty"`
	// When is the condition, an expr-lang expression over the reading's
	// fields, such as "Pres < OpenPres".
	When string `yaml:"when,omitempty"`
	// For is how long When must hold before the alert fires.
	For time.Duration `yaml:"for,omitempty"`
	// ClearWhen resolves a firing alert; by default, !(When).
	ClearWhen string `yaml:"clear_when,omitempty"`
	// NoDataFor fires when the device sent nothing for that long.
	NoDataFor time.Duration `yaml:"no_data_for,omitempty"`
	Severity  string        `yaml:"severity"`
	// Notify names the notifiers told; empty means alerts.notify.
	Notify []string `yaml:"notify,omitempty"`
	// RepeatEvery re-notifies while firing and not acknowledged.
	RepeatEvery time.Duration `yaml:"repeat_every,omitempty"`
	// NotifyResolved tells people when the alert resolves (default true).
	NotifyResolved *bool `yaml:"notify_resolved,omitempty"`
	// Message is a text/template over .Rule, .State, .Device, .Name,
	// .Sensor, .Customer, .Values, .Units, .Time and .NoDataFor.
	Message string `yaml:"message,omitempty"`
}

// Notifier is an e-mail or webhook destination of alerts.
type Notifier struct {
	// Type is email or webhook.
	Type string `yaml:"type"`
	// Customer, when given, makes the notifier that customer's: it is
	// told of that customer's alerts and reports only.
	Customer string `yaml:"customer,omitempty"`

	// E-mail through SMTP (Amazon SES's SMTP interface included).
	Host     string   `yaml:"host,omitempty"`
	Port     int      `yaml:"port,omitempty"`
	Username string   `yaml:"username,omitempty"`
	Password string   `yaml:"password,omitempty"`
	From     string   `yaml:"from,omitempty"`
	To       []string `yaml:"to,omitempty"`
	// TLS is none, starttls or tls.
	TLS string `yaml:"tls,omitempty"`

	// Webhook: a JSON POST to URL, signed with Secret when set.
	URL    string `yaml:"url,omitempty"`
	Secret string `yaml:"secret,omitempty"`
	// Timeout bounds one webhook request.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// DeviceMeta is what people say of a device beside what it sends: the
// name shown instead of the one in its messages, and where it is.
type DeviceMeta struct {
	Name     string   `yaml:"name,omitempty" json:"name,omitempty"`
	Site     string   `yaml:"site,omitempty" json:"site,omitempty"`
	Line     string   `yaml:"line,omitempty" json:"line,omitempty"`
	Location string   `yaml:"location,omitempty" json:"location,omitempty"`
	Tags     []string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// DeviceName is the key of a device in Devices.
func DeviceName(customer, sensor, device string) string {
	return customer + "/" + sensor + "/" + device
}

// Meta is the metadata of a device; nil for none.
func (c *Config) Meta(customer, sensor, device string) *DeviceMeta {
	return c.Devices[DeviceName(customer, sensor, device)]
}

// NotifierTypes are the kinds of notifier.
var NotifierTypes = []string{"email", "webhook"}

// QueueNotifier is the built-in notifier that publishes every alert event
// to the queue's alerts stream.
const QueueNotifier = "queue"

// Log sets how sensorhub logs.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP is the web server: API, health, metrics.
type HTTP struct {
	Listen string `yaml:"listen"`
	// MaxBody limits the size of a POST /api/v1/ingest body.
	MaxBody ByteSize `yaml:"max_body"`
	// TLS serves HTTPS with these certificate and key files.
	TLS HTTPTLS `yaml:"tls,omitempty"`
	// TrustProxyHeaders takes the client's address from X-Forwarded-For,
	// behind a reverse proxy that sets it (and serves HTTPS).
	TrustProxyHeaders bool `yaml:"trust_proxy_headers"`
	// MaxStreamsPerUser bounds the live streams one user has open.
	MaxStreamsPerUser int `yaml:"max_streams_per_user"`
	// MaxConnections bounds the connections served at once; more wait
	// until one closes.
	MaxConnections int `yaml:"max_connections"`
	// Pprof serves Go's profiles under /debug/pprof/ to admins.
	Pprof bool `yaml:"pprof"`
	// Prometheus are the limits of the Prometheus query API
	// (/prometheus/api/v1/).
	Prometheus PrometheusAPI `yaml:"prometheus"`
}

// PrometheusAPI are the settings of the Prometheus query API.
type PrometheusAPI struct {
	// LookbackDelta is how far back an instant selector looks for a
	// sample: sensors reporting less often than this need more.
	LookbackDelta time.Duration `yaml:"lookback_delta"`
	// Timeout bounds one query.
	Timeout time.Duration `yaml:"timeout"`
	// MaxSamples bounds the samples one query holds in memory at once.
	MaxSamples int `yaml:"max_samples"`
	// MaxConcurrent bounds the queries evaluated at once; more wait for
	// one to end, within their timeout.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// DefaultPrometheusAPI are the Prometheus query API's settings unless
// configured: Prometheus' lookback delta and sample limit.
var DefaultPrometheusAPI = PrometheusAPI{LookbackDelta: 5 * time.Minute, Timeout: 30 * time.Second, MaxSamples: 50_000_000, MaxConcurrent: 8}

// HTTPTLS are the web server's certificate and key files.
type HTTPTLS struct {
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// User is a login of the web server and API (package auth checks it).
type User struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"password_hash"`
	Role         string   `yaml:"role"`
	Customers    []string `yaml:"customers,omitempty"`
}

// Token is an API token, kept as the hash of its secret. It acts as its
// user, or, with Customer set, may only ingest messages of that customer.
type Token struct {
	ID       string    `yaml:"id"`
	Hash     string    `yaml:"hash"`
	User     string    `yaml:"user,omitempty"`
	Customer string    `yaml:"customer,omitempty"`
	Created  time.Time `yaml:"created"`
	Note     string    `yaml:"note,omitempty"`
}

// Auth are the web server's and API's users and sessions.
type Auth struct {
	// Users are logins given in the configuration.
	Users []User `yaml:"users,omitempty"`
	// Tokens are API tokens given in the configuration (their hashes);
	// those made in Settings or with POST /api/v1/tokens are kept here
	// in the catalog.
	Tokens []Token `yaml:"tokens,omitempty"`
	// UsersFile holds more users and the API tokens, managed with
	// 'sensorhub user' and 'sensorhub token', read again when it changes.
	UsersFile string `yaml:"users_file,omitempty"`
	// SessionLifetime ends a session this long after login;
	// SessionIdle after this long without a request.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	SessionIdle     time.Duration `yaml:"session_idle"`
	// LoginsPerMinute bounds the login attempts of one client address.
	LoginsPerMinute int `yaml:"logins_per_minute"`
}

// MQTT is where devices' messages come from.
type MQTT struct {
	// Broker is "builtin" for the broker inside sensorhub, or the URL of an
	// external one: tcp://host:1883, ssl://host:8883, ws://, wss://.
	Broker string `yaml:"broker"`
	// Listen is the built-in broker's TCP address.
	Listen string `yaml:"listen"`
	// Topics are the filters the gateway takes messages from.
	Topics []string `yaml:"topics"`
	// QoS is the subscription QoS for an external broker: 0 or 1.
	QoS      int    `yaml:"qos"`
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CleanSession false (the default) keeps a persistent session, so the
	// broker holds messages for sensorhub while it restarts.
	CleanSession bool `yaml:"clean_session"`
	// ShareGroup, with an external broker, subscribes through the shared
	// subscription $share/<group>/<topic>: gateways of one group share the
	// messages instead of each getting all of them. Each gateway then needs
	// its own client_id (such as sensorhub-${HOSTNAME}).
	ShareGroup string  `yaml:"share_group,omitempty"`
	TLS        TLS     `yaml:"tls"`
	Builtin    Builtin `yaml:"builtin"`
}

// Input is a format and the MQTT topics it reads, with the format's
// settings (package input knows which each format takes).
type Input struct {
	// Format is finemeca, chirpstack, thethingsstack or sparkplug.
	Format string `yaml:"format"`
	// Topics are the MQTT topic filters the format reads; the gateway
	// subscribes to them beside mqtt.topics.
	Topics []string `yaml:"topics"`
	// Customer is the customer of the devices that do not name one.
	Customer string `yaml:"customer,omitempty"`
	// Sensor is the sensor kind of the devices that do not name one.
	Sensor string `yaml:"sensor,omitempty"`
	// Devices gives some devices their sensor kind, by device id.
	Devices map[string]string `yaml:"devices,omitempty"`
	// Separator joins the names of nested objects in a decoded payload
	// into one field name ("_" unless set).
	Separator string `yaml:"separator,omitempty"`
}

// SubscribedTopics are the topic filters the gateway takes messages
// from: mqtt.topics and those of the inputs, each once.
func (c *Config) SubscribedTopics() []string {
	out := slices.Clone(c.MQTT.Topics)
	for _, in := range c.Inputs {
		for _, t := range in.Topics {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// TLS configures the connection to an ssl:// broker.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Builtin tunes the built-in broker.
type Builtin struct {
	// MaxPendingWrites is how many messages the broker queues for one slow
	// subscriber before it drops. Every connection reserves room for them
	// when it connects (8 bytes each): 8,192 is 64 KiB a connection, where
	// 1,048,576 took 8 MiB, a gigabyte for 128 devices connected. Nothing
	// sensorhub stores goes through this queue (the gateway takes each
	// message as it arrives); only other programs subscribed to the
	// built-in broker can miss what they fall that far behind on.
	MaxPendingWrites int32 `yaml:"max_pending_writes"`
	// MaxInflight is the number of unacknowledged QoS 1 messages per client.
	MaxInflight uint16 `yaml:"max_inflight"`
	// MaxPacket is the largest MQTT packet accepted; a larger one is
	// refused at the broker. A message under it but over
	// ingest.max_payload is kept rejected as too large, with its first
	// bytes.
	MaxPacket ByteSize `yaml:"max_packet"`
	// AllowAnonymous lets clients connect without a username; off unless
	// set (the demo sets it).
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// Users are the broker's logins.
	Users []BrokerUser `yaml:"users,omitempty"`
	// TLS adds a listener for MQTT over TLS.
	TLS BrokerTLS `yaml:"tls,omitempty"`
}

// BrokerUser is a login of the built-in broker.
type BrokerUser struct {
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash: sensorhub hash-password makes one.
	PasswordHash string `yaml:"password_hash"`
	// Customer is the only customer the user may send for.
	Customer string `yaml:"customer"`
	// Topics are the topic filters the user may publish and subscribe to;
	// by default <customer>/#.
	Topics []string `yaml:"topics,omitempty"`
}

// BrokerTLS is the built-in broker's TLS listener.
type BrokerTLS struct {
	Listen   string `yaml:"listen,omitempty"`
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// Queue is the durable buffer between gateway and ingest.
type Queue struct {
	// Engine is "embedded" (NATS JetStream inside sensorhub, files under
	// data_dir), "nats" (an external NATS server or cluster at URL or URLs)
	// or "activemq" (an ActiveMQ broker over STOMP at URL,
	// stomp://host:61613 or stomp+ssl://host:61614).
	Engine string `yaml:"engine"`
	URL    string `yaml:"url"`
	// URLs are the servers of a NATS cluster; the client reconnects to
	// another when one goes away.
	URLs     []string `yaml:"urls,omitempty"`
	Username string   `yaml:"username,omitempty"`
	Password string   `yaml:"password,omitempty"`
	// Replicas is how many NATS cluster nodes keep each stream (1, 3 or 5).
	Replicas int `yaml:"replicas"`
	// Prefix names the streams: <PREFIX>_RAW, <PREFIX>_READINGS, and the
	// subjects <prefix>.raw, <prefix>.readings.
	Prefix string `yaml:"prefix"`
	// RawMaxAge and RawMaxBytes bound the raw stream's retention, which is
	// what can be replayed.
	RawMaxAge   time.Duration `yaml:"raw_max_age"`
	RawMaxBytes ByteSize      `yaml:"raw_max_bytes"`
	// ReadingsMaxAge bounds the readings stream's retention.
	ReadingsMaxAge time.Duration `yaml:"readings_max_age"`
}

// Store is where readings and rejected messages are kept.
type Store struct {
	// Engine is "sqlite" or "postgres".
	Engine string `yaml:"engine"`
	// Path is the SQLite file; empty means <data_dir>/sensorhub.db.
	Path string `yaml:"path"`
	// URL is the PostgreSQL database,
	// postgres://user:password@host:5432/sensorhub?sslmode=require.
	URL string `yaml:"url,omitempty"`
	// CompactRows and CompactAge fold a device's day of recent readings
	// into its compressed chunk once it has this many, or the oldest was
	// received this long ago.
	CompactRows int           `yaml:"compact_rows"`
	CompactAge  time.Duration `yaml:"compact_age"`
	// Retention says how long each kind of data is kept.
	Retention Retention `yaml:"retention"`
	// Backup makes copies of the SQLite store on a schedule.
	Backup Backup `yaml:"backup"`
	// MinFree is the free space of the data directory's disk below which
	// ingest holds messages in the queue (at most 5 % of the disk is
	// asked); 0 turns the floor off.
	MinFree ByteSize `yaml:"min_free"`
}

// Backup is the schedule of the SQLite store's backups (sensorhub backup
// makes one at any time).
type Backup struct {
	// Every is the time between two backups; 0 makes none.
	Every time.Duration `yaml:"every"`
	// Keep is how many backups are kept: the oldest go.
	Keep int `yaml:"keep"`
	// Dir is where they are written; empty means <data_dir>/backups.
	Dir string `yaml:"dir"`
}

// BackupDir is where scheduled backups are written.
func (c *Config) BackupDir() string {
	if c.Store.Backup.Dir != "" {
		return c.Store.Backup.Dir
	}
	return filepath.Join(c.DataDir, "backups")
}

// Retention is how long data is kept: readings, then their hourly and
// daily aggregates, per customer or sensor kind where they differ; and
// rejected messages and resolved alerts with their notifications. An age
// of 0 keeps forever.
type Retention struct {
	Ages `yaml:",inline"`
	// Rejected and Alerts are the ages of rejected messages and of
	// resolved alerts with their notifications.
	Rejected Age `yaml:"rejected"`
	Alerts   Age `yaml:"alerts"`
	// Audit is the age of the catalog's audit entries.
	Audit Age `yaml:"audit"`
	// Every is how often the retention job runs (it also runs at start).
	Every time.Duration `yaml:"every"`
	// Customers and Sensors override the ages, a customer's before a
	// kind's; an age left out is the one above.
	Customers map[string]Ages `yaml:"customers,omitempty"`
	Sensors   map[string]Ages `yaml:"sensors,omitempty"`
}

// Ages are how long a device's readings and their aggregates are kept.
type Ages struct {
	Raw    Age `yaml:"raw,omitempty"`
	Hourly Age `yaml:"hourly,omitempty"`
	Daily  Age `yaml:"daily,omitempty"`
}

// For is the ages of one device's data: the customer's overrides, else
// the sensor kind's, else the defaults. An age set to "forever" in an
// override keeps forever.
func (r *Retention) For(customer, sensor string) Ages {
	out := r.Ages
	for _, o := range []Ages{r.Sensors[sensor], r.Customers[customer]} {
		if o.Raw != 0 {
			out.Raw = o.Raw
		}
		if o.Hourly != 0 {
			out.Hourly = o.Hourly
		}
		if o.Daily != 0 {
			out.Daily = o.Daily
		}
	}
	return out
}

// Age is a duration that also reads days and years: "400d", "5y" (365
// days), "36h", or "forever" (0).
type Age time.Duration

// Day and Year (365 days) are ages.
const (
	Day  = Age(24 * time.Hour)
	Year = 365 * Day
)

// Forever is the Age that keeps forever, written "forever"; in an
// override it replaces a finite default.
const Forever Age = -1

// Duration is the age as a duration; 0 for forever.
func (a Age) Duration() time.Duration {
	if a <= 0 {
		return 0
	}
	return time.Duration(a)
}

// UnmarshalText reads an age.
func (a *Age) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	switch {
	case s == "forever" || s == "0":
		*a = Forever
		return nil
	case strings.HasSuffix(s, "d") || strings.HasSuffix(s, "y"):
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n < 1 {
			return fmt.Errorf("age %q: a whole number of days (400d) or years (5y)", s)
		}
		unit := 24 * time.Hour
		if strings.HasSuffix(s, "y") {
			unit *= 365
		}
		*a = Age(time.Duration(n) * unit)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("age %q is not a duration such as 400d, 5y, 36h, or forever", s)
	}
	*a = Age(d)
	return nil
}

// UnmarshalYAML reads an age, and says on which line one is wrong.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	if err := a.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalText writes the age as UnmarshalText reads it, in days or
// years where it is whole.
func (a Age) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// String is the age as it is written.
func (a Age) String() string {
	d := time.Duration(a)
	const day = 24 * time.Hour
	switch {
	case a <= 0:
		return "forever"
	case d%(365*day) == 0:
		return strconv.FormatInt(int64(d/(365*day)), 10) + "y"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// Elasticsearch is an additional sink beside the store: every reading is
// indexed as one document, for Kibana users.
type Elasticsearch struct {
	// URLs of the cluster's nodes; none turns the sink off.
	URLs     []string `yaml:"urls"`
	Username string   `yaml:"username,omitempty"`
	Password string   `yaml:"password,omitempty"`
	APIKey   string   `yaml:"api_key,omitempty"`
	// Index names the index of a reading from {customer}, {sensor},
	// {yyyy}, {MM}, {M}, {dd}, {d} of its time in the configured zone.
	Index string `yaml:"index"`
	// FlushBytes and FlushInterval bound a bulk request.
	FlushBytes    ByteSize      `yaml:"flush_bytes"`
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Ingest tunes decoding and batching.
type Ingest struct {
	// MaxPayload is the largest payload decoded; larger ones are rejected.
	MaxPayload ByteSize `yaml:"max_payload"`
	// MaxDepth, MaxFields and MaxTopic bound a message's JSON nesting, its
	// number of fields and its topic's length; beyond, it is rejected.
	MaxDepth  int `yaml:"max_depth"`
	MaxFields int `yaml:"max_fields"`
	MaxTopic  int `yaml:"max_topic"`
	// MaxClockSkew is how far ahead of its receive time a reading's Time
	// may be: a device clock further in the future is not believed, and
	// the reading takes its receive time, flagged time_in_future.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// BatchSize is about how many messages are written in one transaction:
	// a gateway's lot of messages is not split, so a transaction may hold
	// up to a lot more.
	BatchSize int `yaml:"batch_size"`
	// BatchWait is how long the first message of a batch waits for the
	// others, BatchSize in all.
	BatchWait time.Duration `yaml:"batch_wait"`
}

// Sensor describes one sensor kind.
type Sensor struct {
	Match Match `yaml:"match"`
	// Keep lists the payload fields stored; empty keeps every measurement.
	Keep []string `yaml:"keep,omitempty"`
	// Rename maps payload field names to stored names.
	Rename map[string]string `yaml:"rename,omitempty"`
	// Units gives default units for fields whose payload carries none.
	Units map[string]string `yaml:"units,omitempty"`
	// Derive adds fields computed by formula (expr-lang/expr) from the
	// reading and the device's previous reading: delta(F), rate(F),
	// increase(F), prev(F), since_prev().
	Derive map[string]string `yaml:"derive,omitempty"`
	// Counters are monotonic counter fields (an energy meter's E): they
	// restart from zero, and agg=increase gives their increase per bucket.
	Counters []string `yaml:"counters,omitempty"`
	// PayloadDecoder decodes the bytes of a LoRaWAN uplink that its
	// network server did not decode (no codec): cayenne_lpp.
	PayloadDecoder string `yaml:"payload_decoder,omitempty"`
	// Leak, for an air-leak detector, gives the installation figures that
	// turn pressure decay into air lost and its cost.
	Leak *Leak `yaml:"leak,omitempty"`
	// Dashboard is the sensor kind's dashboard.
	Dashboard Dashboard `yaml:"dashboard"`
}

// Leak configures the leak figures of an air sensor kind.
type Leak struct {
	// Pressure and Opening name the line pressure and opening pressure
	// fields; below the opening pressure, the line leaks.
	Pressure string `yaml:"pressure"`
	Opening  string `yaml:"opening"`
	// The installation, for every device of the kind...
	LeakParams `yaml:",inline"`
	// ...unless a device has its own.
	Devices map[string]LeakParams `yaml:"devices,omitempty"`
}

// LeakParams describe an air installation, for the leak figures.
type LeakParams struct {
	// VolumeL is the volume of the tank and line, in litres.
	VolumeL float64 `yaml:"volume_l" json:"volume_l"`
	// CostPerNm3 is the cost of one normal cubic metre of compressed air.
	CostPerNm3 float64 `yaml:"cost_per_nm3" json:"cost_per_nm3"`
	// AtmosphericBar is the atmospheric pressure, in bar.
	AtmosphericBar float64 `yaml:"atmospheric_bar" json:"atmospheric_bar"`
	// LeakMethod says how the air lost is measured (leak.go).
	LeakMethod `yaml:",inline"`
}

// For returns the installation figures of one device.
func (l *Leak) For(device string) LeakParams {
	if p, ok := l.Devices[device]; ok {
		return p
	}
	return l.LeakParams
}

// Dashboard is a page of panels for one sensor kind.
type Dashboard struct {
	Title  string  `yaml:"title" json:"title"`
	Panels []Panel `yaml:"panels" json:"panels"`
}

// PanelTypes are the kinds of panel a dashboard can show.
var PanelTypes = []string{"line", "bar", "gauge", "stat", "table", "pie"}

// Panel is one chart or figure of a dashboard.
type Panel struct {
	Title string `yaml:"title" json:"title"`
	// Type is one of PanelTypes.
	Type string `yaml:"type" json:"type"`
	// Fields are the reading fields shown.
	Fields []string `yaml:"fields" json:"fields"`
	// Agg aggregates each bucket (avg by default; increase for counters).
	Agg string `yaml:"agg,omitempty" json:"agg,omitempty"`
	// Aggs, for a table, are the aggregations shown side by side.
	Aggs []string `yaml:"aggs,omitempty" json:"aggs,omitempty"`
	// Step is the bucket width; empty chooses one from the time range.
	Step string `yaml:"step,omitempty" json:"step,omitempty"`
	Unit string `yaml:"unit,omitempty" json:"unit,omitempty"`
	// Threshold names a field drawn as a limit: the gauge's mark, a line
	// chart's dashed line, and the level below which a period is marked.
	Threshold string `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	// MarkBelow shades the periods where the first field is below
	// Threshold (an air leak).
	MarkBelow string `yaml:"mark_below,omitempty" json:"mark_below,omitempty"`
	// Min and Max bound a gauge.
	Min float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max float64 `yaml:"max,omitempty" json:"max,omitempty"`
	// Wide panels take the whole row.
	Wide bool `yaml:"wide,omitempty" json:"wide,omitempty"`
}

// Match selects the payloads of a sensor kind, by a field's value, a topic
// filter, or both.
type Match struct {
	Field  string `yaml:"field,omitempty"`
	Equals string `yaml:"equals,omitempty"`
	Topic  string `yaml:"topic,omitempty"`
}

// MaxPayloadLimit is the largest ingest.max_payload: a message that size,
// in its envelope, still fits in one queue message.
const MaxPayloadLimit = 8 << 20

// ByteSize is a size in bytes written as "64KiB", "10GB" or a plain number.
type ByteSize int64

// UnmarshalText reads a human-readable size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := humanize.ParseBytes(string(text))
	if err != nil {
		return fmt.Errorf("size %q is not a number of bytes such as 64KiB, 10MB or 1GiB", text)
	}
	*b = ByteSize(n)
	return nil
}

// UnmarshalYAML reads a size, and says on which line one is wrong.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := b.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// String is the size in IEC units, such as 64 KiB.
func (b ByteSize) String() string { return humanize.IBytes(uint64(b)) }

// MarshalText writes the size in IEC units.
func (b ByteSize) MarshalText() ([]byte, error) {
	return []byte(humanize.IBytes(uint64(b))), nil
}

// Default returns the built-in configuration: the three sensor kinds, the
// customer finemeca and the zone Europe/Brussels, with the built-in broker,
// embedded queue and SQLite store.
func Default() *Config {
	return &Config{
		Timezone:  "Europe/Brussels",
		Locale:    "en",
		Customers: []string{"finemeca"},
		DataDir:   "./data",
		Memory:    256 << 20,
		Log:       Log{Level: "info", Format: "text"},
		HTTP:      HTTP{Listen: "127.0.0.1:8080", MaxBody: 8 << 20, MaxStreamsPerUser: 20, MaxConnections: 512, Prometheus: DefaultPrometheusAPI},
		Auth:      Auth{SessionLifetime: 12 * time.Hour, SessionIdle: time.Hour, LoginsPerMinute: 5},
		MQTT: MQTT{
			Broker:   "builtin",
			Listen:   ":1883",
			Topics:   []string{"finemeca/#"},
			QoS:      1,
			ClientID: "sensorhub-gateway",
			Builtin: Builtin{
				MaxPendingWrites: 8192,
				MaxInflight:      65535,
				MaxPacket:        1 << 20,
			},
		},
		Queue: Queue{
			Engine:         "embedded",
			Prefix:         "sensorhub",
			RawMaxAge:      7 * 24 * time.Hour,
			RawMaxBytes:    10 << 30,
			ReadingsMaxAge: 24 * time.Hour,
			Replicas:       1,
		},
		Store: Store{Engine: "sqlite", CompactRows: 1024, CompactAge: 15 * time.Minute,
			// A small installation's data for years: readings 400 days
			// (this year against the last), hourly aggregates 5 years,
			// daily ones without limit.
			Retention: Retention{Ages: Ages{Raw: 400 * Day, Hourly: 5 * Year, Daily: Forever},
				Rejected: 90 * Day, Alerts: 2 * Year, Audit: 2 * Year, Every: time.Hour},
			Backup: Backup{Keep: 7}, MinFree: 1 << 30},
		Ingest: Ingest{MaxPayload: 64 << 10, MaxDepth: 8, MaxFields: 256, MaxTopic: 256, MaxClockSkew: time.Hour, BatchSize: 1000, BatchWait: 50 * time.Millisecond},
		Elasticsearch: Elasticsearch{Index: "{customer}-{sensor}-data-{yyyy}-{M}-{d}", FlushBytes: 5 << 20,
			FlushInterval: time.Second},
		Alerts: Alerts{EvaluateEvery: 10 * time.Second, FailoverAfter: 15 * time.Second, Notifiers: map[string]*Notifier{}, Rules: DefaultRules()},
		Sensors: map[string]*Sensor{
			"air": {
				Match:  Match{Field: "Mod", Equals: "air"},
				Keep:   []string{"Pres", "OpenPres", "Flow"},
				Units:  map[string]string{"Pres": "bar", "OpenPres": "bar", "Flow": "m3/h"},
				Derive: map[string]string{"leak": "Pres < OpenPres"},
				Leak: &Leak{Pressure: "Pres", Opening: "OpenPres",
					LeakParams: LeakParams{VolumeL: 500, CostPerNm3: 0.02, AtmosphericBar: 1.01325, LeakMethod: DefaultLeakMethod()}},
				Dashboard: Dashboard{Title: "Compressed air", Panels: []Panel{
					{Title: "Line pressure", Type: "gauge", Fields: []string{"Pres"}, Threshold: "OpenPres", Min: 0, Max: 10, Unit: "bar"},
					{Title: "Pressure and opening pressure", Type: "line", Fields: []string{"Pres", "OpenPres"}, Threshold: "OpenPres", MarkBelow: "leak", Unit: "bar"},
					{Title: "Leaks per day", Type: "table", Fields: []string{"Pres"}, Threshold: "OpenPres", MarkBelow: "leak", Step: "1d", Wide: true},
					{Title: "Pressure, daily min / avg / max", Type: "table", Fields: []string{"Pres"}, Aggs: []string{"min", "avg", "max"}, Step: "1d", Unit: "bar"},
				}},
			},
			"centrale": {
				Match:    Match{Field: "Mod", Equals: "centrale"},
				Keep:     []string{"U1", "U2", "U3", "I1", "I2", "I3", "P", "PF", "E"},
				Counters: []string{"E"},
				Units:    map[string]string{"U1": "V", "U2": "V", "U3": "V", "I1": "A", "I2": "A", "I3": "A", "P": "kW", "E": "kWh"},
				Dashboard: Dashboard{Title: "Power meter", Panels: []Panel{
					{Title: "Power now", Type: "stat", Fields: []string{"P"}, Unit: "kW"},
					{Title: "Power", Type: "line", Fields: []string{"P"}, Unit: "kW"},
					{Title: "Daily consumption", Type: "bar", Fields: []string{"E"}, Agg: "increase", Step: "1d", Unit: "kWh", Wide: true},
					{Title: "Voltage per phase", Type: "line", Fields: []string{"U1", "U2", "U3"}, Unit: "V"},
					{Title: "Current per phase", Type: "line", Fields: []string{"I1", "I2", "I3"}, Unit: "A"},
					{Title: "Power factor", Type: "line", Fields: []string{"PF"}},
					{Title: "Current share per phase", Type: "pie", Fields: []string{"I1", "I2", "I3"}, Unit: "A"},
				}},
			},
			"devicev01": {
				Match: Match{Field: "Mod", Equals: "weath"},
				Keep:  []string{"Temp", "Pres", "Hum"},
				Units: map[string]string{"Temp": "C", "Pres": "hPa", "Hum": "%"},
				Dashboard: Dashboard{Title: "Weather", Panels: []Panel{
					{Title: "Temperature now", Type: "stat", Fields: []string{"Temp"}, Unit: "°C"},
					{Title: "Temperature", Type: "line", Fields: []string{"Temp"}, Unit: "°C"},
					{Title: "Pressure", Type: "line", Fields: []string{"Pres"}, Unit: "hPa"},
					{Title: "Humidity", Type: "line", Fields: []string{"Hum"}, Unit: "%"},
					{Title: "Daily min / avg / max", Type: "table", Fields: []string{"Temp", "Pres", "Hum"}, Aggs: []string{"min", "avg", "max"}, Step: "1d", Wide: true},
				}},
			},
		},
	}
}

// DefaultRules are the built-in alert rules.
func DefaultRules() []Rule {
	return []Rule{
		{
			Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", ClearWhen: "Pres >= OpenPres + 0.05",
			For: time.Minute, Severity: "critical",
			Message: `{{if eq .State "firing"}}Air leak on {{.Name}} ({{.Device}}): line pressure {{.Values.Pres}} bar is below the opening pressure {{.Values.OpenPres}} bar` +
				`{{else}}Air leak on {{.Name}} ({{.Device}}) is over: line pressure {{.Values.Pres}} bar{{end}}`,
		},
		{
			Name: "device-silent", Sensor: AnySensor, NoDataFor: 30 * time.Minute, Severity: "warning",
			Message: `{{if eq .State "firing"}}{{.Sensor}} {{.Name}} ({{.Device}}) has sent nothing for {{.NoDataFor}}` +
				`{{else}}{{.Sensor}} {{.Name}} ({{.Device}}) sends again{{end}}`,
		},
		{
			Name: "message-loss", Sensor: AnySensor, When: "_loss_ratio > 0.1", ClearWhen: "_loss_ratio < 0.05",
			For: 10 * time.Minute, Severity: "warning",
			Message: `{{if eq .State "firing"}}{{.Sensor}} {{.Name}} ({{.Device}}) lost {{printf "%.0f" (index .Values "_loss_ratio" | percent)}}% of its messages over the last hour` +
				`{{else}}{{.Sensor}} {{.Name}} ({{.Device}}) no longer loses messages{{end}}`,
		},
		{
			Name: "weak-signal", Sensor: AnySensor, When: "_rssi < -115 || _snr < -10", ClearWhen: "_rssi > -110 && _snr > -7",
			For: 30 * time.Minute, Severity: "info",
			Message: `{{if eq .State "firing"}}Weak radio signal from {{.Sensor}} {{.Name}} ({{.Device}}): RSSI {{.Values._rssi}} dBm, SNR {{.Values._snr}} dB` +
				`{{else}}Radio signal of {{.Sensor}} {{.Name}} ({{.Device}}) is good again{{end}}`,
		},
	}
}
