package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Profile says how the payloads of one sensor kind become readings.
type Profile struct {
	// Name is the sensor kind, such as "air".
	Name string
	// MatchField and MatchEquals select payloads whose field MatchField has
	// the value MatchEquals (compared as text).
	MatchField  string
	MatchEquals string
	// MatchTopic selects payloads by MQTT topic filter (+ and # wildcards).
	MatchTopic string
	// Keep lists the payload fields stored as numeric fields. Empty keeps
	// every field that is not identity or radio metadata.
	Keep []string
	// Rename maps a payload field name to its stored name.
	Rename map[string]string
	// Units gives a field's unit when the payload does not carry one.
	Units map[string]string
	// Payload decodes the device's bytes of a message its source did not
	// decode (a LoRaWAN uplink without a codec); PayloadName names it.
	Payload     PayloadDecoder
	PayloadName string
}

// Decoder turns envelopes into readings following the sensor profiles.
type Decoder struct {
	Location   *time.Location
	Customers  map[string]bool
	Profiles   []Profile
	MaxPayload int
	// MaxDepth, MaxFields and MaxTopic, when positive, bound the JSON
	// nesting, the fields of the object and the topic's length.
	MaxDepth, MaxFields, MaxTopic int
	// MaxClockSkew is how far ahead of its receive time a reading's Time
	// may be; a later one is replaced by the receive time and flagged
	// (DefaultMaxClockSkew when zero).
	MaxClockSkew time.Duration
	// Inputs say which format reads which topics; a topic none of them
	// reads is the flat JSON of the default format.
	Inputs []Input
}

// DefaultMaxClockSkew is how far in the future a device's clock may be
// before its Time is not believed.
const DefaultMaxClockSkew = time.Hour

// Limits on identities: what every store and the queue's subjects take.
const (
	// MaxIDLength bounds idDevice and idGateway, in bytes.
	MaxIDLength = 128
	// MaxNameLength bounds the device's name and field names, in bytes.
	MaxNameLength = 256
)

// MinTime is the earliest reading time believed: a device clock before the
// Unix epoch has not been set.
var MinTime = time.Unix(0, 0).UTC()

// maxExactInt is the largest integer a JSON number (a float64) holds
// exactly: a msgCount beyond it is not a count.
const maxExactInt = 1 << 53

// RejectError is returned by Decode for a message that cannot become a
// reading. Reason is meant for the person reading the rejected list.
type RejectError struct {
	Reason   string
	Customer string
}

func (e *RejectError) Error() string { return e.Reason }

func reject(format string, args ...any) *RejectError {
	return &RejectError{Reason: fmt.Sprintf(format, args...)}
}

// metadata are the payload keys that describe the message, not measurements.
var metadata = map[string]bool{
	"Customer": true, "idGateway": true, "idDevice": true, "Device": true, "Time": true,
	"msgCount": true, "Length": true, "RSSI": true, "SNR": true, "Mod": true,
}

// timeLayouts are the zone-less layouts devices use for Time.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
}

// Decode decodes one envelope. It returns a *RejectError when the message
// must be rejected; fields that are present but unusable do not reject the
// message: they are left out and flagged on the reading.
func (d *Decoder) Decode(env Envelope) (Reading, error) {
	r, err := d.decode(env)
	return r, d.bound(env, err)
}

// bound gives a rejection of a bound sender's message its customer,
// whatever the message names.
func (d *Decoder) bound(env Envelope, err error) error {
	if err == nil {
		return nil
	}
	var rj *RejectError
	if errors.As(err, &rj) && env.Customer != "" {
		rj.Customer = env.Customer
	}
	return err
}

func (d *Decoder) decode(env Envelope) (Reading, error) {
	if err := d.checkEnvelope(env); err != nil {
		return Reading{}, err
	}
	if in := d.inputFor(env.Topic); in != nil && in.Format != nil {
		return d.decodeRecord(env, in.Format)
	}
	return d.decodeFlat(env)
}

