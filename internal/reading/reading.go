// Package reading defines the Reading, the one shape that every stage after
// the gateway speaks, the Envelope in which the gateway wraps raw messages, and
// the decoding of device payloads into readings.
package reading

import (
	gojson "github.com/goccy/go-json"
	"github.com/klauspost/compress/zstd"

	"github.com/sensorhub/sensorhub/internal/wire"

	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
)

// Flags set on a reading by decoding.
const (
	// FlagTimeFromReceive marks a reading whose Time was missing or
	// unparseable, so the receive time was used instead.
	FlagTimeFromReceive = "time_from_receive"
	// FlagFieldRejectedPrefix, followed by a field name, marks a field that
	// was present but not a finite number and was left out.
	FlagFieldRejectedPrefix = "field_rejected:"
	// FlagTimeInFuture and FlagTimeTooOld, with FlagTimeFromReceive, mark
	// a reading whose Time was not believed: further ahead of its receive
	// time than ingest.max_clock_skew, or before 1970. The device's text is
	// kept in Strings["Time"].
	FlagTimeInFuture = "time_in_future"
	FlagTimeTooOld   = "time_too_old"
)

// Fields that every reading with radio metadata carries.
const (
	FieldRSSI = "_rssi"
	FieldSNR  = "_snr"
	// FieldMsgCount is msgCount as formulas see it (not stored as a field:
	// the reading carries it).
	FieldMsgCount = "_msg_count"
	// FieldLost is how many messages the msgCount gap before this reading
	// shows lost (0 after a restart or a repeat); derived at ingest.
	FieldLost = "_lost"
	// FieldRestart is 1 on a reading whose msgCount dropped: the device
	// restarted. FieldRepeat is 1 when msgCount did not move: a repeat.
	FieldRestart = "_restart"
	FieldRepeat  = "_repeat"
	// FieldBattery (%) and FieldMargin (dB, the link margin) are what a
	// LoRaWAN device reports of itself; FieldJoin is 1 on the reading of
	// its (re)join, after which its counter starts again from 0.
	FieldBattery = "_battery"
	FieldMargin  = "_margin"
	FieldJoin    = "_join"
	// FieldOnline is 1 on the reading of a device's birth and 0 on that of
	// its death (Sparkplug B); FieldSeq is the message's own counter as
	// sent (Sparkplug B's seq, 0 to 255).
	FieldOnline = "_online"
	FieldSeq    = "_seq"
	// FieldLossRatio is the series lost / (lost + received) per bucket.
	FieldLossRatio = "_loss_ratio"
)

// NoMsgCount is the MsgCount of a reading whose payload carried none.
const NoMsgCount int64 = -1

// Envelope is what the gateway publishes to the raw stream: the payload bytes
// exactly as received, with where and when they arrived. The gateway never
// parses the payload.
type Envelope struct {
	Topic    string    `json:"topic"`
	Payload  []byte    `json:"payload"`
	Received time.Time `json:"received"`
	// Source says which entry point took the message: "mqtt" or "http".
	Source string `json:"source"`
	// Customer, when set, is the only customer the sender may send for
	// (an MQTT login's or an ingest token's): a payload naming another is
	// rejected.
	Customer string `json:"customer,omitempty"`
	// ReplayOf is the ID of the rejected message this envelope replays:
	// once it becomes a reading, the rejected message is removed.
	ReplayOf int64 `json:"replay_of,omitempty"`
	// Size, when larger than the payload, is the size of the message the
	// gateway received: it was over ingest.max_payload, and only its first
	// bytes travel, to be kept with the rejection.
	Size int `json:"size,omitempty"`
	// Reason, when set, is why the gateway could not take the message as
	// one (an HTTP body whose Content-Encoding does not decode): ingest
	// keeps it rejected with this reason, the payload as it was sent.
	Reason string `json:"reason,omitempty"`
}

// envelopeMagic starts an envelope in its binary form; earlier releases
// wrote JSON, which a raw stream may still hold (it starts with '{').
const envelopeMagic = 0xE5

// Marshal encodes the envelope for the queue: each part length-prefixed,
// the payload as it is (no base64, no escaping). An envelope with a
// Reason is of layout 2, which adds it at the end; others keep layout 1,
// which earlier releases read.
func (e Envelope) Marshal() ([]byte, error) {
	b := make([]byte, 0, len(e.Payload)+len(e.Topic)+len(e.Source)+len(e.Customer)+len(e.Reason)+40)
	layout := byte(1)
	if e.Reason != "" {
		layout = 2
	}
	b = append(b, envelopeMagic, layout)
	for _, s := range []string{e.Topic, e.Source, e.Customer} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	b = append(b, e.Payload...)
	b = binary.AppendVarint(b, e.Received.UnixNano())
	b = binary.AppendVarint(b, e.ReplayOf)
	b = binary.AppendUvarint(b, uint64(e.Size))
	if layout == 2 {
		b = binary.AppendUvarint(b, uint64(len(e.Reason)))
		b = append(b, e.Reason...)
	}
	return b, nil
}

