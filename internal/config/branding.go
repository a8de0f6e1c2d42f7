package config

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // a logo may be a JPEG
	_ "image/png"
	"os"
	"sort"
)

// Branding is how a report's PDF presents a customer: the name people
// know it by and a logo in its header, so that it can be forwarded as it is.
type Branding struct {
	// Logo is a PNG or JPEG file shown in the header of every customer's
	// PDF that gives none of its own.
	Logo string `yaml:"logo,omitempty"`
	// Customers are each customer's name and logo, by customer id.
	Customers map[string]CustomerBrand `yaml:"customers,omitempty"`
}

// CustomerBrand is one customer's name and logo.
type CustomerBrand struct {
	// Name is the customer's name as people write it ("Finemeca SA"); its
	// id when empty.
	Name string `yaml:"name,omitempty"`
	Logo string `yaml:"logo,omitempty"`
}

// Brand is what a customer's report shows of it: its name (empty: only
// its id) and its logo file (empty: none), with the field that sets the
// logo, for the messages that name it.
func (c *Config) Brand(customer string) (name, logo, field string) {
	b := c.Branding.Customers[customer]
	if b.Logo != "" {
		return b.Name, b.Logo, "branding.customers." + customer + ".logo"
	}
	if c.Branding.Logo != "" {
		return b.Name, c.Branding.Logo, "branding.logo"
	}
	return b.Name, "", ""
}

// ReadLogo reads a logo file and checks that it is a PNG or JPEG image:
// it returns the bytes and the format ("png" or "jpeg").
func ReadLogo(path string) ([]byte, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	_, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%s is not a PNG or JPEG image: %w", path, err)
	}
	if format != "png" && format != "jpeg" {
		return nil, "", fmt.Errorf("%s is a %s image, not a PNG or JPEG one", path, format)
	}
	return data, format, nil
}

// validateBranding checks that every logo can be read now, so that a
// report is not sent without it weeks later.
func (c *Config) validateBranding(v *validator) {
	logo := func(field, path string) {
		if path == "" {
			return
		}
		if _, _, err := ReadLogo(path); err != nil {
			v.add(field, "the logo cannot be used: %v", err)
		}
	}
	logo("branding.logo", c.Branding.Logo)
	names := make([]string, 0, len(c.Branding.Customers))
	for cu := range c.Branding.Customers {
		names = append(names, cu)
	}
	sort.Strings(names)
	for _, cu := range names {
		at := "branding.customers." + cu
		v.customer(c, at, cu)
		logo(at+".logo", c.Branding.Customers[cu].Logo)
	}
}