// checkEnvelope rejects what no format reads: a payload or topic beyond
// the limits, a topic that is not text, a reason the gateway gave.
func (d *Decoder) checkEnvelope(env Envelope) error {
	if env.Reason != "" {
		if env.Size > len(env.Payload) {
			return reject("%s; its first %d bytes of %d are kept (ingest.max_payload)", env.Reason, len(env.Payload), env.Size)
		}
		return reject("%s", env.Reason)
	}
	if env.Size > len(env.Payload) {
		return reject("payload too large: %d bytes, the limit is %d (ingest.max_payload); its first %d bytes are kept", env.Size, d.MaxPayload, len(env.Payload))
	}
	if d.MaxPayload > 0 && len(env.Payload) > d.MaxPayload {
		return reject("payload too large: %d bytes, the limit is %d (ingest.max_payload)", len(env.Payload), d.MaxPayload)
	}
	if d.MaxTopic > 0 && len(env.Topic) > d.MaxTopic {
		return reject("topic too long: %d bytes, the limit is %d (ingest.max_topic)", len(env.Topic), d.MaxTopic)
	}
	if !utf8.ValidString(env.Topic) || strings.ContainsRune(env.Topic, 0) {
		return reject("topic is not valid UTF-8 text or holds a NUL character")
	}
	return nil
}

// decodeFlat decodes the default format's flat JSON.
func (d *Decoder) decodeFlat(env Envelope) (Reading, error) {
	ps := parsers.Get().(*parser)
	defer ps.release()
	if ps.obj == nil {
		ps.obj = make(map[string]any, 32)
	}
	obj, err := ps.parse(env.Payload, ps.obj)
	if err != nil {
		return Reading{}, err
	}
	if d.MaxFields > 0 && len(obj) > d.MaxFields {
		return Reading{}, reject("too many fields: %d, the limit is %d (ingest.max_fields)", len(obj), d.MaxFields)
	}
	// The parser's depth and NUL count values a repeated name replaced:
	// the object itself decides.
	if d.MaxDepth > 0 && ps.depth > d.MaxDepth {
		if n := depth(obj); n > d.MaxDepth {
			return Reading{}, reject("JSON nested too deep: %d levels, the limit is %d (ingest.max_depth)", n, d.MaxDepth)
		}
	}
	if ps.nul {
		if err := checkText(obj); err != nil {
			return Reading{}, err
		}
	}

	customer, ok := text(obj["Customer"])
	if !ok || customer == "" {
		return Reading{}, reject("missing customer: the payload has no \"Customer\" field")
	}
	if env.Customer != "" && customer != env.Customer {
		// Kept under the sender's customer: the other one never sent it.
		return Reading{}, reject("customer %q refused: this sender may only send for %q", customer, env.Customer)
	}
	if !d.Customers[customer] {
		e := reject("unknown customer %q: add it in Settings, Customers (or to customers in the configuration file), then replay its rejected messages", customer)
		e.Customer = customer
		return Reading{}, e
	}
	device, ok := text(obj["idDevice"])
	if !ok || device == "" {
		e := reject("missing device identity: the payload has no \"idDevice\" field")
		e.Customer = customer
		return Reading{}, e
	}
	if err := checkID("idDevice", device, MaxIDLength); err != nil {
		err.Customer = customer
		return Reading{}, err
	}
	p := d.profileFor(env.Topic, obj)
	if p == nil {
		mod, _ := text(obj["Mod"])
		e := reject("no sensor kind matches this message (topic %q, Mod %q): check the sensors' match rules", env.Topic, mod)
		e.Customer = customer
		return Reading{}, e
	}

	r := Reading{
		Customer: customer,
		Sensor:   p.Name,
		Device:   device,
		Received: env.Received.UTC(),
		Fields:   make(map[string]float64, len(obj)),
		MsgCount: NoMsgCount,
	}
	r.Name, _ = text(obj["Device"])
	r.Gateway, _ = text(obj["idGateway"])
	for _, id := range []struct {
		key, v string
		max    int
	}{{"Device", r.Name, MaxNameLength}, {"idGateway", r.Gateway, MaxIDLength}} {
		if err := checkID(id.key, id.v, id.max); err != nil {
			err.Customer = customer
			return Reading{}, err
		}
	}
	if mod, ok := text(obj["Mod"]); ok && mod != "" {
		r.Strings = map[string]string{"Mod": mod}
	}
	d.setTime(&r, obj["Time"])
	switch v, ok := number(obj["msgCount"]); {
	case ok && v >= 0 && v <= maxExactInt && v == math.Trunc(v):
		r.MsgCount = int64(v)
	case !absent(obj["msgCount"]):
		// Not a count: the reading is kept without it, and says so.
		r.Flags = append(r.Flags, FlagFieldRejectedPrefix+"msgCount")
	}
	if r.MsgCount == NoMsgCount {
		r.Digest = PayloadDigest(env.Payload)
	}
	r.RSSI = optNumber(obj["RSSI"])
	r.SNR = optNumber(obj["SNR"])
	r.Length = optNumber(obj["Length"])
	r.radioFields()

	var unitKey [MaxNameLength + 2]byte
	for _, name := range p.fieldsOf(obj) {
		if e := r.putField(p, name, obj[name], number, unitOf(obj, name, unitKey[:0])); e != nil {
			e.Customer = customer
			return Reading{}, e
		}
	}
	return r, nil
}