var errEnvelope = errors.New("decode envelope: cut short or not an envelope")

// UnmarshalEnvelope decodes an envelope taken from the queue, in its
// binary form or the JSON of earlier releases.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &e); err != nil {
			return Envelope{}, fmt.Errorf("decode envelope: %w", err)
		}
		return e, nil
	}
	if len(b) < 2 || b[0] != envelopeMagic || b[1] != 1 && b[1] != 2 {
		return Envelope{}, errEnvelope
	}
	layout := b[1]
	b = b[2:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	var parts [4][]byte
	for i := range parts {
		v, ok := next()
		if !ok {
			return Envelope{}, errEnvelope
		}
		parts[i] = v
	}
	e.Topic, e.Source, e.Customer = string(parts[0]), string(parts[1]), string(parts[2])
	e.Payload = bytes.Clone(parts[3])
	recv, k := binary.Varint(b)
	if k <= 0 {
		return Envelope{}, errEnvelope
	}
	b = b[k:]
	e.Received = time.Unix(0, recv).UTC()
	if e.ReplayOf, k = binary.Varint(b); k <= 0 {
		return Envelope{}, errEnvelope
	}
	b = b[k:]
	size, k := binary.Uvarint(b)
	if k <= 0 || size > 1<<40 {
		return Envelope{}, errEnvelope
	}
	e.Size = int(size)
	if layout == 2 {
		b = b[k:]
		reason, ok := next()
		if !ok || len(reason) == 0 {
			return Envelope{}, errEnvelope
		}
		e.Reason = string(reason)
	}
	return e, nil
}

// lotMagic starts a lot: several envelopes in one message of the queue,
// each as Marshal encodes it, so that the queue stores, delivers and is
// acknowledged once for all of them.
const lotMagic = 0xE6

