package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File is a loaded configuration with where it came from, so that
// validation errors can name the line of the offending field.
type File struct {
	Path string
	root *yaml.Node
}

// Load reads the YAML file at path over the defaults, expands ${ENV}
// references, and validates the result as far as package config knows
// (plan.Load checks the rest). An empty path gives the defaults.
func Load(path string) (*Config, error) {
	cfg, f, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(f); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadFile reads the YAML file at path over the defaults without validating,
// for a caller that changes the result (command-line flags) before
// validating it.
func LoadFile(path string) (*Config, *File, error) {
	cfg := Default()
	if path == "" {
		return cfg, &File{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	f, err := Parse(path, data, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, f, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}\n]*))?\}`)

// ExpandEnv replaces ${NAME} with the environment variable NAME and
// ${NAME:-default} (the default on one line) with its value or the
// default. An unset variable with no default is an error naming it and its
// line: a secret silently empty is worse than a refusal to start.
func ExpandEnv(data []byte) ([]byte, error) {
	var errs []error
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := os.LookupEnv(string(sub[1])); ok {
			return []byte(v)
		}
		if sub[2] != nil {
			return sub[3]
		}
		line := 1 + bytes.Count(data[:bytes.Index(data, m)], []byte("\n"))
		errs = append(errs, fmt.Errorf("line %d: environment variable %s is not set (write ${%s:-default} to give a default)", line, sub[1], sub[1]))
		return m
	})
	return out, errors.Join(errs...)
}

// Parse decodes YAML data over cfg strictly: an unknown key is an error
// naming the key and its line.
func Parse(name string, data []byte, cfg *Config) (*File, error) {
	data, err := ExpandEnv(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{Path: name, root: &yaml.Node{}}
	if err := yaml.Unmarshal(data, f.root); err != nil {
		return nil, fmt.Errorf("%s: %s", name, cleanYAMLError(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		msg := cleanYAMLError(err)
		if m := errLine.FindStringSubmatch(msg); m != nil && !strings.Contains(msg, "unknown key") {
			line, _ := strconv.Atoi(m[1])
			if p := f.pathAt(line); p != "" {
				msg = strings.Replace(msg, m[0], m[0]+" "+p+":", 1)
			}
		}
		return nil, fmt.Errorf("%s: %s", name, msg)
	}
	return f, nil
}

var errLine = regexp.MustCompile(`^line (\d+):`)

// pathAt names the setting on a line as a dotted path, and the alert rule
// it belongs to, if any: "alerts.rules.0.for (rule \"air-leak\")".
func (f *File) pathAt(line int) string {
	if f.root == nil || len(f.root.Content) == 0 {
		return ""
	}
	var path []string
	rule := ""
	for n := f.root.Content[0]; n != nil; {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			inRule := len(path) == 3 && path[0] == "alerts" && path[1] == "rules"
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if inRule && k.Value == "name" {
					rule = v.Value
				}
				if next == nil && k.Line == line {
					path = append(path, k.Value)
				} else if next == nil && v.Kind != yaml.ScalarNode && v.Line <= line && line <= lastLine(v) {
					path, next = append(path, k.Value), v
				}
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				if next == nil && v.Line <= line && line <= lastLine(v) {
					path, next = append(path, strconv.Itoa(i)), v
				}
			}
		}
		n = next
	}
	if len(path) == 0 {
		return ""
	}
	out := strings.Join(path, ".")
	if rule != "" {
		out += fmt.Sprintf(" (rule %q)", rule)
	}
	return out
}

// lastLine is the last line a node spans.
func lastLine(n *yaml.Node) int {
	l := n.Line
	for _, c := range n.Content {
		l = max(l, lastLine(c))
	}
	return l
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type \w+\.(\w+)`)

// sectionOf names, for a user, the part of the file a config type decodes.
var sectionOf = map[string]string{
	"Config": "the top level", "Log": "log", "HTTP": "http", "MQTT": "mqtt", "TLS": "mqtt.tls",
	"Builtin": "mqtt.builtin", "Queue": "queue", "Store": "store", "Ingest": "ingest",
	"Sensor": "a sensor", "Match": "a sensor's match", "Input": "an input",
	"Alerts": "alerts", "Notifier": "a notifier", "Rule": "an alert rule", "Token": "a token", "LeakParams": "a leak's figures",
	"Auth": "auth", "User": "a user", "HTTPTLS": "http.tls", "BrokerUser": "a broker user", "BrokerTLS": "mqtt.builtin.tls",
	"Elasticsearch": "elasticsearch", "Money": "money", "Prices": "a customer's prices", "Electricity": "an electricity tariff", "Band": "a tariff band",
	"Modbus": "modbus", "ModbusDevice": "a modbus device", "Register": "a modbus register",
	"Leak": "a sensor's leak", "IdleWindow": "a non-production window (leak.idle)", "Compressor": "a compressor", "MeterField": "a compressor's meter",
}

// cannotUnmarshal is the YAML library's message for a value of the wrong
// type, such as "5 minutes" for a duration.
var cannotUnmarshal = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)` into (\\S+)")

// wantedOf says what a value of a Go type is written as.
var wantedOf = map[string]string{
	"time.Duration": "a duration such as 90s, 15m or 2h",
	"int":           "a whole number", "int64": "a whole number", "float64": "a number", "bool": "true or false",
	"[]string": "a list", "config.ByteSize": "a size such as 512KiB or 64MiB",
}

// YAMLMessage is a YAML decoding error as a user reads it: unknown keys
// named with their section, a value of the wrong type with what is
// wanted, each on the line the library gives.
func YAMLMessage(err error) string { return cleanYAMLError(err) }

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		l = unknownField.ReplaceAllStringFunc(l, func(m string) string {
			sub := unknownField.FindStringSubmatch(m)
			where := sectionOf[sub[2]]
			if where == "" {
				where = sub[2]
			}
			return fmt.Sprintf("unknown key %q in %s", sub[1], where)
		})
		l = cannotUnmarshal.ReplaceAllStringFunc(l, func(m string) string {
			sub := cannotUnmarshal.FindStringSubmatch(m)
			if want := wantedOf[sub[2]]; want != "" {
				return fmt.Sprintf("%q is not %s", sub[1], want)
			}
			return m
		})
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// Line returns the line of the value at a dotted path such as
// "sensors.air.match.field"; when the file does not set it, the line of
// the nearest key above it that the file sets (0 for none), for an error
// to point near it.
func (f *File) Line(path string) int {
	line, _ := f.find(path)
	return line
}

// Sets returns the line of the value at a dotted path, or 0 when the
// file does not set it.
func (f *File) Sets(path string) int {
	if line, found := f.find(path); found {
		return line
	}
	return 0
}

// find is the line of path, or of the nearest key above it the file
// sets, and whether the file sets path itself.
func (f *File) find(path string) (int, bool) {
	if f == nil || f.root == nil || len(f.root.Content) == 0 {
		return 0, false
	}
	n := f.root.Content[0]
	line := 0
	for _, key := range strings.Split(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line, false
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line, false
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line, false
		}
	}
	return line, true
}

// Marshal writes the configuration as YAML that Load accepts.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