// radioFields keeps the radio metadata as fields too, to be charted,
// aggregated and used in formulas like any measurement.
func (r *Reading) radioFields() {
	if r.RSSI != nil {
		r.Fields[FieldRSSI] = *r.RSSI
		r.setUnit(FieldRSSI, "dBm")
	}
	if r.SNR != nil {
		r.Fields[FieldSNR] = *r.SNR
		r.setUnit(FieldSNR, "dB")
	}
}

// putField adds field name of a message, raw, to the reading as its kind
// p maps it: renamed, a number (num reads it) with its unit (the
// message's, unit, else the kind's), text kept where the kind
// keeps every field, or else flagged rejected; an absent value adds
// nothing. A stored name longer than MaxNameLength rejects the message.
func (r *Reading) putField(p *Profile, name string, raw any, num func(any) (float64, bool), unit string) *RejectError {
	if absent(raw) {
		return nil
	}
	stored := name
	if to, ok := p.Rename[name]; ok {
		stored = to
	}
	if len(stored) > MaxNameLength {
		return reject("field name too long: %d bytes, the limit is %d", len(stored), MaxNameLength)
	}
	v, ok := num(raw)
	if !ok {
		if s, isText := raw.(string); isText && len(p.Keep) == 0 && !looksNumeric(s) {
			if r.Strings == nil {
				r.Strings = map[string]string{}
			}
			r.Strings[stored] = s
			return nil
		}
		r.Flags = append(r.Flags, FlagFieldRejectedPrefix+stored)
		return nil
	}
	r.Fields[stored] = v
	if unit != "" {
		r.setUnit(stored, unit)
	} else if u := p.Units[stored]; u != "" {
		r.setUnit(stored, u)
	}
	return nil
}

// setTime sets the reading's time from the payload's Time: the receive
// time, flagged, when it is missing, unparseable, before 1970 or further
// ahead of the receive time than the clock skew allows, so that one wrong
// clock cannot put a device's newest reading in the far future.
func (d *Decoder) setTime(r *Reading, v any) {
	t, later, ok := d.parseTime(v)
	d.placeTime(r, t, later, ok, timeText(v))
}

// placeTime sets the reading's time to t, the source's (ok false when it
// gave none it could read), as setTime says; text is the source's time as
// it wrote it, kept when it is not believed.
func (d *Decoder) placeTime(r *Reading, t, later time.Time, ok bool, text string) {
	if !ok {
		r.Time = r.Received.Truncate(time.Millisecond)
		r.Flags = append(r.Flags, FlagTimeFromReceive)
		return
	}
	skew := d.MaxClockSkew
	if skew <= 0 {
		skew = DefaultMaxClockSkew
	}
	var flag string
	switch {
	case t.Before(MinTime):
		flag = FlagTimeTooOld
	case t.After(r.Received.Add(skew)):
		flag = FlagTimeInFuture
	}
	if flag != "" {
		r.Time = r.Received.Truncate(time.Millisecond)
		r.Flags = append(r.Flags, FlagTimeFromReceive, flag)
		if r.Strings == nil {
			r.Strings = map[string]string{}
		}
		r.Strings["Time"] = text
		return
	}
	r.Time = t.Truncate(time.Millisecond)
	if !later.IsZero() && !later.After(r.Received.Add(skew)) {
		r.TimeLater = later.Truncate(time.Millisecond)
	}
}