// MarshalLot puts envelopes, each encoded by Marshal, in one lot: a count,
// then each envelope length-prefixed.
func MarshalLot(envs [][]byte) []byte {
	n := 8
	for _, e := range envs {
		n += len(e) + binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	b = append(b, lotMagic, 1)
	b = binary.AppendUvarint(b, uint64(len(envs)))
	for _, e := range envs {
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

// UnmarshalEnvelopes decodes a message of the raw stream: a lot, or one
// envelope.
func UnmarshalEnvelopes(b []byte) ([]Envelope, error) {
	if len(b) == 0 || b[0] != lotMagic {
		e, err := UnmarshalEnvelope(b)
		if err != nil {
			return nil, err
		}
		return []Envelope{e}, nil
	}
	if len(b) < 2 || b[1] != 1 {
		return nil, errLot
	}
	r := wire.Reader{B: b[2:], Corrupt: errLot}
	// An envelope takes at least 10 bytes with its length: a corrupt count
	// cannot make more room than the lot could fill.
	n := r.CountOf(10)
	out := make([]Envelope, 0, n)
	for range n {
		part := r.Bytes(r.Uvarint())
		if r.Err != nil {
			return nil, r.Err
		}
		e, err := UnmarshalEnvelope(part)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if r.Err != nil || len(r.B) > 0 {
		return nil, errLot
	}
	return out, nil
}

var errLot = errors.New("decode lot of envelopes: cut short or not a lot")

// Reading is one decoded device message.
type Reading struct {
	Customer string    `json:"customer"`
	Sensor   string    `json:"sensor"`
	Device   string    `json:"device"`
	Name     string    `json:"name,omitempty"`
	Gateway  string    `json:"gateway,omitempty"`
	Time     time.Time `json:"time"`
	Received time.Time `json:"received"`

	Fields  map[string]float64 `json:"fields"`
	Units   map[string]string  `json:"units,omitempty"`
	Strings map[string]string  `json:"strings,omitempty"`

	RSSI     *float64 `json:"rssi,omitempty"`
	SNR      *float64 `json:"snr,omitempty"`
	MsgCount int64    `json:"msg_count"`
	Length   *float64 `json:"length,omitempty"`

	Flags []string `json:"flags,omitempty"`

	// Digest tells apart, in a reading without msgCount, messages of one
	// device at one time whose content differs: a digest of the payload,
	// 0 when the reading has a msgCount.
	Digest int64 `json:"digest,omitempty"`
	// TimeLater, when set, is the second instant that a zone-less Time in
	// the hour repeated when clocks go back names; ingest chooses between
	// Time and TimeLater from the device's previous readings.
	TimeLater time.Time `json:"-"`
}

// Seq orders a device's readings of one time and, with the time, tells
// them apart: the msgCount, or for a reading without one the digest of its
// payload (negative, so never a msgCount).
func (r *Reading) Seq() int64 {
	if r.MsgCount == NoMsgCount && r.Digest != 0 {
		return r.Digest
	}
	return r.MsgCount
}

// Key identifies a reading: writing two readings with the same key stores
// one. It is (customer, sensor, device, time, Seq): a repeated delivery of
// a message has the key of the first, and readings whose content differs
// never share one.
func (r *Reading) Key() string { return string(r.AppendKey(nil)) }

// AppendKey appends the reading's Key to b.
func (r *Reading) AppendKey(b []byte) []byte {
	b = append(append(append(append(append(append(b, r.Customer...), '/'), r.Sensor...), '/'), r.Device...), '/')
	return strconv.AppendInt(append(strconv.AppendInt(b, r.Time.UnixMilli(), 10), '/'), r.Seq(), 10)
}

// PayloadDigest is the Digest of a reading decoded from payload: negative
// and below NoMsgCount.
func PayloadDigest(payload []byte) int64 {
	h := fnv.New64a()
	h.Write(payload)
	return -int64(h.Sum64()>>2) - 2
}

// HasFlag reports whether the reading carries flag f.
func (r *Reading) HasFlag(f string) bool {
	for _, g := range r.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// Subject returns the queue subject token path for this reading's device,
// with characters that NATS reserves replaced.
func (r *Reading) Subject() string {
	return subjectToken(r.Customer) + "." + subjectToken(r.Sensor) + "." + subjectToken(r.Device)
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(c rune) rune {
		switch c {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return c
	}, s)
}

// Rejected is a message that could not become a reading, kept with the
// reason so that nothing is lost and it can be replayed after a fix.
type Rejected struct {
	ID       int64     `json:"id"`
	Topic    string    `json:"topic"`
	Payload  []byte    `json:"-"`
	Reason   string    `json:"reason"`
	Received time.Time `json:"received"`
	Source   string    `json:"source"`
	Customer string    `json:"customer,omitempty"`
	// Binding is the only customer the sender could send for (its MQTT
	// login's or ingest token's), when it had one: a replay is held to it
	// again, whatever the payload names.
	Binding string `json:"binding,omitempty"`
}

// Digest identifies a rejected message by what was received, where and
// when, so that a redelivered copy is kept once.
func (r *Rejected) Digest() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00", r.Received.UnixNano(), r.Source, r.Topic)
	h.Write(r.Payload)
	return h.Sum(nil)
}

// MarshalJSON shows the payload as text when it is valid UTF-8, which it is
// for nearly every device message.
func (r Rejected) MarshalJSON() ([]byte, error) {
	type plain Rejected
	return json.Marshal(struct {
		plain
		Payload string `json:"payload"`
	}{plain(r), strings.ToValidUTF8(string(r.Payload), "\uFFFD")})
}

// StreamBytes bounds one message of the readings stream: readings go in
// messages of about this size. A consumer takes a few such messages at a
// time.
const StreamBytes = 256 << 10

// readingsMagic starts a message of the readings stream in its binary
// form; earlier releases wrote a JSON array (it starts with '[') or one
// reading (with '{').
const readingsMagic = 0xE7

// MarshalReadings encodes readings as one message of the readings stream,
// in a binary form: each reading's texts length-prefixed, its times as
// Unix nanoseconds, its values as the float64's bits; the whole compressed
// with zstd at its fastest. The stream carries every stored reading to
// alerts, live pages and Elasticsearch: this form is written and read in
// less than half the time of the JSON it was, and takes a tenth of its
// bytes. That matters for memory too: each 8 MiB block JetStream fills
// is a buffer of that size on the heap, and as JSON the stream was larger
// than the raw one.
func MarshalReadings(rs []Reading) ([]byte, error) {
	n := 8
	for i := range rs {
		n += 96 + len(rs[i].Customer) + len(rs[i].Sensor) + len(rs[i].Device) + len(rs[i].Name) + len(rs[i].Gateway) + 16*len(rs[i].Fields)
	}
	b := make([]byte, 0, n)
	b = append(b, readingsMagic, 1)
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for i := range rs {
		b = appendReading(b, &rs[i])
	}
	return streamZstdW.EncodeAll(b, make([]byte, 0, len(b)/4)), nil
}

// The readings stream's compressor: its fastest level, and a window of
// two StreamBytes, about the largest message.
var (
	streamZstdW, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(2*StreamBytes))
	streamZstdR, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(16<<20))
	zstdMagic      = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func appendReading(b []byte, r *Reading) []byte {
	for _, s := range []string{r.Customer, r.Sensor, r.Device, r.Name, r.Gateway} {
		b = appendText(b, s)
	}
	b = appendInstant(b, r.Time)
	b = appendInstant(b, r.Received)
	b = binary.AppendUvarint(b, uint64(len(r.Fields)))
	for k, v := range r.Fields {
		b = appendText(b, k)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	for _, m := range []map[string]string{r.Units, r.Strings} {
		b = binary.AppendUvarint(b, uint64(len(m)))
		for k, v := range m {
			b = appendText(appendText(b, k), v)
		}
	}
	var present byte
	for i, p := range []*float64{r.RSSI, r.SNR, r.Length} {
		if p != nil {
			present |= 1 << i
		}
	}
	b = append(b, present)
	for _, p := range []*float64{r.RSSI, r.SNR, r.Length} {
		if p != nil {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*p))
		}
	}
	b = binary.AppendVarint(b, r.MsgCount)
	b = binary.AppendVarint(b, r.Digest)
	b = binary.AppendUvarint(b, uint64(len(r.Flags)))
	for _, f := range r.Flags {
		b = appendText(b, f)
	}
	return b
}

func appendText(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendInstant writes t as Unix nanoseconds after a byte that tells the
// zero time (which nanoseconds cannot hold) from the others.
func appendInstant(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// minReadingBytes is the least a reading takes in the binary form: five
// texts' lengths, two instants, three counts, the presence byte, two
// varints and the flags' count.
const minReadingBytes = 14

var errReadings = errors.New("decode readings: cut short or not a message of the readings stream")

// UnmarshalReadings decodes a message of the readings stream: the binary
// form (compressed, or not), or the JSON of earlier releases (an array of readings, or one).
// Times come back in UTC.
func UnmarshalReadings(b []byte) ([]Reading, error) {
	if bytes.HasPrefix(b, zstdMagic) {
		var err error
		if b, err = streamZstdR.DecodeAll(b, nil); err != nil {
			return nil, fmt.Errorf("decode readings: %w", err)
		}
		if len(b) == 0 || b[0] != readingsMagic {
			return nil, errReadings
		}
	}
	switch {
	case len(b) > 0 && b[0] == readingsMagic:
		return readingsOf(b)
	case len(b) > 0 && b[0] == '[':
		var rs []Reading
		if err := gojson.Unmarshal(b, &rs); err != nil {
			return nil, fmt.Errorf("decode readings: %w", err)
		}
		return rs, nil
	}
	var r Reading
	if err := gojson.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode reading: %w", err)
	}
	return []Reading{r}, nil
}

// streamDecoder reads the binary form; texts that repeat from one reading
// to the next (customers, kinds, field names, units) are made once.
type streamDecoder struct {
	wire.Reader
	texts map[string]string
}

func readingsOf(b []byte) ([]Reading, error) {
	if len(b) < 2 || b[1] != 1 {
		return nil, errReadings
	}
	d := &streamDecoder{Reader: wire.Reader{B: b[2:], Corrupt: errReadings}, texts: map[string]string{}}
	rs := make([]Reading, d.CountOf(minReadingBytes))
	for i := range rs {
		if d.Err != nil {
			break
		}
		d.reading(&rs[i])
	}
	if d.Err != nil {
		return nil, d.Err
	}
	if len(d.B) > 0 {
		return nil, errReadings
	}
	return rs, nil
}

func (d *streamDecoder) reading(r *Reading) {
	for _, s := range []*string{&r.Customer, &r.Sensor, &r.Device, &r.Name, &r.Gateway} {
		*s = d.text()
	}
	r.Time, r.Received = d.instant(), d.instant()
	n := d.CountOf(9) // a name's length and 8 bytes
	r.Fields = make(map[string]float64, n)
	for range n {
		k := d.text()
		r.Fields[k] = d.float()
	}
	for _, m := range []*map[string]string{&r.Units, &r.Strings} {
		if n := d.CountOf(2); n > 0 {
			*m = make(map[string]string, n)
			for range n {
				k := d.text()
				(*m)[k] = d.text()
			}
		}
	}
	present := d.Byte()
	for i, p := range []**float64{&r.RSSI, &r.SNR, &r.Length} {
		if present&(1<<i) != 0 {
			v := d.float()
			*p = &v
		}
	}
	r.MsgCount, r.Digest = d.Varint(), d.Varint()
	if n := d.Count(); n > 0 {
		r.Flags = make([]string, n)
		for i := range r.Flags {
			r.Flags[i] = d.text()
		}
	}
}

func (d *streamDecoder) text() string {
	raw := d.Bytes(d.Uvarint())
	if s, ok := d.texts[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(s) <= 64 && len(d.texts) < 4096 {
		d.texts[s] = s
	}
	return s
}

func (d *streamDecoder) instant() time.Time {
	switch d.Byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.Varint()).UTC()
	}
	d.Fail()
	return time.Time{}
}

func (d *streamDecoder) float() float64 {
	b := d.Bytes(8)
	if len(b) < 8 {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}
