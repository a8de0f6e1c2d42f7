package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// NotifierNames are the configured notifiers' names, sorted.
func (c *Config) NotifierNames() []string {
	names := []string{}
	for n := range c.Alerts.Notifiers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *Config) validateAlerts(v *validator) {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("public_url", "%q is not an http:// or https:// URL", c.PublicURL)
		}
	}
	a := c.Alerts
	if a.EvaluateEvery < 100*time.Millisecond || a.EvaluateEvery > time.Hour {
		v.add("alerts.evaluate_every", "%s is out of range [100ms, 1h]", a.EvaluateEvery)
	}
	if a.FailoverAfter < time.Second || a.FailoverAfter > 10*time.Minute {
		v.add("alerts.failover_after", "%s is out of range [1s, 10m]", a.FailoverAfter)
	}
	names := c.NotifierNames()
	for i, n := range a.Notify {
		if !slices.Contains(names, n) {
			v.add(fmt.Sprintf("alerts.notify.%d", i), "unknown notifier %q (alerts.notifiers has: %s)", n, strings.Join(names, ", "))
		}
	}
	for _, name := range names {
		c.validateNotifier(v, name, a.Notifiers[name])
	}
	seen := map[string]bool{}
	for i, spec := range a.Rules {
		at := fmt.Sprintf("alerts.rules.%d", i)
		v.name(at+".name", "rule", spec.Name, seen)
		for j, n := range spec.Notify {
			if err := c.NotifierFor(spec.Customer, n); err != "" {
				v.add(fmt.Sprintf("%s.notify.%d", at, j), "rule %q: %s", spec.Name, err)
			}
		}
		if spec.Customer != "" && !slices.Contains(c.Customers, spec.Customer) {
			v.add(at+".customer", "rule %q: unknown customer %q (customers has: %s)", spec.Name, spec.Customer, strings.Join(c.Customers, ", "))
		}
		if spec.Sensor != AnySensor && c.Sensors[spec.Sensor] == nil {
			v.add(at+".sensor", "rule %q: unknown sensor kind %q (use one of %s, or *)", spec.Name, spec.Sensor, strings.Join(c.SensorNames(), ", "))
		}
		// The expressions, severity, notifiers and durations are checked
		// where the rule is compiled (plan.Compile).
	}
}

// SMTPTLS is how an e-mail notifier secures its connection: its tls, or
// starttls when none is given.
func (n *Notifier) SMTPTLS() string {
	if n.TLS == "" {
		return "starttls"
	}
	return n.TLS
}

// SMTPPort is the port an e-mail notifier connects to: its port, or the
// usual one of its TLS mode when none is given.
func (n *Notifier) SMTPPort() int {
	if n.Port == 0 {
		return map[string]int{"none": 25, "starttls": 587, "tls": 465}[n.SMTPTLS()]
	}
	return n.Port
}

// NotifierFor says why a rule of customer (empty: every customer's) may
// not name the notifier name; empty when it may. A notifier of a
// customer is told of that customer's alerts only: a rule of another
// customer naming it would send it nothing.
func (c *Config) NotifierFor(customer, name string) string {
	n := c.Alerts.Notifiers[name]
	if n == nil || n.Customer == "" || customer == "" || n.Customer == customer {
		return ""
	}
	return fmt.Sprintf("notifier %q is customer %s's: a rule of %s cannot tell it", name, n.Customer, customer)
}

// NotifierCustomers gives the customer of each notifier that has one.
func (c *Config) NotifierCustomers() map[string]string {
	out := map[string]string{}
	for name, n := range c.Alerts.Notifiers {
		if n != nil && n.Customer != "" {
			out[name] = n.Customer
		}
	}
	return out
}

func (c *Config) validateNotifier(v *validator, name string, n *Notifier) {
	at := "alerts.notifiers." + name
	if n != nil && n.Customer != "" && !slices.Contains(c.Customers, n.Customer) {
		v.add(at+".customer", "unknown customer %q (customers has: %s)", n.Customer, strings.Join(c.Customers, ", "))
	}
	if name == QueueNotifier {
		v.add(at, "the name %q is taken by the built-in notifier that publishes every alert to the queue", name)
	}
	if n == nil {
		v.add(at, "empty notifier")
		return
	}
	switch n.Type {
	case "email":
		if n.Host == "" {
			v.add(at+".host", "the SMTP server's host name is required")
		}
		switch n.TLS {
		case "", "none", "starttls", "tls":
		default:
			v.add(at+".tls", "%q is not one of none, starttls, tls", n.TLS)
		}
		if n.Port < 0 || n.Port > 65535 {
			v.add(at+".port", "%d is not a TCP port", n.Port)
		}
		if _, err := mail.ParseAddress(n.From); err != nil {
			v.add(at+".from", "%q is not an e-mail address", n.From)
		}
		if len(n.To) == 0 {
			v.add(at+".to", "at least one recipient is needed")
		}
		for i, to := range n.To {
			if _, err := mail.ParseAddress(to); err != nil {
				v.add(fmt.Sprintf("%s.to.%d", at, i), "%q is not an e-mail address", to)
			}
		}
		if n.Password != "" && n.Username == "" {
			v.add(at+".username", "a password is given without a username")
		}
	case "webhook":
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(at+".url", "%q is not an http:// or https:// URL", n.URL)
		}
		if n.Timeout < 0 {
			v.add(at+".timeout", "must not be negative")
		}
	default:
		v.add(at+".type", "%q is not one of %s", n.Type, strings.Join(NotifierTypes, ", "))
	}
}