// timeText is the payload's Time as text, for a reading that keeps it.
func timeText(v any) string {
	s, _ := text(v)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// checkText rejects a payload with a NUL character in a key or a text
// value: no store keeps one in text.
func checkText(v any) *RejectError {
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return reject("a text value holds a NUL character (\\u0000)")
		}
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) {
				return reject("a field name holds a NUL character (\\u0000)")
			}
			if err := checkText(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := checkText(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkID rejects an identity that is too long or holds control
// characters, which no queue subject or device list takes.
func checkID(key, v string, limit int) *RejectError {
	if len(v) > limit {
		return reject("%s too long: %d bytes, the limit is %d", key, len(v), limit)
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return reject("%s holds control characters: %q", key, v)
	}
	return nil
}

func (r *Reading) setUnit(field, unit string) {
	if r.Units == nil {
		r.Units = map[string]string{}
	}
	r.Units[field] = unit
}

// parseOptions make jsontext read what encoding/json read: a name given
// twice in an object (the last one wins) and invalid UTF-8 in a string
// (each bad byte read as U+FFFD).
var parseOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// parser reads a payload with jsontext's tokenizer into the values
// encoding/json's UseNumber gives (map[string]any, []any, string,
// json.Number, bool, nil), noting on the way how deep it nests and whether
// a text holds a NUL character. Parsers are reused, through parsers.
type parser struct {
	dec jsontext.Decoder
	buf bytes.Buffer
	// depth is the deepest nesting seen, a flat object being 1; nul that
	// some name or text holds a NUL character. Both count values that a
	// later duplicate name replaced: the callers check them again on the
	// object when they say the payload is to be rejected.
	depth int
	nul   bool
	// obj is the map decodeFlat reads the payload into, cleared after.
	obj map[string]any
	// shared holds short texts seen before; scratch is room to unquote.
	shared  map[string]any
	scratch []byte
}

var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxReusedFields bounds the map a parser keeps for the next payload.
const maxReusedFields = 64

// parseObject decodes a payload that must be one JSON object, keeping numbers
// as text so that values out of float64's range are seen, not failed on.
func parseObject(payload []byte) (map[string]any, error) {
	p := parsers.Get().(*parser)
	defer p.release()
	return p.parse(payload, map[string]any{})
}

// parse reads payload, which must be one JSON object, into obj.
func (p *parser) parse(payload []byte, obj map[string]any) (map[string]any, error) {
	p.buf = *bytes.NewBuffer(payload)
	p.dec.Reset(&p.buf, parseOptions...)
	p.depth, p.nul = 0, false
	var v any
	var err error
	switch p.dec.PeekKind() {
	case 0:
		if _, err = p.dec.ReadToken(); errors.Is(err, io.EOF) {
			return nil, reject("invalid JSON: the payload is empty")
		}
	case '{':
		if _, err = p.dec.ReadToken(); err == nil {
			v, err = p.object(obj)
		}
	default:
		v, _, err = p.next(0)
	}
	if err != nil {
		return nil, reject("invalid JSON: %s", strings.TrimPrefix(err.Error(), "jsontext: "))
	}
	if _, err := p.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, reject("invalid JSON: unexpected data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, reject("not a JSON object: the payload is %s", jsonKind(v))
	}
	return m, nil
}

// release drops the payload and returns the parser to parsers.
func (p *parser) release() {
	p.buf = bytes.Buffer{}
	p.dec.Reset(&p.buf)
	if len(p.obj) > maxReusedFields {
		p.obj = nil
	}
	clear(p.obj)
	parsers.Put(p)
}

// value reads the value that starts with tok.
func (p *parser) value(tok jsontext.Token) (any, error) {
	switch tok.Kind() {
	case '{':
		return p.object(map[string]any{})
	case '[':
		p.depth = max(p.depth, p.dec.StackDepth())
		a := []any{}
		for {
			v, end, err := p.next(']')
			if err != nil || end {
				return a, err
			}
			a = append(a, v)
		}
	case '0':
		return json.Number(tok.String()), nil
	case 't', 'f':
		return tok.Bool(), nil
	}
	return nil, nil
}

// object reads the members of an object, its '{' read, into obj.
func (p *parser) object(obj map[string]any) (map[string]any, error) {
	p.depth = max(p.depth, p.dec.StackDepth())
	for {
		if p.dec.PeekKind() == '}' {
			_, err := p.dec.ReadToken()
			return obj, err
		}
		q, err := p.dec.ReadValue() // a name: jsontext takes nothing else
		if err != nil {
			return nil, err
		}
		name := p.text(q).(string)
		v, _, err := p.next(0)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
}

// next reads the next value, or the delimiter end (end true).
func (p *parser) next(end jsontext.Kind) (v any, isEnd bool, err error) {
	switch p.dec.PeekKind() {
	case '"':
		q, err := p.dec.ReadValue()
		if err != nil {
			return nil, false, err
		}
		return p.text(q), false, nil
	case end:
		_, err := p.dec.ReadToken()
		return nil, true, err
	}
	tok, err := p.dec.ReadToken()
	if err != nil {
		return nil, false, err
	}
	v, err = p.value(tok)
	return v, false, err
}

// maxShared bounds the texts a parser shares, and the length of one.
const (
	maxShared    = 1024
	maxSharedLen = 24
)

// text is the text of a quoted JSON string, as a string in an any,
// noting a NUL character. A short text without escapes is shared with its
// earlier occurrences: field names, units, customers and kinds repeat from
// one message to the next.
func (p *parser) text(q jsontext.Value) any {
	raw := q[1 : len(q)-1]
	if !plainText(raw) {
		// Escapes, or invalid UTF-8 (each bad byte becomes U+FFFD).
		p.scratch, _ = jsontext.AppendUnquote(p.scratch[:0], q)
		if bytes.IndexByte(p.scratch, 0) >= 0 {
			p.nul = true
		}
		return string(p.scratch)
	}
	if len(raw) > maxSharedLen {
		return string(raw)
	}
	if v, ok := p.shared[string(raw)]; ok {
		return v
	}
	if p.shared == nil || len(p.shared) >= maxShared {
		p.shared = make(map[string]any, 64)
	}
	s := string(raw)
	v := any(s)
	p.shared[s] = v
	return v
}

// plainText reports whether a JSON string's raw text is its text: no
// escapes, valid UTF-8.
func plainText(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
		}
	}
	return true
}

// depth is how deeply objects and arrays nest in v; a flat object is 1.
func depth(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n = max(n, depth(e))
		}
	case []any:
		for _, e := range x {
			n = max(n, depth(e))
		}
	default:
		return 0
	}
	return n + 1
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "not an object"
}

func (d *Decoder) profileFor(topic string, obj map[string]any) *Profile {
	for i := range d.Profiles {
		p := &d.Profiles[i]
		if p.MatchTopic != "" && !TopicMatches(p.MatchTopic, topic) {
			continue
		}
		if p.MatchField != "" {
			v, ok := text(obj[p.MatchField])
			if !ok || v != p.MatchEquals {
				continue
			}
		}
		return p
	}
	return nil
}

// fieldsOf lists, in a stable order, the payload keys this profile stores.
func (p *Profile) fieldsOf(obj map[string]any) []string {
	if len(p.Keep) > 0 {
		return p.Keep
	}
	var names []string
	for k := range obj {
		if metadata[k] || strings.HasSuffix(k, "-U") || strings.HasPrefix(k, "_") {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// unitOf finds a field's unit: "<Field>-U", or for a phase field such as U1
// the unit shared by its family, "U-U". buf is room to spell the keys in.
func unitOf(obj map[string]any, field string, buf []byte) string {
	buf = append(append(buf[:0], field...), "-U"...)
	if u, ok := text(obj[string(buf)]); ok && u != "" && u != "NULL" {
		return u
	}
	base := len(field)
	for base > 0 && field[base-1] >= '0' && field[base-1] <= '9' {
		base--
	}
	if base != len(field) && base != 0 {
		buf = append(append(buf[:0], field[:base]...), "-U"...)
		if u, ok := text(obj[string(buf)]); ok && u != "" && u != "NULL" {
			return u
		}
	}
	return ""
}

// parseTime reads Time: a zone-less local time in the configured zone, RFC
// 3339, or a Unix time in seconds, milliseconds, microseconds or
// nanoseconds. A local time in the hour that is repeated when clocks go
// back names two instants: later is the second, zero otherwise.
func (d *Decoder) parseTime(v any) (t, later time.Time, ok bool) {
	switch x := v.(type) {
	case string:
		x = strings.TrimSpace(x)
		for _, layout := range timeLayouts {
			if ts, err := time.ParseInLocation(layout, x, d.Location); err == nil {
				early, late := instants(ts)
				return early.UTC(), late, true
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return ts.UTC(), time.Time{}, true
		}
	case json.Number:
		f, err := x.Float64()
		if err != nil || f <= 0 || math.IsInf(f, 0) || f >= math.MaxInt64 {
			return time.Time{}, time.Time{}, false
		}
		// The magnitude tells the unit: seconds until the year 5138,
		// milliseconds, microseconds, then nanoseconds.
		switch {
		case f < 1e11:
			return time.UnixMilli(int64(f * 1000)).UTC(), time.Time{}, true
		case f < 1e14:
			return time.UnixMilli(int64(f)).UTC(), time.Time{}, true
		case f < 1e17:
			return time.UnixMicro(int64(f)).UTC(), time.Time{}, true
		}
		return time.Unix(0, int64(f)).UTC(), time.Time{}, true
	}
	return time.Time{}, time.Time{}, false
}

// instants returns the instants a local wall-clock time names: itself, and
// when the zone repeats that time (clocks going back), the later one too.
func instants(t time.Time) (time.Time, time.Time) {
	loc := t.Location()
	// The offsets in force shortly before and after: a repeated hour lies
	// between two of them, and most times have the same one on each side.
	probes := [2]time.Time{t.Add(-3 * time.Hour), t.Add(3 * time.Hour)}
	_, before := probes[0].Zone()
	if _, after := probes[1].Zone(); before == after {
		return t, time.Time{}
	}
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	var found []time.Time
	for _, probe := range probes {
		_, off := probe.Zone()
		u := wall.Add(-time.Duration(off) * time.Second)
		if l := u.In(loc); l.Hour() == t.Hour() && l.Minute() == t.Minute() && l.Day() == t.Day() && !slices.ContainsFunc(found, u.Equal) {
			found = append(found, u)
		}
	}
	if len(found) < 2 {
		return t, time.Time{}
	}
	early, late := found[0], found[1]
	if late.Before(early) {
		early, late = late, early
	}
	return early, late.UTC()
}

// absent reports whether a value means "no value": JSON null or "NULL".
func absent(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && (s == "NULL" || s == "")
}

// number returns v as a finite float64: a JSON number or a numeric string.
func number(v any) (float64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func looksNumeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

func optNumber(v any) *float64 {
	if f, ok := number(v); ok {
		return &f
	}
	return nil
}

// text returns v as text: a string, or a number's literal.
func text(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		if t == "NULL" {
			return "", false
		}
		return t, true
	case json.Number:
		return string(t), true
	}
	return "", false
}

// TopicMatches reports whether an MQTT topic matches a filter with the + and
// # wildcards.
func TopicMatches(filter, topic string) bool {
	fs := strings.Split(filter, "/")
	ts := strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) {
			return false
		}
		if f != "+" && f != ts[i] {
			return false
		}
	}
	return len(fs) == len(ts)
}
